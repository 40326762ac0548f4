"""Redis for cache and rate limits, with a circuit breaker so Redis being down costs nothing.

When a Redis call fails, the guard logs the degradation once, answers `CacheUnavailable` without
touching the network for `cooldown` seconds, then tries again; the first success logs recovery.
Callers fall back to PostgreSQL (cache) or to their own process's counts (rate limits).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")


class CacheUnavailable(Exception):
    """Redis did not answer; use the fallback."""


class RedisGuard:
    def __init__(self, url: str, *, timeout: float = 0.25, cooldown: float = 1.0) -> None:
        self.url = url
        self.timeout = timeout
        # One client per event loop: asyncio connections cannot cross loops. Production has one
        # loop per process; test clients start one per client.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self.cooldown = cooldown
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry_on_timeout=False,
                max_connections=200,
                decode_responses=True,
            )
            self._clients[loop] = client
        return client

    async def run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if self._down_since is not None and time.monotonic() < self._retry_at:
            raise CacheUnavailable
        try:
            result = await operation(self.client)
        except (RedisError, OSError) as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "redis unavailable: serving from PostgreSQL, rate limits off",
                    extra={"event": "degraded", "dependency": "redis", "error": type(exc).__name__},
                )
            self._retry_at = time.monotonic() + self.cooldown
            raise CacheUnavailable from exc
        if self._down_since is not None:
            log.warning(
                "redis recovered",
                extra={
                    "event": "recovered",
                    "dependency": "redis",
                    "down_s": round(time.monotonic() - self._down_since, 1),
                },
            )
            self._down_since = None
        return result

    async def set(self, key: str, value: str, ttl: int) -> None:
        try:
            await self.run(lambda r: r.set(key, value, ex=ttl))
        except CacheUnavailable:
            pass

    async def delete(self, *keys: str) -> None:
        try:
            await self.run(lambda r: r.delete(*keys))
        except CacheUnavailable:
            pass

    async def close(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
