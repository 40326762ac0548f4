"""The signed-in user's profile, served from Redis when it can be."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from ...accounts import service as accounts
from ...db import run_db
from ..deps import CurrentUserDep, authenticate, bearer_token, profile_key, unauthorized
from ..errors import AUTH_RESPONSES
from ..schemas import Profile, ProfileUpdateIn

router = APIRouter(tags=["me"], responses=AUTH_RESPONSES)
PROFILE_TTL = 300


@router.get("/me", response_model=Profile, openapi_extra={"security": [{"HTTPBearer": []}]})
async def read_me(request: Request) -> Response:
    """The hottest route: it authenticates by calling the dependency's function directly, which
    measured (make bench-web) a third cheaper than FastAPI resolving the same dependency."""
    user = await authenticate(request, bearer_token(request))
    key = profile_key(user.id)
    raw = user.cached_profile  # read by the auth dependency along with the session state
    if raw is None:
        profile = await run_db(accounts.profile, user.id)
        if profile is None:
            raise unauthorized("user not found")
        raw = json.dumps(profile, separators=(",", ":"))
        await request.app.state.redis.set(key, raw, PROFILE_TTL)
        request.app.state.near.put(key, raw)
    # Already JSON in the shape of Profile: skip re-validation, the hot path of the API.
    return Response(content=raw, media_type="application/json")


@router.patch("/me", response_model=Profile)
async def update_me(body: ProfileUpdateIn, user: CurrentUserDep, request: Request) -> Profile:
    profile = await run_db(accounts.update_profile, user.id, body.display_name)
    if profile is None:
        raise unauthorized("user not found")
    request.app.state.near.drop(profile_key(user.id))
    await request.app.state.redis.delete(profile_key(user.id))
    return Profile.model_validate(profile)
