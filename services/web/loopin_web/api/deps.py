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
from ..ratelimit import RateLimiter
from ..settings import Settings
from ..tokens import TokenInvalid, TokenSigner

SESSION_CACHE_TTL = 60  # a revocation made while Redis was down is seen within this long
REVOKED_TTL = 15 * 60  # an access token outlives its session by at most its own lifetime

bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> RedisGuard:
    guard: RedisGuard = request.app.state.redis
    return guard


def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[RedisGuard, Depends(get_redis)]
SignerDep = Annotated[TokenSigner, Depends(get_signer)]


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: uuid.UUID
    session_id: uuid.UUID


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


async def session_active(redis: RedisGuard, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Session state from Redis ("1" active, "0" revoked), else from PostgreSQL."""
    key = f"sess:{session_id}"
    try:
        cached = await redis.run(lambda r: r.get(key))
    except CacheUnavailable:
        return await run_db(accounts.session_is_active, session_id, user_id)
    if cached is not None:
        return bool(cached == "1")
    active = await run_db(accounts.session_is_active, session_id, user_id)
    await redis.set(key, "1" if active else "0", SESSION_CACHE_TTL if active else REVOKED_TTL)
    return active


async def mark_revoked(redis: RedisGuard, session_ids: tuple[uuid.UUID, ...]) -> None:
    for session_id in session_ids:
        await redis.set(f"sess:{session_id}", "0", REVOKED_TTL)


async def current_user(
    request: Request,
    signer: SignerDep,
    redis: RedisDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CurrentUser:
    if credentials is None:
        raise unauthorized("missing bearer token")
    try:
        claims = signer.decode(credentials.credentials, "access")
    except TokenInvalid as exc:
        raise unauthorized("invalid access token") from exc
    if not await session_active(redis, claims.sid, claims.sub):
        raise unauthorized("session ended")
    user_limiter: RateLimiter = request.app.state.user_limiter
    await user_limiter.hit(str(claims.sub))
    return CurrentUser(id=claims.sub, session_id=claims.sid)


CurrentUserDep = Annotated[CurrentUser, Depends(current_user)]
