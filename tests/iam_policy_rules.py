"""The rules every IAM document of roles/iam must keep, shared by the golden tests.

`render(template, **context)` renders a policy template of roles/iam exactly as the role does
(plain Jinja, `ctx` = the role's `iam__context`); `violations(document, kind)` lists what breaks
the least-privilege rules.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from localcloud import policy_eval

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "roles/iam/templates"
OIDC_HOST = "token.actions.githubusercontent.com"
# The GitHub environment each OIDC role's trust admits: deploy jobs run in <env>, the nightly
# drift job and the pull requests' plans in <env>-readonly, infra.yml's apply in <env>-infra.
GITHUB_ENVIRONMENT = {
    "deploy": "{environment}",
    "drift": "{environment}-readonly",
    "provision": "{environment}-infra",
}


def wildcard_only(actions: set[str]) -> set[str]:
    """The actions IAM cannot scope to a resource (no resource type in the Service Authorization
    Reference): the only ones a Resource "*" may grant."""
    return set(_wildcard_only(frozenset(actions)))


@functools.cache
def _wildcard_only(actions: frozenset[str]) -> frozenset[str]:
    return frozenset(a for a, info in policy_eval.describe_actions(actions).items() if info.wildcard_only)


def context(environment: str = "local", account_id: str = "123456789012", **overrides: Any) -> dict[str, Any]:
    """What the iam role feeds its templates, from the role's defaults and an inventory."""
    defaults = yaml.safe_load((ROOT / "roles/iam/defaults/main.yml").read_text())
    secrets = defaults["iam_container_secrets_fallback"]
    suffixes = sorted({ref.split(":")[0] for svc in secrets.values() for ref in svc.values()})
    compute = ROOT / "inventories" / environment / "group_vars/all/compute.yml"
    inventory = (yaml.safe_load(compute.read_text()) or {}) if compute.exists() else {}
    ctx = {
        "partition": "aws",
        "account_id": account_id,
        "region": "ap-south-1",
        "project": "loopin",
        "environment": environment,
        "github_repository": defaults["iam_github_repository"],
        "oidc_host": OIDC_HOST,
        "web_send_queues": defaults["iam_web_send_queues"],
        "worker_queues": defaults["iam_worker_queues"],
        "worker_redrive": defaults["iam_worker_redrive_enabled"],
        "execution_secrets": suffixes,
        "web_secrets": sorted({ref.split(":")[0] for ref in secrets["web"].values()}),
        "worker_secrets": sorted({ref.split(":")[0] for ref in secrets["worker"].values()}),
        "promote_from": inventory.get("iam_promote_from", defaults["iam_promote_from"]),
    }
    ctx.update(overrides)
    return ctx


def render(template: str, ctx: dict[str, Any]) -> dict[str, Any]:
    # JSON documents, not HTML: autoescape would corrupt them (Ansible renders them unescaped too).
    env = jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined
    )
    return json.loads(env.get_template(template).render(ctx=ctx))


