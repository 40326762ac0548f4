"""Fixed-window rate limits per client IP and per user, counted in Redis across all tasks.

Hits are counted in process and flushed to Redis in batches every FLUSH_INTERVAL seconds (one
pipelined round trip for all keys); a request is judged on the last global total seen plus this
process's hits since. Within one process the limit is exact; across tasks it can overshoot by
what the others counted in the last flush interval. Redis down: each process still enforces
what it sees itself.

The client IP is the address the trusted proxies (the ALB: TRUSTED_PROXY_HOPS=1) saw: the entry
that many places from the right of X-Forwarded-For. Anything further left was written by the
client and is ignored, so a forged header cannot buy a fresh budget.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .cache import CacheUnavailable, RedisGuard

WINDOW_SECONDS = 60
FLUSH_INTERVAL = 0.2


def client_ip(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    if trusted_hops == 0 or not forwarded_for:
        return peer or "unknown"
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) < trusted_hops:
        return peer or "unknown"
    return hops[-trusted_hops][:64]


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


def current_window() -> int:
    return int(time.time()) // WINDOW_SECONDS


class HitCounter:
    """Counts hits per key locally and adds them to Redis in batches."""

    def __init__(self, redis: RedisGuard, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.redis = redis
        self.flush_interval = flush_interval
        self._pending: defaultdict[str, int] = defaultdict(int)
        self._inflight: dict[str, int] = {}
        self._known: dict[str, int] = {}  # global totals from the last flush
        self._window = current_window()
        self._next_flush = 0.0
        self._flushing: set[asyncio.Task[None]] = set()

    def hit(self, key: str) -> int:
        """Count one hit on `key`; return the best estimate of its total in this window."""
        window = current_window()
        if window != self._window:
            suffix = f":{window}"
            self._window = window
            self._known = {k: v for k, v in self._known.items() if k.endswith(suffix)}
        self._pending[key] += 1
        now = time.monotonic()
        if now >= self._next_flush and not self._flushing:
            self._next_flush = now + self.flush_interval
            task = asyncio.get_running_loop().create_task(self.flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        return self._known.get(key, 0) + self._inflight.get(key, 0) + self._pending[key]

    async def drain(self) -> None:
        """Wait for flushes under way (at shutdown, before the Redis client closes)."""
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    async def flush(self) -> None:
        batch, self._pending = dict(self._pending), defaultdict(int)
        if not batch:
            return
        self._inflight = batch

        async def add_all(client: Any) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for key, count in batch.items():
                    pipe.incrby(key, count)
                    pipe.expire(key, WINDOW_SECONDS + 1)
                result: list[Any] = await pipe.execute()
                return result

        try:
            results = await self.redis.run(add_all)
        except CacheUnavailable:
            # Keep what this process counted, so it still enforces its own share.
            for key, count in batch.items():
                self._known[key] = self._known.get(key, 0) + count
        else:
            self._known.update(zip(batch, (int(total) for total in results[0::2]), strict=True))
        finally:
            self._inflight = {}


@dataclass(frozen=True)
class RateLimiter:
    counter: HitCounter
    limit: int
    scope: str

    def hit(self, identity: str) -> None:
        """Count one request; raise RateLimited over the limit."""
        if self.counter.hit(f"rl:{self.scope}:{identity}:{current_window()}") > self.limit:
            raise RateLimited(WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS or 1)
