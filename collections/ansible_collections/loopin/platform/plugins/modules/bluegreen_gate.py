#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bluegreen_gate
short_description: Watch one phase of a blue/green deploy and return the step controller's decision
version_added: 0.1.0
description:
  - Samples, every O(poll_seconds), the CloudWatch alarms scoped to the side taking the new traffic,
    O(new_side) (O(alarm_names)), the application's error metric (O(error_metric), summed since the
    phase started) and the health of that side's target group, and asks the step controller
    (module_utils/bluegreen.py) what to do.
  - Returns as soon as the decision is not C(wait) (C(shift), C(promote) or C(rollback) with a
    reason), or after O(watch_seconds) with C(wait) so that the playbook can print progress and call
    again (an C(until) loop). The phase's start O(phase_started_at) anchors the bake, so repeated
    calls continue the same bake.
  - With O(rule_arn) and O(rollback_weights), a C(rollback) decision restores those weights in the
    same call, within one poll interval of the sample that saw the problem; the playbook then stops
    the new side and fails with the reason.
  - moto registers no targets for ECS tasks (it runs none) and reports every registered ip target
    C(healthy); on AWS the ECS service registers its tasks' addresses and the ALB reports C(initial),
    C(healthy) or C(unhealthy). The gate counts C(healthy) targets against O(wanted_healthy) and
    treats C(unhealthy) as a failure, which both environments exercise the same way.
author:
  - Loopin platform team (@loopin-platform)
