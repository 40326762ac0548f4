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
from ..nearcache import NearCache
from ..ratelimit import RateLimiter
from ..settings import Settings
from ..tokens import TokenInvalid, TokenSigner

SESSION_CACHE_TTL = 60  # a revocation made while Redis was down is seen within this long
REVOKED_TTL = 15 * 60  # an access token outlives its session by at most its own lifetime

bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings)]
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


async def session_active_in_db(redis: RedisGuard, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Session state from PostgreSQL, remembered in Redis."""
    active = await run_db(accounts.session_is_active, session_id, user_id)
    await redis.set(
        f"sess:{session_id}", "1" if active else "0", SESSION_CACHE_TTL if active else REVOKED_TTL
    )
    return active


async def mark_revoked(request: Request, session_ids: tuple[uuid.UUID, ...]) -> None:
    """Make revoked sessions' access tokens fail here at once and in other tasks within NEAR_TTL."""
    near: NearCache = request.app.state.near
    redis: RedisGuard = request.app.state.redis
    for session_id in session_ids:
        near.put(f"sess:{session_id}", "0")
        await redis.set(f"sess:{session_id}", "0", REVOKED_TTL)


async def _cached_state(
    request: Request, session_key: str, extra_key: str | None
) -> tuple[str | None, str | None]:
    """Session state and (optionally) one more cached value: process cache first, then Redis."""
    near: NearCache = request.app.state.near
    session_state = near.get(session_key)
    extra = near.get(extra_key) if extra_key else None
    if session_state is not None and (extra_key is None or extra is not None):
        return session_state, extra
    keys = [session_key] if extra_key is None else [session_key, extra_key]
    redis: RedisGuard = request.app.state.redis
    try:
        raw = await redis.run(lambda r: r.mget(keys))
        values = [None if v is None else str(v) for v in raw]  # decode_responses: already str
    except CacheUnavailable:
        return None, None
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            near.put(key, value)
    return values[0], values[1] if extra_key else None


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> CurrentUser:
    """The user of a valid, unrevoked access token (401 otherwise); counts the user's rate limit."""
    return await authenticate(request, credentials.credentials if credentials else None)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(request: Request, token: str | None) -> CurrentUser:
    """What `current_user` does, callable without FastAPI's dependency machinery for hot routes.

    Runs on every authenticated request, so it reads app.state directly rather than through
    further dependencies, and usually answers from the process cache without any network call."""
    state = request.app.state
    signer: TokenSigner = state.signer
    redis: RedisGuard = state.redis
    if token is None:
        raise unauthorized("missing bearer token")
    try:
        claims = signer.decode(token, "access")
    except TokenInvalid as exc:
        raise unauthorized("invalid access token") from exc
    user_limiter: RateLimiter = state.user_limiter
    user_limiter.hit(claims.sub_text)
    wants_profile = request.scope["path"] == "/v1/me" and request.scope["method"] == "GET"
    session_state, profile = await _cached_state(
        request, f"sess:{claims.sid_text}", f"me:{claims.sub_text}" if wants_profile else None
    )
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
