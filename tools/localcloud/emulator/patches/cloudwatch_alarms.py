"""CloudWatch alarm evaluation and actions: what CloudWatch does on its own side.

moto stores alarms and never evaluates them: their state only changes through SetAlarmState.
Here a background loop (every ``LOCALCLOUD_ALARM_EVALUATION_SECONDS``, default 5) evaluates each
metric alarm once per period (at most once a minute, as CloudWatch does), right after a period
ends, from the metric store (``cloudwatch_metric_store``): period-aligned buckets of the last
complete periods, the alarm's statistic or percentile, or its metric math; the state follows
``localcloud.cloudwatch.evaluation.decide`` (M out of N, TreatMissingData). A state change sets
AWS's StateReason and StateReasonData, records history (DescribeAlarmHistory) and runs the new
state's actions: an SNS topic receives AWS's alarm notification JSON through moto's SNS backend
(so subscribed queues and HTTP endpoints receive it), and other ARNs go to the handler that
registered their prefix (``register_action``; Application Auto Scaling policies register in
``app_autoscaling``). Scaling actions are invoked again at every evaluation the state lasts.

Also as AWS does: a new alarm starts in INSUFFICIENT_DATA; PutMetricAlarm on an existing alarm
keeps its state and history; SetAlarmState holds until the alarm's next evaluation (one period
later) and runs the actions of the state it sets.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sns.models import sns_backends

from localcloud.cloudwatch import evaluation
from localcloud.cloudwatch.evaluation import INSUFFICIENT_DATA, Decision, Point
from localcloud.cloudwatch.store import MetricStore, bucket_start, is_percentile
from localcloud.emulator import control
from localcloud.emulator.patches import cloudwatch_metric_store as metrics

log = logging.getLogger("localcloud.emulator.cloudwatch")

INTERVAL_SECONDS = float(os.environ.get("LOCALCLOUD_ALARM_EVALUATION_SECONDS", "5"))
# A period's data is read this long after the period ends (publishers send a little late).
SETTLE_SECONDS = 1.0
HISTORY_LIMIT = 500


@dataclass
class Invocation:
    """What an action handler is told: the alarm, the state it acts on, the evaluated values."""

    arn: str
    alarm: Alarm
    backend: CloudWatchBackend
    state: str
    values: list[float]
    now: float


ActionHandler = Callable[[Invocation], str]
_handlers: list[tuple[str, ActionHandler]] = []
# Set by SetAlarmState in a request thread; the loop runs their actions.
_pending: list[tuple[CloudWatchBackend, Alarm, str, str]] = []  # backend, alarm, old, new


def register_action(prefix: str, handler: ActionHandler) -> None:
    """Run ``handler`` for alarm actions whose ARN starts with ``prefix`` (e.g. a scaling policy)."""
    _handlers.append((prefix, handler))


# --- alarm model: AWS's initial state, updates that keep the state, history ---------------------

_original_put_metric_alarm = CloudWatchBackend.put_metric_alarm
_original_set_alarm_state = CloudWatchBackend.set_alarm_state


def _iso(timestamp: float | datetime) -> str:
    moment = timestamp if isinstance(timestamp, datetime) else datetime.fromtimestamp(timestamp, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _history(alarm: Alarm) -> list[dict[str, Any]]:
    items = getattr(alarm, "localcloud_history", None)
    if items is None:
        items = alarm.localcloud_history = []  # type: ignore[attr-defined]
    return items


def _record(alarm: Alarm, kind: str, summary: str, data: dict[str, Any]) -> None:
    items = _history(alarm)
    items.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": utcnow(),
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )
    del items[:-HISTORY_LIMIT]


def _put_metric_alarm(self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Alarm:
    previous = self.alarms.get(name)
    alarm = _original_put_metric_alarm(self, name, *args, **kwargs)
    if previous is not None:
        for attribute in (
            "state_value",
            "state_reason",
            "state_reason_data",
            "state_updated_timestamp",
            "history",
        ):
            setattr(alarm, attribute, getattr(previous, attribute))
        alarm.localcloud_history = _history(previous)  # type: ignore[attr-defined]
        _record(alarm, "ConfigurationUpdate", f'Alarm "{name}" updated', {"type": "Update"})
    else:
        alarm.state_value = INSUFFICIENT_DATA
        alarm.state_reason = "Unchecked: Initial alarm creation"
        _record(alarm, "ConfigurationUpdate", f'Alarm "{name}" created', {"type": "Create"})
    alarm.localcloud_next_evaluation = 0.0  # type: ignore[attr-defined]
    return alarm


def _set_state(alarm: Alarm, state: str, reason: str, reason_data: str) -> str:
    old = alarm.state_value
    old_reason = alarm.state_reason
    alarm.update_state(reason, reason_data, state)
    new_state: dict[str, Any] = {"stateValue": state, "stateReason": reason}
    if reason_data:
        try:
            new_state["stateReasonData"] = json.loads(reason_data)
        except ValueError:
            pass
    _record(
        alarm,
        "StateUpdate",
        f"Alarm updated from {old} to {state}",
        {"version": "1.0", "oldState": {"stateValue": old, "stateReason": old_reason}, "newState": new_state},
    )
    return old


def _set_alarm_state(
    self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
) -> None:
    before = self.alarms[alarm_name].state_value if alarm_name in self.alarms else None
    _original_set_alarm_state(self, alarm_name, reason, reason_data, state_value)
    alarm = self.alarms[alarm_name]
    _history(alarm).append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": utcnow(),
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {before} to {state_value}",
            "HistoryData": json.dumps(
                {
                    "version": "1.0",
                    "oldState": {"stateValue": before},
                    "newState": {"stateValue": state_value},
                }
            ),
        }
    )
    cadence = _cadence(alarm)
    alarm.localcloud_next_evaluation = _next_boundary(time.time() + cadence, cadence)  # type: ignore[attr-defined]
    if before != state_value:
        _pending.append((self, alarm, before or INSUFFICIENT_DATA, state_value))


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    newest_first = (self._get_param("ScanBy") or "TimestampDescending") == "TimestampDescending"
    limit = self._get_int_param("MaxRecords") or 100
    alarms = self.cloudwatch_backend.alarms
    items = [i for a in alarms.values() if name in (None, a.name) for i in _history(a)]
    if kind:
        items = [i for i in items if i["HistoryItemType"] == kind]
    if start:
        items = [i for i in items if metrics.epoch(i["Timestamp"]) >= metrics.epoch(start)]
    if end:
        items = [i for i in items if metrics.epoch(i["Timestamp"]) <= metrics.epoch(end)]
    items.sort(key=lambda i: metrics.epoch(i["Timestamp"]), reverse=newest_first)
    return ActionResult({"AlarmHistoryItems": items[:limit]})


CloudWatchBackend.put_metric_alarm = _put_metric_alarm  # type: ignore[method-assign]
CloudWatchBackend.set_alarm_state = _set_alarm_state  # type: ignore[method-assign]
CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]


# --- evaluation ----------------------------------------------------------------------------------


def _queries(alarm: Alarm) -> list[dict[str, Any]]:
    """The alarm's Metrics as GetMetricData queries."""
    out = []
    for q in alarm.metric_data_queries:
        query: dict[str, Any] = {"Id": q.id, "ReturnData": q.return_data in (None, True, "true", "True")}
        if q.label:
            query["Label"] = q.label
        if q.period:
            query["Period"] = int(q.period)
        if q.expression:
            query["Expression"] = q.expression
        if q.metric_stat is not None:
            stat = q.metric_stat
            query["MetricStat"] = {
                "Metric": {
                    "Namespace": stat.metric.namespace,
                    "MetricName": stat.metric.metric_name,
                    "Dimensions": [{"Name": d.name, "Value": d.value} for d in stat.metric.dimensions],
                },
                "Period": int(stat.period),
                "Stat": stat.stat,
            }
            if stat.unit:
                query["MetricStat"]["Unit"] = stat.unit
        out.append(query)
    return out


