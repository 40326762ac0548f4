#!/usr/bin/env python3
"""The smallest stack a deploy needs, built with boto3 under the names the roles use
(the edge and compute roles build the real one): VPC and subnets, ALB with the weighted rule on
443 and the two web target groups, ECS cluster with the web and worker services, the green-scoped
alarms and the queues. moto runs no tasks, so the targets ECS would register are registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Client = Callable[[str], Any]
WEB_IMAGE = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/{env}/web@sha256:" + "1" * 64
WORKER_IMAGE = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/{env}/worker@sha256:" + "2" * 64
QUEUES = ("push-notifications", "webhook-events", "background-jobs")


@dataclass
class Stack:
    env: str
    rule_arn: str
    target_groups: dict[str, str]
    cluster: str
    web_service: str
    worker_service: str
    alarms: list[str]

    def weights(self, boto: Client) -> dict[str, int]:
        rule = boto("elbv2").describe_rules(RuleArns=[self.rule_arn])["Rules"][0]
        groups = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
        names = {arn: name for name, arn in self.target_groups.items()}
        return {names[g["TargetGroupArn"]]: g["Weight"] for g in groups if g["TargetGroupArn"] in names}

    def service(self, boto: Client, name: str) -> dict[str, Any] | None:
        found = boto("ecs").describe_services(cluster=self.cluster, services=[name])["services"]
        return next((s for s in found if s["status"] == "ACTIVE"), None)

    def image_of(self, boto: Client, service: str) -> str:
        arn = self.service(boto, service)["taskDefinition"]  # type: ignore[index]
        return boto("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"][
            "containerDefinitions"
        ][0]["image"]


def task_definition(env: str, name: str, image: str, role_prefix: str) -> dict[str, Any]:
    return {
        "family": f"loopin-{env}-{name}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": f"{role_prefix}loopin-{env}-ecs-execution",
        "taskRoleArn": f"{role_prefix}loopin-{env}-{name}-task",
        "containerDefinitions": [
            {
                "name": name,
                "image": image,
                "cpu": 256,
                "memory": 512,
                "essential": True,
                "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
                "readonlyRootFilesystem": True,
                "user": "10001",
            }
        ],
    }


def existing_network(ec2: Any, prefix: str) -> tuple[str | None, dict[str, list[str]], dict[str, str]]:
    """The VPC, subnets by tier and security groups `make up` made, when it has run (the seed then
    builds only what the edge and compute roles would)."""
    subnets: dict[str, list[str]] = {"public": [], "private": []}
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]
    if not vpcs:
        return None, subnets, {}
    vpc = vpcs[0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        tier = next((t["Value"] for t in subnet.get("Tags", []) if t["Key"] == "Tier"), None)
        if tier in subnets:
            subnets[tier].append(subnet["SubnetId"])
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    groups = {
        g["GroupName"].removeprefix(f"{prefix}-"): g["GroupId"]
        for g in found
        if g["GroupName"].startswith(prefix)
    }
    return vpc, subnets, groups


def build(boto: Client, env: str = "local", web_count: int = 2) -> Stack:
    prefix = f"loopin-{env}"
    tags = [{"Key": "Project", "Value": "loopin"}, {"Key": "Environment", "Value": env}]
    ec2, elbv2, ecs, cw, sqs = (boto(s) for s in ("ec2", "elbv2", "ecs", "cloudwatch", "sqs"))
    vpc, subnets, groups = existing_network(ec2, prefix)
    if vpc is None:
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[*tags, {"Key": "Name", "Value": prefix}])
        for zone, public, private in (
            ("ap-south-1a", "10.0.1.0/24", "10.0.2.0/24"),
            ("ap-south-1b", "10.0.4.0/24", "10.0.3.0/24"),
        ):
            for tier, cidr in (("public", public), ("private", private)):
                subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"][
                    "SubnetId"
                ]
                ec2.create_tags(Resources=[subnet], Tags=[*tags, {"Key": "Tier", "Value": tier}])
                subnets[tier].append(subnet)
    for name in ("alb", "web", "worker"):
        if name not in groups:
            groups[name] = ec2.create_security_group(
                GroupName=f"{prefix}-{name}", Description=name, VpcId=vpc
            )["GroupId"]
    lb = elbv2.create_load_balancer(Name=prefix, Subnets=subnets["public"], SecurityGroups=[groups["alb"]])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    target_groups = {
        f"{prefix}-{name}": elbv2.create_target_group(
            Name=f"{prefix}-{name}",
            Protocol="HTTP",
            Port=8000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]
        for name in ("web-blue", "web-green", "worker")
    }
    certificate = boto("acm").request_certificate(
        DomainName=f"api.{env}.loopin.example", ValidationMethod="DNS"
    )["CertificateArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": certificate}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    blue, green = target_groups[f"{prefix}-web-blue"], target_groups[f"{prefix}-web-green"]
    rule = elbv2.create_rule(
        ListenerArn=listener,
        Priority=100,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": blue, "Weight": 100},
                        {"TargetGroupArn": green, "Weight": 0},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ],
    )["Rules"][0]["RuleArn"]
    # ECS would register its tasks' addresses; moto runs none, and reports registered ip targets healthy.
    for arn, base in ((blue, 10), (green, 20)):
        elbv2.register_targets(
            TargetGroupArn=arn, Targets=[{"Id": f"10.0.2.{base + i}", "Port": 8000} for i in range(web_count)]
        )

    ecs.create_cluster(clusterName=prefix)
    role_prefix = "arn:aws:iam::123456789012:role/"
    network = {
        "awsvpcConfiguration": {
            "subnets": subnets["private"],
            "securityGroups": [groups["web"]],
            "assignPublicIp": "DISABLED",
        }
    }
    for name, image, count, target in (
        ("web", WEB_IMAGE.format(env=env), web_count, blue),
        ("worker", WORKER_IMAGE.format(env=env), 1, target_groups[f"{prefix}-worker"]),
    ):
        revision = ecs.register_task_definition(**task_definition(env, name, image, role_prefix))[
            "taskDefinition"
        ]
        ecs.create_service(
            cluster=prefix,
            serviceName=f"{prefix}-{name}",
            taskDefinition=f"{revision['family']}:{revision['revision']}",
            desiredCount=count,
            launchType="FARGATE",
            loadBalancers=[{"targetGroupArn": target, "containerName": name, "containerPort": 8000}],
            networkConfiguration=network,
            tags=[{"key": "Project", "value": "loopin"}, {"key": "Environment", "value": env}],
        )

    # Both sides' gate alarms (the deploy watches the side taking the new traffic), as the
    # monitoring role makes them.
    alarms = [f"{prefix}-{side}-{kind}" for side in ("blue", "green") for kind in ("5xx", "p99", "unhealthy")]
    alarms.append(f"{prefix}-app-errors")
    for alarm in alarms:
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="fixture")
    for queue in QUEUES:
        sqs.create_queue(QueueName=f"{prefix}-{queue}-dlq")
        sqs.create_queue(QueueName=f"{prefix}-{queue}")
    return Stack(env, rule, target_groups, prefix, f"{prefix}-web", f"{prefix}-worker", alarms)


def main() -> int:
    """`make pipeline ENV=local` seeds the emulator with this stack when the edge and compute
    roles have not built the real one (so the deploy stage has something to deploy to)."""
    import boto3

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["seed"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--env", default="local")
    args = parser.parse_args()
    if not args.endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error("seed only talks to the local emulator")

    from localcloud.state import LocalCloudState

    # The operator provisions; an emulator that does not enforce IAM takes throw-away keys.
    keys = LocalCloudState(args.endpoint).credentials("operator") or {
        "AccessKeyId": "testing",
        "SecretAccessKey": "testing",
    }

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=args.endpoint,
            region_name="ap-south-1",
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
        )

    try:
        client("elbv2").describe_load_balancers(Names=[f"loopin-{args.env}"])
    except client("elbv2").exceptions.LoadBalancerNotFoundException:
        build(client, args.env)
        print(f"seeded the minimal deploy stack of {args.env}: ALB, ECS cluster and services, alarms, queues")
        return 0
    print(f"ALB loopin-{args.env} exists: the provisioned stack is used as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
