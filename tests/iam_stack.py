"""An enforcing emulator with roles/iam's identities in it, built fast for the tests.

The OIDC provider and the roles are created from the role's own templates (the golden tests
keep those equal to what the role applies), with boto3 as the operator: a second or two instead
of an Ansible run per test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from iam_policy_rules import OIDC_HOST, context, render
from localcloud import identities
from localcloud.state import LocalCloudState

REGION = "ap-south-1"
ROLES = {
    "web-task": ("ecs_tasks_trust.json.j2", "web_task_policy.json.j2"),
    "worker-task": ("ecs_tasks_trust.json.j2", "worker_task_policy.json.j2"),
    "ecs-execution": ("ecs_tasks_trust.json.j2", "execution_policy.json.j2"),
    "deploy": ("deploy_trust.json.j2", "deploy_policy.json.j2"),
    "drift": ("drift_trust.json.j2", "drift_policy.json.j2"),
    "provision": ("provision_trust.json.j2", "provision_policy.json.j2"),
}


@dataclass(frozen=True)
class Enforced:
    endpoint: str
    operator: Mapping[str, str]
    account: str
    environment: str = "local"

    def client(self, service: str, keys: Mapping[str, str] | None = None) -> Any:
        keys = keys or self.operator
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys.get("SessionToken"),
        )

    def operator_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.operator["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": self.operator["SecretAccessKey"],
        }

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/loopin-{self.environment}-{name}"

    def put_policy(self, role: str, document: Mapping[str, Any]) -> None:
        """Replace the role's inline policy (the role's name is also the policy's, as roles/iam does)."""
        name = f"loopin-{self.environment}-{role}"
        self.client("iam").put_role_policy(
            RoleName=name, PolicyName=name, PolicyDocument=json.dumps(document)
        )

    def policy(self, role: str) -> dict[str, Any]:
        return render(ROLES[role][1], context(self.environment, account_id=self.account))


def bootstrap(endpoint: str, environment: str = "local") -> Enforced:
    identities.bootstrap(endpoint)
    operator = LocalCloudState(endpoint).credentials(identities.OPERATOR)
    assert operator is not None
    enforced = Enforced(endpoint, operator, account="")
    account = enforced.client("sts").get_caller_identity()["Account"]
    enforced = Enforced(endpoint, operator, account=account, environment=environment)
    iam = enforced.client("iam")
    iam.create_open_id_connect_provider(
        Url=f"https://{OIDC_HOST}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40]
    )
    ctx = context(environment, account_id=account)
    for role, (trust, policy) in ROLES.items():
        name = f"loopin-{environment}-{role}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(render(trust, ctx)))
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(render(policy, ctx)))
    return enforced
