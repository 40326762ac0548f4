"""webhook.received: a provider's webhook, verified and enqueued by the web service.

The effect recorded today is the processed-message row (the event is accounted for once); events
that concern a push (OneSignal delivery reports) also mark the matching deliveries.
"""

from __future__ import annotations

import logging

from loopin_web.notifications.models import ProcessedMessage, PushDelivery

from ..idempotency import already_processed, commit_once
from ..messages import Message
from ..policy import PoisonMessage

log = logging.getLogger("loopin_worker.webhooks")


def handle_webhook(message: Message) -> None:
    data = message.json()
    provider = data.get("provider")
    if not isinstance(provider, str) or not provider:
        raise PoisonMessage("webhook event without a provider")
    if already_processed(message):
        log.info("webhook event already processed")
        return
    event = data.get("payload") or data.get("event") or {}
    if not isinstance(event, dict):
        event = {}  # a provider may post any JSON; only objects carry something we act on

    def effect() -> int:
        notification_id = event.get("notification_id") or event.get("id")
        failed = event.get("event") in ("notification.failed", "failed")
        if provider == "onesignal" and notification_id and failed:
            return int(
                PushDelivery.objects.filter(provider_id=str(notification_id)).update(
                    status=PushDelivery.Status.FAILED, error="reported failed by OneSignal"
                )
            )
        return 0

    _, changed = commit_once(message, ProcessedMessage.Outcome.SUCCEEDED, effect)
    log.info("webhook event processed", extra={"provider": provider, "deliveries_changed": changed or 0})
