"""One handler per message type; `Registry.dispatch` is what the consumer calls for each message.

| queue              | type (attribute or body field) | handler                     |
|--------------------|--------------------------------|-----------------------------|
| push-notifications | `push.requested` (the default) | handlers/push.py           |
| webhook-events     | `webhook.received` (default)   | handlers/webhooks.py        |
| background-jobs    | `job.<name>`                   | handlers/jobs.py            |

A type no handler knows is a poison message: it goes to the dead-letter queue, not the floor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import close_old_connections

from ..messages import Message
from ..policy import PoisonMessage

Handler = Callable[[Message], None]

# How often a handler thread lets Django drop connections that are broken or past CONN_MAX_AGE.
# Not before every message: with CONN_HEALTH_CHECKS each such call costs a `SELECT 1` round trip.
CONNECTION_CHECK_SECONDS = 30.0

# The type a message gets when it names none, by queue name (without the environment prefix).
DEFAULT_TYPES = {"push-notifications": "push.requested", "webhook-events": "webhook.received"}


class Registry:
    def __init__(self, queue_prefix: str = "") -> None:
        self.handlers: dict[str, Handler] = {}
        self.queue_prefix = queue_prefix
        self._thread = threading.local()

    def register(self, message_type: str, handler: Handler) -> None:
        self.handlers[message_type] = handler

    def resolve(self, message: Message) -> tuple[str, Handler]:
        queue = message.queue.removeprefix(self.queue_prefix)
        message_type = message.type or DEFAULT_TYPES.get(queue)
        if message_type is None:
            raise PoisonMessage("message names no type")
        handler = self.handlers.get(message_type)
        if handler is None:
            raise PoisonMessage(f"unknown message type {message_type[:80]!r}")
        return message_type, handler

    def dispatch(self, message: Message) -> None:
        _, handler = self.resolve(message)
        try:
            handler(message)
        except Exception:
            # A failed handler may have left a broken connection (PostgreSQL restarted): check now,
            # so the next message on this thread reconnects instead of failing too.
            close_old_connections()
            raise
        now = time.monotonic()
        if now - getattr(self._thread, "checked", 0.0) > CONNECTION_CHECK_SECONDS:
            self._thread.checked = now
            close_old_connections()
