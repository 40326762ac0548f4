"""loopin.platform.ec2_vpc_flow_log and _info against a real moto server."""

from __future__ import annotations

from typing import Any

import pytest

ROLE = "arn:aws:iam::123456789012:role/flow-logs"
GROUP = "/vpc/loopin-test/flow-logs"
TAGS = {"Project": "loopin", "Environment": "test", "ManagedBy": "ansible"}


@pytest.fixture
def vpc_id(boto: Any) -> str:
    boto("logs").create_log_group(logGroupName=GROUP)
    return str(boto("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def flow_logs(boto: Any, vpc_id: str) -> list[dict[str, Any]]:
    return list(
        boto("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    )


def test_lifecycle(run_module: Any, boto: Any, vpc_id: str) -> None:
    args = {
        "resource_id": vpc_id,
        "traffic_type": "REJECT",
        "log_group_name": GROUP,
        "deliver_logs_permission_arn": ROLE,
        "max_aggregation_interval": 60,
        "tags": TAGS,
    }

    # check mode: reports the creation, creates nothing
    result = run_module("ec2_vpc_flow_log", args, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["traffic_type"] == "REJECT"
    assert flow_logs(boto, vpc_id) == []

    result = run_module("ec2_vpc_flow_log", args, diff=True)
    assert result["changed"] is True
    flow_log = result["flow_log"]
    assert flow_log["flow_log_id"].startswith("fl-")
    assert flow_log["tags"] == TAGS
    assert flow_log["max_aggregation_interval"] == 60
    [stored] = flow_logs(boto, vpc_id)
    assert (stored["TrafficType"], stored["LogGroupName"], stored["DeliverLogsPermissionArn"]) == (
        "REJECT",
        GROUP,
        ROLE,
    )

    # idempotent, also in check mode
    for check in (False, True):
        again = run_module("ec2_vpc_flow_log", args, check=check, diff=True)
        assert again["changed"] is False
        assert again["flow_log"]["flow_log_id"] == flow_log["flow_log_id"]
        assert again["diff"]["before"] == again["diff"]["after"]

    # tag update in place: check mode first, then for real
    new_tags = {**TAGS, "Environment": "staging"}
    result = run_module("ec2_vpc_flow_log", {**args, "tags": new_tags}, check=True, diff=True)
    assert result["changed"] is True and result["replaced"] is False
    assert result["diff"]["before"]["tags"] == TAGS
    assert result["diff"]["after"]["tags"] == new_tags
    [stored] = flow_logs(boto, vpc_id)
    assert {t["Key"]: t["Value"] for t in stored["Tags"]} == TAGS
    result = run_module("ec2_vpc_flow_log", {**args, "tags": new_tags})
    assert result["changed"] is True
    assert result["flow_log"]["flow_log_id"] == flow_log["flow_log_id"]
    [stored] = flow_logs(boto, vpc_id)
    assert {t["Key"]: t["Value"] for t in stored["Tags"]} == new_tags

    # an immutable attribute changes: replacement, tags kept
    result = run_module("ec2_vpc_flow_log", {**args, "tags": new_tags, "traffic_type": "ALL"}, diff=True)
    assert result["changed"] is True and result["replaced"] is True
    assert result["replaced_because"] == ["traffic_type"]
    assert result["diff"]["before"]["traffic_type"] == "REJECT"
    assert result["diff"]["after"]["traffic_type"] == "ALL"
    [stored] = flow_logs(boto, vpc_id)
    assert stored["FlowLogId"] != flow_log["flow_log_id"]
    assert stored["TrafficType"] == "ALL"
    assert {t["Key"]: t["Value"] for t in stored["Tags"]} == new_tags

    info = run_module("ec2_vpc_flow_log_info", {"resource_ids": [vpc_id]})
    assert info["changed"] is False
    assert [f["flow_log_id"] for f in info["flow_logs"]] == [stored["FlowLogId"]]
    assert info["flow_logs"][0]["tags"] == new_tags

    # absent: check mode leaves it, then it goes, then nothing to do
    absent = {"resource_id": vpc_id, "log_group_name": GROUP, "state": "absent"}
    result = run_module("ec2_vpc_flow_log", absent, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert len(flow_logs(boto, vpc_id)) == 1
    assert run_module("ec2_vpc_flow_log", absent)["changed"] is True
    assert flow_logs(boto, vpc_id) == []
    assert run_module("ec2_vpc_flow_log", absent)["changed"] is False


def test_s3_destination(run_module: Any, boto: Any, vpc_id: str) -> None:
    boto("s3").create_bucket(
        Bucket="loopin-flow-logs", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
    )
    args = {
        "resource_id": vpc_id,
        "log_destination_type": "s3",
        "log_destination": "arn:aws:s3:::loopin-flow-logs",
    }
    assert run_module("ec2_vpc_flow_log", args)["changed"] is True
    assert run_module("ec2_vpc_flow_log", args)["changed"] is False
    [stored] = flow_logs(boto, vpc_id)
    assert stored["LogDestinationType"] == "s3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"log_group_name": GROUP}, "deliver_logs_permission_arn is required"),
        ({}, "one of the following is required: log_group_name, log_destination"),
        (
            {"log_group_name": GROUP, "log_destination_type": "s3", "log_destination": "arn:aws:s3:::b"},
            "log_group_name is only valid with log_destination_type=cloud-watch-logs",
        ),
        (
            {"log_group_name": GROUP, "deliver_logs_permission_arn": ROLE, "max_aggregation_interval": 30},
            "60, 600",
        ),
    ],
)
def test_bad_input(run_module: Any, boto: Any, vpc_id: str, args: dict[str, Any], message: str) -> None:
    result = run_module("ec2_vpc_flow_log", {"resource_id": vpc_id, **args})
    assert result["failed"] is True
    assert message in result["msg"]
    assert flow_logs(boto, vpc_id) == []


def test_missing_vpc_fails_clearly(run_module: Any) -> None:
    result = run_module(
        "ec2_vpc_flow_log",
        {"resource_id": "vpc-00000000", "log_group_name": GROUP, "deliver_logs_permission_arn": ROLE},
    )
    assert result["failed"] is True
    assert "vpc-00000000" in result["msg"]
