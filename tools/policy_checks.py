"""Security rules for the edge and data resources, checked on plain data.

checkov and Security Hub understand CloudFormation, Terraform and live accounts, not Ansible tasks,
so their rules for ALB, WAF, ElastiCache, SQS, Secrets Manager and ECR are restated here over a
plain specification of each resource. `read_specs()` builds that specification from what an AWS
endpoint (the emulator, or a real account) holds; `check()` returns the rules each spec breaks.

    python tools/policy_checks.py --endpoint http://127.0.0.1:5000 --environment local

Each rule names the checkov / Security Hub control it restates. Rules that depend on the
environment (deletion protection, Multi-AZ) take the environment's intent from the inventory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Spec = dict[str, Any]

TLS13_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
}
MANAGED_GROUPS = {
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
}
QUEUES = ("push-notifications", "webhook-events", "background-jobs")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    controls: str  # the checkov / Security Hub controls restated
    description: str
    test: Callable[[Spec], bool]


def _https_listener(alb: Spec) -> Spec:
    return next((item for item in alb["listeners"] if item["protocol"] == "HTTPS"), {})


def _http_redirects(alb: Spec) -> bool:
    http = [item for item in alb["listeners"] if item["protocol"] == "HTTP"]
    return all(
        action.get("type") == "redirect"
        and action["redirect"].get("protocol") == "HTTPS"
        and action["redirect"].get("status_code") == "HTTP_301"
        for listener in http
        for action in listener["default_actions"]
    ) and all(listener["default_actions"] for listener in http)


RULES: tuple[Rule, ...] = (
    # --- ALB ---
    Rule(
        "alb-https",
        "alb",
        "CKV_AWS_2",
        "an HTTPS listener on 443",
        lambda s: _https_listener(s).get("port") == 443,
    ),
    Rule(
        "alb-tls-policy",
        "alb",
        "CKV_AWS_103, ELB.17",
        "the HTTPS listener uses a TLS 1.3/1.2-only policy",
        lambda s: _https_listener(s).get("ssl_policy") in TLS13_POLICIES,
    ),
    Rule(
        "alb-certificate",
        "alb",
        "ELB.2",
        "the HTTPS listener has an ACM certificate",
        lambda s: any(":acm:" in arn for arn in _https_listener(s).get("certificates", [])),
    ),
    Rule("alb-http-redirect", "alb", "CKV2_AWS_20, ELB.1", "HTTP answers 301 to HTTPS", _http_redirects),
    Rule(
        "alb-drop-invalid-headers",
        "alb",
        "CKV_AWS_131, ELB.4",
        "invalid header fields are dropped",
        lambda s: s["attributes"].get("routing.http.drop_invalid_header_fields.enabled") == "true",
    ),
    Rule(
        "alb-desync-strictest",
        "alb",
        "ELB.12",
        "desync mitigation is strictest",
        lambda s: s["attributes"].get("routing.http.desync_mitigation_mode") == "strictest",
    ),
    Rule(
        "alb-deletion-protection",
        "alb",
        "CKV_AWS_150, ELB.6",
        "deletion protection is on where the environment asks for it",
        lambda s: (
            s["attributes"].get("deletion_protection.enabled") == str(s["expect_deletion_protection"]).lower()
        ),
    ),
    Rule(
        "alb-access-logs",
        "alb",
        "CKV_AWS_91, ELB.5",
        "access logs go to a bucket where the environment enables them",
        lambda s: (
            not s["expect_access_logs"]
            or (
                s["attributes"].get("access_logs.s3.enabled") == "true"
                and bool(s["attributes"].get("access_logs.s3.bucket"))
            )
        ),
    ),
    Rule("alb-waf", "alb", "CKV2_AWS_28", "a WAF web ACL protects the ALB", lambda s: bool(s["web_acl_arn"])),
    # --- WAF ---
    Rule(
        "waf-rate-limit",
        "waf",
        "WAF rate-based rule (strategy STRIDE: spoofing, DoS)",
        "a per-IP rate-based rule",
        lambda s: any(
            (rule["statement"].get("RateBasedStatement") or {}).get("AggregateKeyType") == "IP"
            for rule in s["rules"]
        ),
    ),
    Rule(
        "waf-managed-groups",
        "waf",
        "CKV_AWS_192 (KnownBadInputs/Log4j), WAF.10",
        "the four AWS managed rule groups",
        lambda s: (
            MANAGED_GROUPS
            <= {
                (rule["statement"].get("ManagedRuleGroupStatement") or {}).get("Name")
                for rule in s["rules"]
                if rule["statement"].get("ManagedRuleGroupStatement")
            }
        ),
    ),
    Rule(
        "waf-actions-from-inventory",
        "waf",
        "inventory waf_rule_actions",
        "every rule counts or blocks exactly as the environment says",
        lambda s: s["actions"] == s["expect_actions"],
    ),
    Rule(
        "waf-logging",
        "waf",
        "CKV2_AWS_31, WAF.11",
        "logging to a CloudWatch log group named aws-waf-logs-*",
        lambda s: len(s["log_destinations"]) == 1 and ":log-group:aws-waf-logs-" in s["log_destinations"][0],
    ),
    Rule(
        "waf-log-retention",
        "waf",
        "CKV_AWS_66, strategy retention table",
        "the WAF log group keeps 30 days",
        lambda s: s["log_retention_days"] == s["expect_log_retention_days"],
    ),
    Rule(
        "waf-redacts-credentials",
        "waf",
        "strategy: log sanitization",
        "Authorization and Cookie are redacted from the logs",
        lambda s: {"authorization", "cookie"} <= set(s["redacted_headers"]),
    ),
    # --- ElastiCache ---
    Rule(
        "redis-at-rest",
        "elasticache",
        "CKV_AWS_29, ElastiCache.4",
        "encrypted at rest",
        lambda s: s["at_rest"],
    ),
    Rule(
        "redis-in-transit",
        "elasticache",
        "CKV_AWS_30, ElastiCache.5",
        "TLS in transit",
        lambda s: s["in_transit"],
    ),
    Rule(
        "redis-auth",
        "elasticache",
        "CKV_AWS_31, ElastiCache.6",
        "an AUTH token is required",
        lambda s: s["auth"],
    ),
    Rule(
        "redis-snapshots",
        "elasticache",
        "ElastiCache.1",
        "daily snapshots kept 7 days",
        lambda s: s["snapshot_retention_days"] == 7,
    ),
    Rule(
        "redis-failover",
        "elasticache",
        "ElastiCache.3",
        "automatic failover and Multi-AZ where the environment asks for them",
        lambda s: s["failover"] == s["expect_failover"] and s["multi_az"] == s["expect_failover"],
    ),
    Rule(
        "redis-private",
        "elasticache",
        "ElastiCache.7",
        "a subnet group of private subnets only (not the default)",
        lambda s: s["subnet_group"] != "default" and s["subnets_private"],
    ),
    # --- SQS ---
    Rule("sqs-encrypted", "sqs", "CKV_AWS_27, SQS.1", "server-side encryption", lambda s: s["sse"]),
    Rule(
        "sqs-dlq",
        "sqs",
        "DLQ (strategy: reliable queues)",
        "a redrive policy to the queue's own DLQ, maxReceiveCount 1..1000",
        lambda s: (
            bool(s["redrive"])
            and s["redrive"]["deadLetterTargetArn"].endswith(f":{s['name']}-dlq")
            and 1 <= int(s["redrive"]["maxReceiveCount"]) <= 1000
        ),
    ),
    Rule(
        "sqs-dlq-retention",
        "sqs",
        "SQS DLQ guidance",
        "the DLQ keeps messages longer than the queue",
        lambda s: s["dlq_retention"] > s["retention"],
    ),
    Rule("sqs-dlq-encrypted", "sqs", "CKV_AWS_27, SQS.1", "the DLQ is encrypted too", lambda s: s["dlq_sse"]),
    Rule("sqs-long-polling", "sqs", "SQS best practice", "long polling", lambda s: s["wait_seconds"] > 0),
    # --- Secrets Manager ---
    Rule(
        "secret-rotation",
        "secret",
        "SecretsManager.1, SecretsManager.4",
        "rotation every 90 days or less where a rotation function is configured",
        lambda s: not s["expect_rotation"] or (s["rotation_enabled"] and 0 < s["rotation_days"] <= 90),
    ),
    Rule(
        "secret-scoped-name",
        "secret",
        "least privilege (task roles read loopin/<env>/*)",
        "named under the environment's prefix",
        lambda s: s["name"].startswith(s["expect_prefix"]),
    ),
    Rule(
        "secret-tagged",
        "secret",
        "tagging policy",
        "Project and Environment tags",
        lambda s: {"Project", "Environment"} <= set(s["tags"]),
    ),
    # --- ECR ---
    Rule(
        "ecr-immutable",
        "ecr",
        "CKV_AWS_51, ECR.2",
        "immutable tags",
        lambda s: s["mutability"] == "IMMUTABLE",
    ),
    Rule("ecr-scan-on-push", "ecr", "CKV_AWS_163, ECR.1", "scan on push", lambda s: s["scan_on_push"]),
    Rule(
        "ecr-lifecycle",
        "ecr",
        "ECR.3",
        "a lifecycle policy that expires untagged images",
        lambda s: any(
            rule["selection"].get("tagStatus") == "untagged" and rule["action"]["type"] == "expire"
            for rule in (s["lifecycle_policy"] or {}).get("rules", [])
        ),
    ),
)


def check(kind: str, spec: Spec) -> list[str]:
    """Ids of the rules of `kind` that `spec` breaks (a rule that cannot even read it breaks)."""
    broken = []
    for rule in RULES:
        if rule.kind != kind:
            continue
        try:
            ok = bool(rule.test(spec))
        except (KeyError, TypeError, ValueError, IndexError, StopIteration):
            ok = False
        if not ok:
            broken.append(rule.id)
    return broken


# --- reading the specs from an AWS endpoint ----------------------------------------------------


def _attrs(response: dict[str, Any]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in response["Attributes"]}


def read_specs(
    session: Any, project: str, environment: str, intent: dict[str, Any], tier: str = "all"
) -> dict[str, list[Spec]]:
    """Every edge/data resource of the environment as plain specs, with the inventory's intent."""
    specs: dict[str, list[Spec]] = {
        kind: [] for kind in ("alb", "waf", "elasticache", "sqs", "secret", "ecr")
    }
    if tier in ("edge", "all"):
        _read_edge(session, project, environment, intent, specs)
    if tier in ("data", "all"):
        _read_data(session, project, environment, intent, specs)
    return specs


