"""The metrics AWS services publish about themselves reach CloudWatch in the emulator."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import emulator
import pytest


@pytest.fixture(scope="module")
def aws() -> Iterator[Callable[[str], Any]]:
    os.environ["LOCALCLOUD_VENDED_METRICS_SECONDS"] = "1"
    try:
        with emulator.running() as url:
            yield lambda service: boto3.client(
                service,
                endpoint_url=url,
                region_name="ap-south-1",
                aws_access_key_id="t",
                aws_secret_access_key="t",
            )
    finally:
        del os.environ["LOCALCLOUD_VENDED_METRICS_SECONDS"]


def _latest(aws: Callable[[str], Any], namespace: str, name: str, dims: dict[str, str]) -> float | None:
    now = dt.datetime.now(dt.UTC)
    points = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max((p["Maximum"] for p in points), default=None)


def test_queue_depth_and_oldest_message_age(aws: Callable[[str], Any]) -> None:
    url = aws("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    for _ in range(3):
        aws("sqs").send_message(QueueUrl=url, MessageBody="x")
    time.sleep(3.5)
    assert _latest(aws, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "jobs"}) == 3
    age = _latest(aws, "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "jobs"})
    assert age is not None and age >= 2


def test_running_task_count_is_published_zero_included(aws: Callable[[str], Any]) -> None:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="w", Description="w", VpcId=vpc)["GroupId"]
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(
        family="w", networkMode="awsvpc", containerDefinitions=[{"name": "w", "image": "x", "memory": 512}]
    )
    ecs.create_service(
        cluster="c",
        serviceName="worker",
        taskDefinition="w",
        desiredCount=2,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
    )
    time.sleep(2.5)
    dims = {"ClusterName": "c", "ServiceName": "worker"}
    assert _latest(aws, "ECS/ContainerInsights", "DesiredTaskCount", dims) == 2
    # moto runs nothing without a data plane: none running, and the zero is published
    assert _latest(aws, "ECS/ContainerInsights", "RunningTaskCount", dims) == 0
