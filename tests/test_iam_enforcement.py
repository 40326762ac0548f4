"""The enforcing emulator: every actor under its own identity, refused what its policies do not
allow, federated the way GitHub Actions and ECS obtain credentials."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from iam_stack import Enforced
from localcloud import identities, least_privilege, oidc

ROOT = Path(__file__).resolve().parent.parent
REPO = "loopin-app/loopin-backend"


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_keys_unknown_to_iam_are_refused(enforced: Enforced) -> None:
    stranger = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "testing"}
    for service, call in (("sqs", "list_queues"), ("ecs", "list_clusters"), ("iam", "list_users")):
        with pytest.raises(ClientError) as error:
            getattr(enforced.client(service, stranger), call)()
        assert _code(error) == "InvalidClientTokenId", service
    with pytest.raises(ClientError) as wrong_secret:
        enforced.client("sqs", {**enforced.operator, "SecretAccessKey": "x"}).list_queues()
    assert _code(wrong_secret) == "SignatureDoesNotMatch"
    assert enforced.client("sqs").list_queues().get("QueueUrls", []) == []  # the operator may


def test_make_creds_deploy_is_refused_create_user_and_allowed_describe_load_balancers(
    enforced: Enforced,
) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": enforced.endpoint}
    result = subprocess.run(
        ["make", "-s", "creds", "ROLE=deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    assert set(exported) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
    }
    keys = {
        "AccessKeyId": exported["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": exported["AWS_SECRET_ACCESS_KEY"],
        "SessionToken": exported["AWS_SESSION_TOKEN"],
    }
    identity = enforced.client("sts", keys).get_caller_identity()["Arn"]
    assert identity.startswith(f"arn:aws:sts::{enforced.account}:assumed-role/loopin-local-deploy/")
    with pytest.raises(ClientError) as error:
        enforced.client("iam", keys).create_user(UserName="intruder")
    assert _code(error) == "AccessDenied"
    assert enforced.client("elbv2", keys).describe_load_balancers()["LoadBalancers"] == []


def _assume(enforced: Enforced, role: str, token: str) -> dict[str, str]:
    sts = boto3.client(
        "sts",
        endpoint_url=enforced.endpoint,
        region_name="ap-south-1",
        config=Config(signature_version=UNSIGNED),
    )
    answer = sts.assume_role_with_web_identity(
        RoleArn=enforced.role_arn(role), RoleSessionName="test", WebIdentityToken=token
    )
    return dict(answer["Credentials"])


@pytest.mark.parametrize(
    ("role", "github_environment"),
    [
        ("deploy", "production"),  # another environment's job
        ("deploy", "local-readonly"),  # the drift job may not deploy
        ("drift", "local"),  # nor the deploy job read through the drift role
        ("provision", "local"),  # the deploy job may not provision
        ("provision", "local-readonly"),  # nor a pull request's plan
        ("deploy", "local-infra"),  # nor the apply job deploy
    ],
)
def test_a_token_for_another_environment_is_refused(
    enforced: Enforced, role: str, github_environment: str
) -> None:
    token = oidc.mint(f"repo:{REPO}:environment:{github_environment}", endpoint=enforced.endpoint)
    with pytest.raises(ClientError) as error:
        _assume(enforced, role, token)
    assert _code(error) == "AccessDenied"
    assert "does not admit sub" in str(error.value)


def test_tokens_are_checked_as_sts_checks_them(enforced: Enforced, tmp_path: Path) -> None:
    good = f"repo:{REPO}:environment:local"
    assert _assume(enforced, "deploy", oidc.mint(good, endpoint=enforced.endpoint))["SessionToken"]
    assert _assume(enforced, "drift", oidc.mint(f"{good}-readonly", endpoint=enforced.endpoint))[
        "SessionToken"
    ]
    assert _assume(enforced, "provision", oidc.mint(f"{good}-infra", endpoint=enforced.endpoint))[
        "SessionToken"
    ]
    forged = oidc.LocalIssuer(tmp_path / "other-issuer").mint(good)  # same claims, another key
    cases = {
        "InvalidIdentityToken": [
            "not-a-jwt",
            forged,
            oidc.mint(good, aud="someone-else", endpoint=enforced.endpoint),
            oidc.mint(good, issuer="https://issuer.example", endpoint=enforced.endpoint),
        ],
        "ExpiredTokenException": [oidc.mint(good, endpoint=enforced.endpoint, now=1_700_000_000)],
    }
    for code, tokens in cases.items():
        for token in tokens:
            with pytest.raises(ClientError) as error:
                _assume(enforced, "deploy", token)
            assert _code(error) == code, token


def test_ecs_gets_task_role_credentials_only_for_its_own_account(enforced: Enforced) -> None:
    env = identities.Environment("local", "loopin", "ap-south-1", REPO)
    keys = identities.credentials("web", enforced.endpoint, env)
    sqs = enforced.client("sqs")
    queue = sqs.create_queue(QueueName="loopin-local-push-notifications")["QueueUrl"]
    enforced.client("sqs", keys).send_message(QueueUrl=queue, MessageBody="{}")
    with pytest.raises(ClientError) as error:
        enforced.client("sqs", keys).delete_queue(QueueUrl=queue)
    assert _code(error) == "AccessDenied"

    body = {
        "roleArn": enforced.role_arn("web-task"),
        "service": "ecs-tasks.amazonaws.com",
        "sourceAccount": "999999999999",
        "sourceArn": "arn:aws:ecs:ap-south-1:999999999999:task/other/1",
    }
    with pytest.raises(identities.IdentityError, match="403"):
        identities._control(enforced.endpoint, "sts/service-credentials", body)
    with pytest.raises(identities.IdentityError, match="403"):  # the deploy role trusts GitHub, not ECS
        identities._control(
            enforced.endpoint,
            "sts/service-credentials",
            {**body, "roleArn": enforced.role_arn("deploy"), "sourceAccount": enforced.account},
        )


def test_bootstrap_is_idempotent_and_runs_again_on_an_emptied_emulator(enforced: Enforced) -> None:
    assert identities.enforcing(enforced.endpoint)
    assert identities.bootstrap(enforced.endpoint) == {"operator": "kept", "localcloud-aws": "kept"}
    port = int(enforced.endpoint.rsplit(":", 1)[1])
    import emulator

    emulator.reset(port)  # as a restart: state gone, so not enforcing, old keys unknown
    assert not identities.enforcing(enforced.endpoint)
    assert identities.bootstrap(enforced.endpoint) == {"operator": "created", "localcloud-aws": "created"}
    assert identities.enforcing(enforced.endpoint)
    with pytest.raises(ClientError):
        enforced.client("sqs").list_queues()  # the keys from before the reset
    fresh = identities.LocalCloudState(enforced.endpoint).credentials("operator")
    assert fresh is not None
    assert enforced.client("sqs", fresh).list_queues().get("QueueUrls", []) == []


def test_every_authenticated_call_is_recorded_with_its_resource(enforced: Enforced) -> None:
    env = identities.Environment("local", "loopin", "ap-south-1", REPO)
    keys = identities.credentials("worker", enforced.endpoint, env, session="recorded")
    queue = enforced.client("sqs").create_queue(QueueName="loopin-local-webhook-events")["QueueUrl"]
    worker = enforced.client("sqs", keys)
    worker.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    with pytest.raises(ClientError):
        worker.purge_queue(QueueUrl=queue)
    # IAM has no batch actions: AWS authorizes SendMessageBatch as sqs:SendMessage (the outbox
    # relay's call) and DeleteMessageBatch as sqs:DeleteMessage, and so does the emulator.
    worker.send_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "{}"}])
    worker.delete_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "ReceiptHandle": "gone"}])
    calls = least_privilege.recorded_calls(enforced.endpoint, "loopin-local-worker-task/recorded")
    seen = {(c["action"], c["resource"], c["allowed"]) for c in calls}
    arn = f"arn:aws:sqs:ap-south-1:{enforced.account}:loopin-local-webhook-events"
    assert seen == {
        ("sqs:ReceiveMessage", arn, True),
        ("sqs:PurgeQueue", arn, False),
        ("sqs:SendMessage", arn, True),
        ("sqs:DeleteMessage", arn, True),
    }


def test_a_compressed_body_is_checked_as_it_was_signed(enforced: Enforced) -> None:
    """botocore gzips PutMetricData bodies of 10 KiB and more (the load balancer's metrics under
    traffic); AWS checks the signature over the bytes sent and accepts them, so must the emulator."""
    cloudwatch = enforced.client("cloudwatch")
    data = [
        {
            "MetricName": "TargetResponseTime",
            "Dimensions": [{"Name": "TargetGroup", "Value": f"targetgroup/loopin-local-web/{n:016x}"}],
            "Values": [round(0.001 * v, 3) for v in range(150)],
            "Counts": [1.0] * 150,
            "Unit": "Seconds",
        }
        for n in range(20)
    ]
    sent: dict[str, str] = {}
    cloudwatch.meta.events.register(
        "before-send.cloudwatch.PutMetricData",
        lambda request, **_: sent.update(encoding=request.headers.get("Content-Encoding", b"")),
    )
    cloudwatch.put_metric_data(Namespace="Loopin/Test", MetricData=data)
    assert sent["encoding"] in (b"gzip", "gzip")  # the case under test: a compressed body
    listed = cloudwatch.list_metrics(Namespace="Loopin/Test", MetricName="TargetResponseTime")["Metrics"]
    assert len(listed) == 20