# Resource types AWS names by a generated id, never by a name of ours: an ARN cannot say which
# environment they belong to, so they are accepted for read-only actions only.
ID_NAMED_READS = (":certificate/*", ":hostedzone/*", ":vpc/*")
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)")
# The provisioner's network is named by ids too. It may change an existing resource there only
# when the resource carries Environment=<env> (a tag condition); the creates and the tagging,
# and the records of a zone, are the deviations roles/iam/templates/provision_policy.json.j2
# names (the account and region bound them, not the environment).
ID_NAMED = (
    *ID_NAMED_READS,
    ":subnet/*",
    ":route-table/*",
    ":security-group/*",
    ":internet-gateway/*",
    ":natgateway/*",
    ":elastic-ip/*",
    ":vpc-flow-log/*",
)
ID_NAMED_CREATES = {
    "ec2:AllocateAddress",
    "ec2:CreateFlowLogs",
    "ec2:CreateInternetGateway",
    "ec2:CreateNatGateway",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:CreateVpc",
    "route53:ChangeResourceRecordSets",
    "route53:ChangeTagsForResource",
}
# The one service each role of an environment may be passed to (iam:PassedToService).
PASSED_TO = {
    "web-task": "ecs-tasks.amazonaws.com",
    "worker-task": "ecs-tasks.amazonaws.com",
    "ecs-execution": "ecs-tasks.amazonaws.com",
    "vpc-flow-logs": "vpc-flow-logs.amazonaws.com",
    "scheduler": "scheduler.amazonaws.com",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def violations(
    document: dict[str, Any],
    *,
    environment: str,
    repository: str,
    github_environment: str | None = None,
    promote_from: str = "",
) -> list[str]:
    """Reasons the document is not least privilege (an empty list when it is). A trust policy of
    an OIDC role must admit exactly `github_environment` (default: the environment's own name)."""
    found = []
    star_ok = wildcard_only(
        {a for s in document.get("Statement", []) for a in _as_list(s.get("Action", [])) if "*" not in a}
    )
    for index, statement in enumerate(document.get("Statement", [])):
        where = f"statement {statement.get('Sid', index)}"
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{where}: NotAction/NotResource grant everything else")
        actions = _as_list(statement.get("Action", []))
        for action in actions:
            if "*" in action:
                found.append(f"{where}: wildcard action {action}")
        if "Principal" in statement:
            found += _trust_violations(statement, where, github_environment or environment, repository)
            continue
        resources = _as_list(statement.get("Resource", []))
        if "*" in resources:
            extra = sorted(set(actions) - star_ok)
            if extra:
                found.append(f'{where}: Resource "*" for {extra}')
        for resource in resources:
            if promote_from and f":repository/loopin/{promote_from}/" in resource:
                continue  # the digest this environment promotes (PullTheDigestPromotedFrom<env>)
            if resource.endswith(ID_NAMED_READS) and all(READ_ONLY.match(a) for a in actions):
                continue
            if resource.endswith(ID_NAMED) and (
                _pins_environment_tag(statement, environment)
                or all(READ_ONLY.match(a) or a in ID_NAMED_CREATES for a in actions)
            ):
                continue
            if resource.endswith(":scalable-target/*") and _pins_ecs_scaling(statement):
                # AWS names a scalable target by an opaque id, so no ARN can name an environment's;
                # the environment bound is the ecs:UpdateService on the scaled service that Application
                # Auto Scaling requires of the caller too (localcloud/emulator/patches/_iam_resources.py).
                continue
            if resource != "*" and f"{environment}" not in resource and ":iam::" not in resource:
                found.append(f"{where}: {resource} is not scoped to environment {environment}")
            if resource.startswith("arn:") and (":*:" in resource or resource.split(":")[4] == "*"):
                found.append(f"{where}: {resource} does not name the account or region")
        if "iam:PassRole" in actions:
            passed = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
            for resource in resources:
                role = resource.rsplit(":role/", 1)[-1].removeprefix(f"loopin-{environment}-")
                if passed is None or PASSED_TO.get(role) != passed:
                    found.append(
                        f"{where}: iam:PassRole without iam:PassedToService = "
                        f"{PASSED_TO.get(role, 'the service the role is for')} ({resource})"
                    )
    return found


def _trust_violations(statement: dict[str, Any], where: str, environment: str, repository: str) -> list[str]:
    found = []
    principal = statement["Principal"]
    if principal == "*" or principal.get("AWS") == "*":
        found.append(f"{where}: anyone may assume the role")
    federated = principal.get("Federated")
    if federated:
        conditions = statement.get("Condition", {})
        if set(conditions) != {"StringEquals"}:
            found.append(f"{where}: only StringEquals may pin the token (got {sorted(conditions)})")
        equals = conditions.get("StringEquals", {})
        if equals.get(f"{OIDC_HOST}:aud") != "sts.amazonaws.com":
            found.append(f"{where}: audience is not pinned to sts.amazonaws.com")
        wanted_sub = f"repo:{repository}:environment:{environment}"
        if equals.get(f"{OIDC_HOST}:sub") != wanted_sub:
            found.append(f"{where}: subject {equals.get(f'{OIDC_HOST}:sub')!r} is not {wanted_sub!r}")
    elif principal.get("Service") == "ecs-tasks.amazonaws.com":
        if "aws:SourceAccount" not in statement.get("Condition", {}).get("StringEquals", {}):
            found.append(f"{where}: ecs-tasks trust without aws:SourceAccount (confused deputy)")
    return found


def _pins_environment_tag(statement: dict[str, Any], environment: str) -> bool:
    equals = statement.get("Condition", {}).get("StringEquals", {})
    return bool(equals.get("aws:ResourceTag/Environment") == environment)


def _pins_ecs_scaling(statement: dict[str, Any]) -> bool:
    """The statement only scales ECS services' desired count (condition keys of the service)."""
    equals = statement.get("Condition", {}).get("StringEquals", {})
    return (
        equals.get("application-autoscaling:service-namespace") == "ecs"
        and equals.get("application-autoscaling:scalable-dimension") == "ecs:service:DesiredCount"
    )
