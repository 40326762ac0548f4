"""Sign-up, login, refresh rotation and revocation. Synchronous ORM code: call via run_db.

Refresh rotation: each refresh token is a RefreshToken row. Using one marks it used and issues the
next in the same session; presenting a used one again means it was stolen or replayed, so the
whole session (every token of the family) is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..tokens import ACCESS_TTL, REFRESH_TTL, TokenInvalid, TokenSigner
from .models import AuthSession, RefreshToken, User


class AuthFailed(Exception):
    """Credentials or token rejected; the message is safe to show the client."""

    def __init__(self, reason: str, revoked_session_ids: tuple[uuid.UUID, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.revoked_session_ids = revoked_session_ids


class EmailTaken(Exception):
    pass


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    access_expires_in: int
    refresh_expires_at: datetime
    session_id: uuid.UUID
    revoked_session_ids: tuple[uuid.UUID, ...] = ()


def _issue(signer: TokenSigner, session: AuthSession, now: datetime) -> IssuedTokens:
    jti = uuid.uuid4()
    RefreshToken.objects.create(jti=jti, session=session, issued_at=now)
    refresh = signer.encode(
        typ="refresh",
        user_id=session.user_id,
        session_id=session.id,
        expires_at=session.expires_at,
        jti=jti,
        device_id=session.device_id,
        now=now,
    )
    return IssuedTokens(
        access_token=signer.access_token(session.user_id, session.id, now),
        refresh_token=refresh,
        access_expires_in=int(ACCESS_TTL.total_seconds()),
        refresh_expires_at=session.expires_at,
        session_id=session.id,
    )


def _new_session(signer: TokenSigner, user: User, device_id: uuid.UUID) -> IssuedTokens:
    now = timezone.now()
    session = AuthSession.objects.create(
        user=user, device_id=device_id, created_at=now, expires_at=now + REFRESH_TTL
    )
    return _issue(signer, session, now)


def sign_up(signer: TokenSigner, email: str, password: str, device_id: uuid.UUID) -> IssuedTokens:
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
            return _new_session(signer, user, device_id)
    except IntegrityError as exc:
        raise EmailTaken from exc


def log_in(signer: TokenSigner, email: str, password: str, device_id: uuid.UUID) -> IssuedTokens:
    # authenticate() hashes even for unknown emails, so timing does not reveal which exist.
    user = authenticate(email=email.lower(), password=password)
    if user is None:
        raise AuthFailed("invalid email or password")
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    with transaction.atomic():
        return _new_session(signer, user, device_id)


def _revoke_sessions(sessions: list[AuthSession], reason: str) -> tuple[uuid.UUID, ...]:
    now = timezone.now()
    ids = tuple(s.id for s in sessions if s.revoked_at is None)
    AuthSession.objects.filter(id__in=ids).update(revoked_at=now, revoked_reason=reason)
    return ids


def refresh(signer: TokenSigner, token: str, device_id: uuid.UUID) -> IssuedTokens:
    """Rotate a refresh token. Raises AuthFailed; a reuse also revokes the session."""
    try:
        claims = signer.decode(token, "refresh")
    except TokenInvalid as exc:
        raise AuthFailed("invalid refresh token") from exc
    if claims.did != device_id:
        raise AuthFailed("refresh token belongs to another device")
    now = timezone.now()
    revoked: tuple[uuid.UUID, ...] = ()
    with transaction.atomic():
        session = AuthSession.objects.select_for_update().filter(id=claims.sid, user_id=claims.sub).first()
        if session is None or not session.is_active:
            raise AuthFailed("session ended")
        row = RefreshToken.objects.filter(jti=claims.jti, session=session).first()
        if row is None:
            raise AuthFailed("invalid refresh token")
        if row.used_at is None:
            row.used_at = now
            row.save(update_fields=["used_at"])
            return _issue(signer, session, now)
        revoked = _revoke_sessions([session], "refresh_reuse")
    # Outside the atomic block so the revocation commits; the caller still answers 401.
    raise AuthFailed("refresh token reused; session revoked", revoked)


def log_out(session_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    return _revoke_sessions(list(AuthSession.objects.filter(id=session_id)), "logout")


def session_is_active(session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    now = timezone.now()
    return bool(
        AuthSession.objects.filter(
            id=session_id, user_id=user_id, revoked_at__isnull=True, expires_at__gt=now, user__is_active=True
        ).exists()
    )


def change_password(
    signer: TokenSigner, user_id: uuid.UUID, current: str, new: str, device_id: uuid.UUID
) -> IssuedTokens:
    """Set a new password, revoke every session of the user, and start a fresh one here."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if not user.check_password(current):
            raise AuthFailed("current password is wrong")
        user.set_password(new)
        user.password_changed_at = datetime.now(UTC)
        user.save(update_fields=["password", "password_changed_at"])
        revoked = _revoke_sessions(
            list(user.auth_sessions.filter(revoked_at__isnull=True)), "password_change"
        )
        issued = _new_session(signer, user, device_id)
    return IssuedTokens(**{**issued.__dict__, "revoked_session_ids": revoked})


def profile(user_id: uuid.UUID) -> dict[str, object] | None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "is_staff": user.is_staff,
        "date_joined": user.date_joined.isoformat(),
    }


def update_profile(user_id: uuid.UUID, display_name: str) -> dict[str, object] | None:
    User.objects.filter(pk=user_id).update(display_name=display_name)
    return profile(user_id)
