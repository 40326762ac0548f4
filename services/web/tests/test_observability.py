"""Request IDs, JSON logs without personal data or secrets, and 500s without internals."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loopin_web.logs import configure_logging, make_handler, scrub

from .conftest import PASSWORD, new_account


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    configure_logging("INFO")


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_id_is_accepted_when_uuid_and_generated_otherwise(client: TestClient) -> None:
    rid = str(uuid.uuid4())
    assert client.get("/health", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid
    for bad in ("not-a-uuid", "x" * 200, "'; DROP TABLE users; --"):
        echoed = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert echoed != bad and uuid.UUID(echoed)
    assert uuid.UUID(client.get("/health").headers["x-request-id"])


def test_every_log_line_is_json_with_the_request_id(client: TestClient, log_stream: io.StringIO) -> None:
    rid = str(uuid.uuid4())
    client.post(
        "/v1/auth/login",
        json={"email": "a@b.co", "password": "x", "device_id": "bad"},
        headers={"X-Request-ID": rid},
    )
    lines = _lines(log_stream)
    access = [line for line in lines if line["logger"] == "loopin_web.access"]
    assert access and access[-1]["request_id"] == rid and access[-1]["status"] == 422
    assert all({"ts", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)


def test_logs_never_contain_credentials_or_contact_data(client: TestClient, log_stream: io.StringIO) -> None:
    account = new_account(client)
    push_token = "apns-" + uuid.uuid4().hex
    client.post(
        "/v1/devices",
        headers=account.headers,
        json={
            "device_id": account.device_id,
            "platform": "ios",
            "push_token": push_token,
            "onesignal_subscription_id": str(uuid.uuid4()),
        },
    )
    login = client.post(
        "/v1/auth/login", json={"email": account.email, "password": PASSWORD, "device_id": account.device_id}
    ).json()
    client.post(
        "/v1/auth/refresh", json={"refresh_token": login["refresh_token"], "device_id": account.device_id}
    )
    client.post(
        "/v1/auth/login",
        json={"email": account.email, "password": "Wrong-Password-99", "device_id": account.device_id},
    )
    # Application code that slips: the filter still catches it.
    logging.getLogger("loopin_web.careless").warning(
        "user %s with phone +91 98765 43210 sent %s",
        account.email,
        login["access_token"],
        extra={"password": PASSWORD, "detail": {"authorization": f"Bearer {login['access_token']}"}},
    )
    output = log_stream.getvalue()
    assert output  # the flow did log
    for secret in (
        account.email,
        PASSWORD,
        "Wrong-Password-99",
        account.access,
        login["access_token"],
        login["refresh_token"],
        account.refresh,
        "98765 43210",
        push_token,
    ):
        assert secret not in output, secret


def test_scrub_handles_nested_structures() -> None:
    event = {
        "request": {"headers": {"Authorization": "Bearer abc.def"}, "data": {"email": "a@b.co"}},
        "message": "contact me at someone@example.org",
        "list": ["+1 415 555 0100", 3],
    }
    scrubbed = scrub(event)
    assert "abc.def" not in json.dumps(scrubbed) and "example.org" not in json.dumps(scrubbed)
    assert "555 0100" not in json.dumps(scrubbed) and scrubbed["list"][1] == 3


def test_exception_text_is_scrubbed() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("loopin_web.test_exc")
    logger.propagate = False
    logger.addHandler(make_handler(stream))
    try:
        raise ValueError("bad login for someone@example.org")
    except ValueError:
        logger.exception("failed")
    logger.handlers.clear()
    assert "someone@example.org" not in stream.getvalue()
    assert "ValueError" in stream.getvalue()


def test_500_has_no_stack_trace_and_carries_the_request_id(settings: Any, log_stream: io.StringIO) -> None:
    from loopin_web.main import create_app

    app = create_app(settings, configure_logs=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    with TestClient(app, raise_server_exceptions=False) as crashing:
        resp = crashing.get("/boom")
    assert resp.status_code == 500
    assert resp.json() == {"detail": "internal server error", "request_id": resp.headers["x-request-id"]}
    assert "Traceback" not in resp.text and "secret internals" not in resp.text
    errors = [line for line in _lines(log_stream) if line["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == resp.headers["x-request-id"]
    assert "RuntimeError" in errors[0]["exception"]


def test_health_has_no_dependencies(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    # the mobile apps' check, beside the load balancer's
    assert client.get("/v1/health").json() == {"status": "ok"}


def test_ready_checks_every_dependency(client: TestClient) -> None:
    body = client.get("/ready").json()
    assert body["status"] == "ready", body
    assert set(body["checks"]) == {"postgresql", "redis", "sqs"}


def test_admin_is_django_and_staff_only(client: TestClient) -> None:
    resp = client.get("/admin/", follow_redirects=False)
    assert resp.status_code == 302 and "/admin/login/" in resp.headers["location"]
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/static/admin/css/base.css").status_code == 200
