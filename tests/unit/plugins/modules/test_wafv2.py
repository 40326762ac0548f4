"""loopin.platform.wafv2_web_acl_association and wafv2_logging_configuration on a real moto server."""

from __future__ import annotations

from typing import Any

import pytest

REGION = "ap-south-1"
ACCOUNT = "123456789012"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-waf-logs-loopin-test"


def make_web_acl(boto: Any, name: str) -> dict[str, Any]:
    return dict(
        boto("wafv2").create_web_acl(
            Name=name,
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            VisibilityConfig={
                "SampledRequestsEnabled": True,
                "CloudWatchMetricsEnabled": True,
                "MetricName": name,
            },
        )["Summary"]
    )


@pytest.fixture
def alb_arn(boto: Any) -> str:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab")
    ]
    lb = boto("elbv2").create_load_balancer(Name="loopin-test", Subnets=subnets, Type="application")
    return str(lb["LoadBalancers"][0]["LoadBalancerArn"])


def associated(boto: Any, resource_arn: str) -> str | None:
    acl = boto("wafv2").get_web_acl_for_resource(ResourceArn=resource_arn).get("WebACL")
    return acl["ARN"] if acl else None


def test_association_lifecycle(run_module: Any, boto: Any, alb_arn: str) -> None:
    blue = make_web_acl(boto, "loopin-blue")
    green = make_web_acl(boto, "loopin-green")
    args = {"resource_arn": alb_arn, "web_acl_arn": blue["ARN"]}

    result = run_module("wafv2_web_acl_association", args, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"web_acl_arn": None}, "after": {"web_acl_arn": blue["ARN"]}}
    assert associated(boto, alb_arn) is None

    result = run_module("wafv2_web_acl_association", args)
    assert result["changed"] is True
    assert (result["web_acl_arn"], result["web_acl_name"]) == (blue["ARN"], "loopin-blue")
    assert associated(boto, alb_arn) == blue["ARN"]
    for check in (False, True):
        assert run_module("wafv2_web_acl_association", args, check=check)["changed"] is False

    # move to another ACL, looked up by name
    by_name = {"resource_arn": alb_arn, "web_acl_name": "loopin-green"}
    result = run_module("wafv2_web_acl_association", by_name, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {"web_acl_arn": green["ARN"]}
    assert associated(boto, alb_arn) == blue["ARN"]
    result = run_module("wafv2_web_acl_association", by_name)
    assert result["changed"] is True and result["previous_web_acl_arn"] == blue["ARN"]
    assert associated(boto, alb_arn) == green["ARN"]
    assert run_module("wafv2_web_acl_association", by_name)["changed"] is False

    # absent naming another ACL leaves the association alone
    result = run_module("wafv2_web_acl_association", {**args, "state": "absent"})
    assert result["changed"] is False and associated(boto, alb_arn) == green["ARN"]

    absent = {"resource_arn": alb_arn, "state": "absent"}
    result = run_module("wafv2_web_acl_association", absent, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {"web_acl_arn": None}
    assert associated(boto, alb_arn) == green["ARN"]
    assert run_module("wafv2_web_acl_association", absent)["changed"] is True
    assert associated(boto, alb_arn) is None
    assert run_module("wafv2_web_acl_association", absent)["changed"] is False


def test_association_bad_input(run_module: Any, boto: Any, alb_arn: str) -> None:
    result = run_module("wafv2_web_acl_association", {"resource_arn": alb_arn})
    assert result["failed"] is True and "web_acl_arn, web_acl_name" in result["msg"]
    result = run_module("wafv2_web_acl_association", {"resource_arn": alb_arn, "web_acl_name": "nope"})
    assert result["failed"] is True and "No regional web ACL named nope" in result["msg"]
    result = run_module("wafv2_web_acl_association", {"resource_arn": "my-alb", "web_acl_name": "nope"})
    assert result["failed"] is True and "resource_arn must be an ARN" in result["msg"]
    assert associated(boto, alb_arn) is None


def stored_logging(boto: Any, acl_arn: str) -> dict[str, Any] | None:
    try:
        return dict(boto("wafv2").get_logging_configuration(ResourceArn=acl_arn)["LoggingConfiguration"])
    except boto("wafv2").exceptions.WAFNonexistentItemException:
        return None


def test_logging_lifecycle(run_module: Any, boto: Any) -> None:
    acl = make_web_acl(boto, "loopin-logs")
    args: dict[str, Any] = {
        "web_acl_arn": acl["ARN"],
        "log_destination_configs": [LOG_GROUP_ARN],
        "redacted_fields": [{"SingleHeader": {"Name": "authorization"}}],
    }
    result = run_module("wafv2_logging_configuration", args, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["before"] == {}
    assert result["diff"]["after"]["LogDestinationConfigs"] == [LOG_GROUP_ARN]
    assert stored_logging(boto, acl["ARN"]) is None

    result = run_module("wafv2_logging_configuration", args)
    assert result["changed"] is True
    assert result["logging_configuration"]["log_destination_configs"] == [LOG_GROUP_ARN]
    stored = stored_logging(boto, acl["ARN"])
    assert stored is not None and stored["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    for check in (False, True):
        assert run_module("wafv2_logging_configuration", args, check=check)["changed"] is False
    # a log group ARN with the ":*" suffix names the same destination
    same = {**args, "log_destination_configs": [LOG_GROUP_ARN + ":*"]}
    assert run_module("wafv2_logging_configuration", same)["changed"] is False

    # update: add a filter, check mode first
    only_blocked = {
        "DefaultBehavior": "DROP",
        "Filters": [
            {
                "Behavior": "KEEP",
                "Requirement": "MEETS_ANY",
                "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
            }
        ],
    }
    result = run_module(
        "wafv2_logging_configuration", {**args, "logging_filter": only_blocked}, check=True, diff=True
    )
    assert result["changed"] is True
    assert result["diff"]["before"]["LoggingFilter"] == {}
    assert result["diff"]["after"]["LoggingFilter"] == only_blocked
    assert "LoggingFilter" not in (stored_logging(boto, acl["ARN"]) or {})
    assert (
        run_module("wafv2_logging_configuration", {**args, "logging_filter": only_blocked})["changed"] is True
    )
    assert (stored_logging(boto, acl["ARN"]) or {})["LoggingFilter"] == only_blocked
    # omitted filter: left alone
    assert run_module("wafv2_logging_configuration", args)["changed"] is False

    absent = {"web_acl_arn": acl["ARN"], "state": "absent"}
    result = run_module("wafv2_logging_configuration", absent, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert stored_logging(boto, acl["ARN"]) is not None
    assert run_module("wafv2_logging_configuration", absent)["changed"] is True
    assert stored_logging(boto, acl["ARN"]) is None
    assert run_module("wafv2_logging_configuration", absent)["changed"] is False


@pytest.mark.parametrize(
    ("destinations", "message"),
    [
        (
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/waf/loopin"],
            "/waf/loopin must start with aws-waf-logs-",
        ),
        (["arn:aws:s3:::loopin-waf-logs"], "loopin-waf-logs must start with aws-waf-logs-"),
        ([LOG_GROUP_ARN, LOG_GROUP_ARN + "-2"], "exactly one ARN"),
        (["aws-waf-logs-loopin"], "is not the ARN of a CloudWatch Logs log group"),
    ],
)
def test_logging_bad_destination(run_module: Any, boto: Any, destinations: list[str], message: str) -> None:
    acl = make_web_acl(boto, "loopin-logs")
    result = run_module(
        "wafv2_logging_configuration", {"web_acl_arn": acl["ARN"], "log_destination_configs": destinations}
    )
    assert result["failed"] is True
    assert message in result["msg"]
    assert stored_logging(boto, acl["ARN"]) is None
