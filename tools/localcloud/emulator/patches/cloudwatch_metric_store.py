"""CloudWatch metric data: an indexed, bounded store, and queries that read it as AWS does.

moto appends every datapoint to one list (a ``Values``/``Counts`` datum becomes one object per
count), scans the whole list on every query and never forgets: with a load balancer and tasks
publishing every few seconds the emulator slows down hour after hour. Its GetMetricData also
ignores the namespace once dimensions are given and compares dimension lists with a broken sort.

Here PutMetricData writes into ``localcloud.cloudwatch.store.MetricStore`` (one per account and
region), GetMetricStatistics, GetMetricData and ListMetrics read from it, and datapoints older
than ``LOCALCLOUD_METRIC_RETENTION_SECONDS`` (default one hour, extended to the longest
evaluation range of any alarm) are dropped by the alarm evaluator's loop (``prune``).
GetMetricData runs metric math with ``localcloud.cloudwatch.metric_math``, the engine alarms use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from localcloud.cloudwatch import metric_math
from localcloud.cloudwatch.store import (
    STATISTICS,
    Datum,
    MetricStore,
    bucket_start,
    dimensions_key,
    is_percentile,
)

RETENTION_SECONDS = float(os.environ.get("LOCALCLOUD_METRIC_RETENTION_SECONDS", "3600"))


def store_of(backend: CloudWatchBackend) -> MetricStore:
    store = getattr(backend, "localcloud_store", None)
    if store is None:
        store = MetricStore(RETENTION_SECONDS)
        backend.localcloud_store = store  # type: ignore[attr-defined]
    return store


def all_stores() -> Iterable[tuple[CloudWatchBackend, MetricStore]]:
    for account in list(cloudwatch_backends.values()):
        for backend in list(account.values()):
            yield backend, store_of(backend)


def epoch(value: Any) -> float:
    if value is None:
        return time.time()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def _as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _dims(raw: Iterable[Any] | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for d in raw or ():
        if isinstance(d, Dimension):
            pairs.append((str(d.name), str(d.value)))
        else:
            pairs.append((str(d["Name"]), str(d["Value"])))
    return dimensions_key(pairs)


def _put_metric_data(self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    for i, metric in enumerate(metric_data):
        self._validate_parameters_put_metric_data(metric, i + 1)
    store = store_of(self)
    for member in metric_data:
        timestamp = epoch(member.get("Timestamp"))
        unit = member.get("Unit")
        dims = _dims(member.get("Dimensions"))
        if member.get("Values"):
            values = [float(v) for v in member["Values"]]
            counts = [float(c) for c in member.get("Counts") or []] or None
            datum = Datum.of_values(timestamp, values, counts, unit)
        elif member.get("StatisticValues"):
            stats = member["StatisticValues"]
            datum = Datum.of_statistics(
                timestamp,
                float(stats["SampleCount"]),
                float(stats["Sum"]),
                float(stats["Minimum"]),
                float(stats["Maximum"]),
                unit,
            )
        else:
            datum = Datum.of_value(timestamp, float(member.get("Value", 0)), unit)
        store.put(namespace, member["MetricName"], dims, datum)


def query(
    store: MetricStore,
    metric: dict[str, Any],
    period: int,
    stat: str,
    start: float,
    end: float,
    unit: str | None = None,
) -> dict[int, float]:
    """One MetricStat: period-aligned values of the series with exactly these dimensions."""
    series = store.series(metric["Namespace"], metric["MetricName"], _dims(metric.get("Dimensions")))
    if series is None:
        return {}
    out: dict[int, float] = {}
    for at, bucket in store.aggregate(series, bucket_start(start, period), end, period, unit).items():
        value = bucket.statistic(stat)
        if value is not None:
            out[at] = value
    return out


def run_queries(
    store: MetricStore, queries: list[dict[str, Any]], start: float, end: float
) -> dict[str, tuple[dict[int, float], int]]:
    """Every query of a GetMetricData request or an alarm's Metrics, by id: (series, period)."""
    results: dict[str, tuple[dict[int, float], int]] = {}
    periods = [int(q["MetricStat"]["Period"]) for q in queries if q.get("MetricStat")]
    periods += [int(q["Period"]) for q in queries if q.get("Period")]
    default_period = min(periods) if periods else 60
    for q in queries:
        if q.get("MetricStat"):
            stat = q["MetricStat"]
            period = int(stat["Period"])
            results[q["Id"]] = (
                query(store, stat["Metric"], period, stat["Stat"], start, end, stat.get("Unit")),
                period,
            )
    pending = [q for q in queries if q.get("Expression")]
    while pending:
        progressed = False
        for q in list(pending):
            if metric_math.references(q["Expression"]) - results.keys():
                continue
            period = int(q.get("Period") or default_period)
            grid = list(range(bucket_start(start, period), int(end), period))
            context = metric_math.Context(
                series={k: v[0] for k, v in results.items()},
                grid=grid,
                periods={k: v[1] for k, v in results.items()},
                metric_ids=[x["Id"] for x in queries if x.get("MetricStat")],
            )
            value = metric_math.evaluate(q["Expression"], context)
            if not isinstance(value, dict):
                raise metric_math.ExpressionError(f"{q['Id']}: the expression must give one time series")
            results[q["Id"]] = (value, period)
            pending.remove(q)
            progressed = True
        if not progressed:
            missing = {i for q in pending for i in metric_math.references(q["Expression"])} - results.keys()
            raise metric_math.ExpressionError(f"unknown ids in expressions: {', '.join(sorted(missing))}")
    return results


