"""CloudWatch Logs metric filters: every ingested event is matched and turned into metric data.

moto stores metric filters and applies none of them, and a second PutMetricFilter of the same
name adds a duplicate where AWS replaces the filter. Here PutMetricFilter replaces, refuses a
pattern AWS would refuse (InvalidParameterException), and PutLogEvents matches each accepted
event against its log group's filters (``localcloud.cloudwatch.filter_pattern``) and puts each
transformation's datapoint into the CloudWatch metric store at the event's timestamp: the
metricValue (a number, ``$.field`` of a JSON event or ``$name`` of a space-delimited one), the
dimensions taken from the event's fields, the unit; events that do not match count
``defaultValue`` when the transformation has one. Datapoints of one second are put together as
one datum with their values and counts, as the CloudWatch agent batches them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import lru_cache
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.logs.exceptions import InvalidParameterException
from moto.logs.metric_filters import MetricFilters
from moto.logs.models import LogStream, logs_backends

from localcloud.cloudwatch.filter_pattern import Match, Pattern, PatternError, compile_pattern
from localcloud.cloudwatch.store import Datum, dimensions_key
from localcloud.emulator.patches.cloudwatch_metric_store import store_of

log = logging.getLogger("localcloud.emulator.logs")


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Pattern:
    return compile_pattern(pattern)


_original_add_filter = MetricFilters.add_filter


def _add_filter(
    self: MetricFilters,
    filter_name: str,
    filter_pattern: str,
    log_group_name: str,
    metric_transformations: Any,
) -> None:
    try:
        _compiled(filter_pattern or "")
    except PatternError as exc:
        raise InvalidParameterException(f"Invalid metric filter pattern: {exc}") from exc
    self.metric_filters = [
        f
        for f in self.metric_filters
        if (f["filterName"], f["logGroupName"]) != (filter_name, log_group_name)
    ]
    _original_add_filter(self, filter_name, filter_pattern, log_group_name, metric_transformations)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _metric_value(transformation: dict[str, Any], match: Match) -> float | None:
    raw = str(transformation.get("metricValue", "1"))
    return _number(match.value(raw) if raw.startswith("$") else raw)


def _dimensions(transformation: dict[str, Any], match: Match) -> dict[str, str] | None:
    """The transformation's dimensions read from the event; None when a field is absent."""
    dims = {}
    for name, selector in (transformation.get("dimensions") or {}).items():
        found = match.value(str(selector))
        if found is None or isinstance(found, dict | list):
            return None
        dims[name] = str(found)
    return dims


def apply_filters(stream: LogStream, events: list[dict[str, Any]]) -> int:
    """Put the metric data of ``events`` just ingested into ``stream``; returns datapoints put."""
    group = stream.log_group
    filters = logs_backends[group.account_id][group.region].filters.get_matching_filters(
        log_group_name=group.name
    )
    if not filters or not events:
        return 0
    store = store_of(cloudwatch_backends[group.account_id][group.region])
    # (namespace, name, dimensions, unit, second) -> value -> count
    batches: dict[tuple[str, str, tuple[tuple[str, str], ...], str | None, int], dict[float, float]] = (
        defaultdict(lambda: defaultdict(float))
    )
    for metric_filter in filters:
        pattern = _compiled(metric_filter["filterPattern"] or "")
        for event in events:
            match = pattern.match(event["message"])
            for transformation in metric_filter["metricTransformations"]:
                if match is None:
                    value = _number(transformation.get("defaultValue"))
                    dims: dict[str, str] = {}
                    if value is None or transformation.get("dimensions"):
                        continue
                else:
                    value = _metric_value(transformation, match)
                    if value is None:
                        continue
                    found_dims = _dimensions(transformation, match)
                    if found_dims is None:
                        continue
                    dims = found_dims
                key = (
                    transformation["metricNamespace"],
                    transformation["metricName"],
                    dimensions_key(dims),
                    transformation.get("unit"),
                    int(event["timestamp"] // 1000),
                )
                batches[key][value] += 1.0
    for (namespace, name, dims_key, unit, second), counts in batches.items():
        values = list(counts)
        store.put(
            namespace,
            name,
            dims_key,
            Datum.of_values(float(second), values, [counts[v] for v in values], unit),
        )
    return len(batches)


_original_put_log_events = LogStream.put_log_events


def _put_log_events(self: LogStream, log_events: list[dict[str, Any]]) -> str:
    token = _original_put_log_events(self, log_events)
    try:
        apply_filters(self, log_events)
    except Exception:  # metric filters never fail an ingestion, on AWS either
        log.exception("metric filters of %s failed", self.log_group.name)
    return token


MetricFilters.add_filter = _add_filter  # type: ignore[method-assign]
LogStream.put_log_events = _put_log_events  # type: ignore[method-assign]
