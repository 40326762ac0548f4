"""Who is who in the local cloud: the bootstrap of IAM enforcement, and credentials per actor.

    python -m localcloud.identities bootstrap --endpoint URL
    python -m localcloud.identities creds ROLE [--env local] --endpoint URL       # export lines
    python -m localcloud.identities exec ROLE [--env local] --endpoint URL -- CMD  # CMD as ROLE
    python -m localcloud.identities exec provision --until-made operator ... -- CMD  # the operator
                                          # until the iam role has made the provisioner

(``tools/`` on ``PYTHONPATH``.) ``bootstrap``, on an emulator that does not enforce IAM yet,
creates the two principals that exist before anything else, writes their keys to
``.state/localcloud-<port>/credentials/<name>.json`` and turns enforcement on:

* ``operator``: the administrator who provisions (``make up``, ``make plan``, ``make destroy``);
  on AWS, your own credentials.
* ``localcloud-aws``: the principal AWS's own services act as (the data plane: the ECS agent,
  the load balancer, the log driver). It stands for AWS's side of the API, which the account's
  IAM does not govern, so it may do everything and is left out of the least-privilege check.

On an enforcing emulator whose keys on disk are valid it does nothing; an emulator that was
restarted or reset is empty and not enforcing, and is bootstrapped again.

ROLE is one of ``operator``, ``deploy``, ``drift``, ``provision`` (the pipeline's roles, through
AssumeRoleWithWebIdentity with a token of the local OIDC issuer, as GitHub Actions obtains
them: ``deploy`` in the GitHub environment ``<env>``, ``drift`` in ``<env>-readonly``,
``provision`` in ``<env>-infra``), ``web``, ``worker`` (the task roles, as ECS hands them to a
task). ``--until-made operator`` runs as the operator while the role does not exist yet: the
first ``make up`` on an empty emulator, whose iam role makes the provisioner.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import oidc
from localcloud.state import REGION, ROOT, LocalCloudState

OPERATOR = "operator"
SERVICE_PRINCIPAL = "localcloud-aws"
PRINCIPALS = (OPERATOR, SERVICE_PRINCIPAL)
ROLES = ("operator", "deploy", "drift", "provision", "web", "worker")
# The GitHub environment whose jobs' tokens each OIDC role trusts (roles/iam/templates/*_trust).
GITHUB_ENVIRONMENTS = {"deploy": "{env}", "drift": "{env}-readonly", "provision": "{env}-infra"}
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DESCRIPTIONS = {
    OPERATOR: "administrator who provisions the local stack",
    SERVICE_PRINCIPAL: "what AWS's own services act as in the local cloud (the data plane)",
}


class IdentityError(RuntimeError):
    pass


def _control(endpoint: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
        f"{endpoint.rstrip('/')}/_localcloud/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise IdentityError(f"{path}: {exc.code} {exc.read().decode(errors='replace')}") from exc


def enforcing(endpoint: str) -> bool:
    return bool(_control(endpoint, "iam/status")["enforcing"])


def client(service: str, endpoint: str, keys: Mapping[str, str] | None = None, **config: Any) -> Any:
    """boto3 on the emulator with `keys` (the bootstrap's throw-away keys when none)."""
    keys = keys or {"AccessKeyId": "bootstrap", "SecretAccessKey": "bootstrap"}
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        config=Config(retries={"mode": "standard", "max_attempts": 3}, **config),
    )


def _valid(endpoint: str, name: str, keys: Mapping[str, str] | None) -> bool:
    if not keys:
        return False
    try:
        arn = client("sts", endpoint, keys).get_caller_identity()["Arn"]
    except ClientError:
        return False
    return bool(arn.endswith(f":user/{name}"))


def bootstrap(endpoint: str) -> dict[str, str]:
    """Make the operator and the service principal, save their keys, enforce IAM; idempotent.

    Returns what happened to each principal (``kept``, ``created``).
    """
    state = LocalCloudState(endpoint)
    oidc.LocalIssuer.of(endpoint).ensure()
    if enforcing(endpoint):
        broken = [n for n in PRINCIPALS if not _valid(endpoint, n, state.credentials(n))]
        if broken:
            raise IdentityError(
                f"{endpoint} enforces IAM but the keys of {', '.join(broken)} in "
                f"{state.directory / 'credentials'} "
                "are not valid there (another emulator's state?): `make down` and start again"
            )
        return dict.fromkeys(PRINCIPALS, "kept")
    iam = client("iam", endpoint)
    done = {}
    for name in PRINCIPALS:
        try:
            iam.create_user(UserName=name, Tags=[{"Key": "Purpose", "Value": DESCRIPTIONS[name]}])
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        iam.put_user_policy(
            UserName=name, PolicyName="AdministratorAccess", PolicyDocument=json.dumps(ADMINISTRATOR)
        )
        saved = state.credentials(name)
        existing = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
        if saved and saved["AccessKeyId"] in existing:
            done[name] = "kept"
            continue
        for key_id in existing:
            iam.delete_access_key(UserName=name, AccessKeyId=key_id)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        path = state.write_json(
            f"credentials/{name}.json",
            {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]},
        )
        path.chmod(0o600)
        done[name] = "created"
    # moto reads the new threshold from the raw body, which a form content type would swallow.
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{endpoint.rstrip('/')}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
        pass
    return done


