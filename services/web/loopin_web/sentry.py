"""Sentry, only when SENTRY_DSN is set, with the same scrubbing as the logs and the request ID."""

from __future__ import annotations

from typing import Any

import sentry_sdk

from .logs import request_id_var, scrub
from .settings import Settings


def before_send(event: Any, hint: Any) -> Any:
    event = scrub(event)
    event.setdefault("tags", {})["request_id"] = request_id_var.get()
    return event


def init(settings: Settings) -> bool:
    if not settings.SENTRY_DSN:
        return False
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.APP_ENV,
        send_default_pii=False,
        before_send=before_send,
        traces_sample_rate=0.0,
        max_request_body_size="never",
    )
    return True
