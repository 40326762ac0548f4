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


def test_counts_from_other_tasks_arrive_through_redis(settings: Any, redis_direct: Any) -> None:
    """Two processes' counters (two HitCounters) share one budget via Redis after a flush."""
    import asyncio

    from loopin_web.cache import RedisGuard
    from loopin_web.ratelimit import HitCounter, RateLimited, RateLimiter

    async def scenario() -> list[str]:
        redis = RedisGuard(settings.REDIS_URL.get_secret_value())
        task_a = RateLimiter(HitCounter(redis, flush_interval=0.0), 5, "shared-test")
        task_b = RateLimiter(HitCounter(redis, flush_interval=0.0), 5, "shared-test")
        outcomes = []
        for limiter in (task_a, task_a, task_a, task_a):
            limiter.hit("client")
        await asyncio.sleep(0.1)  # task A's flush lands in Redis
        task_b.counter.hit("warm-up")  # B's first flush reads nothing for "client" yet
        await asyncio.sleep(0.1)
        for limiter in (task_b, task_b):
            try:
                limiter.hit("client")
                outcomes.append("ok")
            except RateLimited:
                outcomes.append("429")
            await asyncio.sleep(0.1)
        await redis.close()
        return outcomes

    for key in redis_direct.scan_iter("rl:shared-test:*"):
        redis_direct.delete(key)
    # A used 4 of 5; B's first hit is the 5th (allowed), its second is over the shared budget.
    assert asyncio.run(scenario()) == ["ok", "429"]