def _period(alarm: Alarm) -> int:
    if alarm.period:
        return int(alarm.period)
    periods = [int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat is not None]
    periods += [int(q.period) for q in alarm.metric_data_queries if q.period]
    return min(periods) if periods else 60


def _cadence(alarm: Alarm) -> int:
    return min(_period(alarm), 60)


def _next_boundary(now: float, cadence: int) -> float:
    return bucket_start(now, cadence) + cadence + SETTLE_SECONDS


def _low_sample_limit(stat: str) -> float:
    p = float(stat[1:]) / 100.0
    if p >= 0.5:
        return 10.0 / (1.0 - p) if p < 1.0 else float("inf")
    return 10.0 / p if p > 0 else float("inf")


def datapoints(store: MetricStore, alarm: Alarm, now: float) -> tuple[list[Point], int]:
    """The evaluation range of ``alarm`` (oldest first) and its period."""
    period = _period(alarm)
    size = evaluation.evaluation_range(int(alarm.evaluation_periods))
    last = bucket_start(now - SETTLE_SECONDS, period) - period
    starts = [last - i * period for i in range(size - 1, -1, -1)]
    begin, end = starts[0], last + period
    if alarm.metric_data_queries:
        queries = _queries(alarm)
        results = metrics.run_queries(store, queries, begin, end)
        returned = [q["Id"] for q in queries if q["ReturnData"]]
        if len(returned) != 1:
            raise ValueError(f"alarm {alarm.name}: exactly one of its Metrics must have ReturnData true")
        values = results[returned[0]][0]
        return [Point(t, values.get(t)) for t in starts], period
    stat = alarm.extended_statistic or alarm.statistic
    series = store.series(alarm.namespace, alarm.metric_name, metrics._dims(alarm.dimensions))
    buckets = store.aggregate(series, begin, end, period, alarm.unit) if series is not None else {}
    points = []
    for t in starts:
        bucket = buckets.get(t)
        value = bucket.statistic(stat) if bucket is not None else None
        count = bucket.count if bucket is not None else None
        if (
            value is not None
            and is_percentile(stat)
            and alarm.evaluate_low_sample_count_percentile == "ignore"
            and (count or 0) < _low_sample_limit(stat)
        ):
            value = None
        points.append(Point(t, value, count))
    return points, period


