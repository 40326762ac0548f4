"""JWTs per the token policy: access 15 minutes, refresh 7 days absolute, HS256 only.

Every token carries `typ` (access|refresh), `sid` (the session = refresh-token family) and the
pinned `iss`/`aud`; refresh tokens also carry `did`, the device they are bound to. Decoding
accepts only the pinned algorithm, so `alg: none` and algorithm-confusion tokens fail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
LEEWAY_SECONDS = 5
VERIFIED_CACHE_SIZE = 10_000
TokenType = Literal["access", "refresh"]


class TokenInvalid(Exception):
    """The token is not one we issued for this purpose; the reason is for logs, not clients."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: uuid.UUID
    sid: uuid.UUID
    jti: uuid.UUID
    typ: TokenType
    exp: datetime
    did: uuid.UUID | None = None
    sub_text: str = ""  # str(sub) and str(sid), kept because every request builds cache keys from them
    sid_text: str = ""


@dataclass(frozen=True, slots=True)
class TokenSigner:
    key: str
    issuer: str
    audience: str
    # Tokens already verified, by their exact text (signature included, so a forgery never hits):
    # a client presents the same access token for 15 minutes, and checking the HMAC and claims
    # again each time is the largest CPU cost of an authenticated request.
    _verified: dict[str, Claims] = field(default_factory=dict, compare=False, repr=False)

    def encode(
        self,
        *,
        typ: TokenType,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        expires_at: datetime,
        jti: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> str:
        now = now or datetime.now(UTC)
        payload: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": str(jti or uuid.uuid4()),
            "typ": typ,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        if device_id is not None:
            payload["did"] = str(device_id)
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)

    def access_token(self, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        return self.encode(
            typ="access", user_id=user_id, session_id=session_id, expires_at=now + ACCESS_TTL, now=now
        )

    def decode(self, token: str, expected: TokenType) -> Claims:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.typ != expected:
                raise TokenInvalid("wrong token type")
            if cached.exp.timestamp() + LEEWAY_SECONDS < datetime.now(UTC).timestamp():
                raise TokenInvalid("ExpiredSignatureError")
            return cached
        claims = self._verify(token, expected)
        if expected == "access":  # refresh tokens are single-use: nothing to gain
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    def _verify(self, token: str, expected: TokenType) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "sid", "jti", "typ"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid(type(exc).__name__) from exc
        if payload.get("typ") != expected:
            raise TokenInvalid("wrong token type")
        try:
            sub, sid = uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"])
            return Claims(
                sub=sub,
                sid=sid,
                sub_text=str(sub),
                sid_text=str(sid),
                jti=uuid.UUID(payload["jti"]),
                typ=expected,
                exp=datetime.fromtimestamp(payload["exp"], UTC),
                did=uuid.UUID(payload["did"]) if "did" in payload else None,
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise TokenInvalid("malformed claims") from exc
