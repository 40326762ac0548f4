#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: app_autoscaling_policy
short_description: Manage one Application Auto Scaling policy and its scalable target
version_added: 0.1.0
description:
  - Registers the scalable target (minimum and maximum capacity) and puts one scaling policy on it,
    target tracking or step scaling, given in the API's own shape.
  - M(community.aws.application_autoscaling_policy) reads policies back with the C(PolicyNames)
    filter only; the moto emulator ignores that filter, so with two policies on one service the
    module compares against the wrong one. This module selects the policy by name itself, so any
    number of policies on one target stay idempotent on AWS and on the emulator.
  - The desired count is never set here - the autoscaler owns it.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description:
      - Whether the policy should exist. The scalable target is left in place on V(absent), unless
        O(deregister_target) is set.
    type: str
    choices: [present, absent]
    default: present
  deregister_target:
    description:
      - With O(state=absent), also deregister the scalable target, which deletes every policy on it
        (a service that must not scale at all, such as the idle side of a blue/green pair).
    type: bool
    default: false
  policy_name:
    description: The policy's name, unique on its target.
    type: str
    required: true
  service_namespace:
    description: The scaled service.
    type: str
    default: ecs
  resource_id:
    description: The scaled resource, for ECS C(service/<cluster>/<service>).
    type: str
    required: true
  scalable_dimension:
    description: The scaled dimension.
    type: str
    default: ecs:service:DesiredCount
  min_capacity:
    description: Minimum capacity of the scalable target. Required with O(state=present).
    type: int
  max_capacity:
    description: Maximum capacity of the scalable target. Required with O(state=present).
    type: int
  policy_type:
    description: The policy's kind.
    type: str
    choices: [TargetTrackingScaling, StepScaling]
    default: TargetTrackingScaling
  target_tracking_configuration:
    description:
      - The API's C(TargetTrackingScalingPolicyConfiguration) (C(TargetValue),
        C(PredefinedMetricSpecification) or C(CustomizedMetricSpecification), cooldowns...).
      - Compared by value with what AWS reports; keys AWS adds by default are ignored.
    type: dict
  step_scaling_configuration:
    description:
      - The API's C(StepScalingPolicyConfiguration) (C(AdjustmentType), C(StepAdjustments),
        C(Cooldown)...).
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: Web scales on CPU
  loopin.platform.app_autoscaling_policy:
    policy_name: loopin-dev-web-cpu
    resource_id: service/loopin-dev/loopin-dev-web
    min_capacity: 1
    max_capacity: 10
    target_tracking_configuration:
      TargetValue: 70
      PredefinedMetricSpecification:
        PredefinedMetricType: ECSServiceAverageCPUUtilization
      ScaleOutCooldown: 60
      ScaleInCooldown: 300
"""

RETURN = r"""
policy_arn:
  description: The policy's ARN (what a CloudWatch alarm of a step policy acts on).
  returned: when state is present and the policy exists
  type: str
alarms:
  description: The alarms AWS created for a target-tracking policy.
  returned: always
  type: list
  elements: dict
scalable_target:
  description: The scalable target (min and max capacity).
  returned: always
  type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result, snake_result


