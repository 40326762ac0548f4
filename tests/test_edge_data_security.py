"""Security properties of the edge and data tiers, against what the emulator holds after a converge.

On the session's stack (tests/stack.py: site.yml and its `--check --diff` plan, both with -v):
  - each property of the edge and data tiers asserted with boto3 against the emulator (not against the YAML);
  - the rule set of tools/policy_checks.py (checkov / Security Hub controls restated) passes on
    the specs read back from the emulator, and each rule fails on a deliberately weakened copy;
  - no secret value appears in the output of either run.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stack import Stack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import policy_checks  # noqa: E402
from config import load  # noqa: E402

REGION = "ap-south-1"
ENV = "local"
NAME = f"loopin-{ENV}"
INTENT = load(str(ROOT / "inventories" / ENV)).values


@pytest.fixture(scope="module")
def converged(stack: Stack) -> dict[str, str]:
    """The output of the session stack's converge and plan (both run with -v)."""
    return {"up": stack.up.output, "plan": stack.plan.output}


@pytest.fixture(scope="module")
def aws(stack: Stack) -> Callable[[str], Any]:
    return stack.client


@pytest.fixture(scope="module")
def specs(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    class Endpointed:
        def client(self, service: str) -> Any:
            return stack.client(service)

    return policy_checks.read_specs(Endpointed(), "loopin", ENV, INTENT)


# --- edge and data properties, straight from the emulator -----------------------------------------


def test_alb_listeners_tls_and_redirect(aws: Callable[[str], Any]) -> None:
    elbv2 = aws("elbv2")
    alb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    assert alb["Scheme"] == "internet-facing"
    listeners = {
        item["Port"]: item
        for item in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    }
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm:")
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_alb_in_public_subnets_of_both_zones(aws: Callable[[str], Any]) -> None:
    alb = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    subnet_ids = [zone["SubnetId"] for zone in alb["AvailabilityZones"]]
    subnets = aws("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    assert {subnet["AvailabilityZone"] for subnet in subnets} == {"ap-south-1a", "ap-south-1b"}
    assert all({"Key": "Tier", "Value": "public"} in subnet["Tags"] for subnet in subnets)


def test_alb_attributes(aws: Callable[[str], Any]) -> None:
    elbv2 = aws("elbv2")
    alb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    attributes = policy_checks._attrs(
        elbv2.describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])
    )
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "strictest"
    assert attributes["deletion_protection.enabled"] == str(INTENT["alb_deletion_protection"]).lower()
    assert attributes["access_logs.s3.enabled"] == "true"  # local enables them, like production
    bucket = attributes["access_logs.s3.bucket"]
    rules = aws("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    transitions = {item["StorageClass"]: item["Days"] for item in rules[0]["Transitions"]}
    assert transitions == {"INTELLIGENT_TIERING": 30, "GLACIER": 365}
    assert rules[0]["Expiration"]["Days"] == 2557


def test_target_groups_and_weighted_rule(aws: Callable[[str], Any]) -> None:
    elbv2 = aws("elbv2")
    groups = {
        group["TargetGroupName"]: group
        for group in elbv2.describe_target_groups(
            Names=[f"{NAME}-web-blue", f"{NAME}-web-green", f"{NAME}-worker"]
        )["TargetGroups"]
    }
    for group in groups.values():
        assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == ("ip", 8000, "/health")
    alb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    https = next(
        item
        for item in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
        if item["Port"] == 443
    )
    rules = elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
    weighted = next(
        rule for rule in rules if rule["Conditions"] and rule["Conditions"][0]["Field"] == "path-pattern"
    )
    forward = weighted["Actions"][0]["ForwardConfig"]
    weights = {item["TargetGroupArn"]: item["Weight"] for item in forward["TargetGroups"]}
    assert weights == {
        groups[f"{NAME}-web-blue"]["TargetGroupArn"]: 100,
        groups[f"{NAME}-web-green"]["TargetGroupArn"]: 0,
    }
    assert forward["TargetGroupStickinessConfig"]["Enabled"] is False


def test_waf_association_rules_and_logging(aws: Callable[[str], Any]) -> None:
    wafv2 = aws("wafv2")
    alb = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    acl = wafv2.get_web_acl_for_resource(ResourceArn=alb["LoadBalancerArn"])["WebACL"]
    assert acl["Name"] == NAME
    rate = next(rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"])
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": INTENT["waf_rate_limit"],
        "AggregateKeyType": "IP",
    }
    assert "Block" in rate["Action"]
    groups = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert groups == policy_checks.MANAGED_GROUPS
    logging = wafv2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"] == [
        f"arn:aws:logs:{REGION}:123456789012:log-group:aws-waf-logs-{NAME}"
    ]
    group = aws("logs").describe_log_groups(logGroupNamePrefix=f"aws-waf-logs-{NAME}")["logGroups"][0]
    assert group["retentionInDays"] == 30


