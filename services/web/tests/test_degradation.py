"""PostgreSQL or Redis going away during requests: 503 or a fallback, never 500, and recovery
without a restart. The app reaches both through proxies the test cuts; the real servers stay up."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import Account, new_account
from .proxy import CuttableProxy


@pytest.fixture
def cached_account(client: TestClient) -> Account:
    account = new_account(client)
    assert client.get("/v1/me", headers=account.headers).status_code == 200  # warms session + profile
    return account


@contextlib.contextmanager
def cut(proxy: CuttableProxy) -> Iterator[None]:
    proxy.cut()
    try:
        yield
    finally:
        proxy.restore()


@pytest.fixture
def reset_main_thread_db() -> Iterator[None]:
    yield
    from django.db import connections

    for conn in connections.all():
        with contextlib.suppress(Exception):
            conn.close()


def test_postgres_down_gives_503_then_recovers(
    client: TestClient, cached_account: Account, pg_proxy: CuttableProxy, reset_main_thread_db: None
) -> None:
    assert client.get("/v1/devices", headers=cached_account.headers).status_code == 200
    with cut(pg_proxy):
        for _ in range(3):
            resp = client.get("/v1/devices", headers=cached_account.headers)
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "5"
            assert "Traceback" not in resp.text
        signup = client.post(
            "/v1/auth/signup",
            json={
                "email": "down@example.com",
                "password": "Some-Pass-1234",
                "device_id": "5f0c4f8e-64a5-4d55-9b8e-9a0a6c1b8e00",
            },
        )
        assert signup.status_code == 503
        assert client.get("/health").status_code == 200  # the ALB keeps the task
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["postgresql"]["ok"] is False
        # The profile is in Redis: reading it needs no database.
        assert client.get("/v1/me", headers=cached_account.headers).status_code == 200
    assert client.get("/v1/devices", headers=cached_account.headers).status_code == 200
    assert client.get("/ready").status_code == 200


def test_redis_down_serves_from_postgres_logs_once_and_recovers(
    client: TestClient, cached_account: Account, redis_proxy: CuttableProxy, caplog: Any
) -> None:
    with cut(redis_proxy):
        for _ in range(5):
            resp = client.get("/v1/me", headers=cached_account.headers)
            assert resp.status_code == 200, resp.text
        assert client.post("/v1/auth/logout", headers=new_account(client).headers).status_code == 204
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False
        degraded = [r for r in caplog.records if getattr(r, "event", "") == "degraded"]
        assert len(degraded) == 1
    time.sleep(1.1)  # the circuit breaker's cooldown
    assert client.get("/v1/me", headers=cached_account.headers).status_code == 200
    assert [r for r in caplog.records if getattr(r, "event", "") == "recovered"]
    assert client.get("/ready").status_code == 200


def test_logout_while_redis_was_down_is_seen_once_it_is_back(
    client: TestClient, redis_proxy: CuttableProxy, redis_direct: Any
) -> None:
    account = new_account(client)
    client.get("/v1/me", headers=account.headers)
    with cut(redis_proxy):
        assert client.post("/v1/auth/logout", headers=account.headers).status_code == 204
        assert client.get("/v1/me", headers=account.headers).status_code == 401  # checked in PostgreSQL
    time.sleep(1.1)
    # The cached "active" mark may outlive the logout by at most its TTL; expire it as time would.
    for key in redis_direct.scan_iter("sess:*"):
        redis_direct.expire(key, 0) if redis_direct.get(key) == "1" else None
    assert client.get("/v1/me", headers=account.headers).status_code == 401
