"""push.requested: deliver a NotificationRequest to its user's devices, exactly once in effect.

1. Already in ProcessedMessage -> nothing to do (a redelivery).
2. Send through the provider with the message's idempotency key: if a previous try reached
   OneSignal but crashed before the commit, OneSignal replays its first answer instead of sending.
3. Record the deliveries, the request's status and the ProcessedMessage in one transaction.
"""

from __future__ import annotations

import logging
import uuid

from django.db.models import Exists, QuerySet
from django.utils import timezone
from loopin_web.notifications.models import (
    Device,
    NotificationRequest,
    ProcessedMessage,
    PushDelivery,
)

from ..idempotency import already_processed, commit_once
from ..messages import Message
from ..policy import PermanentError, PoisonMessage
from ..push import InvalidRecipients, PushProvider, PushRequest, PushResult

log = logging.getLogger("loopin_worker.push")


def _notification_id(message: Message) -> uuid.UUID:
    data = message.json()
    raw = data.get("notification_id") or data.get("notification_request_id")
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise PoisonMessage("push.requested without a valid notification_id") from exc


class PushHandler:
    def __init__(self, provider: PushProvider) -> None:
        self.provider = provider

    def __call__(self, message: Message) -> None:
        notification_id = _notification_id(message)
        # One round trip for "is it done already?" and "what is it?" (this runs for every push).
        processed = ProcessedMessage.objects.filter(idempotency_key=message.idempotency_key)
        notification = (
            NotificationRequest.objects.filter(id=notification_id).annotate(done=Exists(processed)).first()
        )
        if (notification is not None and notification.done) or (
            notification is None and already_processed(message)
        ):
            log.info("already delivered, dropping the redelivery")
            return
        if notification is None:
            # Deleted with its user after it was queued: nothing to send, ever.
            commit_once(message, ProcessedMessage.Outcome.SKIPPED, lambda: None)
            raise PermanentError("notification request no longer exists")
        devices = list(_devices(notification))
        if not devices:
            commit_once(
                message, ProcessedMessage.Outcome.SKIPPED, lambda: _set_status(notification, "no_devices")
            )
            log.info("user has no devices")
            return
        request = PushRequest(
            idempotency_key=message.idempotency_key,
            subscription_ids=[str(d.onesignal_subscription_id) for d in devices],
            tokens=[d.push_token for d in devices],
            title=notification.title,
            body=notification.body,
            data={**notification.data, "notification_id": str(notification.id)},
        )
        try:
            result = self.provider.send(request)
        except InvalidRecipients as exc:
            failed = PushResult(self.provider.name, "", list(request.subscription_ids))
            commit_once(
                message, ProcessedMessage.Outcome.FAILED, lambda: _record(notification, devices, failed)
            )
            raise PermanentError(f"no valid recipient: {exc}") from exc
        except PermanentError as exc:
            failed = PushResult(self.provider.name, "", list(request.subscription_ids))
            commit_once(
                message, ProcessedMessage.Outcome.FAILED, lambda: _record(notification, devices, failed)
            )
            raise PermanentError(str(exc)) from exc
        recorded, _ = commit_once(
            message, ProcessedMessage.Outcome.SUCCEEDED, lambda: _record(notification, devices, result)
        )
        log.info(
            "push sent",
            extra={
                "provider": result.provider,
                "provider_id": result.notification_id,
                "devices": len(devices),
                "invalid": len(result.invalid_recipients),
                "replayed": result.replayed,
                "recorded": recorded,
            },
        )


def _devices(notification: NotificationRequest) -> QuerySet[Device]:
    return Device.objects.filter(user_id=notification.user_id).order_by("created_at")


def _set_status(notification: NotificationRequest, status: str) -> None:
    NotificationRequest.objects.filter(id=notification.id).update(status=status, updated_at=timezone.now())


def _record(notification: NotificationRequest, devices: list[Device], result: PushResult) -> None:
    invalid = set(result.invalid_recipients)
    rows = []
    for device in devices:
        bad = str(device.onesignal_subscription_id) in invalid or device.push_token in invalid
        rows.append(
            PushDelivery(
                notification=notification,
                device=device,
                status=PushDelivery.Status.FAILED if bad else PushDelivery.Status.SENT,
                provider=result.provider,
                provider_id=result.notification_id,
                error="invalid recipient" if bad else "",
            )
        )
    PushDelivery.objects.bulk_create(rows)
    sent = sum(1 for row in rows if row.status == PushDelivery.Status.SENT)
    status = "sent" if sent == len(rows) else ("failed" if sent == 0 else "partial")
    _set_status(notification, status)
