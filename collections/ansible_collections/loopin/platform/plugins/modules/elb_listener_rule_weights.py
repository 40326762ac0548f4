#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: elb_listener_rule_weights
short_description: Read or set the target group weights of an ALB listener rule's forward action
version_added: 0.1.0
description:
  - The blue/green deploy shifts traffic by changing the weights of the two target groups of one
    listener rule (the toolchain notes explain why a rule and not the listener's default action -
    amazon.aws.elb_application_lb is not idempotent with weighted default actions).
  - The rule is found from O(rule_arn), or from the listener (O(listener_arn), or O(load_balancer_name)
    and O(listener_port)) as the rule whose forward action lists every target group named in
    O(weights) (or O(target_groups) when only reading).
  - Without O(weights) the module only reads. With O(weights) it rewrites only the weights of the
    forward action (conditions, priority and stickiness are kept) and reports C(changed) only when
    a weight differs. Target group stickiness stays disabled, so a shift takes effect per request.
  - O(tags) are added to the rule (never purged); the deploy records which side is live there.
  - For the web rule (target groups C(<prefix>-web-blue) and C(<prefix>-web-green)) it also returns
    which side is live, as module_utils/bluegreen.py's C(live_side) reads it (the tag, else the
    heavier weight). The deploy, the autoscaling, monitoring and ecs roles and the summary all
    read the live side this way.
author:
  - Loopin platform team (@loopin-platform)
options:
  rule_arn:
    description: The listener rule's ARN.
    type: str
  listener_arn:
    description: The listener whose rules are searched.
    type: str
  load_balancer_name:
    description: The load balancer whose listener on O(listener_port) is searched.
    type: str
  listener_port:
    description: The listener's port, with O(load_balancer_name).
    type: int
    default: 443
  target_groups:
    description: Names of the target groups the rule forwards to (when only reading).
    type: list
    elements: str
  weights:
    description:
      - Target group name to weight (0 to 999). Every target group of the forward action must be named.
    type: dict
  tags:
    description: Tags added to the rule (existing tags are kept).
    type: dict
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the live weights of the web rule
  loopin.platform.elb_listener_rule_weights:
    load_balancer_name: loopin-production
    target_groups: [loopin-production-web-blue, loopin-production-web-green]
  register: web_rule

- name: Send 10% of the traffic to green
  loopin.platform.elb_listener_rule_weights:
    rule_arn: "{{ web_rule.rule_arn }}"
    weights:
      loopin-production-web-blue: 90
      loopin-production-web-green: 10
"""

RETURN = r"""
rule_arn:
  description: The rule's ARN.
  returned: always
  type: str
listener_arn:
  description: The listener's ARN.
  returned: always
  type: str
weights:
  description: Target group name to weight, after the call.
  returned: always
  type: dict
  sample: {"loopin-local-web-blue": 100, "loopin-local-web-green": 0}
target_group_arns:
  description: Target group name to ARN.
  returned: always
  type: dict
tags:
  description: The rule's tags after the call.
  returned: always
  type: dict
live_side:
  description: The live side (blue or green) after the call; empty when the rule is not the web rule.
  returned: always
  type: str
  sample: green
idle_side:
  description: The other side; empty when the rule is not the web rule.
  returned: always
  type: str
  sample: blue
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import tags_from_list, tags_to_list
from ansible_collections.loopin.platform.plugins.module_utils.bluegreen import (
    live_side,
    other_side,
    side_of_target_group,
)
from ansible_collections.loopin.platform.plugins.module_utils.elb_rule import (
    forward_action,
    rule_weights,
    set_weights,
    target_group_names,
)


def find_listener(module, client):
    params = module.params
    if params["listener_arn"]:
        return params["listener_arn"]
    lbs = client.describe_load_balancers(aws_retry=True, Names=[params["load_balancer_name"]])[
        "LoadBalancers"
    ]
    listeners = client.describe_listeners(aws_retry=True, LoadBalancerArn=lbs[0]["LoadBalancerArn"])[
        "Listeners"
    ]
    for listener in listeners:
        if listener["Port"] == params["listener_port"]:
            return listener["ListenerArn"]
    module.fail_json(msg=f"{params['load_balancer_name']} has no listener on port {params['listener_port']}")