def _get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    start, end = epoch(start_time), epoch(end_time)
    if start >= end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    try:
        results = run_queries(store_of(self), queries, start, end)
    except metric_math.ExpressionError as exc:
        raise ValidationError(str(exc)) from exc
    out = []
    for q in queries:
        if not q.get("ReturnData", True):
            continue
        values, _period = results[q["Id"]]
        stamps = sorted(values, reverse=scan_by == "TimestampDescending")
        label = q.get("Label") or (
            q["MetricStat"]["Metric"]["MetricName"] if q.get("MetricStat") else q["Id"]
        )
        out.append(
            {
                "id": q["Id"],
                "label": label,
                "values": [values[t] for t in stamps],
                "timestamps": [_as_datetime(t) for t in stamps],
                "status_code": "Complete",
            }
        )
    return out


def _get_metric_statistics(
    self: CloudWatchBackend,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
    extended_statistics: list[str] | None = None,
) -> list[dict[str, Any]]:
    start, end = epoch(start_time), epoch(end_time)
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    store = store_of(self)
    series = store.series(namespace, metric_name, _dims(dimensions))
    if series is None:
        return []
    datapoints = []
    for at, bucket in sorted(store.aggregate(series, bucket_start(start, period), end, period, unit).items()):
        point: dict[str, Any] = {"Timestamp": _as_datetime(at), "Unit": bucket.unit or unit or "None"}
        for stat in stats:
            if stat in STATISTICS:
                point[stat] = bucket.statistic(stat)
        if extended_statistics:
            point["ExtendedStatistics"] = {
                p: bucket.statistic(p) for p in extended_statistics if is_percentile(p)
            }
        datapoints.append(point)
    return datapoints


def _get_metric_statistics_response(self: CloudWatchResponse) -> ActionResult:
    statistics = self._get_param("Statistics", [])
    extended = self._get_param("ExtendedStatistics", [])
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    metric_name = self._get_param("MetricName")
    datapoints = self.cloudwatch_backend.get_metric_statistics(
        self._get_param("Namespace"),
        metric_name,
        self._get_param("StartTime"),
        self._get_param("EndTime"),
        self._get_int_param("Period"),
        statistics,
        unit=self._get_param("Unit"),
        dimensions=self._get_param("Dimensions", []),
        extended_statistics=extended,
    )
    return ActionResult({"Label": metric_name, "Datapoints": datapoints})


def _get_filtered_metrics(
    self: CloudWatchBackend, metric_name: str, namespace: str, dimensions: list[dict[str, str]]
) -> list[MetricDatumBase]:
    filters = [(d["Name"], d.get("Value")) for d in dimensions or []]
    found = []
    for series in store_of(self).find(namespace, metric_name, filters):
        last = series.data[-1] if series.data else None
        found.append(
            MetricDatum(
                series.namespace,
                series.name,
                last.maximum if last else 0.0,
                [{"Name": k, "Value": v} for k, v in series.dimensions],
                _as_datetime(last.timestamp) if last else None,
            )
        )
    return found


def _get_all_metrics(self: CloudWatchBackend) -> list[MetricDatumBase]:
    """Every datapoint as moto's objects, for any moto code path still reading them."""
    out: list[MetricDatumBase] = []
    for series in store_of(self):
        dims = [{"Name": k, "Value": v} for k, v in series.dimensions]
        for datum in list(series.data):
            ts = _as_datetime(datum.timestamp)
            if datum.samples is not None and datum.count == 1:
                out.append(MetricDatum(series.namespace, series.name, datum.total, dims, ts, datum.unit))
            else:
                out.append(
                    MetricAggregatedDatum(
                        series.namespace,
                        series.name,
                        datum.minimum,
                        datum.maximum,
                        datum.count,
                        datum.total,
                        dims,
                        ts,
                        datum.unit,
                    )
                )
    return out + list(self.aws_metric_data)


def prune(now: float, keep_seconds: float) -> int:
    """Drop datapoints older than ``keep_seconds`` (and the configured retention) everywhere."""
    dropped = 0
    for _backend, store in all_stores():
        store.retention_seconds = max(RETENTION_SECONDS, keep_seconds)
        dropped += store.prune(now)
    return dropped


CloudWatchBackend.put_metric_data = _put_metric_data  # type: ignore[method-assign]
CloudWatchBackend.get_metric_data = _get_metric_data  # type: ignore[method-assign]
CloudWatchBackend.get_metric_statistics = _get_metric_statistics  # type: ignore[method-assign,assignment]
CloudWatchBackend.get_filtered_metrics = _get_filtered_metrics  # type: ignore[method-assign]
CloudWatchBackend.get_all_metrics = _get_all_metrics  # type: ignore[method-assign]

CloudWatchResponse.get_metric_statistics = _get_metric_statistics_response  # type: ignore[method-assign]