def _read_edge(
    session: Any, project: str, environment: str, intent: dict[str, Any], specs: dict[str, list[Spec]]
) -> None:
    name = f"{project}-{environment}"
    elbv2, wafv2, logs = session.client("elbv2"), session.client("wafv2"), session.client("logs")
    alb = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    web_acl = wafv2.get_web_acl_for_resource(ResourceArn=alb["LoadBalancerArn"]).get("WebACL")
    specs["alb"].append(
        {
            "name": alb["LoadBalancerName"],
            "listeners": [
                {
                    "port": item["Port"],
                    "protocol": item["Protocol"],
                    "ssl_policy": item.get("SslPolicy"),
                    "certificates": [cert["CertificateArn"] for cert in item.get("Certificates", [])],
                    "default_actions": [
                        {
                            "type": action["Type"],
                            "redirect": {
                                "protocol": action.get("RedirectConfig", {}).get("Protocol"),
                                "status_code": action.get("RedirectConfig", {}).get("StatusCode"),
                            },
                        }
                        for action in item["DefaultActions"]
                    ],
                }
                for item in listeners
            ],
            "attributes": _attrs(
                elbv2.describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])
            ),
            "web_acl_arn": web_acl["ARN"] if web_acl else None,
            "expect_deletion_protection": intent["alb_deletion_protection"],
            "expect_access_logs": intent["alb_access_logs_enabled"],
        }
    )

    summary = next(acl for acl in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if acl["Name"] == name)
    acl = wafv2.get_web_acl(Name=name, Scope="REGIONAL", Id=summary["Id"])["WebACL"]
    logging = wafv2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    log_group = logging["LogDestinationConfigs"][0].split(":log-group:", 1)[1].removesuffix(":*")
    groups = logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    actions = {}
    for rule in acl["Rules"]:
        statement = rule["Statement"]
        key = (
            "rate_limit"
            if "RateBasedStatement" in statement
            else statement["ManagedRuleGroupStatement"]["Name"]
        )
        if "Action" in rule:
            actions[key] = next(iter(rule["Action"])).upper()
        else:
            actions[key] = "COUNT" if "Count" in rule["OverrideAction"] else "BLOCK"
    specs["waf"].append(
        {
            "name": acl["Name"],
            "rules": [{"name": rule["Name"], "statement": rule["Statement"]} for rule in acl["Rules"]],
            "actions": actions,
            "expect_actions": {
                "rate_limit": intent["waf_rule_actions"]["rate_limit"],
                "AWSManagedRulesCommonRuleSet": intent["waf_rule_actions"]["common"],
                "AWSManagedRulesKnownBadInputsRuleSet": intent["waf_rule_actions"]["known_bad_inputs"],
                "AWSManagedRulesSQLiRuleSet": intent["waf_rule_actions"]["sqli"],
                "AWSManagedRulesAmazonIpReputationList": intent["waf_rule_actions"]["ip_reputation"],
            },
            "log_destinations": logging["LogDestinationConfigs"],
            "log_retention_days": groups[0].get("retentionInDays") if groups else None,
            "expect_log_retention_days": intent["waf_log_retention_days"],
            "redacted_headers": [
                field["SingleHeader"]["Name"].lower()
                for field in logging.get("RedactedFields", [])
                if "SingleHeader" in field
            ],
        }
    )


