"""Inbound provider webhooks: HMAC-SHA256 over "<timestamp>.<raw body>", 5-minute window, no replays.

Headers: `X-Loopin-Timestamp: <unix seconds>` and `X-Loopin-Signature: v1=<hex digest>`, keyed
with the provider's secret from WEBHOOK_SECRETS. Accepted deliveries go to `webhook-events`
through the outbox, so an SQS outage loses nothing.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Request, status

from ...db import run_db
from ...notifications import service
from ...webhook_signing import WINDOW_SECONDS, sign, verify
from ..deps import SettingsDep
from ..errors import _doc
from ..schemas import Accepted

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_BODY_BYTES = 64 * 1024


@router.post(
    "/{provider}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={
        401: _doc("Missing or wrong signature, or timestamp outside the window"),
        404: _doc("Unknown provider"),
        409: _doc("Replay of an accepted delivery"),
        413: _doc("Body over 64 KiB"),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def receive_webhook(
    request: Request,
    settings: SettingsDep,
    provider: Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9-]+$")],
    x_loopin_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_loopin_signature: Annotated[str | None, Header(max_length=80)] = None,
) -> Accepted:
    secret = settings.webhook_secrets.get(provider)
    if secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown provider")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="body too large")
    if not x_loopin_timestamp or not x_loopin_signature or not x_loopin_timestamp.isdigit():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing signature headers")
    if abs(time.time() - int(x_loopin_timestamp)) > WINDOW_SECONDS:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="timestamp outside the allowed window")
    if not verify(secret, x_loopin_timestamp, body, x_loopin_signature):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="bad signature")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="body must be a JSON object")
    try:
        await run_db(
            service.accept_webhook,
            provider,
            sign(secret, x_loopin_timestamp, body)[3:],
            payload,
            request.state.request_id,
        )
    except service.Replay as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="delivery already accepted") from exc
    return Accepted()
