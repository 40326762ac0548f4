"""The provisioner, loopin-<env>-provision (infra.yml's apply): site.yml cold on an empty account as
that role, with its credentials obtained as GitHub Actions obtains them (a token of the
environment `local-infra`), on an enforcing emulator. An administrator first runs the iam role
alone (the OIDC provider and the roles), as on a new account. The provisioner's calls must pass the
resource-level least-privilege check, and a policy missing one action must fail the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import budget
import emulator
import iam_stack
import pytest
from iam_policy_rules import context, render
from iam_stack import Enforced
from localcloud import identities, least_privilege
from stack import Run, ansible_playbook, environ, operator_env

ROOT = Path(__file__).resolve().parent.parent
ROLE = "loopin-local-provision"


def as_provisioner(enforced: Enforced, *args: str, work: str = "site_cold") -> Run:
    keys = identities.credentials(
        "provision", enforced.endpoint, identities.Environment.load("local"), "tests"
    )
    env = {k: keys[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    return ansible_playbook(
        "site.yml",
        enforced.endpoint,
        *args,
        work=work,
        env={
            "AWS_ACCESS_KEY_ID": env["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": env["SecretAccessKey"],
            "AWS_SESSION_TOKEN": env["SessionToken"],
        },
    )


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Enforced, Run, Run]]:
    """An enforcing emulator of this module's own, the iam role applied by the administrator,
    then site.yml cold as the provisioner (infra.yml's apply), then its plan (make plan)."""
    state = str(tmp_path_factory.mktemp("localcloud-provision"))
    with (
        environ(LOOPIN_STATE_DIR=state),
        emulator.running(wait=budget.timeout("emulator_start")) as endpoint,
    ):
        identities.bootstrap(endpoint)
        operator = identities.LocalCloudState(endpoint).credentials(identities.OPERATOR)
        assert operator is not None
        account = iam_stack.Enforced(endpoint, operator, "").client("sts").get_caller_identity()["Account"]
        enforced = iam_stack.Enforced(endpoint, operator, account)
        iam = ansible_playbook(
            str(ROOT / "tests/playbooks/iam_bootstrap.yml"),
            endpoint,
            work="tier",
            env=operator_env(dict(operator)),
        )
        assert iam.returncode == 0, iam.tail()
        up = as_provisioner(enforced)
        plan = as_provisioner(enforced, "--check", "--diff", work="site_plan") if up.returncode == 0 else up
        yield enforced, up, plan


def test_site_yml_builds_an_empty_account_as_the_provisioner(provisioned: tuple[Enforced, Run, Run]) -> None:
    _, up, plan = provisioned
    assert up.returncode == 0, up.tail()
    assert up.recap()["changed"] > 40
    assert plan.returncode == 0, plan.tail()
    assert plan.recap()["changed"] == 0, plan.tail()


def _policy() -> list[dict[str, Any]]:
    return [{"name": ROLE, "policy": render("provision_policy.json.j2", context("local"))}]


def test_the_provisioners_calls_are_least_privilege_at_resource_level(
    provisioned: tuple[Enforced, Run, Run],
) -> None:
    enforced, up, plan = provisioned
    assert up.returncode == 0 and plan.returncode == 0, (up.tail(), plan.tail())
    calls = least_privilege.recorded_calls(enforced.endpoint, f"{ROLE}/")
    assert {c["action"] for c in calls} >= {"ec2:CreateVpc", "iam:CreateRole", "ecs:CreateService"}
    report = least_privilege.check(calls, {ROLE: _policy()})
    assert report.ok, report.text()
    # the IAM writes that could escalate were checked on their resources, not excepted
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"):
        assert not [e for e in report.exceptions_used if f": {action} on" in e], action
    role_calls = {
        (c["action"], c["resource"]) for c in calls if c["action"] in ("iam:CreateRole", "iam:PutRolePolicy")
    }
    assert role_calls and all(
        r.startswith("arn:aws:iam::123456789012:role/loopin-local-") for _, r in role_calls
    )

    # over-broad: a grant no run used
    broad = _policy()
    broad[0]["policy"]["Statement"].append(
        {"Sid": "Extra", "Effect": "Allow", "Action": ["iam:AttachRolePolicy"], "Resource": "*"}
    )
    found = least_privilege.check(calls, {ROLE: broad}).problems
    assert any("iam:AttachRolePolicy" in p and "never used" in p for p in found), found
    # under-scoped: roles of another environment only
    narrow = _policy()
    for statement in narrow[0]["policy"]["Statement"]:
        if "iam:CreateRole" in statement["Action"]:
            statement["Resource"] = statement["Resource"].replace("loopin-local-", "loopin-other-")
    found = least_privilege.check(calls, {ROLE: narrow}).problems
    assert any("iam:CreateRole" in p and "not allowed" in p for p in found), found


def test_a_provisioner_policy_missing_one_action_fails_the_run(
    provisioned: tuple[Enforced, Run, Run],
) -> None:
    enforced, _, _ = provisioned
    policy = enforced.policy("provision")
    for statement in policy["Statement"]:
        if "ec2:DescribeVpcs" in statement["Action"]:
            statement["Action"].remove("ec2:DescribeVpcs")
    enforced.put_policy("provision", policy)
    run = as_provisioner(enforced, "--check", work="site_plan")
    assert run.returncode != 0
    assert "is not authorized to perform: ec2:DescribeVpcs" in run.output, run.tail()
