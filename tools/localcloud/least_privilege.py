"""Least privilege, checked at resource level on what the actors really did.

    python -m localcloud.least_privilege --endpoint URL [--principal loopin-local-deploy]

The enforcing emulator authorizes on actions only and records every authenticated call with the
resource it acts on (``GET /_localcloud/iam/calls``). This check takes those calls, grouped by
role, and the role's policies as they are in the emulator, and evaluates them with
``localcloud.policy_eval`` (resource and condition matching):

* every call was allowed by the emulator, and is allowed by the policies for its resource
  (a call the policies allow only because moto ignores resources is under-scoped);
* every (action, resource) an Allow statement grants was used by some call, or is one of the
  ``EXCEPTIONS`` below with its reason (a grant nobody uses is over-broad);
* ``Resource: "*"`` only for actions IAM cannot scope (no resource type in the Service
  Authorization Reference).

A call whose resource the emulator does not name (an action missing from
``emulator/patches/_iam_resources.py``) fails the check, unless its (role, action) is one of the
``EXCEPTIONS``: then the call is accepted as allowed and its grant's scope is what the golden
test of roles/iam holds (``tests/test_iam_policies.py``), not what a call proved.

Roles only: the bootstrapped users (the operator, an administrator, and ``localcloud-aws``, the
principal AWS's own services act as) are not actors of the product's least privilege.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud import policy_eval
from localcloud.state import REGION, LocalCloudState

# The provisioner (tests/test_provision.py records site.yml as it, cold on an empty account):
_UNNAMED = (
    "the emulator does not name this action's resource (emulator/patches/_iam_resources.py): "
    "its scope is the reviewed golden file's (tests/golden/iam/provision-policy.production.json)"
)
_ON_A_CHANGE = "only a change the cold converge does not make: "

# Grants the recorded runs cannot use, each with why it is still needed: (role name pattern,
# action) -> reason. The one list of them; roles/iam/README.md points here.
EXCEPTIONS: dict[tuple[str, str], str] = {
    **{
        ("*-deploy", action): "make push-images / promote-images (docker push and pull to ECR); "
        "the tests run no Docker engine"
        for action in (
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
            "ecr:PutImage",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
        )
    },
    **{
        (
            "*-provision",
            action,
        ): _UNNAMED
        for action in (
            "acm:DescribeCertificate",
            "acm:ListTagsForCertificate",
            "cloudtrail:CreateTrail",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:ListTags",
            "cloudtrail:StartLogging",
            "cloudwatch:GetDashboard",
            "cloudwatch:PutDashboard",
            "cloudwatch:ListTagsForResource",
            "ec2:AllocateAddress",
            "ec2:AssociateRouteTable",
            "ec2:AttachInternetGateway",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateFlowLogs",
            "ec2:CreateInternetGateway",
            "ec2:CreateNatGateway",
            "ec2:CreateRoute",
            "ec2:CreateRouteTable",
            "ec2:CreateSecurityGroup",
            "ec2:CreateSubnet",
            "ec2:CreateTags",
            "ec2:CreateVpc",
            "ec2:DescribeVpcAttribute",
            "ec2:ModifyVpcAttribute",
            "ec2:RevokeSecurityGroupEgress",
            "ecs:CreateCluster",
            "elasticache:CreateCacheSubnetGroup",
            "elasticache:CreateReplicationGroup",
            "elasticache:DescribeCacheClusters",
            "elasticache:DescribeCacheSubnetGroups",
            "elasticache:DescribeReplicationGroups",
            "elasticache:ListTagsForResource",
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "logs:DescribeMetricFilters",
            "logs:ListTagsLogGroup",
            "logs:PutMetricFilter",
            "route53:ChangeResourceRecordSets",
            "route53:ChangeTagsForResource",
            "route53:GetDNSSEC",
            "route53:GetHostedZone",
            "route53:ListResourceRecordSets",
            "route53:ListTagsForResource",
            "s3:CreateBucket",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketAcl",
            "s3:GetBucketPolicy",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetLifecycleConfiguration",
            "s3:ListBucket",
            "s3:PutBucketPolicy",
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration",
            "scheduler:CreateSchedule",
            "scheduler:CreateScheduleGroup",
            "scheduler:GetSchedule",
            "scheduler:GetScheduleGroup",
            "scheduler:ListTagsForResource",
            "sns:CreateTopic",
            "sns:GetTopicAttributes",
            "sns:ListSubscriptionsByTopic",
            "sns:ListTagsForResource",
            "sns:SetTopicAttributes",
            "wafv2:AssociateWebACL",
            "wafv2:CreateWebACL",
            "wafv2:GetLoggingConfiguration",
            "wafv2:GetWebACL",
            "wafv2:GetWebACLForResource",
            "wafv2:ListTagsForResource",
            "wafv2:PutLoggingConfiguration",
        )
    },
    (
        "*-provision",
        "application-autoscaling:DeleteScalingPolicy",
    ): _ON_A_CHANGE + "the web scaling moving to the other side after a deploy promoted it",
    (
        "*-provision",
        "application-autoscaling:DeregisterScalableTarget",
    ): _ON_A_CHANGE + "the web scaling moving to the other side after a deploy promoted it",
    (
        "*-provision",
        "ec2:RevokeSecurityGroupIngress",
    ): _ON_A_CHANGE + "a rule removed from roles/security_groups/templates/rules.yml.j2",
    (
        "*-provision",
        "ecr:SetRepositoryPolicy",
    ): _ON_A_CHANGE
    + "dev's repository policy letting staging and production pull (ecr_pull_environments; local has none)",
    (
        "*-provision",
        "elasticache:ModifyReplicationGroup",
    ): _ON_A_CHANGE + "a changed Redis setting of the inventory",
    (
        "*-provision",
        "elasticloadbalancing:AddTags",
    ): _ON_A_CHANGE + "changed tags, and the emergency record on the web rule (outside the window only)",
    (
        "*-provision",
        "elasticloadbalancing:ModifyListener",
    ): _ON_A_CHANGE + "a changed listener (certificate, TLS policy)",
    (
        "*-provision",
        "elasticloadbalancing:ModifyRule",
    ): _ON_A_CHANGE + "a changed web rule (its condition or stickiness; the weights stay the deploy's)",
    (
        "*-provision",
        "elasticloadbalancing:ModifyTargetGroup",
    ): _ON_A_CHANGE + "a changed health check",
    (
        "*-provision",
        "iam:TagRole",
    ): _ON_A_CHANGE + "a role's tags changed (the roles are created with their tags)",
    (
        "*-provision",
        "iam:UpdateAssumeRolePolicy",
    ): _ON_A_CHANGE + "a role's trust policy changed (the repository, the OIDC subject)",
    (
        "*-provision",
        "scheduler:UpdateSchedule",
    ): _ON_A_CHANGE + "a changed schedule",
    (
        "*-provision",
        "wafv2:UpdateWebACL",
    ): _ON_A_CHANGE + "a changed rule of the web ACL (waf_rate_limit)",
}


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern of one Allow statement."""

    role: str
    sid: str
    action: str
    resource: str
    statement: Mapping[str, Any] = field(compare=False, hash=False)

    def describe(self) -> str:
        return f"{self.role} {self.sid}: {self.action} on {self.resource}"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    calls: int = 0
    grants: int = 0
    exceptions_used: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        head = f"least privilege: {self.calls} calls, {self.grants} grants, {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def recorded_calls(endpoint: str, principal: str | None = None) -> list[dict[str, Any]]:
    query = f"?principal={principal}" if principal else ""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_localcloud/iam/calls{query}", timeout=30) as resp:  # noqa: S310 - loopback
        calls: list[dict[str, Any]] = json.loads(resp.read())
    return calls


