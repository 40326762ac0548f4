"""Test data: users, devices, notification requests, the messages that announce them, and the
push routing of a worker pointed at the fakes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from fake_fcm import FakeFcm
from fake_onesignal import FakeOneSignal
from loopin_worker.messages import Message
from loopin_worker.push import PushRouting
from loopin_worker.push.fallback import FallbackPolicy, OneSignalHealth
from loopin_worker.push.fcm import FcmClient
from loopin_worker.push.onesignal import OneSignalProvider

OUTAGE_KINDS = ("unreachable", "timeout", "server_error")


def make_user(
    devices: int = 1, subscription_ids: list[str] | None = None, tokens: list[str] | None = None
) -> Any:
    """A user with devices; `tokens` gives their push tokens (FCM registration tokens)."""
    from loopin_web.accounts.models import User
    from loopin_web.notifications.models import Device

    user = User.objects.create_user(f"{uuid.uuid4()}@example.test", None)
    count = len(tokens) if tokens is not None else devices
    ids = subscription_ids or [str(uuid.uuid4()) for _ in range(count)]
    for i, sub in enumerate(ids):
        Device.objects.create(
            user=user,
            installation_id=uuid.uuid4(),
            platform="android" if tokens else "ios",
            push_token=tokens[i] if tokens else f"apns-{uuid.uuid4()}",
            onesignal_subscription_id=sub,
        )
    return user


def fcm_token() -> str:
    """Shaped like an FCM registration token: an instance id, a colon, an opaque part."""
    return f"{uuid.uuid4().hex[:22]}:APA91b{uuid.uuid4().hex}{uuid.uuid4().hex}"


def routing(
    onesignal: FakeOneSignal,
    fcm: FakeFcm | None = None,
    *,
    primary: str = "onesignal",
    after: float = 0.0,
    on: tuple[str, ...] = OUTAGE_KINDS,
    probe: float = 30.0,
    clock: Callable[[], float] | None = None,
    timeout: float = 1.0,
) -> PushRouting:
    """What build_routing makes from a worker's settings, pointed at the fakes."""
    provider = OneSignalProvider(onesignal.state.app_id, onesignal.state.api_key, onesignal.url, timeout)
    client = FcmClient(fcm.service_account(), fcm.url, timeout) if fcm is not None else None
    policy = FallbackPolicy(after, frozenset(on), probe)
    health = OneSignalHealth(policy, clock) if clock is not None else OneSignalHealth(policy)
    return PushRouting(primary, provider, client, health, fallback_enabled=True)


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
