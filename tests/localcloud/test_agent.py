"""The data plane's ECS agent running real tasks of a small container (tests/localcloud/echo_app).

One emulator and one data plane for the module, both real processes on loopback; the test sets
up ECS, ECR, Secrets Manager and CloudWatch Logs with boto3 as an operator would, then checks what
the running task sees and what AWS's APIs say about it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import budget
import emulator
import pytest
from localcloud import __main__ as localcloud
from stack import environ

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REGION = "ap-south-1"
Aws = Callable[[str], Any]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("localcloud")
    # Started and stopped as `make up` and `make down` do (tools/localcloud/__main__.py).
    with environ(LOOPIN_STATE_DIR=str(state), LOCALCLOUD_METRICS_SECONDS="2"), emulator.running() as url:
        localcloud.start_dataplane(url)
        try:
            yield {"url": url, "state": state, "setup": _setup(url)}
        finally:
            localcloud.stop_dataplane(url)


def _aws(url: str) -> Aws:
    return lambda service: boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )


def _setup(url: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tools"))
    from localcloud import images

    aws = _aws(url)
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    aws("ecr").create_repository(repositoryName="test/echo")
    spec = images.ImageSpec(HERE / "echo_app" / "Dockerfile", {"echo_app": HERE / "echo_app"})
    image = images.push(images.build(spec, source=Path("/")), aws("ecr"), "test/echo")
    plain = aws("secretsmanager").create_secret(Name="test/plain", SecretString="s3cret")["ARN"]
    keyed = aws("secretsmanager").create_secret(Name="test/json", SecretString=json.dumps({"key": "v4lue"}))[
        "ARN"
    ]
    aws("logs").create_log_group(logGroupName="/ecs/echo")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(RoleName="echo-task", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    aws("ecs").create_cluster(clusterName="c")

    def definition(family: str, image_ref: str, secrets: list[dict[str, str]]) -> str:
        return str(
            aws("ecs").register_task_definition(
                family=family,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
                taskRoleArn=role,
                executionRoleArn=role,
                containerDefinitions=[
                    {
                        "name": "echo",
                        "image": image_ref,
                        "cpu": 256,
                        "memory": 512,
                        "stopTimeout": 2,
                        "portMappings": [{"containerPort": 8000}],
                        "environment": [{"name": "PLAIN_SETTING", "value": "1"}],
                        "secrets": secrets,
                        "healthCheck": {
                            "command": [
                                "CMD-SHELL",
                                "python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health')\"",
                            ],
                            "interval": 5,
                            "timeout": 2,
                            "retries": 2,
                            "startPeriod": 0,
                        },
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": "/ecs/echo",
                                "awslogs-region": REGION,
                                "awslogs-stream-prefix": "echo",
                            },
                        },
                    }
                ],
            )["taskDefinition"]["taskDefinitionArn"]
        )

    secrets = [
        {"name": "PLAIN_SECRET", "valueFrom": plain},
        {"name": "KEYED_SECRET", "valueFrom": f"{keyed}:key::"},
    ]
    echo = definition("echo", image, secrets)
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    aws("ecs").create_service(
        cluster="c",
        serviceName="echo",
        taskDefinition=echo,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    return {
        "echo": echo,
        "network": network,
        "unpullable": definition("unpullable", image.split("@")[0] + "@sha256:" + "0" * 64, secrets),
        "bad_secret": definition("bad-secret", image, [{"name": "X", "valueFrom": plain + "-missing"}]),
    }


def _until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """check()'s first truthy value; `timeout` is the quiet machine's, scaled to this one."""
    return budget.until(check, timeout, what, every=0.3)


def _running_echo(cloud: dict[str, Any], other_than: str = "") -> dict[str, Any]:
    """The echo service's task, once it is running and healthy; with its port from status.json."""

    def find() -> dict[str, Any] | None:
        status = json.loads(
            (
                cloud["state"] / f"localcloud-{cloud['url'].rsplit(':', 1)[1]}/dataplane/status.json"
            ).read_text()
        )
        for task in status.get("tasks", []):
            serving = task["health"] == "HEALTHY" and not task["stopping"] and task["task"] != other_than
            if task["group"] == "service:echo" and serving:
                return dict(task)
        return None

    return dict(_until(find, timeout=45, what="a healthy echo task"))


