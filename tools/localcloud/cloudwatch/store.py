"""The metric store: datapoints indexed per series, in time order, bounded by a retention window.

moto keeps every datapoint in one list and scans all of it for each query, so with a load
balancer and tasks publishing every few seconds each query grows slower hour after hour. Here a
series is found by its key (namespace, name, dimensions) and its datapoints by bisection, so the
cost of a query is the datapoints of its window, and ``prune`` drops what no alarm or query needs.

A ``Datum`` keeps what CloudWatch keeps: count, sum, minimum, maximum, and the raw values (with
their counts) when they were sent as values, so that percentiles are exact for them.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

Dimensions = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, str, Dimensions]

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def dimensions_key(dimensions: Iterable[tuple[str, str]] | dict[str, str]) -> Dimensions:
    items = dimensions.items() if isinstance(dimensions, dict) else dimensions
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True)
class Datum:
    timestamp: float
    count: float
    total: float
    minimum: float
    maximum: float
    # (value, count) pairs when the datum was sent as values; None for a StatisticSet.
    samples: tuple[tuple[float, float], ...] | None
    unit: str | None = None

    @classmethod
    def of_value(cls, timestamp: float, value: float, unit: str | None = None) -> Datum:
        return cls(timestamp, 1.0, value, value, value, ((value, 1.0),), unit)

    @classmethod
    def of_values(
        cls,
        timestamp: float,
        values: Sequence[float],
        counts: Sequence[float] | None,
        unit: str | None = None,
    ) -> Datum:
        weights = list(counts) if counts else [1.0] * len(values)
        pairs = tuple((float(v), float(c)) for v, c in zip(values, weights, strict=True) if c > 0)
        return cls(
            timestamp,
            sum(c for _, c in pairs),
            sum(v * c for v, c in pairs),
            min(v for v, _ in pairs),
            max(v for v, _ in pairs),
            pairs,
            unit,
        )

    @classmethod
    def of_statistics(
        cls,
        timestamp: float,
        count: float,
        total: float,
        minimum: float,
        maximum: float,
        unit: str | None = None,
    ) -> Datum:
        return cls(timestamp, count, total, minimum, maximum, None, unit)


@dataclass
class Aggregate:
    """The datapoints of one period of one series."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: list[tuple[float, float]] = field(default_factory=list)
    unit: str | None = None

    def add(self, datum: Datum) -> None:
        self.count += datum.count
        self.total += datum.total
        self.minimum = min(self.minimum, datum.minimum)
        self.maximum = max(self.maximum, datum.maximum)
        if datum.samples is not None:
            self.samples.extend(datum.samples)
        elif datum.count:
            # A statistic set has no raw values: its mean stands for its samples in percentiles.
            self.samples.append((datum.total / datum.count, datum.count))
        self.unit = self.unit or datum.unit

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.samples.extend(other.samples)
        self.unit = self.unit or other.unit

    def statistic(self, name: str) -> float | None:
        if self.count <= 0:
            return None
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        if is_percentile(name):
            return self.percentile(float(name[1:]))
        raise ValueError(f"unsupported statistic {name!r}")

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile over the weighted samples."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        weight = sum(c for _, c in ordered)
        rank = max(1.0, math.ceil(p / 100.0 * weight))
        seen = 0.0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                return value
        return ordered[-1][0]


def is_percentile(name: str) -> bool:
    if not name.startswith("p"):
        return False
    try:
        value = float(name[1:])
    except ValueError:
        return False
    return 0.0 <= value <= 100.0


class Series:
    __slots__ = ("data", "dimensions", "name", "namespace", "timestamps")

    def __init__(self, namespace: str, name: str, dimensions: Dimensions) -> None:
        self.namespace = namespace
        self.name = name
        self.dimensions = dimensions
        self.timestamps: list[float] = []
        self.data: list[Datum] = []

    @property
    def key(self) -> SeriesKey:
        return (self.namespace, self.name, self.dimensions)

    def add(self, datum: Datum) -> None:
        if not self.timestamps or datum.timestamp >= self.timestamps[-1]:
            self.timestamps.append(datum.timestamp)
            self.data.append(datum)
            return
        at = bisect.bisect_right(self.timestamps, datum.timestamp)
        self.timestamps.insert(at, datum.timestamp)
        self.data.insert(at, datum)

    def between(self, start: float, end: float) -> list[Datum]:
        lo = bisect.bisect_left(self.timestamps, start)
        hi = bisect.bisect_left(self.timestamps, end)
        return self.data[lo:hi]

    def prune(self, before: float) -> int:
        cut = bisect.bisect_left(self.timestamps, before)
        if cut:
            del self.timestamps[:cut]
            del self.data[:cut]
        return cut


def bucket_start(timestamp: float, period: int) -> int:
    return int(timestamp // period * period)


class MetricStore:
    """All series of one account and region. Safe to use from request threads and loops."""

    def __init__(self, retention_seconds: float) -> None:
        self.retention_seconds = retention_seconds
        self._series: dict[SeriesKey, Series] = {}
        self._by_name: dict[tuple[str, str], list[Series]] = {}
        self._lock = threading.Lock()

    def put(self, namespace: str, name: str, dimensions: Dimensions, datum: Datum) -> None:
        key = (namespace, name, dimensions)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(namespace, name, dimensions)
                self._by_name.setdefault((namespace, name), []).append(series)
            series.add(datum)

    def series(self, namespace: str, name: str, dimensions: Dimensions) -> Series | None:
        return self._series.get((namespace, name, dimensions))

    def find(
        self,
        namespace: str | None = None,
        name: str | None = None,
        dimension_filters: Sequence[tuple[str, str | None]] = (),
    ) -> list[Series]:
        """Series as ListMetrics finds them: every filter's name present, with its value if given."""
        with self._lock:
            if namespace is not None and name is not None:
                candidates = list(self._by_name.get((namespace, name), []))
            else:
                candidates = [
                    s
                    for s in self._series.values()
                    if (namespace is None or s.namespace == namespace) and (name is None or s.name == name)
                ]
        out = []
        for series in candidates:
            present = dict(series.dimensions)
            if all(k in present and (v is None or present[k] == v) for k, v in dimension_filters):
                out.append(series)
        return out

    def aggregate(
        self, series: Series, start: float, end: float, period: int, unit: str | None = None
    ) -> dict[int, Aggregate]:
        """Period-aligned aggregates of ``series`` over [start, end)."""
        with self._lock:
            data = series.between(start, end)
        buckets: dict[int, Aggregate] = {}
        for datum in data:
            if unit and datum.unit != unit:
                continue
            at = bucket_start(datum.timestamp, period)
            bucket = buckets.get(at)
            if bucket is None:
                bucket = buckets[at] = Aggregate()
            bucket.add(datum)
        return buckets

    def prune(self, now: float) -> int:
        """Drop datapoints older than the retention window, and series left empty."""
        before = now - self.retention_seconds
        dropped = 0
        with self._lock:
            for key, series in list(self._series.items()):
                dropped += series.prune(before)
                if not series.data:
                    del self._series[key]
                    self._by_name[(series.namespace, series.name)].remove(series)
        return dropped

    def __iter__(self) -> Iterator[Series]:
        with self._lock:
            return iter(list(self._series.values()))

    def datapoint_count(self) -> int:
        with self._lock:
            return sum(len(s.data) for s in self._series.values())