def is_subset(wanted, current):
    """True when every key/value of `wanted` is in `current` (recursively; lists element-wise)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            key in current and is_subset(value, current[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(wanted) == len(current)
            and all(is_subset(w, c) for w, c in zip(wanted, current, strict=True))
        )
    if (
        isinstance(wanted, (int, float))
        and isinstance(current, (int, float))
        and not isinstance(wanted, bool)
    ):
        return float(wanted) == float(current)
    return wanted == current


def find_policy(client, params):
    paginator = client.get_paginator("describe_scaling_policies")
    pages = paginator.paginate(
        ServiceNamespace=params["service_namespace"],
        ResourceId=params["resource_id"],
        ScalableDimension=params["scalable_dimension"],
        PolicyNames=[params["policy_name"]],
    )
    for page in pages:
        for policy in page["ScalingPolicies"]:
            # Filter here too: the emulator ignores PolicyNames.
            if (
                policy["PolicyName"] == params["policy_name"]
                and policy["ResourceId"] == params["resource_id"]
            ):
                return policy
    return None


def find_target(client, params):
    targets = client.describe_scalable_targets(
        aws_retry=True,
        ServiceNamespace=params["service_namespace"],
        ResourceIds=[params["resource_id"]],
        ScalableDimension=params["scalable_dimension"],
    )["ScalableTargets"]
    return next((t for t in targets if t["ResourceId"] == params["resource_id"]), None)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        deregister_target=dict(type="bool", default=False),
        policy_name=dict(type="str", required=True),
        service_namespace=dict(type="str", default="ecs"),
        resource_id=dict(type="str", required=True),
        scalable_dimension=dict(type="str", default="ecs:service:DesiredCount"),
        min_capacity=dict(type="int"),
        max_capacity=dict(type="int"),
        policy_type=dict(
            type="str", choices=["TargetTrackingScaling", "StepScaling"], default="TargetTrackingScaling"
        ),
        target_tracking_configuration=dict(type="dict"),
        step_scaling_configuration=dict(type="dict"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["min_capacity", "max_capacity"]]],
    )
    params = module.params
    config_option = (
        "target_tracking_configuration"
        if params["policy_type"] == "TargetTrackingScaling"
        else "step_scaling_configuration"
    )
    if params["state"] == "present" and not params[config_option]:
        module.fail_json(msg=f"policy_type {params['policy_type']} needs {config_option}")
    client = module.client("application-autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    key = dict(
        ServiceNamespace=params["service_namespace"],
        ResourceId=params["resource_id"],
        ScalableDimension=params["scalable_dimension"],
    )
    try:
        policy = find_policy(client, params)
        target = find_target(client, params)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read scaling policy {params['policy_name']}")

    if params["state"] == "absent":
        deregister = bool(target) and params["deregister_target"]
        if not module.check_mode:
            try:
                if policy:
                    client.delete_scaling_policy(aws_retry=True, PolicyName=params["policy_name"], **key)
                if deregister:
                    client.deregister_scalable_target(aws_retry=True, **key)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete scaling policy {params['policy_name']}")
        before = {"policy_name": params["policy_name"]} if policy else {}
        if deregister:
            before["scalable_target"] = {k: target[k] for k in ("MinCapacity", "MaxCapacity")}
        module.exit_json(
            changed=bool(policy) or deregister,
            alarms=[],
            scalable_target=None if deregister and not module.check_mode else snake_result(target),
            **diff_result(module, before, {}),
        )

    wanted_target = {"MinCapacity": params["min_capacity"], "MaxCapacity": params["max_capacity"]}
    current_target = {k: target[k] for k in wanted_target} if target else {}
    if params["min_capacity"] > params["max_capacity"]:
        module.fail_json(
            msg=f"min_capacity {params['min_capacity']} is above max_capacity {params['max_capacity']}"
        )
    config_key = (
        "TargetTrackingScalingPolicyConfiguration"
        if params["policy_type"] == "TargetTrackingScaling"
        else "StepScalingPolicyConfiguration"
    )
    wanted_config = (
        params["target_tracking_configuration"]
        if params["policy_type"] == "TargetTrackingScaling"
        else params["step_scaling_configuration"]
    )
    current_config = (policy or {}).get(config_key)
    target_changed = current_target != wanted_target
    policy_changed = (
        policy is None
        or policy.get("PolicyType") != params["policy_type"]
        or not is_subset(wanted_config, current_config)
    )
    changed = target_changed or policy_changed
    before = {"scalable_target": current_target, "policy": current_config or {}}
    after = {"scalable_target": wanted_target, "policy": wanted_config}

    if changed and not module.check_mode:
        try:
            if target_changed:
                client.register_scalable_target(aws_retry=True, **key, **wanted_target)
            if policy_changed:
                client.put_scaling_policy(
                    aws_retry=True,
                    PolicyName=params["policy_name"],
                    PolicyType=params["policy_type"],
                    **{config_key: wanted_config},
                    **key,
                )
            policy = find_policy(client, params)
            target = find_target(client, params)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to put scaling policy {params['policy_name']}")
    module.exit_json(
        changed=changed,
        policy_arn=(policy or {}).get("PolicyARN"),
        alarms=[snake_result(a) for a in (policy or {}).get("Alarms", [])],
        scalable_target=snake_result(target),
        **(diff_result(module, before, after) if changed else {}),
    )


if __name__ == "__main__":
    main()