def role_of(principal: str) -> str | None:
    """``arn:aws:sts::<account>:assumed-role/<role>/<session>`` -> the role's name."""
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        return parts[5].split("/")[1]
    return None


def role_policies(iam: Any, role: str) -> list[dict[str, Any]]:
    policies = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        policies.append(
            {"name": name, "policy": json.loads(document) if isinstance(document, str) else document}
        )
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        meta = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=meta["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        policies.append(
            {
                "name": attached["PolicyName"],
                "policy": json.loads(document) if isinstance(document, str) else document,
            }
        )
    return policies


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(role: str, policies: Sequence[Mapping[str, Any]]) -> list[Grant]:
    found = []
    for policy in policies:
        for index, statement in enumerate(_listed(policy["policy"].get("Statement", []))):
            if statement.get("Effect") != "Allow":
                continue
            sid = str(statement.get("Sid") or f"{policy['name']}[{index}]")
            for action in _listed(statement.get("Action", [])):
                for resource in _listed(statement.get("Resource", "*")):
                    found.append(Grant(role, sid, str(action), str(resource), statement))
    return found


def exception_for(role: str, action: str, exceptions: Mapping[tuple[str, str], str]) -> str | None:
    for (pattern, excepted), reason in exceptions.items():
        if fnmatch.fnmatchcase(role, pattern) and excepted.lower() == action.lower():
            return reason
    return None


def _account_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else default


