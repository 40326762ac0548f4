"""The emulator's ECS scheduler, driven through the agent protocol a data plane speaks.

A real emulator of its own (an agent's heartbeat changes how every ECS call behaves there), and
this test in the agent's place: it heartbeats, reports tasks running, healthy or exited, and
checks what ECS and the target groups then say through the public API.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import budget
import emulator
import pytest

REGION = "ap-south-1"
Aws = Callable[[str], Any]


def _post(url: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(  # noqa: S310 - the test's emulator on loopback
        f"{url}/_localcloud/{path}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


class FakeAgent:
    def __init__(self, url: str, name: str = "agent-test") -> None:
        self.url, self.name = url, name
        self.next_port = 40000

    def work(self) -> list[dict[str, Any]]:
        return list(_post(self.url, "ecs/agent", {"agent": self.name})["tasks"])

    def report(self, item: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        body = {"cluster": item["cluster"], "task": item["taskArn"], "lastStatus": status, **fields}
        return dict(_post(self.url, "ecs/task-state", body))

    def run_pending(self, healthy: bool = True) -> list[dict[str, Any]]:
        """Start every task placed on this agent, as a data plane would."""
        started = []
        for item in self.work():
            if item["lastStatus"] == "PENDING":
                self.next_port += 1
                self.report(item, "RUNNING", privateIPv4Address="127.0.0.1", hostPort=self.next_port)
                if healthy:
                    self.report(item, "RUNNING", healthStatus="HEALTHY")
                started.append(item)
            elif item["stop"]:
                self.report(item, "STOPPED", exitCode=143)
        return started


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    # A lost agent is declared lost after this long (seconds); short for the test of it.
    os.environ["LOCALCLOUD_AGENT_TTL_SECONDS"] = "4"
    try:
        with emulator.running() as url:
            yield url
    finally:
        del os.environ["LOCALCLOUD_AGENT_TTL_SECONDS"]


@pytest.fixture
def aws(endpoint: str) -> Callable[[str], Any]:
    emulator.reset(int(endpoint.rsplit(":", 1)[1]))
    return lambda service: boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )


def _until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """check()'s first truthy value; `timeout` is the quiet machine's, scaled to this one."""
    return budget.until(check, timeout, what, every=0.2)


def _stack(aws: Callable[[str], Any], desired: int = 2, **service: Any) -> dict[str, str]:
    ec2, ecs, elbv2 = aws("ec2"), aws("ecs"), aws("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    tg = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    ecs.create_cluster(clusterName="c")
    for image in ("one", "two"):
        ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": image,
                    "cpu": 256,
                    "memory": 512,
                    "portMappings": [{"containerPort": 8000}],
                }
            ],
        )
    ecs.create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 8000}],
        **service,
    )
    return {"tg": tg, "subnet": subnet, "group": group}


def _service(aws: Callable[[str], Any]) -> dict[str, Any]:
    return dict(aws("ecs").describe_services(cluster="c", services=["web"])["services"][0])


def _targets(aws: Callable[[str], Any], tg: str) -> list[tuple[str, int]]:
    found = aws("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return sorted((t["Target"]["Id"], t["Target"]["Port"]) for t in found)


def test_without_an_agent_moto_is_unchanged(aws: Aws) -> None:
    _stack(aws)
    time.sleep(1.5)
    assert aws("ecs").list_tasks(cluster="c")["taskArns"] == []


def test_a_service_runs_its_desired_count_and_registers_each_task(
    endpoint: str, aws: Callable[[str], Any]
) -> None:
    agent = FakeAgent(endpoint)
    agent.work()
    stack = _stack(aws)
    started: list[dict[str, Any]] = []
    _until(lambda: started.extend(agent.run_pending()) or len(started) == 2, what="two tasks started")
    service = _until(lambda: (s := _service(aws))["runningCount"] == 2 and s, what="runningCount 2")
    assert service["pendingCount"] == 0
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    # both tasks are targets at 127.0.0.1 on ports of their own, as awsvpc tasks on AWS are at theirs
    assert _targets(aws, stack["tg"]) == [("127.0.0.1", 40001), ("127.0.0.1", 40002)]
    tasks = aws("ecs").list_tasks(cluster="c", serviceName="web")["taskArns"]
    described = aws("ecs").describe_tasks(cluster="c", tasks=tasks)["tasks"]
    assert {t["lastStatus"] for t in described} == {"RUNNING"}
    assert {t["group"] for t in described} == {"service:web"}
    assert aws("ecs").list_tasks(cluster="c", serviceName="other")["taskArns"] == []


def test_a_new_task_definition_rolls_in_and_the_old_tasks_drain(
    endpoint: str, aws: Callable[[str], Any]
) -> None:
    agent = FakeAgent(endpoint)
    agent.work()
    stack = _stack(aws, desired=1)
    _until(lambda: agent.run_pending(), what="first task")
    _until(lambda: _service(aws)["deployments"][0]["rolloutState"] == "COMPLETED", what="first rollout")
    aws("ecs").update_service(cluster="c", service="web", taskDefinition="web:2")
    deployments = _service(aws)["deployments"]
    assert [d["status"] for d in deployments] == ["PRIMARY", "ACTIVE"]
    assert deployments[0]["taskDefinition"].endswith("web:2")
    _until(lambda: agent.run_pending(), what="the new task")
    # the old task is deregistered first, drains for the group's delay, then is told to stop
    stopping = _until(lambda: [i for i in agent.work() if i["stop"]], timeout=10, what="stop of the old task")
    assert stopping[0]["taskDefinition"]["taskDefinitionArn"].endswith("web:1")
    assert _targets(aws, stack["tg"]) == [("127.0.0.1", 40002)]
    agent.report(stopping[0], "STOPPED", exitCode=0)
    service = _until(
        lambda: (
            (s := _service(aws))["deployments"][0]["rolloutState"] == "COMPLETED"
            and len(s["deployments"]) == 1
            and s
        ),
        what="second rollout",
    )
    assert service["taskDefinition"].endswith("web:2")
    assert "has reached a steady state." in service["events"][0]["message"]


def test_stop_task_drains_then_stops_and_the_service_replaces_it(
    endpoint: str, aws: Callable[[str], Any]
) -> None:
    agent = FakeAgent(endpoint)
    agent.work()
    _stack(aws, desired=1)
    first = _until(lambda: agent.run_pending(), what="first task")[0]
    aws("ecs").stop_task(cluster="c", task=first["taskArn"], reason="chaos experiment")
    described = aws("ecs").describe_tasks(cluster="c", tasks=[first["taskArn"]])["tasks"][0]
    assert (described["desiredStatus"], described["lastStatus"]) == ("STOPPED", "DEACTIVATING")
    assert described["stopCode"] == "UserInitiated"
    _until(
        lambda: any(i["stop"] and i["taskArn"] == first["taskArn"] for i in agent.work()), what="stop flag"
    )
    agent.report(first, "STOPPED", exitCode=143)
    replacement = _until(lambda: agent.run_pending(), what="a replacement")[0]
    assert replacement["taskArn"] != first["taskArn"]
    stopped = aws("ecs").describe_tasks(cluster="c", tasks=[first["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED" and stopped["containers"][0]["exitCode"] == 143
    assert stopped["stoppedReason"] == "chaos experiment"


def test_the_circuit_breaker_rolls_a_failing_deployment_back(
    endpoint: str, aws: Callable[[str], Any]
) -> None:
    agent = FakeAgent(endpoint)
    agent.work()
    _stack(
        aws,
        desired=1,
        deploymentConfiguration={
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    )
    _until(lambda: agent.run_pending(), what="first task")
    _until(lambda: _service(aws)["deployments"][0]["rolloutState"] == "COMPLETED", what="first rollout")
    aws("ecs").update_service(cluster="c", service="web", taskDefinition="web:2")
    failures = 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and failures < 3:
        for item in agent.work():
            if item["lastStatus"] == "PENDING" and item["taskDefinition"]["taskDefinitionArn"].endswith(
                "web:2"
            ):
                agent.report(item, "RUNNING", privateIPv4Address="127.0.0.1", hostPort=41000 + failures)
                agent.report(item, "STOPPED", exitCode=1)  # crashes before it is ever healthy
                failures += 1
        time.sleep(0.2)
    assert failures == 3
    service = _until(lambda: (s := _service(aws))["taskDefinition"].endswith("web:1") and s, what="rollback")
    assert any("rolling back" in d.get("rolloutStateReason", "") for d in service["deployments"])
    assert any("deployment failed" in e["message"] for e in service["events"])


def test_tasks_of_a_lost_agent_are_stopped_and_replaced(endpoint: str, aws: Aws) -> None:
    lost = FakeAgent(endpoint, name="agent-lost")
    lost.work()
    _stack(aws, desired=1)
    first = _until(lambda: lost.run_pending(), what="first task")[0]
    other = FakeAgent(endpoint, name="agent-new")
    # the first agent stops heartbeating; the new one keeps the scheduler going
    replacement = _until(lambda: other.run_pending(), timeout=15, what="replacement on the new agent")[0]
    assert replacement["taskArn"] != first["taskArn"]
    stopped = aws("ecs").describe_tasks(cluster="c", tasks=[first["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert "data plane" in stopped["stoppedReason"]


def test_a_service_keeps_its_capacity_provider_strategy_and_one_off_tasks_can_copy_it(aws: Aws) -> None:
    """As on AWS: describe reports the strategy and no launch type, and a RunTask with the
    service's strategy (the deploy's migration task) runs on Fargate. moto alone drops the
    strategy, reports launchType EC2 and answers that RunTask with a 500."""
    placed = _stack(aws, desired=0)
    ecs = aws("ecs")
    strategy = [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]
    ecs.create_service(
        cluster="c",
        serviceName="spot",
        taskDefinition="web:1",
        desiredCount=0,
        capacityProviderStrategy=strategy,
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [placed["subnet"]], "securityGroups": [placed["group"]]}
        },
    )
    service = ecs.describe_services(cluster="c", services=["spot"])["services"][0]
    assert service["capacityProviderStrategy"] == strategy
    assert "launchType" not in service
    task = ecs.run_task(
        cluster="c",
        taskDefinition="web:1",
        capacityProviderStrategy=service["capacityProviderStrategy"],
        networkConfiguration=service["networkConfiguration"],
    )["tasks"][0]
    assert task["capacityProviderName"] == "FARGATE"
    ecs.update_service(cluster="c", service="spot", capacityProviderStrategy=strategy[:1])
    updated = ecs.describe_services(cluster="c", services=["spot"])["services"][0]
    assert updated["capacityProviderStrategy"] == strategy[:1]