def find_rule(module, client, wanted_names):
    params = module.params
    if params["rule_arn"]:
        rules = client.describe_rules(aws_retry=True, RuleArns=[params["rule_arn"]])["Rules"]
        return rules[0], None
    listener_arn = find_listener(module, client)
    rules = client.describe_rules(aws_retry=True, ListenerArn=listener_arn)["Rules"]
    for rule in rules:
        action = forward_action(rule)
        if not action:
            continue
        names = target_group_names(
            client, [g["TargetGroupArn"] for g in action["ForwardConfig"]["TargetGroups"]]
        )
        if set(wanted_names) <= set(names.values()):
            return rule, listener_arn
    module.fail_json(msg=f"no rule of {listener_arn} forwards to all of {sorted(wanted_names)}")


def main():
    argument_spec = dict(
        rule_arn=dict(type="str"),
        listener_arn=dict(type="str"),
        load_balancer_name=dict(type="str"),
        listener_port=dict(type="int", default=443),
        target_groups=dict(type="list", elements="str"),
        weights=dict(type="dict"),
        tags=dict(type="dict"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[
            ["rule_arn", "listener_arn", "load_balancer_name"],
            ["weights", "target_groups", "rule_arn"],
        ],
        mutually_exclusive=[["rule_arn", "listener_arn", "load_balancer_name"]],
    )
    params = module.params
    wanted = params["weights"]
    if wanted is not None:
        try:
            wanted = {str(k): int(v) for k, v in wanted.items()}
        except (TypeError, ValueError):
            module.fail_json(msg=f"weights must map target group names to integers, got {params['weights']}")
        bad = {k: v for k, v in wanted.items() if not 0 <= v <= 999}
        if bad or not any(wanted.values()):
            module.fail_json(msg=f"weights must be 0..999 with at least one above 0, got {wanted}")
    names_wanted = list(wanted) if wanted is not None else list(params["target_groups"] or [])

    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        rule, listener_arn = find_rule(module, client, names_wanted)
        if not forward_action(rule):
            module.fail_json(msg=f"rule {rule['RuleArn']} has no weighted forward action")
        current, arns = rule_weights(client, rule)
        tags = tags_from_list(
            client.describe_tags(aws_retry=True, ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"]
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read the listener rule")
    if listener_arn is None:
        listener_arn = rule["RuleArn"].replace(":listener-rule/", ":listener/").rsplit("/", 1)[0]

    after = dict(current)
    if wanted is not None:
        if set(wanted) != set(current):
            module.fail_json(msg=f"weights name {sorted(wanted)} but the rule forwards to {sorted(current)}")
        after = wanted
    new_tags = {k: str(v) for k, v in (params["tags"] or {}).items() if tags.get(k) != str(v)}
    changed = after != current or bool(new_tags)
    result = {
        "changed": changed,
        "rule_arn": rule["RuleArn"],
        "listener_arn": listener_arn,
        "weights": after,
        "target_group_arns": arns,
        "tags": {**tags, **new_tags},
        "live_side": "",
        "idle_side": "",
    }
    if sorted(filter(None, map(side_of_target_group, after))) == ["blue", "green"]:
        result["live_side"] = live_side(after, result["tags"])
        result["idle_side"] = other_side(result["live_side"])
    if module._diff:
        result["diff"] = {
            "before": {"weights": current, "tags": tags},
            "after": {"weights": after, "tags": result["tags"]},
        }

    if changed and not module.check_mode:
        try:
            if after != current:
                set_weights(client, rule, arns, after)
            if new_tags:
                client.add_tags(aws_retry=True, ResourceArns=[rule["RuleArn"]], Tags=tags_to_list(new_tags))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update rule {rule['RuleArn']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