def _get(port: int, path: str, **headers: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


def _task(cloud: dict[str, Any], task_id: str) -> dict[str, Any]:
    return dict(_aws(cloud["url"])("ecs").describe_tasks(cluster="c", tasks=[task_id])["tasks"][0])


def test_the_task_gets_its_environment_secrets_and_port(cloud: dict[str, Any]) -> None:
    task = _running_echo(cloud)
    assert _get(task["port"], "/env?n=PLAIN_SETTING")["value"] == "1"
    assert _get(task["port"], "/env?n=PLAIN_SECRET")["value"] == "s3cret"
    assert _get(task["port"], "/env?n=KEYED_SECRET")["value"] == "v4lue"  # valueFrom <arn>:key::
    assert _get(task["port"], "/env?n=PORT")["value"] == str(task["port"])  # the image's port variable
    assert _get(task["port"], "/env?n=AWS_ACCESS_KEY_ID")["value"] is None  # no keys, only the endpoint
    assert _get(task["port"], "/env?n=AWS_CONTAINER_CREDENTIALS_FULL_URI")["value"].startswith(
        "http://127.0.0.1:"
    )
    # the SDK inside the task finds the task role's credentials at that endpoint by itself
    assert _get(task["port"], "/whoami")["Account"] == "123456789012"
    described = _task(cloud, task["task"])
    assert (described["lastStatus"], described["healthStatus"]) == ("RUNNING", "HEALTHY")
    binding = described["containers"][0]["networkBindings"][0]
    assert (binding["containerPort"], binding["hostPort"]) == (8000, task["port"])


def test_stdout_reaches_the_log_group(cloud: dict[str, Any]) -> None:
    task = _running_echo(cloud)
    _get(task["port"], "/health", **{"X-Request-ID": "req-1234"})
    logs = _aws(cloud["url"])("logs")
    stream = f"echo/echo/{task['task']}"

    def logged() -> bool:
        events = logs.get_log_events(logGroupName="/ecs/echo", logStreamName=stream)["events"]
        return any("id=req-1234" in e["message"] for e in events)

    _until(logged, timeout=10, what="the request's log line in CloudWatch Logs")


def test_a_task_that_exits_is_reported_and_replaced(cloud: dict[str, Any]) -> None:
    task = _running_echo(cloud)
    _get(task["port"], "/exit?code=3")
    stopped = _until(
        lambda: (t := _task(cloud, task["task"]))["lastStatus"] == "STOPPED" and t, what="stopped"
    )
    assert stopped["containers"][0]["exitCode"] == 3
    assert stopped["stopCode"] == "EssentialContainerExited"
    replacement = _running_echo(cloud, other_than=task["task"])
    assert _task(cloud, replacement["task"])["lastStatus"] == "RUNNING"


def test_one_off_tasks_report_their_exit_code_and_stop_kills_after_the_timeout(cloud: dict[str, Any]) -> None:
    ecs = _aws(cloud["url"])("ecs")
    setup = cloud["setup"]

    def run(**container: Any) -> str:
        override = {"containerOverrides": [{"name": "echo", **container}]}
        task = ecs.run_task(
            cluster="c",
            taskDefinition=setup["echo"],
            launchType="FARGATE",
            networkConfiguration=setup["network"],
            overrides=override,
        )
        return str(task["tasks"][0]["taskArn"])

    exits = run(command=["python3", "-c", "import sys; print('migrating'); sys.exit(7)"])
    stubborn = run(environment=[{"name": "ECHO_IGNORE_SIGTERM", "value": "1"}])
    _until(lambda: _task(cloud, stubborn)["lastStatus"] == "RUNNING", what="the stubborn task running")
    stop_asked = time.monotonic()
    ecs.stop_task(cluster="c", task=stubborn, reason="test")
    killed = _until(lambda: (t := _task(cloud, stubborn))["lastStatus"] == "STOPPED" and t, what="SIGKILL")
    assert time.monotonic() - stop_asked >= 2  # the container's stopTimeout, then SIGKILL
    assert killed["containers"][0]["exitCode"] == 137
    finished = _until(
        lambda: (t := _task(cloud, exits))["lastStatus"] == "STOPPED" and t, what="one-off exit"
    )
    assert finished["containers"][0]["exitCode"] == 7


@pytest.mark.parametrize(
    ("definition", "reason"),
    [("unpullable", "CannotPullContainerError"), ("bad_secret", "ResourceInitializationError")],
)
def test_a_task_that_cannot_start_says_why(cloud: dict[str, Any], definition: str, reason: str) -> None:
    ecs = _aws(cloud["url"])("ecs")
    setup = cloud["setup"]
    arn = ecs.run_task(
        cluster="c",
        taskDefinition=setup[definition],
        launchType="FARGATE",
        networkConfiguration=setup["network"],
    )["tasks"][0]["taskArn"]
    stopped = _until(lambda: (t := _task(cloud, arn))["lastStatus"] == "STOPPED" and t, what="a failed start")
    assert reason in stopped["stoppedReason"]
    assert stopped["containers"][0].get("exitCode") is None


def test_service_cpu_and_memory_reach_cloudwatch(cloud: dict[str, Any]) -> None:
    _running_echo(cloud)
    cw = _aws(cloud["url"])("cloudwatch")

    def published() -> list[str]:
        found = cw.list_metrics(Namespace="AWS/ECS", Dimensions=[{"Name": "ServiceName", "Value": "echo"}])
        return sorted({m["MetricName"] for m in found["Metrics"]})

    assert _until(lambda: len(published()) == 2 and published(), timeout=20, what="ECS metrics") == [
        "CPUUtilization",
        "MemoryUtilization",
    ]
