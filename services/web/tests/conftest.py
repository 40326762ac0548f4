"""Fixtures: a real PostgreSQL database and Redis DB index for this session, a real SQS emulator.

The app reaches PostgreSQL and Redis through `CuttableProxy`s so degradation tests can take them
away. Nothing is skipped: a missing server fails the session at setup with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from .proxy import CuttableProxy

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
import emulator  # noqa: E402

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# The worker's tests use other indexes; web tests own this one and flush it.
REDIS_DB = int(os.environ.get("LOOPIN_WEB_TEST_REDIS_DB", "11"))
REGION = "ap-south-1"
PASSWORD = "Correct-Horse-42!"


def _require_servers() -> None:
    try:
        psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", connect_timeout=3
        ).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not answering on {PG_HOST}:{PG_PORT} ({exc}); "
            "run services/scripts/ensure-backing-services.sh",
            pytrace=False,
        )
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not answering on {REDIS_HOST}:{REDIS_PORT} ({exc}); "
            "run services/scripts/ensure-backing-services.sh",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def database_name() -> Iterator[str]:
    _require_servers()
    name = f"loopin_web_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
    ) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield name
    from django.conf import settings as django_settings
    from django.db import connections

    if django_settings.configured:
        connections.close_all()
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_proxy() -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(PG_HOST, PG_PORT)
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def redis_proxy() -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(REDIS_HOST, REDIS_PORT)
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    with emulator.running() as url:
        yield url


@pytest.fixture(scope="session")
def aws_env(sqs_endpoint: str) -> Iterator[dict[str, str]]:
    env = {
        "AWS_ENDPOINT_URL": sqs_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE"]}
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def sqs(aws_env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("sqs", region_name=REGION)


@pytest.fixture(scope="session")
def queue_urls(sqs: Any) -> dict[str, str]:
    return {
        name: sqs.create_queue(QueueName=name)["QueueUrl"]
        for name in ("push-notifications", "webhook-events")
    }


@pytest.fixture(scope="session")
def settings_values(
    database_name: str, pg_proxy: CuttableProxy, redis_proxy: CuttableProxy, queue_urls: dict[str, str]
) -> dict[str, Any]:
    return {
        "APP_ENV": "test",
        "LOG_LEVEL": "INFO",
        "ALLOWED_HOSTS": ["testserver", "localhost"],
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_proxy.port}/{database_name}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/{REDIS_DB}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "WEBHOOK_SECRETS": json.dumps({"onesignal": secrets.token_urlsafe(48)}),
        "SQS_PUSH_QUEUE_URL": queue_urls["push-notifications"],
        "SQS_WEBHOOK_QUEUE_URL": queue_urls["webhook-events"],
        "RATE_LIMIT_PER_IP_PER_MINUTE": 100_000,
        "RATE_LIMIT_PER_USER_PER_MINUTE": 100_000,
    }


@pytest.fixture(scope="session")
def settings(settings_values: dict[str, Any]) -> Any:
    from loopin_web.settings import Settings

    return Settings(**settings_values)


@pytest.fixture(scope="session")
def app(settings: Any) -> Any:
    from django.core.management import call_command
    from loopin_web.main import create_app

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()
    application = create_app(settings)
    call_command("migrate", verbosity=0)
    return application


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def redis_direct() -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, decode_responses=True)


@dataclass
class Account:
    email: str
    password: str
    device_id: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def new_account(client: TestClient, password: str = PASSWORD) -> Account:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    device_id = str(uuid.uuid4())
    resp = client.post("/v1/auth/signup", json={"email": email, "password": password, "device_id": device_id})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return Account(email, password, device_id, body["access_token"], body["refresh_token"])


@pytest.fixture
def account(client: TestClient) -> Account:
    return new_account(client)
