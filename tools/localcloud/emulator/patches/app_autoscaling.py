"""Application Auto Scaling as AWS runs it: policies that scale, scheduled actions that fire.

moto stores scaling policies and never executes them, creates target-tracking alarms for ECS
with a threshold of 6 and the CPU metric for every predefined metric type, gives a policy a new
ARN (and a second pair of alarms) each time it is put again, ignores DescribeScalingPolicies'
PolicyNames, never runs scheduled actions and has no DescribeScalingActivities. Here:

- target tracking makes AWS's two alarms: AlarmHigh (metric > target, 3 of 3 one-minute
  datapoints) and AlarmLow (metric < 90% of the target, 15 of 15; none with DisableScaleIn), on
  the predefined metric's own metric (ECS CPU or memory, ALB RequestCountPerTarget of the
  ResourceLabel's target group) or the customized metric specification (metric or metric math);
- an alarm action naming a policy executes it (``cloudwatch_alarms.register_action``): step
  scaling picks the step for metric - threshold (MetricAggregationType over the evaluated
  datapoints), target tracking sets capacity proportional to metric / target; both clamp to the
  scalable target's bounds, honour suspended dynamic scaling and cooldowns (during a scale-out
  cooldown the capacity is computed from the capacity before that scale-out, so it does not
  compound; scale-in waits out its cooldown), write the ECS service's desiredCount through the
  ECS backend and record a scaling activity;
- deregistering a scalable target deletes its scaling policies (with their alarms) and its
  scheduled actions, as AWS documents; moto kept them, so a deregistered side kept policies
  and target-tracking alarms nothing would ever delete;
- scheduled actions (at/rate/cron with Timezone, StartTime/EndTime) set the target's minimum
  and maximum and move the capacity inside them, from a background loop every
  ``LOCALCLOUD_SCHEDULE_SECONDS`` (default 5).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
    FakeScheduledAction,
    applicationautoscaling_backends,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse, _build_policy
from moto.cloudwatch.models import Alarm, Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.ecs.models import ecs_backends

from localcloud.cloudwatch import scaling
from localcloud.cloudwatch.schedule import ScheduleError, next_fire
from localcloud.emulator import control
from localcloud.emulator.patches import cloudwatch_alarms

log = logging.getLogger("localcloud.emulator.autoscaling")

SCHEDULE_SECONDS = float(os.environ.get("LOCALCLOUD_SCHEDULE_SECONDS", "5"))
ACTIVITY_LIMIT = 200

# Predefined metric type -> (namespace, metric name, statistic)
PREDEFINED = {
    "ECSServiceAverageCPUUtilization": ("AWS/ECS", "CPUUtilization", "Average"),
    "ECSServiceAverageMemoryUtilization": ("AWS/ECS", "MemoryUtilization", "Average"),
    "ALBRequestCountPerTarget": ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum"),
}


# --- target-tracking alarms as AWS makes them ----------------------------------------------------


def _alarm_metric(policy: FakeApplicationAutoscalingPolicy) -> dict[str, Any]:
    """PutMetricAlarm keyword arguments naming the metric a target-tracking policy tracks."""
    config = policy.target_tracking_scaling_policy_configuration or {}
    predefined = config.get("PredefinedMetricSpecification")
    if predefined:
        kind = predefined["PredefinedMetricType"]
        if kind not in PREDEFINED:
            raise ValueError(f"predefined metric {kind} is not modelled by the emulator")
        namespace, name, statistic = PREDEFINED[kind]
        if kind == "ALBRequestCountPerTarget":
            label = predefined.get("ResourceLabel") or ""
            if "/targetgroup/" not in label:
                raise ValueError(
                    "ALBRequestCountPerTarget needs ResourceLabel app/<lb>/<id>/targetgroup/<tg>/<id>"
                )
            dimensions = [
                {"Name": "TargetGroup", "Value": "targetgroup/" + label.split("/targetgroup/", 1)[1]}
            ]
        else:
            _, cluster, service = policy.resource_id.split("/")
            dimensions = [
                {"Name": "ClusterName", "Value": cluster},
                {"Name": "ServiceName", "Value": service},
            ]
        return {"namespace": namespace, "metric_name": name, "statistic": statistic, "dimensions": dimensions}
    custom = config.get("CustomizedMetricSpecification") or {}
    if custom.get("Metrics"):
        queries = []
        for q in custom["Metrics"]:
            stat = None
            if q.get("MetricStat"):
                m = q["MetricStat"]["Metric"]
                stat = MetricStat(
                    Metric(
                        m["MetricName"],
                        m["Namespace"],
                        [Dimension(d["Name"], d["Value"]) for d in m.get("Dimensions", [])],
                    ),
                    "60",
                    q["MetricStat"]["Stat"],
                    q["MetricStat"].get("Unit"),
                )
            queries.append(
                MetricDataQuery(
                    q["Id"], q.get("Label"), None, q.get("ReturnData", True), q.get("Expression"), stat
                )
            )
        return {
            "namespace": None,
            "metric_name": None,
            "statistic": None,
            "dimensions": [],
            "metric_data_queries": queries,
        }
    if custom.get("MetricName"):
        return {
            "namespace": custom["Namespace"],
            "metric_name": custom["MetricName"],
            "statistic": custom.get("Statistic", "Average"),
            "dimensions": list(custom.get("Dimensions") or []),
            "unit": custom.get("Unit"),
        }
    raise ValueError("a target-tracking policy needs a predefined or customized metric specification")


def _generate_ecs_alarms(self: FakeApplicationAutoscalingPolicy) -> list[Alarm]:
    cloudwatch = cloudwatch_backends[self.account_id][self.region_name]
    config = self.target_tracking_scaling_policy_configuration or {}
    target = float(config["TargetValue"])
    metric = _alarm_metric(self)
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {self.policy_arn}."
    sides = [("AlarmHigh", "GreaterThanThreshold", 3, target)]
    if not config.get("DisableScaleIn"):
        sides.append(("AlarmLow", "LessThanThreshold", 15, round(target * 0.9, 6)))
    alarms = []
    for side, comparison, periods, threshold in sides:
        alarms.append(
            cloudwatch.put_metric_alarm(
                name=f"TargetTracking-{self.resource_id}-{side}-{uuid.uuid4()}",
                comparison_operator=comparison,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                period=60 if not metric.get("metric_data_queries") else None,  # type: ignore[arg-type]
                threshold=threshold,
                description=description,
                alarm_actions=[self.policy_arn],
                **metric,
            )
        )
    return alarms


_original_put_scaling_policy = ApplicationAutoscalingBackend.put_scaling_policy
_original_deregister = ApplicationAutoscalingBackend.deregister_scalable_target


def _deregister_scalable_target(
    self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str
) -> None:
    _original_deregister(self, namespace, r_id, dimension)
    for key, policy in list(self.policies.items()):
        if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
            namespace,
            r_id,
            dimension,
        ):
            policy.delete_alarms(self.account_id, self.region_name)
            del self.policies[key]
    self.scheduled_actions = [
        a
        for a in self.scheduled_actions
        if (a.service_namespace, a.resource_id, a.scalable_dimension) != (namespace, r_id, dimension)
    ]


def _put_scaling_policy(
    self: ApplicationAutoscalingBackend,
    policy_name: str,
    service_namespace: str,
    resource_id: str,
    scalable_dimension: str,
    *args: Any,
    **kwargs: Any,
) -> Any:
    key = FakeApplicationAutoscalingPolicy.formulate_key(
        service_namespace, resource_id, scalable_dimension, policy_name
    )
    old = self.policies.get(key)
    if old is not None:
        # AWS updates a policy in place: same ARN, its target-tracking alarms replaced.
        old.delete_alarms(self.account_id, self.region_name)
    policy = _original_put_scaling_policy(
        self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs
    )
    if old is not None:
        policy.delete_alarms(self.account_id, self.region_name)
        policy.alarms = []
        policy._guid, policy.policy_arn, policy.creation_time = old._guid, old.policy_arn, old.creation_time
        policy.localcloud_cooldown = getattr(old, "localcloud_cooldown", {})
        policy.create_alarms()
    return policy


def _describe_scaling_policies(self: ApplicationAutoScalingResponse) -> str:
    names = self._get_param("PolicyNames") or []
    next_token, page = self.applicationautoscaling_backend.describe_scaling_policies(
        service_namespace=self._get_param("ServiceNamespace"),
        resource_id=self._get_param("ResourceId"),
        scalable_dimension=self._get_param("ScalableDimension"),
        max_results=self._get_int_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    policies = [p for p in page if not names or p.policy_name in names]
    return json.dumps({"ScalingPolicies": [_build_policy(p) for p in policies], "NextToken": next_token})


# --- executing a policy ---------------------------------------------------------------------------


def _activities(backend: ApplicationAutoscalingBackend) -> list[dict[str, Any]]:
    items = getattr(backend, "localcloud_activities", None)
    if items is None:
        items = backend.localcloud_activities = []  # type: ignore[attr-defined]
    return items


def _record(
    backend: ApplicationAutoscalingBackend,
    target: FakeScalableTarget,
    description: str,
    cause: str,
    message: str,
    now: float,
) -> None:
    items = _activities(backend)
    items.insert(
        0,
        {
            "ActivityId": str(uuid.uuid4()),
            "ServiceNamespace": target.service_namespace,
            "ResourceId": target.resource_id,
            "ScalableDimension": target.scalable_dimension,
            "Description": description,
            "Cause": cause,
            "StartTime": now,
            "EndTime": now,
            "StatusCode": "Successful",
            "StatusMessage": message,
        },
    )
    del items[ACTIVITY_LIMIT:]


def capacity(target: FakeScalableTarget, backend: ApplicationAutoscalingBackend) -> int:
    if target.scalable_dimension != "ecs:service:DesiredCount":
        raise ValueError(f"scalable dimension {target.scalable_dimension} is not modelled by the emulator")
    _, cluster, service = target.resource_id.split("/")
    found, _failures = ecs_backends[backend.account_id][backend.region_name].describe_services(
        cluster, [service]
    )
    if not found:
        raise ValueError(f"ECS service {target.resource_id} does not exist")
    return int(found[0].desired_count)


def set_capacity(target: FakeScalableTarget, backend: ApplicationAutoscalingBackend, desired: int) -> None:
    _, cluster, service = target.resource_id.split("/")
    ecs_backends[backend.account_id][backend.region_name].update_service(
        {"cluster": cluster, "service": service, "desired_count": desired}
    )


def _suspended(target: FakeScalableTarget, key: str) -> bool:
    state = target.suspended_state or {}
    return bool(state.get(key)) if isinstance(state, dict) else False


def _find_policy(arn: str) -> tuple[ApplicationAutoscalingBackend, FakeApplicationAutoscalingPolicy]:
    region, account = arn.split(":")[3:5]
    backend = applicationautoscaling_backends[account][region]
    for policy in backend.policies.values():
        if arn == policy.policy_arn or arn.startswith(policy.policy_arn + ":"):
            return backend, policy
    raise ValueError(f"no scaling policy {arn}")


def execute(invocation: cloudwatch_alarms.Invocation) -> str:
    """Run the policy an alarm action names; returns what happened (for the alarm's history)."""
    backend, policy = _find_policy(invocation.arn)
    target = backend.targets.get(policy.scalable_dimension, {}).get(policy.resource_id)
    if target is None:
        raise ValueError(f"no scalable target {policy.resource_id}")
    if not invocation.values:
        return "no datapoint to scale on"
    now = invocation.now
    current = capacity(target, backend)
    cooldown: dict[str, float] = getattr(policy, "localcloud_cooldown", None) or {}
    policy.localcloud_cooldown = cooldown
    if policy.policy_type == "StepScaling":
        config = policy.step_scaling_policy_configuration or {}
        metric = scaling.aggregate(invocation.values, config.get("MetricAggregationType"))
        step = scaling.matching_step(
            config.get("StepAdjustments") or [], metric, float(invocation.alarm.threshold)
        )
        if step is None:
            return f"no step adjustment for metric value {metric}"
        out_cooldown = in_cooldown = float(config.get("Cooldown") or 0)

        def wanted(base: int) -> int:
            return scaling.adjusted_capacity(
                base,
                config.get("AdjustmentType"),
                float(step["ScalingAdjustment"]),
                config.get("MinAdjustmentMagnitude"),
            )
    else:
        config = policy.target_tracking_scaling_policy_configuration or {}
        metric = invocation.values[-1]
        out_cooldown = float(config.get("ScaleOutCooldown") or 300)
        in_cooldown = float(config.get("ScaleInCooldown") or 300)

        def wanted(base: int) -> int:
            return scaling.target_tracking_capacity(base, metric, float(config["TargetValue"]))

    new = scaling.clamp(wanted(current), target.min_capacity, target.max_capacity)
    if new > current:
        if _suspended(target, "DynamicScalingOutSuspended"):
            return "dynamic scale-out is suspended"
        if now - cooldown.get("out_at", -1e18) < out_cooldown:
            # The capacity the last scale-out added counts toward this one.
            new = scaling.clamp(wanted(int(cooldown["out_base"])), target.min_capacity, target.max_capacity)
            if new <= current:
                return (
                    f"scale-out cooldown ({out_cooldown:.0f} s): capacity {current} already covers {metric}"
                )
        else:
            cooldown["out_base"] = current
        cooldown["out_at"] = now
    elif new < current:
        if policy.policy_type == "TargetTrackingScaling" and config.get("DisableScaleIn"):
            return "scale-in is disabled"
        if _suspended(target, "DynamicScalingInSuspended"):
            return "dynamic scale-in is suspended"
        if now - cooldown.get("in_at", -1e18) < in_cooldown:
            return f"scale-in cooldown ({in_cooldown:.0f} s)"
        cooldown["in_at"] = now
    else:
        return f"capacity stays {current}"
    set_capacity(target, backend, new)
    _record(
        backend,
        target,
        f"Setting desired count to {new}.",
        f"monitor alarm {invocation.alarm.name} in state {invocation.state}"
        f" triggered policy {policy.policy_name}",
        f"Successfully set desired count to {new}. Change successfully fulfilled by ecs.",
        now,
    )
    log.info("%s: desired count %d -> %d (%s)", target.resource_id, current, new, policy.policy_name)
    return f"desired count {current} -> {new}"


def _describe_scaling_activities(self: ApplicationAutoScalingResponse) -> str:
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    limit = self._get_int_param("MaxResults") or 50
    start = int(self._get_param("NextToken") or 0)
    items = [
        a
        for a in _activities(self.applicationautoscaling_backend)
        if a["ServiceNamespace"] == namespace
        and resource_id in (None, a["ResourceId"])
        and dimension in (None, a["ScalableDimension"])
    ]
    page = items[start : start + limit]
    token = str(start + limit) if start + limit < len(items) else None
    return json.dumps({"ScalingActivities": page, "NextToken": token})


# --- scheduled actions ---------------------------------------------------------------------------

_original_action_update = FakeScheduledAction.update


def _action_update(self: FakeScheduledAction, *args: Any, **kwargs: Any) -> None:
    _original_action_update(self, *args, **kwargs)
    self.localcloud_next = None  # type: ignore[attr-defined]
    self.localcloud_anchor = time.time()  # type: ignore[attr-defined]


def _as_epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _due(action: FakeScheduledAction, now: float) -> bool:
    """Whether ``action`` fires in this round; keeps its next fire time on the action."""
    anchor = datetime.fromtimestamp(getattr(action, "localcloud_anchor", action.creation_time), UTC)
    following = getattr(action, "localcloud_next", None)
    if following is None:
        after = datetime.fromtimestamp(getattr(action, "localcloud_checked", action.creation_time), UTC)
        fire = next_fire(action.schedule, action.timezone, after, anchor)
        following = action.localcloud_next = fire.timestamp() if fire else float("inf")  # type: ignore[attr-defined]
    if now < following:
        return False
    action.localcloud_checked = now  # type: ignore[attr-defined]
    fire = next_fire(action.schedule, action.timezone, datetime.fromtimestamp(now, UTC), anchor)
    action.localcloud_next = fire.timestamp() if fire else float("inf")  # type: ignore[attr-defined]
    start, end = _as_epoch(action.start_time), _as_epoch(action.end_time)
    return (start is None or following >= start) and (end is None or following <= end)


def run_scheduled_action(
    backend: ApplicationAutoscalingBackend, action: FakeScheduledAction, now: float
) -> None:
    target = backend.targets.get(action.scalable_dimension, {}).get(action.resource_id)
    if target is None or _suspended(target, "ScheduledScalingSuspended"):
        return
    wanted = action.scalable_target_action or {}
    minimum, maximum = wanted.get("MinCapacity"), wanted.get("MaxCapacity")
    target.update(
        int(minimum) if minimum is not None else None, int(maximum) if maximum is not None else None, None
    )  # type: ignore[arg-type]
    current = capacity(target, backend)
    new = scaling.clamp(current, target.min_capacity, target.max_capacity)
    bounds = f"min capacity to {target.min_capacity} and max capacity to {target.max_capacity}"
    if new != current:
        set_capacity(target, backend, new)
        description, message = f"Setting desired count to {new}.", f"Successfully set desired count to {new}."
    else:
        description, message = f"Setting {bounds}.", f"Successfully set {bounds}."
    _record(
        backend,
        target,
        description,
        f"scheduled action name {action.scheduled_action_name} was triggered",
        message + " Change successfully fulfilled by ecs.",
        now,
    )


@control.background("app-autoscaling-scheduled-actions", SCHEDULE_SECONDS)
def _scheduled_round() -> None:
    now = time.time()
    with control.state_lock:
        for account in list(applicationautoscaling_backends.values()):
            for backend in list(account.values()):
                for action in list(backend.scheduled_actions):
                    try:
                        if _due(action, now):
                            run_scheduled_action(backend, action, now)
                    except (ScheduleError, ValueError) as exc:
                        log.warning("scheduled action %s: %s", action.scheduled_action_name, exc)


FakeApplicationAutoscalingPolicy._generate_ecs_alarms = _generate_ecs_alarms  # type: ignore[method-assign]
ApplicationAutoscalingBackend.put_scaling_policy = _put_scaling_policy  # type: ignore[method-assign]
ApplicationAutoscalingBackend.deregister_scalable_target = _deregister_scalable_target  # type: ignore[method-assign]
ApplicationAutoScalingResponse.describe_scaling_policies = _describe_scaling_policies  # type: ignore[method-assign]
ApplicationAutoScalingResponse.describe_scaling_activities = _describe_scaling_activities  # type: ignore[attr-defined]
FakeScheduledAction.update = _action_update  # type: ignore[method-assign]
cloudwatch_alarms.register_action("arn:aws:autoscaling:", execute)
