"""Sign-up, login, refresh rotation, logout and password change."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from ...accounts import service as accounts
from ...accounts.passwords import password_problems
from ...db import run_db
from ..deps import CurrentUserDep, SignerDep, mark_revoked, unauthorized
from ..errors import AUTH_RESPONSES, _doc
from ..schemas import LogInIn, PasswordChangeIn, RefreshIn, SignUpIn, TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])


def _pair(issued: accounts.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.access_expires_in,
        refresh_expires_at=issued.refresh_expires_at,
    )


def _check_policy(password: str, email: str = "") -> None:
    problems = password_problems(password, email)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="password " + "; ".join(problems))


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenPair,
    responses={409: _doc("An account with this email exists")},
)
async def sign_up(body: SignUpIn, signer: SignerDep) -> TokenPair:
    _check_policy(body.password, body.email)
    try:
        issued = await run_db(accounts.sign_up, signer, body.email, body.password, body.device_id)
    except accounts.EmailTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="email already registered") from exc
    return _pair(issued)


@router.post("/login", response_model=TokenPair, responses=AUTH_RESPONSES)
async def log_in(body: LogInIn, signer: SignerDep) -> TokenPair:
    try:
        issued = await run_db(accounts.log_in, signer, body.email, body.password, body.device_id)
    except accounts.AuthFailed as exc:
        raise unauthorized(exc.reason) from exc
    return _pair(issued)


@router.post("/refresh", response_model=TokenPair, responses=AUTH_RESPONSES)
async def refresh(body: RefreshIn, signer: SignerDep, request: Request) -> TokenPair:
    """Rotate: the presented refresh token is spent. Presenting a spent one revokes the session."""
    try:
        issued = await run_db(accounts.refresh, signer, body.refresh_token, body.device_id)
    except accounts.AuthFailed as exc:
        await mark_revoked(request, exc.revoked_session_ids)
        raise unauthorized(exc.reason) from exc
    return _pair(issued)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=AUTH_RESPONSES)
async def log_out(user: CurrentUserDep, request: Request) -> Response:
    """End this session: its refresh tokens stop working and its access tokens are refused."""
    revoked = await run_db(accounts.log_out, user.session_id)
    await mark_revoked(request, revoked or (user.session_id,))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", response_model=TokenPair, responses=AUTH_RESPONSES)
async def change_password(
    body: PasswordChangeIn, user: CurrentUserDep, signer: SignerDep, request: Request
) -> TokenPair:
    """Change the password, end every session of the user, and start a new one on this device."""
    _check_policy(body.new_password)
    try:
        issued = await run_db(
            accounts.change_password,
            signer,
            user.id,
            body.current_password,
            body.new_password,
            body.device_id,
        )
    except accounts.AuthFailed as exc:
        raise unauthorized(exc.reason) from exc
    await mark_revoked(request, issued.revoked_session_ids)
    return _pair(issued)
