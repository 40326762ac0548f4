"""Rate limits per IP and per user; a forged X-Forwarded-For buys nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loopin_web.ratelimit import client_ip

from .conftest import new_account


def test_client_ip_trusts_only_the_configured_hops() -> None:
    assert client_ip("10.0.1.5", "203.0.113.9", 1) == "203.0.113.9"  # ALB appended the real client
    assert client_ip("10.0.1.5", "6.6.6.6, 203.0.113.9", 1) == "203.0.113.9"  # client-forged entry ignored
    assert client_ip("10.0.1.5", "6.6.6.6, 203.0.113.9, 10.0.0.2", 2) == "203.0.113.9"
    assert client_ip("10.0.1.5", None, 1) == "10.0.1.5"
    assert client_ip("10.0.1.5", "6.6.6.6", 0) == "10.0.1.5"


@pytest.fixture
def limited_client(settings: Any, redis_direct: Any) -> Iterator[TestClient]:
    from loopin_web.main import create_app

    strict = settings.model_copy(
        update={"RATE_LIMIT_PER_IP_PER_MINUTE": 5, "RATE_LIMIT_PER_USER_PER_MINUTE": 3}
    )
    for key in redis_direct.scan_iter("rl:*"):
        redis_direct.delete(key)
    with TestClient(create_app(strict, configure_logs=False)) as client:
        yield client
    for key in redis_direct.scan_iter("rl:*"):
        redis_direct.delete(key)


def test_per_ip_limit_with_retry_after_and_no_xff_bypass(limited_client: TestClient) -> None:
    statuses = []
    for i in range(8):
        # Each request claims a different origin; the ALB's entry (last) is the same.
        xff = f"198.51.100.{i}, 192.0.2.77"
        statuses.append(limited_client.get("/v1/me", headers={"X-Forwarded-For": xff}).status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    resp = limited_client.get("/v1/me", headers={"X-Forwarded-For": "192.0.2.77"})
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    # Another real client is unaffected, and liveness is never limited.
    assert limited_client.get("/v1/me", headers={"X-Forwarded-For": "192.0.2.78"}).status_code == 401
    assert limited_client.get("/health", headers={"X-Forwarded-For": "192.0.2.77"}).status_code == 200


def test_per_user_limit(limited_client: TestClient, client: TestClient) -> None:
    account = new_account(client)
    statuses = [
        limited_client.get(
            "/v1/me", headers={**account.headers, "X-Forwarded-For": f"192.0.2.{i}"}
        ).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