# --- credentials per actor --------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    name: str
    project: str
    region: str
    github_repository: str

    @classmethod
    def load(cls, name: str, inventories: Path = ROOT / "inventories") -> Environment:
        sys.path.insert(0, str(ROOT / "collections"))
        from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema

        config = inventory_schema.load(inventories / name, ROOT / "roles", ROOT)
        values = config.values
        return cls(
            name=name,
            project=values["loopin_project"],
            region=values["aws_region"],
            github_repository=values["iam_github_repository"],
        )

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.name}"


def subject(env: Environment, role: str) -> str:
    """The ``sub`` GitHub puts in a job's token: the GitHub environment the job runs in."""
    github_environment = GITHUB_ENVIRONMENTS[role].format(env=env.name)
    return f"repo:{env.github_repository}:environment:{github_environment}"


def credentials(role: str, endpoint: str, env: Environment, session: str | None = None) -> dict[str, str]:
    """Temporary credentials of `role` on the local stack (the operator's are its own keys)."""
    state = LocalCloudState(endpoint)
    if role == OPERATOR:
        keys = state.credentials(OPERATOR)
        if keys is None:
            raise IdentityError(f"no operator keys in {state.directory}: run the bootstrap (`make up`)")
        return dict(keys)
    account = client("sts", endpoint, state.credentials(OPERATOR)).get_caller_identity()["Account"]
    if role in GITHUB_ENVIRONMENTS:
        role_arn = f"arn:aws:iam::{account}:role/{env.prefix}-{role}"
        token = oidc.mint(subject(env, role), endpoint=endpoint)
        sts = boto3.client(
            "sts", endpoint_url=endpoint, region_name=env.region, config=Config(signature_version=UNSIGNED)
        )
        answer = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=session or f"{role}-{env.name}-{os.getpid()}",
            WebIdentityToken=token,
        )["Credentials"]
        return {k: str(answer[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    if role in ("web", "worker"):
        answer = _control(
            endpoint,
            "sts/service-credentials",
            {
                "roleArn": f"arn:aws:iam::{account}:role/{env.prefix}-{role}-task",
                "service": "ecs-tasks.amazonaws.com",
                "sourceAccount": account,
                "sourceArn": f"arn:aws:ecs:{env.region}:{account}:service/{env.prefix}/{env.prefix}-{role}",
                "sessionName": session or f"{role}-{env.name}",
                "region": env.region,
            },
        )
        return {k: answer[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    raise IdentityError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def role_exists(role: str, endpoint: str, env: Environment) -> bool:
    """Whether the environment's role for `role` (``loopin-<env>-<role>``) exists, asked as the operator."""
    iam = client("iam", endpoint, LocalCloudState(endpoint).credentials(OPERATOR))
    try:
        iam.get_role(RoleName=f"{env.prefix}-{role}")
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def environment_variables(keys: Mapping[str, str], endpoint: str, region: str) -> dict[str, str | None]:
    """The AWS_* variables of those credentials; None means "unset it" (static keys)."""
    return {
        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
        "AWS_SESSION_TOKEN": keys.get("SessionToken"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
    }


def export_lines(variables: Mapping[str, str | None]) -> str:
    return "\n".join(
        f"export {name}={shlex.quote(value)}" if value is not None else f"unset {name}"
        for name, value in variables.items()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.identities", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    boot = sub.add_parser("bootstrap", help="create the operator and the service principal, enforce IAM")
    boot.add_argument("--endpoint", required=True)
    for name, text in (("creds", "print export lines for ROLE"), ("exec", "run a command as ROLE")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("role", choices=ROLES)
        cmd.add_argument("--env", default="local")
        cmd.add_argument("--endpoint", required=True)
        cmd.add_argument("--session", help="role session name (the deploy's run id on GitHub)")
        cmd.add_argument(
            "--until-made",
            choices=(OPERATOR,),
            help="act as this principal instead while ROLE does not exist (the bootstrap converge)",
        )
    argv = list(sys.argv[1:] if argv is None else argv)
    # `exec ROLE ... -- CMD`: what follows `--` is the command, never this parser's options.
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if not args.endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error("the local cloud is on loopback only")
    try:
        if args.command == "bootstrap":
            done = bootstrap(args.endpoint)
            summary = ", ".join(f"{name} {what}" for name, what in done.items())
            print(f"identities: {summary}; IAM enforced on {args.endpoint}")
            return 0
        env = Environment.load(args.env)
        role = args.role
        if args.until_made and role != args.until_made and not role_exists(role, args.endpoint, env):
            print(
                f"identities: {env.prefix}-{role} does not exist yet: this run is the {args.until_made}'s",
                file=sys.stderr,
            )
            role = args.until_made
        variables = environment_variables(
            credentials(role, args.endpoint, env, args.session), args.endpoint, env.region
        )
    except IdentityError as exc:
        print(f"identities: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"identities: {args.role}: {exc}", file=sys.stderr)
        return 1
    if args.command == "creds":
        print(export_lines(variables))
        return 0
    if not command:
        parser.error("exec needs a command after --")
    child = {k: v for k, v in os.environ.items() if k not in variables and not k.startswith("AWS_PROFILE")}
    child.update({k: v for k, v in variables.items() if v is not None})
    os.execvpe(command[0], command, child)  # noqa: S606 - the operator's own command


if __name__ == "__main__":
    sys.exit(main())
