"""Request and response bodies. Requests forbid unknown fields and bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUpIn(Strict):
    email: Email
    password: Password = Field(description="At least 12 characters mixing 3 of: lower, upper, digit, symbol")
    device_id: uuid.UUID = Field(description="Stable id of this app install; refresh tokens are bound to it")


class LogInIn(SignUpIn):
    pass


class RefreshIn(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    device_id: uuid.UUID


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password
    device_id: uuid.UUID


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_at: datetime


class Profile(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    is_staff: bool
    date_joined: datetime


class ProfileUpdateIn(Strict):
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class DeviceIn(Strict):
    device_id: uuid.UUID = Field(description="The app install id used at login")
    platform: Literal["ios", "android"]
    push_token: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[\x21-\x7e]+$")]
    onesignal_subscription_id: uuid.UUID


class DeviceOut(BaseModel):
    id: uuid.UUID
    device_id: uuid.UUID
    platform: Literal["ios", "android"]
    onesignal_subscription_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class NotificationIn(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    data: dict[str, Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )
    user_id: uuid.UUID | None = Field(default=None, description="Recipient; only staff may name another user")


class NotificationOut(BaseModel):
    id: uuid.UUID
    status: str
    created_at: datetime


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, Any]
