"""Fixed-window rate limits in Redis, per client IP and per user.

The client IP is the address the trusted proxies (the ALB: TRUSTED_PROXY_HOPS=1) saw: the entry
that many places from the right of X-Forwarded-For. Anything further left was written by the
client and is ignored, so a forged header cannot buy a fresh budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .cache import CacheUnavailable, RedisGuard

WINDOW_SECONDS = 60

# INCR and set the window's expiry in one round trip.
COUNT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


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


@dataclass(frozen=True)
class RateLimiter:
    redis: RedisGuard
    limit: int
    scope: str

    def key(self, identity: str) -> str:
        return f"rl:{self.scope}:{identity}:{int(time.time()) // WINDOW_SECONDS}"

    def check(self, count: int) -> None:
        if count > self.limit:
            raise RateLimited(WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS or 1)

    async def hit(self, identity: str) -> None:
        """Count one request; raise RateLimited over the limit. Redis down: allow (fail open)."""
        try:
            count = await self.redis.script(COUNT_LUA, [self.key(identity)], [WINDOW_SECONDS + 1])
        except CacheUnavailable:
            return
        self.check(int(count))
