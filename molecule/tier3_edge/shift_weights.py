"""Simulate a deploy: set the ALB's weighted rule (priority 100) to blue 50 / green 50.

python shift_weights.py <region> <endpoint> <alb name>   (keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
"""

import sys

import boto3

region, endpoint, name = sys.argv[1:4]
elbv2 = boto3.client(
    "elbv2",
    region_name=region,
    endpoint_url=endpoint,
)
alb = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
listeners = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
https = next(listener for listener in listeners if listener["Port"] == 443)
rule = next(
    rule
    for rule in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
    if rule["Priority"] == "100"
)
groups = {
    group["TargetGroupName"]: group["TargetGroupArn"]
    for group in elbv2.describe_target_groups(LoadBalancerArn=alb["LoadBalancerArn"])["TargetGroups"]
}
elbv2.modify_rule(
    RuleArn=rule["RuleArn"],
    Actions=[
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": groups[f"{name}-web-blue"], "Weight": 50},
                    {"TargetGroupArn": groups[f"{name}-web-green"], "Weight": 50},
                ],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    ],
)
