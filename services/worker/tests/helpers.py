"""Test data: users, devices, notification requests, and the messages that announce them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from loopin_worker.messages import Message


def make_user(devices: int = 1, subscription_ids: list[str] | None = None) -> Any:
    from loopin_web.accounts.models import User
    from loopin_web.notifications.models import Device

    user = User.objects.create_user(f"{uuid.uuid4()}@example.test", None)
    ids = subscription_ids or [str(uuid.uuid4()) for _ in range(devices)]
    for sub in ids:
        Device.objects.create(
            user=user,
            installation_id=uuid.uuid4(),
            platform="ios",
            push_token=f"apns-{uuid.uuid4()}",
            onesignal_subscription_id=sub,
        )
    return user


def make_notification(user: Any) -> Any:
    from loopin_web.notifications.models import NotificationRequest

    return NotificationRequest.objects.create(
        user=user, title="Hello", body="You have a new follower", request_id=uuid.uuid4()
    )


def push_body(notification: Any) -> str:
    return json.dumps({"type": "push.requested", "notification_id": str(notification.id)})


def push_message(notification: Any, key: str | None = None, receive_count: int = 1) -> Message:
    return Message(
        queue="push-notifications",
        queue_url="http://unused",
        message_id=str(uuid.uuid4()),
        receipt_handle="rh",
        body=push_body(notification),
        attributes={"request_id": str(uuid.uuid4()), "idempotency_key": key or str(uuid.uuid4())},
        receive_count=receive_count,
    )