def _reason_data(alarm: Alarm, decision: Decision, points: list[Point], period: int, now: float) -> str:
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now)}
    if not alarm.metric_data_queries:
        if alarm.extended_statistic:
            data["extendedStatistic"] = alarm.extended_statistic
        else:
            data["statistic"] = alarm.statistic
        if alarm.unit:
            data["unit"] = alarm.unit
    data["startDate"] = _iso(points[0].timestamp)
    data["period"] = period
    data["recentDatapoints"] = [p.value for p in points if p.value is not None]
    data["threshold"] = float(alarm.threshold)
    evaluated = []
    for p in reversed(decision.evaluated):
        item: dict[str, Any] = {"timestamp": _iso(p.timestamp)}
        if p.sample_count is not None and not alarm.metric_data_queries:
            item["sampleCount"] = p.sample_count
        item["value"] = p.value
        evaluated.append(item)
    data["evaluatedDatapoints"] = evaluated
    return json.dumps(data)


def evaluate_alarm(backend: CloudWatchBackend, store: MetricStore, alarm: Alarm, now: float) -> None:
    if now < getattr(alarm, "localcloud_next_evaluation", 0.0):
        return
    cadence = _cadence(alarm)
    alarm.localcloud_next_evaluation = _next_boundary(now, cadence)  # type: ignore[attr-defined]
    try:
        points, period = datapoints(store, alarm, now)
        decision = evaluation.decide(
            points,
            evaluation_periods=int(alarm.evaluation_periods),
            datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
            comparison=alarm.comparison_operator,
            threshold=float(alarm.threshold),
            treat_missing=alarm.treat_missing_data,
            current_state=alarm.state_value,
        )
    except ValueError as exc:
        if alarm.state_reason != f"Unchecked: {exc}":
            log.warning("alarm %s cannot be evaluated: %s", alarm.name, exc)
            _set_state(alarm, INSUFFICIENT_DATA, f"Unchecked: {exc}", "")
        return
    values = [p.value for p in decision.evaluated if p.value is not None]
    if decision.state is None or decision.state == alarm.state_value:
        _repeat_scaling(backend, alarm, values, now)
        return
    old = _set_state(
        alarm, decision.state, decision.reason, _reason_data(alarm, decision, points, period, now)
    )
    _run_actions(backend, alarm, old, decision.state, values, now)


def _actions_for(alarm: Alarm, state: str) -> list[str]:
    if state == "ALARM":
        return list(alarm.alarm_actions or [])
    if state == "OK":
        return list(alarm.ok_actions or [])
    return list(alarm.insufficient_data_actions or [])


def _handler(arn: str) -> ActionHandler | None:
    return next((h for prefix, h in _handlers if arn.startswith(prefix)), None)


def _run_actions(
    backend: CloudWatchBackend, alarm: Alarm, old: str, state: str, values: list[float], now: float
) -> None:
    if not alarm.actions_enabled:
        return
    for arn in _actions_for(alarm, state):
        try:
            if arn.split(":")[2:3] == ["sns"]:
                message = _notify(backend, alarm, arn, old, state, now)
            else:
                handler = _handler(arn)
                if handler is None:
                    raise ValueError("no handler for this action in the emulator")
                message = handler(Invocation(arn, alarm, backend, state, values, now))
            _record(
                alarm,
                "Action",
                f"Successfully executed action {arn}",
                {"actionState": "Succeeded", "notificationResource": arn, "message": message},
            )
        except Exception as exc:  # noqa: BLE001 - a failed action is recorded, as CloudWatch does
            log.warning("alarm %s: action %s failed: %s\n%s", alarm.name, arn, exc, traceback.format_exc())
            _record(
                alarm,
                "Action",
                f"Failed to execute action {arn}",
                {"actionState": "Failed", "error": str(exc)},
            )