def _read_data(
    session: Any, project: str, environment: str, intent: dict[str, Any], specs: dict[str, list[Spec]]
) -> None:
    name = f"{project}-{environment}"
    elasticache, ec2 = session.client("elasticache"), session.client("ec2")
    group = elasticache.describe_replication_groups(ReplicationGroupId=name)["ReplicationGroups"][0]
    subnet_group = elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=name)["CacheSubnetGroups"][0]
    subnet_ids = [subnet["SubnetIdentifier"] for subnet in subnet_group["Subnets"]]
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    specs["elasticache"].append(
        {
            "name": group["ReplicationGroupId"],
            "at_rest": group.get("AtRestEncryptionEnabled", False),
            "in_transit": group.get("TransitEncryptionEnabled", False),
            "auth": group.get("AuthTokenEnabled", False),
            "snapshot_retention_days": group.get("SnapshotRetentionLimit"),
            "failover": group.get("AutomaticFailover") == "enabled",
            "multi_az": group.get("MultiAZ") == "enabled",
            "expect_failover": intent["elasticache_automatic_failover"],
            "subnet_group": subnet_group["CacheSubnetGroupName"],
            "subnets_private": bool(subnets)
            and all({"Key": "Tier", "Value": "private"} in subnet.get("Tags", []) for subnet in subnets),
        }
    )

    sqs = session.client("sqs")

    def queue_attributes(queue: str) -> dict[str, str]:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    for queue in QUEUES:
        source, dlq = queue_attributes(f"{name}-{queue}"), queue_attributes(f"{name}-{queue}-dlq")
        specs["sqs"].append(
            {
                "name": f"{name}-{queue}",
                "sse": source.get("SqsManagedSseEnabled") == "true" or bool(source.get("KmsMasterKeyId")),
                "dlq_sse": dlq.get("SqsManagedSseEnabled") == "true" or bool(dlq.get("KmsMasterKeyId")),
                "redrive": json.loads(source["RedrivePolicy"]) if source.get("RedrivePolicy") else None,
                "retention": int(source["MessageRetentionPeriod"]),
                "dlq_retention": int(dlq["MessageRetentionPeriod"]),
                "wait_seconds": int(source["ReceiveMessageWaitTimeSeconds"]),
            }
        )

    secretsmanager = session.client("secretsmanager")
    prefix = f"{project}/{environment}/"
    for page in secretsmanager.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [prefix]}]
    ):
        for secret in page["SecretList"]:
            short = secret["Name"].removeprefix(prefix)
            specs["secret"].append(
                {
                    "name": secret["Name"],
                    "expect_prefix": prefix,
                    "rotation_enabled": secret.get("RotationEnabled", False),
                    "rotation_days": (secret.get("RotationRules") or {}).get("AutomaticallyAfterDays", 0),
                    "expect_rotation": short in intent["secrets_rotation_lambda_arns"],
                    "tags": {tag["Key"]: tag["Value"] for tag in secret.get("Tags", [])},
                }
            )

    ecr = session.client("ecr")
    for repository in ecr.describe_repositories(
        repositoryNames=[f"{project}/{environment}/{r}" for r in ("web", "worker")]
    )["repositories"]:
        policy = ecr.get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"]
        specs["ecr"].append(
            {
                "name": repository["repositoryName"],
                "mutability": repository["imageTagMutability"],
                "scan_on_push": repository["imageScanningConfiguration"]["scanOnPush"],
                "lifecycle_policy": json.loads(policy),
            }
        )


