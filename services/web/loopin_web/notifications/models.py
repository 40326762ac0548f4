"""Devices, push requests, the transactional outbox and the worker's bookkeeping.

The web service writes `NotificationRequest` and its `OutboxMessage` in one transaction;
`relay_outbox` (loopin_web.notifications.outbox) publishes the outbox to SQS; the worker records
each consumed message in `ProcessedMessage` (exactly-once effect) and each send in `PushDelivery`.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# UUIDv5 namespace for idempotency keys: OneSignal wants UUIDs and honours them for 30 days.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d0c3e-7a51-4c56-9d0e-2b7b1f0a9c11")

PUSH_QUEUE = "push-notifications"
WEBHOOK_QUEUE = "webhook-events"


def idempotency_key_for(outbox_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, str(outbox_id))


class Device(models.Model):
    class Platform(models.TextChoices):
        IOS = "ios"
        ANDROID = "android"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    installation_id = models.UUIDField(help_text="Client-generated id of the app install (device_id).")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    push_token = models.CharField(max_length=512)
    onesignal_subscription_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "installation_id"], name="device_unique_per_install"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class NotificationRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # written with its outbox row, not yet delivered by the worker
        SENT = "sent"
        PARTIAL = "partial"
        FAILED = "failed"
        NO_DEVICES = "no_devices"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    title = models.CharField(max_length=120)
    body = models.CharField(max_length=1000)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    request_id = models.UUIDField(help_text="X-Request-ID of the API call that asked for it.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return str(self.id)


class OutboxMessage(models.Model):
    """A message to publish to SQS, written in the same transaction as the change it announces.

    `attributes` holds the SQS message attributes as plain strings (request_id, idempotency_key).
    Relays claim rows with SELECT ... FOR UPDATE SKIP LOCKED, so several may run at once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue_name = models.CharField(max_length=80)
    body = models.JSONField()
    attributes = models.JSONField(default=dict)
    idempotency_key = models.UUIDField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes: ClassVar = [
            models.Index(
                fields=["created_at"], name="outbox_unpublished", condition=Q(published_at__isnull=True)
            ),
        ]

    @classmethod
    def for_queue(
        cls, queue_name: str, body: dict[str, object], *, request_id: str, **attributes: str
    ) -> OutboxMessage:
        """An unsaved message whose idempotency key is derived from its own id."""
        message_id = uuid.uuid4()
        key = idempotency_key_for(message_id)
        attrs = {"request_id": request_id, "idempotency_key": str(key), **attributes}
        return cls(id=message_id, queue_name=queue_name, body=body, attributes=attrs, idempotency_key=key)

    def __str__(self) -> str:
        return str(self.id)


class ProcessedMessage(models.Model):
    """A consumed message, by idempotency key: the worker skips keys already here."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # permanently: retrying would not help
        SKIPPED = "skipped"

    idempotency_key = models.UUIDField(unique=True)
    queue = models.CharField(max_length=80)
    processed_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    def __str__(self) -> str:
        return str(self.idempotency_key)


class PushDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    notification = models.ForeignKey(NotificationRequest, on_delete=models.CASCADE, related_name="deliveries")
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(max_length=32, default="onesignal")
    provider_id = models.CharField(max_length=128, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["notification", "device"], name="one_delivery_per_device"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class WebhookReceipt(models.Model):
    """One accepted webhook delivery: the unique key makes a replayed delivery fail to insert."""

    provider = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider", "signature"], name="webhook_replay_guard"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.id}"