def _repeat_scaling(backend: CloudWatchBackend, alarm: Alarm, values: list[float], now: float) -> None:
    """CloudWatch invokes scaling actions again at each evaluation the alarm stays in the state."""
    if not alarm.actions_enabled or not values:
        return
    for arn in _actions_for(alarm, alarm.state_value):
        handler = _handler(arn)
        if handler is None:
            continue
        try:
            handler(Invocation(arn, alarm, backend, alarm.state_value, values, now))
        except Exception as exc:  # noqa: BLE001 - logged; the next evaluation tries again
            log.warning("alarm %s: action %s failed: %s", alarm.name, arn, exc)


# --- the SNS notification ------------------------------------------------------------------------

_REGIONS = {
    name: info.get("description", name)
    for partition in botocore.loaders.Loader().load_data("endpoints")["partitions"]
    for name, info in partition["regions"].items()
}


def _dimensions_lower(dimensions: list[Any]) -> list[dict[str, str]]:
    return [{"value": d.value, "name": d.name} for d in dimensions]


def notification(
    backend: CloudWatchBackend, alarm: Alarm, old: str, state: str, now: float
) -> dict[str, Any]:
    """AWS's alarm notification (the SNS message body of an alarm state change)."""
    trigger: dict[str, Any]
    if alarm.metric_data_queries:
        trigger = {"Period": _period(alarm), "Metrics": []}
        for q in _queries(alarm):
            item: dict[str, Any] = {"Id": q["Id"], "ReturnData": q["ReturnData"]}
            if "Label" in q:
                item["Label"] = q["Label"]
            if "Expression" in q:
                item["Expression"] = q["Expression"]
            if "MetricStat" in q:
                stat = q["MetricStat"]
                item["MetricStat"] = {
                    "Metric": {
                        "Dimensions": [
                            {"value": d["Value"], "name": d["Name"]} for d in stat["Metric"]["Dimensions"]
                        ],
                        "MetricName": stat["Metric"]["MetricName"],
                        "Namespace": stat["Metric"]["Namespace"],
                    },
                    "Period": stat["Period"],
                    "Stat": stat["Stat"],
                }
            trigger["Metrics"].append(item)
    else:
        trigger = {"MetricName": alarm.metric_name, "Namespace": alarm.namespace}
        if alarm.extended_statistic:
            trigger.update(StatisticType="ExtendedStatistic", ExtendedStatistic=alarm.extended_statistic)
        else:
            trigger.update(StatisticType="Statistic", Statistic=(alarm.statistic or "").upper())
        trigger.update(Unit=alarm.unit, Dimensions=_dimensions_lower(alarm.dimensions), Period=_period(alarm))
    trigger.update(
        EvaluationPeriods=int(alarm.evaluation_periods),
        DatapointsToAlarm=int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        ComparisonOperator=alarm.comparison_operator,
        Threshold=float(alarm.threshold),
        TreatMissingData=alarm.treat_missing_data or "missing",
        EvaluateLowSampleCountPercentile=alarm.evaluate_low_sample_count_percentile or "",
    )
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": backend.account_id,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": state,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(now),
        "Region": _REGIONS.get(backend.region_name, backend.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": trigger,
    }


def _notify(
    backend: CloudWatchBackend, alarm: Alarm, topic_arn: str, old: str, state: str, now: float
) -> str:
    _, _, _, region, account, _ = topic_arn.split(":", 5)
    region_name = _REGIONS.get(backend.region_name, backend.region_name)
    subject = f'{state}: "{alarm.name}" in {region_name}'
    if len(subject) > 100:
        subject = subject[:97] + "..."
    body = json.dumps(notification(backend, alarm, old, state, now))
    message_id = sns_backends[account][region].publish(body, arn=topic_arn, subject=subject)
    return f"SNS message {message_id}"


# --- the loop ------------------------------------------------------------------------------------


def longest_range_seconds() -> float:
    longest = 0.0
    for backend, _store in metrics.all_stores():
        for alarm in list(backend.alarms.values()):
            if alarm.rule is None and alarm.evaluation_periods:
                span = _period(alarm) * (evaluation.evaluation_range(int(alarm.evaluation_periods)) + 1)
                longest = max(longest, float(span))
    return longest


def evaluate_all(now: float | None = None) -> int:
    """One round: every due alarm of every account and region; returns how many were evaluated."""
    now = time.time() if now is None else now
    evaluated = 0
    with control.state_lock:
        while _pending:
            backend, alarm, old, state = _pending.pop(0)
            _run_actions(backend, alarm, old, state, [], now)
        for backend, store in metrics.all_stores():
            for alarm in list(backend.alarms.values()):
                if alarm.rule is not None:
                    continue  # composite alarms are not evaluated here
                if now >= getattr(alarm, "localcloud_next_evaluation", 0.0):
                    evaluate_alarm(backend, store, alarm, now)
                    evaluated += 1
        metrics.prune(now, longest_range_seconds())
    return evaluated


@control.background("cloudwatch-alarms", INTERVAL_SECONDS)
def _round() -> None:
    evaluate_all()