def test_waf_alarms_watch_the_rate_and_sqli_rules(aws: Callable[[str], Any]) -> None:
    """Each alarm sums BlockedRequests and CountedRequests of the rule whose metric name the web ACL
    really publishes, notifies the alerts topic and names its runbook, which exists."""
    alb = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    acl = aws("wafv2").get_web_acl_for_resource(ResourceArn=alb["LoadBalancerArn"])["WebACL"]
    published = {rule["Name"]: rule["VisibilityConfig"]["MetricName"] for rule in acl["Rules"]}
    watched = {
        "waf-rate-limited": published["rate-limit-per-ip"],
        "waf-sqli": published["AWSManagedRulesSQLiRuleSet"],
    }
    topic = f"arn:aws:sns:{REGION}:123456789012:{NAME}-alerts"
    for short, rule_metric in watched.items():
        (alarm,) = aws("cloudwatch").describe_alarms(AlarmNames=[f"{NAME}-{short}"])["MetricAlarms"]
        stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert {metric["MetricName"] for metric in stats.values()} == {"BlockedRequests", "CountedRequests"}
        for metric in stats.values():
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert metric["Namespace"] == "AWS/WAFV2"
            assert dims == {"WebACL": acl["Name"], "Region": REGION, "Rule": rule_metric}
        (returned,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert returned["Expression"] == "FILL(blocked, 0) + FILL(counted, 0)"
        assert alarm["AlarmActions"] == [topic] and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmDescription"].endswith(f"Runbook: docs/runbooks/{short}.md")
        assert (ROOT / "docs" / "runbooks" / f"{short}.md").is_file()


def test_redis_encryption_auth_and_snapshots(aws: Callable[[str], Any]) -> None:
    group = aws("elasticache").describe_replication_groups(ReplicationGroupId=NAME)["ReplicationGroups"][0]
    assert group["TransitEncryptionEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    assert group["AuthTokenEnabled"] is True
    assert group["SnapshotRetentionLimit"] == 7
    assert group["CacheNodeType"] == INTENT["elasticache_node_type"]
    assert len(group["MemberClusters"]) == 1 + INTENT["elasticache_replicas"]
    url = aws("secretsmanager").get_secret_value(SecretId=f"loopin/{ENV}/redis-url")["SecretString"]
    token = aws("secretsmanager").get_secret_value(SecretId=f"loopin/{ENV}/redis-auth-token")["SecretString"]
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    assert url == f"rediss://:{token}@{endpoint['Address']}:{endpoint['Port']}/0"


def test_queues_dlq_sse_long_polling(aws: Callable[[str], Any]) -> None:
    sqs = aws("sqs")
    for queue, seconds in INTENT["sqs_expected_processing_seconds"].items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=f"{NAME}-{queue}")["QueueUrl"], AttributeNames=["All"]
        )["Attributes"]
        dlq = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=f"{NAME}-{queue}-dlq")["QueueUrl"], AttributeNames=["All"]
        )["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == INTENT["sqs_max_receive_count"]
        assert int(dlq["MessageRetentionPeriod"]) > int(attributes["MessageRetentionPeriod"])
        assert attributes["SqsManagedSseEnabled"] == "true" and dlq["SqsManagedSseEnabled"] == "true"
        assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == 20
        assert int(attributes["VisibilityTimeout"]) == seconds * INTENT["sqs_visibility_timeout_factor"]


def test_ecr_repositories(aws: Callable[[str], Any]) -> None:
    ecr = aws("ecr")
    for repository in ecr.describe_repositories(
        repositoryNames=[f"loopin/{ENV}/web", f"loopin/{ENV}/worker"]
    )["repositories"]:
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"]["scanOnPush"] is True
        policy = json.loads(
            ecr.get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"]
        )
        assert policy["rules"][0]["selection"]["tagStatus"] == "untagged"


def test_secrets_exist_with_no_rotation_unless_configured(aws: Callable[[str], Any]) -> None:
    secrets = aws("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": [f"loopin/{ENV}/"]}])[
        "SecretList"
    ]
    names = {secret["Name"].rsplit("/", 1)[1] for secret in secrets}
    assert names == {
        "django-secret-key", "jwt-signing-key", "onesignal", "database-url", "redis-auth-token",
        "webhook-secrets", "redis-url", "fcm",
    }  # fmt: skip
    assert not any(secret.get("RotationEnabled") for secret in secrets)  # no rotation function in local


