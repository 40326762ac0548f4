"""Devices, push requests and webhook intake. Synchronous ORM code: call via run_db."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..accounts.models import User
from .models import PUSH_QUEUE, WEBHOOK_QUEUE, Device, NotificationRequest, OutboxMessage, WebhookReceipt


class NotFound(Exception):
    pass


class Replay(Exception):
    pass


def _device_dict(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "device_id": device.installation_id,
        "platform": device.platform,
        "onesignal_subscription_id": device.onesignal_subscription_id,
        "created_at": device.created_at,
        "updated_at": device.updated_at,
    }


def register_device(
    user_id: uuid.UUID, installation_id: uuid.UUID, platform: str, push_token: str, subscription_id: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    """Create or update the user's device for this install; returns (device, created)."""
    with transaction.atomic():
        device, created = Device.objects.select_for_update().update_or_create(
            user_id=user_id,
            installation_id=installation_id,
            defaults={
                "platform": platform,
                "push_token": push_token,
                "onesignal_subscription_id": subscription_id,
            },
        )
    return _device_dict(device), created


def list_devices(user_id: uuid.UUID) -> list[dict[str, Any]]:
    return [_device_dict(d) for d in Device.objects.filter(user_id=user_id).order_by("created_at")]


def get_device(user_id: uuid.UUID, device_id: uuid.UUID) -> dict[str, Any]:
    # Filtering by owner makes another user's device indistinguishable from a missing one.
    device = Device.objects.filter(user_id=user_id, id=device_id).first()
    if device is None:
        raise NotFound
    return _device_dict(device)


def delete_device(user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    deleted, _ = Device.objects.filter(user_id=user_id, id=device_id).delete()
    if not deleted:
        raise NotFound


def request_push(
    requested_by: uuid.UUID,
    recipient: uuid.UUID,
    title: str,
    body: str,
    data: dict[str, str],
    request_id: str,
) -> dict[str, Any]:
    """Write the request and its outbox message in one transaction: SQS being down loses nothing."""
    with transaction.atomic():
        if not User.objects.filter(pk=recipient, is_active=True).exists():
            raise NotFound
        notification = NotificationRequest.objects.create(
            user_id=recipient,
            requested_by_id=requested_by,
            title=title,
            body=body,
            data=data,
            request_id=uuid.UUID(request_id),
        )
        OutboxMessage.for_queue(
            PUSH_QUEUE,
            {"type": "push.requested", "notification_id": str(notification.id), "user_id": str(recipient)},
            request_id=request_id,
        ).save()
    return {"id": notification.id, "status": notification.status, "created_at": notification.created_at}


def get_notification(user_id: uuid.UUID, notification_id: uuid.UUID) -> dict[str, Any]:
    notification = NotificationRequest.objects.filter(id=notification_id, user_id=user_id).first()
    if notification is None:
        raise NotFound
    return {"id": notification.id, "status": notification.status, "created_at": notification.created_at}


def is_staff(user_id: uuid.UUID) -> bool:
    return bool(User.objects.filter(pk=user_id, is_staff=True).exists())


def accept_webhook(provider: str, signature: str, payload: Any, request_id: str) -> None:
    """Record the delivery (a replay violates the unique key) and enqueue it via the outbox."""
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(provider=provider, signature=signature)
            OutboxMessage.for_queue(
                WEBHOOK_QUEUE,
                {
                    "type": "webhook.received",
                    "provider": provider,
                    "received_at": timezone.now().isoformat(),
                    "payload": payload,
                },
                request_id=request_id,
                provider=provider,
            ).save()
    except IntegrityError as exc:
        raise Replay from exc