def check(
    calls: Iterable[Mapping[str, Any]],
    policies_of: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    exceptions: Mapping[tuple[str, str], str] = EXCEPTIONS,
) -> Report:
    """Check recorded calls of roles against those roles' policies (role name -> policies)."""
    report = Report()
    by_role: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for call in calls:
        role = role_of(str(call["principal"]))
        if role is not None and role in policies_of:
            by_role[role].append(call)
    all_grants = [g for role in by_role for g in grants(role, policies_of[role])]
    actions = {str(c["action"]) for cs in by_role.values() for c in cs} | {g.action for g in all_grants}
    info = policy_eval.describe_actions(a for a in actions if "*" not in a)

    # 1. every call allowed, at resource level
    requests: list[policy_eval.Request] = []
    asked: list[tuple[str, Mapping[str, Any], str]] = []
    for role, role_calls in sorted(by_role.items()):
        for call in role_calls:
            report.calls += 1
            action, resource = str(call["action"]), call["resource"]
            where = f"{role}: {action} on {resource or '(no resource)'}"
            if not call["allowed"]:
                report.problems.append(f"{where} was denied by the emulator ({call['count']}x)")
                continue
            known = info.get(action)
            if known is None or not known.exists:
                report.problems.append(f"{where}: IAM has no such action")
                continue
            if resource is None:
                reason = exception_for(role, action, exceptions)
                if not known.wildcard_only and reason is not None:
                    # allowed by the emulator; its resource is what the exception's reason says
                    continue
                if not known.wildcard_only:
                    report.problems.append(
                        f"{where}: the emulator does not know which resource this acts on "
                        "(add the action to localcloud/emulator/patches/_iam_resources.py)"
                    )
                    continue
                resource = "*"
            account = _account_of(str(call["principal"]), "")
            requests.append(
                policy_eval.Request(
                    principal=str(call["principal"]),
                    action=action,
                    resource=str(resource),
                    account=_account_of(str(resource), account),
                    policies=policies_of[role],
                    context=call.get("context") or {},
                )
            )
            asked.append((role, call, where))
    for (role, _call, where), result in zip(asked, policy_eval.evaluate(requests), strict=True):
        if not result.allowed:
            report.problems.append(
                f"{where}: not allowed by {role}'s policies at resource level ({result.decision})"
            )

    # 2. every grant used (or excepted), and "*" only where IAM cannot scope
    usage_requests: list[policy_eval.Request] = []
    usage_keys: list[tuple[Grant, Mapping[str, Any]]] = []
    for grant in all_grants:
        report.grants += 1
        known = info.get(grant.action)
        if "*" in grant.action:
            report.problems.append(f"{grant.describe()}: wildcard action")
            continue
        if known is None or not known.exists:
            report.problems.append(f"{grant.describe()}: IAM has no such action")
            continue
        if grant.resource == "*" and not known.wildcard_only:
            report.problems.append(f'{grant.describe()}: Resource "*" for an action IAM scopes to resources')
        single = {
            "Version": "2012-10-17",
            "Statement": [{**grant.statement, "Action": grant.action, "Resource": grant.resource}],
        }
        for call in by_role[grant.role]:
            if call["allowed"] and str(call["action"]).lower() == grant.action.lower():
                resource = str(call["resource"] or "*")
                usage_requests.append(
                    policy_eval.Request(
                        principal=str(call["principal"]),
                        action=grant.action,
                        resource=resource,
                        account=_account_of(resource, _account_of(str(call["principal"]), "")),
                        policies=[single],
                        context=call.get("context") or {},
                    )
                )
                usage_keys.append((grant, call))
    used: set[Grant] = set()
    for (grant, _call), result in zip(usage_keys, policy_eval.evaluate(usage_requests), strict=True):
        if result.allowed:
            used.add(grant)
    for grant in all_grants:
        if grant in used or "*" in grant.action:
            continue
        reason = exception_for(grant.role, grant.action, exceptions)
        if reason is not None:
            report.exceptions_used.append(f"{grant.describe()}: {reason}")
            continue
        report.problems.append(f"{grant.describe()}: granted but never used by a recorded call (over-broad)")
    return report


def check_emulator(
    endpoint: str,
    principal: str | None = None,
    *,
    exceptions: Mapping[tuple[str, str], str] = EXCEPTIONS,
    policy_override: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Report:
    """Read the calls and the roles' policies from the emulator (as the operator) and check them.

    ``policy_override`` replaces a role's policies with others (to check a candidate policy
    against the calls of a run made with the real one).
    """
    calls = recorded_calls(endpoint, principal)
    keys = LocalCloudState(endpoint).credentials("operator")
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=(keys or {}).get("AccessKeyId", "testing"),
        aws_secret_access_key=(keys or {}).get("SecretAccessKey", "testing"),
    )
    roles = {r for r in (role_of(str(c["principal"])) for c in calls) if r}
    policies = {role: role_policies(iam, role) for role in sorted(roles)}
    policies.update(policy_override or {})
    return check(calls, policies, exceptions=exceptions)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.least_privilege", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--principal", help="only calls whose principal ARN contains this")
    args = parser.parse_args(argv)
    report = check_emulator(args.endpoint, args.principal)
    print(report.text())
    for line in report.exceptions_used:
        print(f"  exception: {line}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