options:
  phase:
    description: -1 for the health check before the first shift, else the index of the step in O(steps).
    type: int
    required: true
  phase_started_at:
    description: When the phase started (epoch seconds).
    type: float
    required: true
  steps:
    description: Percent of the traffic on the new side at each step, rising to 100.
    type: list
    elements: int
    default: [10, 50, 100]
  bake_seconds:
    description: How long each step must stay clean.
    type: float
    default: 300
  health_seconds:
    description: How long the new side must stay healthy before the first shift.
    type: float
    default: 300
  health_timeout_seconds:
    description: How long the new side may take to become healthy before the deploy rolls back.
    type: float
    default: 600
  grace_seconds:
    description: Time after a step's bake during which a clean sample may still arrive (then it times out).
    type: float
    default: 60
  poll_seconds:
    description: Seconds between samples.
    type: float
    default: 15
  watch_seconds:
    description: Longest time one call watches before returning C(wait) for progress output.
    type: float
    default: 60
  max_app_errors:
    description: Application errors tolerated per phase.
    type: float
    default: 0
  alarm_names:
    description: CloudWatch alarms that must not be in ALARM. A missing alarm rolls back (no blind deploys).
    type: list
    elements: str
    required: true
  error_metric:
    description: The application's error metric, summed over the phase.
    type: dict
    suboptions:
      namespace:
        description: Metric namespace.
        type: str
        required: true
      metric_name:
        description: Metric name.
        type: str
        required: true
      dimensions:
        description: Dimension name to value.
        type: dict
  target_group_name:
    description: The new side's target group.
    type: str
    required: true
  wanted_healthy:
    description: How many healthy targets make the new side healthy (its service's desired count).
    type: int
    required: true
  rule_arn:
    description: The weighted listener rule, restored to O(rollback_weights) on a rollback decision.
    type: str
  shift_weights:
    description:
      - Target group name to weight to set on O(rule_arn) before the first sample (the step's shift),
        so that one call shifts and watches. A call that changes the weights starts the bake then.
    type: dict
  rollback_weights:
    description: Target group name to weight to restore on rollback (100 to the live side, 0 to the new one).
    type: dict
  new_side:
    description:
      - The side (blue or green) taking the new traffic; the other is live. Names the sides in the
        progress lines and reasons (C(step 2/3 (50% to blue)), C(weights green 50 / blue 50)).
    type: str
    choices: [blue, green]
    default: green
notes:
  - Supports C(check_mode) (it samples and decides but restores nothing).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Bake the 50% step
  loopin.platform.bluegreen_gate:
    phase: 1
    phase_started_at: "{{ step_started_at }}"
    steps: [10, 50, 100]
    bake_seconds: 300
    poll_seconds: 15
    alarm_names: [loopin-production-green-5xx, loopin-production-green-p99, loopin-production-green-unhealthy]
    target_group_name: loopin-production-web-green
    wanted_healthy: 2
    rule_arn: "{{ web_rule.rule_arn }}"
    rollback_weights: {loopin-production-web-blue: 100, loopin-production-web-green: 0}
  register: gate
  until: gate.decision.action != 'wait'
  retries: 20
  delay: 0
"""

RETURN = r"""
decision:
  description: The controller's decision (action, reason, next_weight, time_left...).
  returned: always
  type: dict
msg:
  description: One progress line (phase, decision, alarm states, health, time left in the bake).
  returned: always
  type: str
alarms:
  description: Alarm name to state at the last sample.
  returned: always
  type: dict
healthy:
  description: Healthy green targets at the last sample.
  returned: always
  type: int
unhealthy:
  description: Unhealthy green targets (id:port) at the last sample.
  returned: always
  type: list
app_errors:
  description: The error metric's sum since the phase started, at the last sample.
  returned: always
  type: float
samples:
  description: How many samples this call took.
  returned: always
  type: int
shifted:
  description: Whether this call set O(shift_weights).
  returned: always
  type: bool
weights_restored:
  description: Whether this call restored O(rollback_weights).
  returned: always
  type: bool
"""

import time
from datetime import datetime, timezone

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils import bluegreen as bg
from ansible_collections.loopin.platform.plugins.module_utils.elb_rule import (
    describe_rule,
    rule_weights,
    set_weights,
)

BOTO_ERRORS = ()
try:
    BOTO_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except NameError:
    pass


class Sampler:
    def __init__(self, module, started_at):
        self.module = module
        self.params = module.params
        self.started_at = started_at
        self.cloudwatch = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
        self.elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
        self.target_group_arn = None
        self.last = bg.Readings(error="no sample yet")

    def alarms(self):
        names = self.params["alarm_names"]
        found = self.cloudwatch.describe_alarms(aws_retry=True, AlarmNames=names)
        states = {
            a["AlarmName"]: a["StateValue"] for a in found["MetricAlarms"] + found.get("CompositeAlarms", [])
        }
        # A gate alarm that does not exist cannot vouch for the new side: the controller rolls back on it.
        return {name: states.get(name, bg.MISSING) for name in names}

    def app_errors(self):
        metric = self.params["error_metric"]
        if not metric:
            return 0.0
        end = datetime.now(timezone.utc)
        start = datetime.fromtimestamp(min(self.started_at, end.timestamp() - 60), timezone.utc)
        stats = self.cloudwatch.get_metric_statistics(
            aws_retry=True,
            Namespace=metric["namespace"],
            MetricName=metric["metric_name"],
            Dimensions=[{"Name": k, "Value": str(v)} for k, v in (metric.get("dimensions") or {}).items()],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )
        return float(sum(point["Sum"] for point in stats["Datapoints"]))

    def health(self):
        if self.target_group_arn is None:
            groups = self.elbv2.describe_target_groups(
                aws_retry=True, Names=[self.params["target_group_name"]]
            )
            self.target_group_arn = groups["TargetGroups"][0]["TargetGroupArn"]
        targets = self.elbv2.describe_target_health(aws_retry=True, TargetGroupArn=self.target_group_arn)
        healthy, unhealthy = 0, []
        for description in targets["TargetHealthDescriptions"]:
            state = description["TargetHealth"]["State"]
            if state == "healthy":
                healthy += 1
            elif state == "unhealthy":
                target = description["Target"]
                unhealthy.append(f"{target['Id']}:{target.get('Port', '')}")
        return healthy, unhealthy

    def __call__(self, elapsed):
        try:
            alarms = self.alarms()
            healthy, unhealthy = self.health()
            errors = self.app_errors()
        except BOTO_ERRORS as e:
            self.last = bg.Readings(error=f"{type(e).__name__}: {e}")
            return self.last
        self.last = bg.Readings(
            alarms=alarms,
            app_errors=errors,
            healthy=healthy,
            unhealthy=unhealthy,
            wanted=self.params["wanted_healthy"],
        )
        return self.last


def progress_line(plan, decision, readings, alarms):
    states = ", ".join(f"{name}={state}" for name, state in sorted(alarms.items())) or "no alarms read"
    head = f"{plan.describe(decision.phase)}: {decision.action}"
    if decision.action == bg.WAIT:
        head += f", {decision.time_left:.0f}s left in the bake"
    return (
        f"{head} | weights {plan.old_side} {100 - decision.weight} / {plan.new_side} {decision.weight} | "
        f"{states} | "
        f"healthy {readings.healthy}/{readings.wanted} | app errors {readings.app_errors:g}"
        + (f" | {decision.reason}" if decision.reason else "")
    )


def main():
    argument_spec = dict(
        phase=dict(type="int", required=True),
        phase_started_at=dict(type="float", required=True),
        steps=dict(type="list", elements="int", default=[10, 50, 100]),
        bake_seconds=dict(type="float", default=300),
        health_seconds=dict(type="float", default=300),
        health_timeout_seconds=dict(type="float", default=600),
        grace_seconds=dict(type="float", default=60),
        poll_seconds=dict(type="float", default=15),
        watch_seconds=dict(type="float", default=60),
        max_app_errors=dict(type="float", default=0),
        alarm_names=dict(type="list", elements="str", required=True),
        error_metric=dict(
            type="dict",
            options=dict(
                namespace=dict(type="str", required=True),
                metric_name=dict(type="str", required=True),
                dimensions=dict(type="dict"),
            ),
        ),
        target_group_name=dict(type="str", required=True),
        wanted_healthy=dict(type="int", required=True),
        rule_arn=dict(type="str"),
        rollback_weights=dict(type="dict"),
        shift_weights=dict(type="dict"),
        new_side=dict(type="str", default="green", choices=["blue", "green"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_together=[["rule_arn", "rollback_weights"]],
        required_by={"shift_weights": "rule_arn"},
    )
    params = module.params
    try:
        plan = bg.Plan(
            steps=tuple(params["steps"]),
            bake_seconds=params["bake_seconds"],
            health_seconds=params["health_seconds"],
            health_timeout_seconds=params["health_timeout_seconds"],
            poll_seconds=params["poll_seconds"],
            grace_seconds=params["grace_seconds"],
            max_app_errors=params["max_app_errors"],
            new_side=params["new_side"],
            old_side=bg.other_side(params["new_side"]),
        )
    except ValueError as e:
        module.fail_json(msg=f"invalid deploy plan: {e}")
    if not bg.HEALTH_PHASE <= params["phase"] < len(plan.steps):
        module.fail_json(msg=f"phase must be -1..{len(plan.steps) - 1}, got {params['phase']}")

    started_at = params["phase_started_at"]
    shifted = False
    if params["shift_weights"] and not module.check_mode:
        try:
            elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
            rule = describe_rule(elbv2, params["rule_arn"])
            current, arns = rule_weights(elbv2, rule)
            wanted = {str(k): int(v) for k, v in params["shift_weights"].items()}
            if current != wanted:
                set_weights(elbv2, rule, arns, wanted)
                shifted = True
                started_at = time.time()
        except BOTO_ERRORS as e:
            module.fail_json_aws(e, msg="Failed to shift the weights")
    sampler = Sampler(module, started_at)
    decision, history = bg.watch(
        plan,
        params["phase"],
        started_at,
        time.time,
        time.sleep,
        sampler,
        max_seconds=params["watch_seconds"],
    )
    readings = sampler.last
    restored = False
    if decision.action == bg.ROLLBACK and params["rule_arn"] and not module.check_mode:
        try:
            elbv2 = sampler.elbv2
            rule = describe_rule(elbv2, params["rule_arn"])
            current, arns = rule_weights(elbv2, rule)
            wanted = {str(k): int(v) for k, v in params["rollback_weights"].items()}
            if current != wanted:
                set_weights(elbv2, rule, arns, wanted)
                restored = True
        except BOTO_ERRORS as e:
            module.fail_json_aws(e, msg=f"ROLLBACK: failed to restore weights after: {decision.reason}")
    module.exit_json(
        changed=restored or shifted,
        shifted=shifted,
        decision=decision.as_dict(),
        msg=progress_line(plan, decision, readings, readings.alarms),
        alarms=readings.alarms,
        healthy=readings.healthy,
        unhealthy=list(readings.unhealthy),
        app_errors=readings.app_errors,
        samples=len(history),
        weights_restored=restored,
    )


if __name__ == "__main__":
    main()