# A Google service account key (the fcm secret) names its project, e-mail and token endpoint:
# public facts (the project id is the environment's name here), not secret values.
SERVICE_ACCOUNT_PUBLIC_FIELDS = {"type", "project_id", "client_email", "client_id", "token_uri"}


def test_no_secret_value_in_any_output(aws: Callable[[str], Any], converged: dict[str, str]) -> None:
    secretsmanager = aws("secretsmanager")
    values = []
    for secret in secretsmanager.list_secrets(Filters=[{"Key": "name", "Values": [f"loopin/{ENV}/"]}])[
        "SecretList"
    ]:
        value = secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"]
        values.append(value)
        try:
            values += [
                item
                for key, item in json.loads(value).items()
                if isinstance(item, str) and key not in SERVICE_ACCOUNT_PUBLIC_FIELDS
            ]
        except (json.JSONDecodeError, AttributeError):
            pass
    values = [value for value in values if value != "changethis"]  # the operators' placeholder
    assert len(values) >= 6
    for run, output in converged.items():
        for value in values:
            assert value not in output, f"a secret value appears in the output of the {run} run"


# --- the static rule set: passes on the real specs, fails on each weakened copy -----------------


def _first(spec_list: list[dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(spec_list[0])


def _alb_listener(spec: dict[str, Any], protocol: str) -> dict[str, Any]:
    return next(item for item in spec["listeners"] if item["protocol"] == protocol)


# rule id -> a change that makes a resource break exactly what the rule protects.
WEAKEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "alb-https": lambda s: s["listeners"].remove(_alb_listener(s, "HTTPS")),
    "alb-tls-policy": lambda s: _alb_listener(s, "HTTPS").update(ssl_policy="ELBSecurityPolicy-2016-08"),
    "alb-certificate": lambda s: _alb_listener(s, "HTTPS").update(certificates=[]),
    "alb-http-redirect": lambda s: _alb_listener(s, "HTTP").update(
        default_actions=[{"type": "forward", "redirect": {}}]
    ),
    "alb-drop-invalid-headers": lambda s: s["attributes"].update(
        {"routing.http.drop_invalid_header_fields.enabled": "false"}
    ),
    "alb-desync-strictest": lambda s: s["attributes"].update(
        {"routing.http.desync_mitigation_mode": "monitor"}
    ),
    "alb-deletion-protection": lambda s: s.update(
        expect_deletion_protection=not s["expect_deletion_protection"]
    ),
    "alb-access-logs": lambda s: s["attributes"].update({"access_logs.s3.enabled": "false"}),
    "alb-waf": lambda s: s.update(web_acl_arn=None),
    "waf-rate-limit": lambda s: s.update(
        rules=[r for r in s["rules"] if "RateBasedStatement" not in r["statement"]]
    ),
    "waf-managed-groups": lambda s: s.update(
        rules=[r for r in s["rules"] if "SQLi" not in json.dumps(r["statement"])]
    ),
    "waf-actions-from-inventory": lambda s: s["actions"].update(AWSManagedRulesSQLiRuleSet="COUNT"),
    "waf-logging": lambda s: s.update(
        log_destinations=["arn:aws:logs:ap-south-1:123456789012:log-group:waf"]
    ),
    "waf-log-retention": lambda s: s.update(log_retention_days=None),
    "waf-redacts-credentials": lambda s: s.update(redacted_headers=[]),
    "redis-at-rest": lambda s: s.update(at_rest=False),
    "redis-in-transit": lambda s: s.update(in_transit=False),
    "redis-auth": lambda s: s.update(auth=False),
    "redis-snapshots": lambda s: s.update(snapshot_retention_days=0),
    "redis-failover": lambda s: s.update(expect_failover=True),  # production's intent on a single node
    "redis-private": lambda s: s.update(subnets_private=False),
    "sqs-encrypted": lambda s: s.update(sse=False),
    "sqs-dlq": lambda s: s.update(redrive=None),
    "sqs-dlq-retention": lambda s: s.update(dlq_retention=s["retention"]),
    "sqs-dlq-encrypted": lambda s: s.update(dlq_sse=False),
    "sqs-long-polling": lambda s: s.update(wait_seconds=0),
    "secret-rotation": lambda s: s.update(expect_rotation=True, rotation_enabled=False),
    "secret-scoped-name": lambda s: s.update(name="shared/django-secret-key"),
    "secret-tagged": lambda s: s.update(tags={}),
    "ecr-immutable": lambda s: s.update(mutability="MUTABLE"),
    "ecr-scan-on-push": lambda s: s.update(scan_on_push=False),
    "ecr-lifecycle": lambda s: s.update(lifecycle_policy=None),
}


def test_every_rule_has_a_weakened_copy() -> None:
    assert set(WEAKEN) == {rule.id for rule in policy_checks.RULES}


@pytest.mark.parametrize("kind", ["alb", "waf", "elasticache", "sqs", "secret", "ecr"])
def test_policy_passes_on_what_the_emulator_holds(specs: dict[str, list[dict[str, Any]]], kind: str) -> None:
    assert specs[kind], f"no {kind} resource read back"
    for spec in specs[kind]:
        assert policy_checks.check(kind, spec) == [], spec["name"]


@pytest.mark.parametrize("rule", policy_checks.RULES, ids=lambda rule: rule.id)
def test_policy_fails_on_a_weakened_copy(
    specs: dict[str, list[dict[str, Any]]], rule: policy_checks.Rule
) -> None:
    weakened = _first(specs[rule.kind])
    WEAKEN[rule.id](weakened)
    assert rule.id in policy_checks.check(rule.kind, weakened)


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "production"])
def test_inventory_intent(environment: str) -> None:
    """Production asks for what the strategy's 99.9% needs; every environment keeps TLS 1.3 and logs."""
    values = load(str(ROOT / "inventories" / environment)).values
    assert values["alb_ssl_policy"] in policy_checks.TLS13_POLICIES
    assert values["waf_log_retention_days"] == 30
    assert values["elasticache_snapshot_retention_days"] == 7
    assert values["sqs_dlq_message_retention_seconds"] > values["sqs_message_retention_seconds"]
    if environment == "production":
        assert values["alb_deletion_protection"] and values["alb_access_logs_enabled"]
        assert values["elasticache_multi_az"] and values["elasticache_automatic_failover"]
        assert values["elasticache_replicas"] >= 1
        assert set(values["waf_rule_actions"].values()) == {"BLOCK"}
        assert not values["ecr_force_delete"] and values["secrets_recovery_window_days"] == 30
