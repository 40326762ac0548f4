"""Sentry, only when SENTRY_DSN is set: the web service's scrubbing and the message's request ID.

Errors the worker logs (a handler that raised, a message sent to the DLQ) become Sentry events
through the SDK's logging integration (ERROR and above). Every event goes through the web
service's `scrub` first, so what leaves the task is as PII-free as the log lines.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from loopin_web.logs import scrub

from .logs import request_id_var
from .settings import WorkerSettings


def before_send(event: Any, hint: Any) -> Any:
    event = scrub(event)
    event.setdefault("tags", {})["request_id"] = request_id_var.get()
    return event


def init(settings: WorkerSettings) -> bool:
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        send_default_pii=False,
        before_send=before_send,
        traces_sample_rate=0.0,
    )
    return True
