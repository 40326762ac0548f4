# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read and rewrite the weights of a listener rule's forward action (shared by the weights module
and the blue/green gate, which restores the weights itself the moment it decides to roll back)."""

from __future__ import annotations


def forward_action(rule):
    for action in rule.get("Actions", []):
        if action["Type"] == "forward" and action.get("ForwardConfig", {}).get("TargetGroups"):
            return action
    return None


def target_group_names(client, arns):
    if not arns:
        return {}
    groups = client.describe_target_groups(aws_retry=True, TargetGroupArns=list(arns))["TargetGroups"]
    return {g["TargetGroupArn"]: g["TargetGroupName"] for g in groups}


def rule_weights(client, rule):
    """(weights by target group name, target group ARNs by name) of the rule's forward action."""
    action = forward_action(rule)
    if not action:
        raise ValueError(f"rule {rule['RuleArn']} has no weighted forward action")
    groups = action["ForwardConfig"]["TargetGroups"]
    names = target_group_names(client, [g["TargetGroupArn"] for g in groups])
    weights = {names[g["TargetGroupArn"]]: int(g.get("Weight", 1)) for g in groups}
    return weights, {name: arn for arn, name in names.items()}


def set_weights(client, rule, arns, weights):
    """Rewrite only the forward action's weights (stickiness off, so the shift is per request).

    The target groups keep the rule's order whatever the order of `weights`: the alb role
    declares the rule with blue first, and amazon.aws's elb_application_lb compares the list in
    order, so a rule rewritten green first would be "changed" back by the next site.yml."""
    action = forward_action(rule)
    config = dict(action["ForwardConfig"])
    names = {arn: name for name, arn in arns.items()}
    config["TargetGroups"] = [
        {"TargetGroupArn": group["TargetGroupArn"], "Weight": weights[names[group["TargetGroupArn"]]]}
        for group in action["ForwardConfig"]["TargetGroups"]
    ]
    config["TargetGroupStickinessConfig"] = {"Enabled": False}
    new_action = {"Type": "forward", "ForwardConfig": config}
    if "Order" in action:
        new_action["Order"] = action["Order"]
    actions = [new_action if a is action else a for a in rule["Actions"]]
    client.modify_rule(aws_retry=True, RuleArn=rule["RuleArn"], Actions=actions)


def describe_rule(client, rule_arn):
    return client.describe_rules(aws_retry=True, RuleArns=[rule_arn])["Rules"][0]