def use_endpoint(environ: dict[str, str], endpoint: str) -> None:
    """Point every boto3 client at `endpoint` (botocore honours AWS_ENDPOINT_URL).

    The caller's keys are kept when it gives them: an emulator that enforces IAM refuses any
    other. Without keys, the emulator's throw-away ones are used.
    """
    environ["AWS_ENDPOINT_URL"] = endpoint
    environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def main(argv: list[str] | None = None) -> int:
    import os

    import boto3
    from config import load

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--endpoint", help="AWS endpoint (the emulator); omit for the real account")
    parser.add_argument("--environment", default="local")
    parser.add_argument(
        "--tier", choices=["data", "edge", "all"], default="all", help="which resources to read"
    )
    args = parser.parse_args(argv)
    config = load(f"inventories/{args.environment}")
    if not config.ok:
        print(config.report(), file=sys.stderr)
        return 2
    if args.endpoint:
        use_endpoint(os.environ, args.endpoint)
    session = boto3.session.Session(region_name=config.values["aws_region"])
    specs = read_specs(session, config.values["loopin_project"], args.environment, config.values, args.tier)
    failures = 0
    for kind, items in specs.items():
        for spec in items:
            broken = check(kind, spec)
            failures += len(broken)
            print(f"{kind:<12} {spec['name']:<48} {'ok' if not broken else 'BROKEN: ' + ', '.join(broken)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
