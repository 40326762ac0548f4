"""Typed dependencies: settings, Redis, the token signer and the authenticated user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..accounts import service as accounts
from ..cache import CacheUnavailable, RedisGuard
from ..db import run_db
from ..ratelimit import WINDOW_SECONDS, RateLimiter
from ..settings import Settings
from ..tokens import TokenInvalid, TokenSigner

SESSION_CACHE_TTL = 60  # a revocation made while Redis was down is seen within this long
REVOKED_TTL = 15 * 60  # an access token outlives its session by at most its own lifetime

bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> RedisGuard:
    guard: RedisGuard = request.app.state.redis
    return guard


async def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[RedisGuard, Depends(get_redis)]
SignerDep = Annotated[TokenSigner, Depends(get_signer)]


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: uuid.UUID
    session_id: uuid.UUID
    cached_profile: str | None = None  # the `me:` cache entry, fetched in the same round trip


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


# One round trip per authenticated request: count it against the user's rate limit, read the
# session state ("1" active, "0" revoked, nil unknown) and, when asked, a cached value (KEYS[3]).
# KEYS: user counter, IP counter, session state, optional cache entry.
AUTH_LUA = """
local user = redis.call('INCR', KEYS[1])
if user == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ip = redis.call('INCR', KEYS[2])
if ip == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
local extra = false
if KEYS[4] then extra = redis.call('GET', KEYS[4]) end
return {user, ip, redis.call('GET', KEYS[3]), extra}
"""


async def session_active_in_db(redis: RedisGuard, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Session state from PostgreSQL, remembered in Redis."""
    active = await run_db(accounts.session_is_active, session_id, user_id)
    await redis.set(
        f"sess:{session_id}", "1" if active else "0", SESSION_CACHE_TTL if active else REVOKED_TTL
    )
    return active


async def mark_revoked(redis: RedisGuard, session_ids: tuple[uuid.UUID, ...]) -> None:
    for session_id in session_ids:
        await redis.set(f"sess:{session_id}", "0", REVOKED_TTL)


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> CurrentUser:
    """The user of a valid, unrevoked access token, counted against the user and IP rate limits.

    Runs on every authenticated request, so it reads app.state directly rather than through
    further dependencies, and talks to Redis once."""
    state = request.app.state
    signer: TokenSigner = state.signer
    redis: RedisGuard = state.redis
    if credentials is None:
        raise unauthorized("missing bearer token")
    try:
        claims = signer.decode(credentials.credentials, "access")
    except TokenInvalid as exc:
        raise unauthorized("invalid access token") from exc
    user_limiter: RateLimiter = state.user_limiter
    ip_limiter: RateLimiter = state.ip_limiter
    keys = [user_limiter.key(str(claims.sub)), ip_limiter.key(request.state.client_ip), f"sess:{claims.sid}"]
    if request.scope["path"] == "/v1/me" and request.scope["method"] == "GET":
        keys.append(profile_key(claims.sub))
    try:
        user_count, ip_count, session_state, profile = await redis.script(
            AUTH_LUA, keys, [WINDOW_SECONDS + 1]
        )
    except CacheUnavailable:
        user_count, ip_count, session_state, profile = 0, 0, None, None  # fail open; state from PostgreSQL
    request.state.ip_counted = True
    ip_limiter.check(int(ip_count))
    user_limiter.check(int(user_count))
    if session_state is None:
        active = await session_active_in_db(redis, claims.sid, claims.sub)
    else:
        active = session_state == "1"
    if not active:
        raise unauthorized("session ended")
    return CurrentUser(id=claims.sub, session_id=claims.sid, cached_profile=profile)


def profile_key(user_id: uuid.UUID) -> str:
    return f"me:{user_id}"


CurrentUserDep = Annotated[CurrentUser, Depends(current_user)]
