"""Fixtures on real servers: moto's SQS on a free loopback port, PostgreSQL, the fake OneSignal
and the fake FCM.

The worker's tests use their own database (`loopin_worker_test`) so they never collide with the
web service's tests; they use no Redis. A server that is not there fails the tests, it does not
skip them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import emulator  # noqa: E402
from fake_fcm import FakeFcm  # noqa: E402
from fake_onesignal import FakeOneSignal  # noqa: E402

REGION = "ap-south-1"
DB_NAME = os.environ.get("WORKER_TEST_DB", "loopin_worker_test")
PG_ADMIN_URL = os.environ.get("WORKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
QUEUES = ("push-notifications", "webhook-events", "background-jobs")

# Django is configured before test modules import the web package's models; nothing connects yet.
from loopin_web.django_setup import setup as _django_setup  # noqa: E402

_django_setup(database_url=DATABASE_URL)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with emulator.running() as url:
        yield url


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A freshly reset emulator, with boto3 pointed at it and fake credentials."""
    emulator.reset(int(moto_endpoint.rsplit(":", 1)[1]))
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@dataclass
class Queues:
    sqs: Any
    urls: dict[str, str]
    dlqs: dict[str, str]

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Receive every visible message of a queue (without deleting it)."""
        seen: dict[str, dict[str, Any]] = {}
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return list(seen.values())
            for message in batch:
                seen[message["MessageId"]] = message

    def depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def make_queues(visibility: int = 30, max_receive_count: int = 3) -> Queues:
    sqs = boto3.client("sqs")
    urls, dlqs = {}, {}
    for name in QUEUES:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
        urls[name] = sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": policy},
        )["QueueUrl"]
        dlqs[name] = dlq_url
    return Queues(sqs, urls, dlqs)


@pytest.fixture
def queues(aws_env: dict[str, str]) -> Queues:
    return make_queues()


@pytest.fixture
def fake_onesignal() -> Iterator[FakeOneSignal]:
    with FakeOneSignal() as fake:
        yield fake


@pytest.fixture
def fake_fcm() -> Iterator[FakeFcm]:
    with FakeFcm() as fake:
        yield fake


@pytest.fixture(scope="session")
def django_db() -> str:
    """A fresh `loopin_worker_test` database with the web service's migrations applied."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return DATABASE_URL


@pytest.fixture
def db(django_db: str) -> Iterator[str]:
    """Empty the tables the worker touches before each test (committed data, no test transaction:
    the worker's own transactions and subprocesses must see it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_pushdelivery, notifications_processedmessage,"
            " notifications_outboxmessage, notifications_notificationrequest, notifications_device,"
            " accounts_user CASCADE"
        )
    yield django_db
    connection.close()
