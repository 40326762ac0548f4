#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cloudwatch_alarm
short_description: Manage a CloudWatch metric alarm, including metric-math alarms, idempotently
version_added: 0.1.0
description:
  - M(amazon.aws.cloudwatch_metric_alarm) (10.1) drops C(Metrics) from the alarm it reads but
    keeps it in the request it compares, so an alarm with metric math reports a change on every
    run (and a change of its metrics is never seen). This module compares every field it sets,
    metric math included, and manages the alarm's tags.
  - Give either O(metrics) (metric math, the API's C(Metrics) list) or a single metric
    (O(namespace), O(metric_name), O(dimensions), O(statistic) or O(extended_statistic), O(period)).
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the alarm should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The alarm's name.
    type: str
    required: true
  description:
    description: What the alarm means and what to do.
    type: str
  metrics:
    description: The API's C(Metrics) list (C(Id), C(MetricStat) or C(Expression), C(ReturnData), C(Label)).
    type: list
    elements: dict
  namespace:
    description: Namespace of a single-metric alarm.
    type: str
  metric_name:
    description: Metric of a single-metric alarm.
    type: str
  dimensions:
    description: Dimensions of a single-metric alarm, name to value.
    type: dict
  statistic:
    description: Statistic of a single-metric alarm.
    type: str
    choices: [SampleCount, Average, Sum, Minimum, Maximum]
  extended_statistic:
    description: Percentile of a single-metric alarm, for example V(p99).
    type: str
  period:
    description: Seconds per datapoint of a single-metric alarm.
    type: int
  comparison:
    description: How the value is compared with O(threshold).
    type: str
    choices:
      - GreaterThanOrEqualToThreshold
      - GreaterThanThreshold
      - LessThanThreshold
      - LessThanOrEqualToThreshold
  threshold:
    description: The threshold.
    type: float
  evaluation_periods:
    description: Periods looked at.
    type: int
    default: 1
  datapoints_to_alarm:
    description: Breaching periods among O(evaluation_periods) that raise the alarm (all of them when unset).
    type: int
  treat_missing_data:
    description: How missing datapoints count.
    type: str
    choices: [breaching, notBreaching, ignore, missing]
    default: missing
  alarm_actions:
    description: ARNs notified or invoked on ALARM.
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified on OK.
    type: list
    elements: str
    default: []
  insufficient_data_actions:
    description: ARNs notified on INSUFFICIENT_DATA.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: 5xx rate of the ALB above 1 percent
  loopin.platform.cloudwatch_alarm:
    name: loopin-dev-alb-5xx-rate
    metrics:
      - Id: errors
        MetricStat:
          Metric:
            Namespace: AWS/ApplicationELB
            MetricName: HTTPCode_Target_5XX_Count
            Dimensions: [{Name: LoadBalancer, Value: app/loopin-dev/0123}]
          Period: 60
          Stat: Sum
        ReturnData: false
      - Id: requests
        MetricStat:
          Metric:
            Namespace: AWS/ApplicationELB
            MetricName: RequestCount
            Dimensions: [{Name: LoadBalancer, Value: app/loopin-dev/0123}]
          Period: 60
          Stat: Sum
        ReturnData: false
      - Id: rate
        Expression: 100 * errors / MAX([requests, 1])
        ReturnData: true
    comparison: GreaterThanThreshold
    threshold: 1
    evaluation_periods: 5
    alarm_actions: ["{{ topic_arn }}"]
"""

RETURN = r"""
alarm:
  description: The alarm as CloudWatch describes it (snake_case), empty when absent.
  returned: always
  type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import (
    diff_result,
    snake_result,
    tag_changes,
    tags_from_list,
    tags_to_list,
)

COMPARED = (
    "AlarmDescription",
    "Metrics",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "ComparisonOperator",
    "Threshold",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
)


def normalize(value):
    """Numbers as floats, so 60 and 60.0 compare equal; dictionaries and lists recursively."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def wanted_alarm(params):
    alarm = {
        "AlarmName": params["name"],
        "AlarmDescription": params["description"] or "",
        "ComparisonOperator": params["comparison"],
        "Threshold": params["threshold"],
        "EvaluationPeriods": params["evaluation_periods"],
        "DatapointsToAlarm": params["datapoints_to_alarm"] or params["evaluation_periods"],
        "TreatMissingData": params["treat_missing_data"],
        "AlarmActions": sorted(params["alarm_actions"]),
        "OKActions": sorted(params["ok_actions"]),
        "InsufficientDataActions": sorted(params["insufficient_data_actions"]),
    }
    if params["metrics"]:
        alarm["Metrics"] = params["metrics"]
    else:
        alarm.update(
            Namespace=params["namespace"],
            MetricName=params["metric_name"],
            Dimensions=[
                {"Name": k, "Value": str(v)} for k, v in sorted((params["dimensions"] or {}).items())
            ],
            Period=params["period"],
        )
        if params["extended_statistic"]:
            alarm["ExtendedStatistic"] = params["extended_statistic"]
        else:
            alarm["Statistic"] = params["statistic"]
    return alarm


def current_alarm(alarm):
    current = {key: alarm[key] for key in COMPARED if key in alarm}
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        current[key] = sorted(current.get(key, []))
    if "Dimensions" in current:
        current["Dimensions"] = sorted(current["Dimensions"], key=lambda d: d["Name"])
    current.setdefault("AlarmDescription", "")
    if current.get("Metrics"):
        # A metric-math alarm has no single metric; the API still reports empty Dimensions.
        current.pop("Dimensions", None)
    else:
        current.pop("Metrics", None)
    return current


def describe(client, name):
    alarms = client.describe_alarms(aws_retry=True, AlarmNames=[name], AlarmTypes=["MetricAlarm"])[
        "MetricAlarms"
    ]
    return alarms[0] if alarms else None


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        description=dict(type="str"),
        metrics=dict(type="list", elements="dict"),
        namespace=dict(type="str"),
        metric_name=dict(type="str"),
        dimensions=dict(type="dict"),
        statistic=dict(type="str", choices=["SampleCount", "Average", "Sum", "Minimum", "Maximum"]),
        extended_statistic=dict(type="str"),
        period=dict(type="int"),
        comparison=dict(
            type="str",
            choices=[
                "GreaterThanOrEqualToThreshold",
                "GreaterThanThreshold",
                "LessThanThreshold",
                "LessThanOrEqualToThreshold",
            ],
        ),
        threshold=dict(type="float"),
        evaluation_periods=dict(type="int", default=1),
        datapoints_to_alarm=dict(type="int"),
        treat_missing_data=dict(
            type="str", choices=["breaching", "notBreaching", "ignore", "missing"], default="missing"
        ),
        alarm_actions=dict(type="list", elements="str", default=[]),
        ok_actions=dict(type="list", elements="str", default=[]),
        insufficient_data_actions=dict(type="list", elements="str", default=[]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["comparison", "threshold"]]],
        mutually_exclusive=[["metrics", "metric_name"], ["statistic", "extended_statistic"]],
    )
    params = module.params
    if params["state"] == "present" and not params["metrics"]:
        missing = [k for k in ("namespace", "metric_name", "period") if not params[k]]
        if missing or not (params["statistic"] or params["extended_statistic"]):
            module.fail_json(msg="a single-metric alarm needs namespace, metric_name, period and a statistic")
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    try:
        alarm = describe(client, name)
        current_tags = (
            tags_from_list(
                client.list_tags_for_resource(aws_retry=True, ResourceARN=alarm["AlarmArn"])["Tags"]
            )
            if alarm
            else {}
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe alarm {name}")

    if params["state"] == "absent":
        if alarm and not module.check_mode:
            try:
                client.delete_alarms(aws_retry=True, AlarmNames=[name])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete alarm {name}")
        module.exit_json(
            changed=bool(alarm), alarm={}, **diff_result(module, {"name": name} if alarm else {}, {})
        )

    wanted = wanted_alarm(params)
    current = current_alarm(alarm) if alarm else {}
    compared_wanted = {k: v for k, v in wanted.items() if k != "AlarmName"}
    definition_changed = normalize(current) != normalize(compared_wanted)
    to_set, to_remove = tag_changes(current_tags, params["tags"], params["purge_tags"])
    changed = definition_changed or bool(to_set or to_remove)
    if changed and not module.check_mode:
        try:
            if definition_changed or not alarm:
                request = dict(wanted)
                if not alarm and params["tags"]:
                    request["Tags"] = tags_to_list(params["tags"])
                client.put_metric_alarm(aws_retry=True, **request)
            alarm = describe(client, name)
            if alarm and (to_set or to_remove) and current:
                if to_remove:
                    client.untag_resource(aws_retry=True, ResourceARN=alarm["AlarmArn"], TagKeys=to_remove)
                if to_set:
                    client.tag_resource(
                        aws_retry=True, ResourceARN=alarm["AlarmArn"], Tags=tags_to_list(to_set)
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to put alarm {name}")
    after_tags = {**{k: v for k, v in current_tags.items() if k not in to_remove}, **to_set}
    module.exit_json(
        changed=changed,
        alarm=snake_result(alarm, keep=("Metrics",)) if alarm else {},
        **(
            diff_result(module, {**current, "Tags": current_tags}, {**compared_wanted, "Tags": after_tags})
            if changed
            else {}
        ),
    )


if __name__ == "__main__":
    main()
