"""Metric data as the load balancer and the WAF publish it: per-second buckets, stamped with the second
the requests happened in, drained into PutMetricData calls every few seconds.

Counts are one datum per bucket (its Sum is the count). Samples (TargetResponseTime) keep every
value, sent as Values/Counts so that percentiles can be computed from them. Gauges
(HealthyHostCount) keep the last value of the bucket. Like AWS, a count that stayed 0 is not
published at all.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Dimensions = tuple[tuple[str, str], ...]
MAX_DATA_PER_CALL = 1000  # PutMetricData's limit on MetricData items
MAX_VALUES_PER_DATUM = 150  # and on Values per datum
MAX_PENDING = 50_000  # a longer emulator outage drops the oldest data


@dataclass
class _Bucket:
    unit: str
    total: float = 0.0
    samples: collections.Counter[float] = field(default_factory=collections.Counter)
    gauge: float | None = None


class MetricBuffer:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, Dimensions, int], _Bucket] = {}
        self._pending: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)

    def count(self, namespace: str, name: str, dims: Dimensions, at: float, value: float = 1.0) -> None:
        self._bucket(namespace, name, dims, at, "Count").total += value

    def sample(self, namespace: str, name: str, dims: Dimensions, at: float, value: float, unit: str) -> None:
        self._bucket(namespace, name, dims, at, unit).samples[round(value, 6)] += 1

    def gauge(self, namespace: str, name: str, dims: Dimensions, at: float, value: float) -> None:
        self._bucket(namespace, name, dims, at, "Count").gauge = value

    def _bucket(self, namespace: str, name: str, dims: Dimensions, at: float, unit: str) -> _Bucket:
        key = (namespace, name, dims, int(at))
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(unit)
        return bucket

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        """Everything buffered (and not yet sent), as MetricData per namespace; the buffer is emptied."""
        buckets, self._buckets = self._buckets, {}
        out, self._pending = self._pending, collections.defaultdict(list)
        for (namespace, name, dims, second), bucket in sorted(buckets.items(), key=lambda kv: kv[0][3]):
            out[namespace].extend(_data(name, dims, second, bucket))
        return out

    def give_back(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """Data a failed call did not deliver, sent again with the next drain."""
        pending = self._pending[namespace]
        pending[:0] = data
        del pending[:-MAX_PENDING]


def _data(name: str, dims: Dimensions, second: int, bucket: _Bucket) -> Iterator[dict[str, Any]]:
    base = {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
        "Timestamp": dt.datetime.fromtimestamp(second, dt.UTC),
        "Unit": bucket.unit,
    }
    if bucket.samples:
        items = sorted(bucket.samples.items())
        for start in range(0, len(items), MAX_VALUES_PER_DATUM):
            chunk = items[start : start + MAX_VALUES_PER_DATUM]
            yield {**base, "Values": [v for v, _ in chunk], "Counts": [float(c) for _, c in chunk]}
    elif bucket.gauge is not None:
        yield {**base, "Value": bucket.gauge}
    elif bucket.total:
        yield {**base, "Value": bucket.total}


def chunks(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(data), MAX_DATA_PER_CALL):
        yield data[start : start + MAX_DATA_PER_CALL]
