"""Golden tests of roles/iam: each rendered document equals its reviewed golden file (the strategy's
policy scoped to the environment plus the extensions its Sids name), and keeps least privilege.
A weakened copy of each document must be caught by the rules.

Regenerate the golden files after a reviewed change: LOOPIN_UPDATE_GOLDEN=1 pytest tests/test_iam_policies.py
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from iam_policy_rules import GITHUB_ENVIRONMENT, context, render, violations, wildcard_only

GOLDEN = Path(__file__).parent / "golden/iam"
ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = {
    "web-task-policy": "web_task_policy.json.j2",
    "worker-task-policy": "worker_task_policy.json.j2",
    "ecs-execution-policy": "execution_policy.json.j2",
    "ecs-tasks-trust": "ecs_tasks_trust.json.j2",
    "deploy-policy": "deploy_policy.json.j2",
    "deploy-trust": "deploy_trust.json.j2",
    "drift-policy": "drift_policy.json.j2",
    "drift-trust": "drift_trust.json.j2",
    "provision-policy": "provision_policy.json.j2",
    "provision-trust": "provision_trust.json.j2",
}
REPO = context()["github_repository"]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_rendered_document_matches_golden(name: str) -> None:
    rendered = render(DOCUMENTS[name], context("production"))
    golden = GOLDEN / f"{name}.production.json"
    if os.environ.get("LOOPIN_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(rendered, indent=2) + "\n")
    assert rendered == json.loads(golden.read_text())


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "production"])
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_is_least_privilege(name: str, environment: str) -> None:
    ctx = context(environment)
    document = render(DOCUMENTS[name], ctx)
    github = GITHUB_ENVIRONMENT.get(name.split("-")[0], "{environment}").format(environment=environment)
    found = violations(
        document,
        environment=environment,
        repository=REPO,
        github_environment=github,
        promote_from=ctx["promote_from"],
    )
    assert found == []


def test_resource_star_only_for_actions_iam_cannot_scope() -> None:
    star_actions = set()
    for template in DOCUMENTS.values():
        for statement in render(template, context("dev"))["Statement"]:
            if statement.get("Resource") == "*":
                star_actions |= set(statement["Action"])
    assert star_actions == wildcard_only(star_actions)
    assert "ecr:GetAuthorizationToken" in star_actions
    # the reference knows the actions it scopes: the rule is not vacuous
    assert wildcard_only({"ecs:UpdateService", "sqs:SendMessage"}) == set()


def test_drift_role_only_reads() -> None:
    writes = (
        "Create",
        "Update",
        "Put",
        "Delete",
        "Modify",
        "Register",
        "Set",
        "Tag",
        "Untag",
        "Attach",
        "Pass",
    )
    for environment in ("dev", "production"):
        for statement in render("drift_policy.json.j2", context(environment))["Statement"]:
            for action in statement["Action"]:
                assert not action.split(":")[1].startswith(writes), action


def test_staging_and_production_pull_the_promoted_digest_from_dev() -> None:
    ecr = yaml.safe_load((ROOT / "inventories/dev/group_vars/all/data.yml").read_text())
    for environment in ("staging", "production"):
        assert context(environment)["promote_from"] == "dev"
        assert environment in ecr["ecr_pull_environments"], "dev's repository policy must name it"
        document = render("deploy_policy.json.j2", context(environment))
        (pull,) = [s for s in document["Statement"] if s["Sid"] == "PullTheDigestPromotedFromDev"]
        assert pull["Resource"] == [
            "arn:aws:ecr:ap-south-1:123456789012:repository/loopin/dev/web",
            "arn:aws:ecr:ap-south-1:123456789012:repository/loopin/dev/worker",
        ]
        assert "ecr:PutImage" not in pull["Action"]
    for environment in ("local", "dev"):
        document = render("deploy_policy.json.j2", context(environment))
        assert not [s for s in document["Statement"] if s["Sid"].startswith("PullTheDigestPromotedFrom")]


def test_execution_role_reads_exactly_the_task_definitions_secrets() -> None:
    ecs = yaml.safe_load((ROOT / "roles/ecs/defaults/main.yml").read_text())["ecs_container_env_fallback"]
    named = sorted({ref.split(":")[0] for svc in ecs.values() for ref in svc["secrets"].values()})
    document = render("execution_policy.json.j2", context("staging"))
    (statement,) = [s for s in document["Statement"] if s["Action"] == ["secretsmanager:GetSecretValue"]]
    prefix = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:loopin/staging/"
    assert statement["Resource"] == [f"{prefix}{name}-??????" for name in named]


def test_execution_and_task_roles_differ() -> None:
    execution = render("execution_policy.json.j2", context())
    for template in ("web_task_policy.json.j2", "worker_task_policy.json.j2"):
        assert render(template, context()) != execution


def test_environments_do_not_share_resources() -> None:
    dev = json.dumps(render("deploy_policy.json.j2", context("dev")))
    assert "loopin-production" not in dev and "loopin/production" not in dev


# --- weakened copies: each rule must catch its breach ----------------------------------------


def _weaken(name: str, change: Any) -> dict[str, Any]:
    document = copy.deepcopy(render(DOCUMENTS[name], context("production")))
    change(document)
    return document


def _first(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


WEAKENED = {
    "wildcard action": (
        "worker-task-policy",
        lambda d: _first(d, "ConsumeQueues")["Action"].append("sqs:*"),
        "wildcard action",
    ),
    "resource star on secrets": (
        "web-task-policy",
        lambda d: _first(d, "ReadOnlyTheSecretsItsContainerUses").update(Resource="*"),
        'Resource "*"',
    ),
    "another environment's queue": (
        "web-task-policy",
        lambda d: _first(d, "Enqueue").update(
            Resource=["arn:aws:sqs:ap-south-1:123456789012:loopin-dev-push"]
        ),
        "not scoped to environment",
    ),
    "any region": (
        "worker-task-policy",
        lambda d: _first(d, "WriteOwnLogGroup").update(
            Resource="arn:aws:logs:*:*:log-group:/ecs/loopin-production-worker:*"
        ),
        "does not name the account or region",
    ),
    "pass role to any service": (
        "deploy-policy",
        lambda d: _first(d, "PassOnlyTheServicesRolesToEcsTasks").pop("Condition"),
        "iam:PassedToService",
    ),
    "trust another repository": (
        "deploy-trust",
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update(
            {"token.actions.githubusercontent.com:sub": "repo:someone/else:environment:production"}
        ),
        "is not",
    ),
    "trust any branch by StringLike": (
        "deploy-trust",
        lambda d: d["Statement"][0]["Condition"].update(
            StringLike={"token.actions.githubusercontent.com:sub": f"repo:{REPO}:*"}
        ),
        "only StringEquals",
    ),
    "trust without audience": (
        "deploy-trust",
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].pop(
            "token.actions.githubusercontent.com:aud"
        ),
        "audience",
    ),
    "drift trust admits the deploy environment": (
        "drift-trust",
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update(
            {"token.actions.githubusercontent.com:sub": f"repo:{REPO}:environment:production"}
        ),
        "is not",
    ),
    "resource star on an action IAM scopes": (
        "deploy-policy",
        lambda d: _first(d, "ReadOnlyActionsWithoutResourceLevelPermissions")["Action"].append(
            "ecs:UpdateService"
        ),
        'Resource "*"',
    ),
    "ecs-tasks trust without source account": (
        "ecs-tasks-trust",
        lambda d: d["Statement"][0].pop("Condition"),
        "confused deputy",
    ),
}


@pytest.mark.parametrize("case", sorted(WEAKENED))
def test_weakened_copy_is_caught(case: str) -> None:
    name, change, reason = WEAKENED[case]
    github = GITHUB_ENVIRONMENT.get(name.split("-")[0], "{environment}").format(environment="production")
    found = violations(
        _weaken(name, change),
        environment="production",
        repository=REPO,
        github_environment=github,
        promote_from="dev",
    )
    assert any(reason in problem for problem in found), found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("service", ["web", "worker"])
def test_each_task_role_reads_only_the_secrets_its_container_uses(service: str) -> None:
    contract = yaml.safe_load((ROOT / "services" / service / "container-env.yml").read_text())["secrets"]
    used = {ref.split(":")[0] for ref in contract.values()}
    document = render(f"{service}_task_policy.json.j2", context("production"))
    readable = {
        arn.split(":secret:loopin/production/")[1].removesuffix("-??????")
        for statement in document["Statement"]
        if "secretsmanager:GetSecretValue" in statement["Action"]
        for arn in _as_list(statement["Resource"])
    }
    assert readable == used
    if service == "web":
        assert "onesignal" not in readable and "fcm" not in readable
