"""Target health in the emulator: targets keyed by address and port, moto's instant health while no
load balancer node runs, AWS's states (initial, reported, draining) once one has announced itself."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

REGION = "ap-south-1"


def _control(endpoint: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 - the test's emulator on loopback
        f"{endpoint}/_localcloud/elbv2/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - the test's emulator on loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def elbv2(aws_env: dict[str, str]) -> Any:
    return boto3.client("elbv2", region_name=REGION)


@pytest.fixture
def target_group(elbv2: Any) -> str:
    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(
        Name="health", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip", HealthCheckPath="/health"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    return arn


@pytest.fixture
def owner(moto_endpoint: str) -> Iterator[str]:
    """A load balancer node's heartbeat; says goodbye at the end so later tests see moto's health."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    status, answer = _control(moto_endpoint, "health-owner", {"owner": name, "ttlSeconds": 60})
    assert status == 200 and name in answer["owners"]
    yield name
    _control(moto_endpoint, "health-owner", {"owner": name, "stopping": True})


def _health(elbv2: Any, arn: str) -> dict[str, dict[str, Any]]:
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {f"{d['Target']['Id']}:{d['Target']['Port']}": d for d in found}


def test_two_ports_on_one_address_are_two_targets(elbv2: Any, target_group: str) -> None:
    elbv2.register_targets(
        TargetGroupArn=target_group,
        Targets=[{"Id": "127.0.0.1", "Port": 9001}, {"Id": "127.0.0.1", "Port": 9002}],
    )
    assert set(_health(elbv2, target_group)) == {"127.0.0.1:9001", "127.0.0.1:9002"}
    elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    assert set(_health(elbv2, target_group)) == {"127.0.0.1:9002"}
    with pytest.raises(elbv2.exceptions.InvalidTargetException):
        elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])


def test_without_a_load_balancer_node_targets_are_healthy_at_once_and_leave_at_once(
    elbv2: Any, target_group: str
) -> None:
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    health = _health(elbv2, target_group)["127.0.0.1:9001"]
    assert health["TargetHealth"] == {"State": "healthy"}
    assert health["HealthCheckPort"] == "9001"
    elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    assert _health(elbv2, target_group) == {}


def test_with_a_node_a_new_target_is_initial_then_as_reported(
    elbv2: Any, target_group: str, owner: str, moto_endpoint: str
) -> None:
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"] == {
        "State": "initial",
        "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress",
    }
    report = {
        "targetGroupArn": target_group,
        "targets": [
            {
                "id": "127.0.0.1",
                "port": 9001,
                "state": "unhealthy",
                "reason": "Target.ResponseCodeMismatch",
                "description": "Health checks failed with these codes: [503]",
            },
            {"id": "127.0.0.1", "port": 9009, "state": "healthy"},
        ],
    }
    assert _control(moto_endpoint, "target-health", report) == (
        200,
        {"stored": 1, "ignored": ["127.0.0.1:9009"]},
    )
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.ResponseCodeMismatch",
        "Description": "Health checks failed with these codes: [503]",
    }
    healthy = {
        "targetGroupArn": target_group,
        "targets": [{"id": "127.0.0.1", "port": 9001, "state": "healthy"}],
    }
    assert _control(moto_endpoint, "target-health", healthy)[0] == 200
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"] == {"State": "healthy"}


def test_with_a_node_a_deregistered_target_drains_for_the_delay_then_is_gone(
    elbv2: Any, target_group: str, owner: str
) -> None:
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"] == {
        "State": "draining",
        "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress",
    }
    time.sleep(1.2)  # deregistration_delay.timeout_seconds = 1
    assert _health(elbv2, target_group) == {}


def test_a_node_that_stops_hands_health_back_to_moto(
    elbv2: Any, target_group: str, moto_endpoint: str
) -> None:
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    assert _control(moto_endpoint, "health-owner", {"owner": "brief", "ttlSeconds": 0.5})[0] == 200
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"]["State"] == "initial"
    time.sleep(0.6)
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"]["State"] == "healthy"
    assert _control(moto_endpoint, "health-owner", {"owner": "gone"})[0] == 200
    assert _control(moto_endpoint, "health-owner", {"owner": "gone", "stopping": True}) == (
        200,
        {"owners": []},
    )
    assert _health(elbv2, target_group)["127.0.0.1:9001"]["TargetHealth"]["State"] == "healthy"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"state": "sick"}, "not one of AWS's"),
        ({"state": "unhealthy", "reason": "Elb.RegistrationInProgress"}, "not AWS's for unhealthy"),
        ({"state": "unhealthy"}, "not AWS's for unhealthy"),
        ({"state": "healthy", "reason": "Target.Timeout"}, "no reason code"),
    ],
)
def test_reports_use_aws_states_and_reason_codes(
    elbv2: Any, target_group: str, moto_endpoint: str, entry: dict[str, str], message: str
) -> None:
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    body = {"targetGroupArn": target_group, "targets": [{"id": "127.0.0.1", "port": 9001, **entry}]}
    status, answer = _control(moto_endpoint, "target-health", body)
    assert status == 400 and message in answer["error"]


def test_reports_for_an_unknown_target_group_are_refused(moto_endpoint: str, aws_env: dict[str, str]) -> None:
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/nothing/0123456789abcdef"
    assert _control(moto_endpoint, "target-health", {"targetGroupArn": arn, "targets": []})[0] == 404
