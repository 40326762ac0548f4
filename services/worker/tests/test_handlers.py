"""Handlers on real PostgreSQL and the fake OneSignal: exactly-once effect, recorded failures."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from fake_onesignal import FakeOneSignal
from helpers import make_notification, make_user, push_message, routing
from loopin_worker.handlers import Registry
from loopin_worker.handlers.push import PushHandler
from loopin_worker.handlers.webhooks import handle_webhook
from loopin_worker.messages import Message
from loopin_worker.policy import PermanentError, PoisonMessage, TransientError


def handler_for(fake: FakeOneSignal) -> PushHandler:
    return PushHandler(routing(fake))


def test_a_redelivered_message_pushes_once(db: str, fake_onesignal: FakeOneSignal) -> None:
    from loopin_web.notifications.models import NotificationRequest, ProcessedMessage, PushDelivery

    notification = make_notification(make_user(devices=2))
    message = push_message(notification)
    handler = handler_for(fake_onesignal)
    handler(message)
    handler(message)  # SQS redelivery: skipped by the processed-message record
    assert fake_onesignal.state.creations == {message.idempotency_key: 1}
    assert len(fake_onesignal.state.requests) == 1
    assert ProcessedMessage.objects.get(idempotency_key=message.idempotency_key).outcome == "succeeded"
    assert PushDelivery.objects.filter(notification=notification, status="sent").count() == 2
    assert NotificationRequest.objects.get(id=notification.id).status == "sent"


def test_crash_after_the_send_is_replayed_not_resent(db: str, fake_onesignal: FakeOneSignal) -> None:
    from loopin_web.notifications.models import ProcessedMessage

    notification = make_notification(make_user())
    message = push_message(notification)
    fake_onesignal.state.next_faults = ["reset_after"]  # OneSignal sent it, the answer was lost
    handler = handler_for(fake_onesignal)
    with pytest.raises(TransientError):
        handler(message)
    assert not ProcessedMessage.objects.filter(idempotency_key=message.idempotency_key).exists()
    handler(message)
    assert fake_onesignal.state.creations == {message.idempotency_key: 1}
    assert ProcessedMessage.objects.filter(idempotency_key=message.idempotency_key).count() == 1


def test_racing_workers_commit_one_effect(db: str, fake_onesignal: FakeOneSignal) -> None:
    from django.db import connection
    from loopin_web.notifications.models import ProcessedMessage, PushDelivery

    notification = make_notification(make_user())
    message = push_message(notification)
    fake_onesignal.state.delay = 0.3  # both are past the "already processed?" check
    handler = handler_for(fake_onesignal)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            handler(message)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert fake_onesignal.state.creations == {message.idempotency_key: 1}
    assert ProcessedMessage.objects.count() == 1
    assert PushDelivery.objects.count() == 1


def test_invalid_recipients_are_recorded_and_dropped(db: str, fake_onesignal: FakeOneSignal) -> None:
    from loopin_web.notifications.models import NotificationRequest, ProcessedMessage, PushDelivery

    fake_onesignal.state.invalid_ids = {"11111111-1111-1111-1111-111111111111"}
    notification = make_notification(make_user(subscription_ids=["11111111-1111-1111-1111-111111111111"]))
    message = push_message(notification)
    with pytest.raises(PermanentError):
        handler_for(fake_onesignal)(message)
    assert ProcessedMessage.objects.get(idempotency_key=message.idempotency_key).outcome == "failed"
    assert PushDelivery.objects.get(notification=notification).status == "failed"
    assert NotificationRequest.objects.get(id=notification.id).status == "failed"


def test_a_user_without_devices_is_skipped(db: str, fake_onesignal: FakeOneSignal) -> None:
    from loopin_web.notifications.models import NotificationRequest, ProcessedMessage

    notification = make_notification(make_user(subscription_ids=[]))
    notification.user.devices.all().delete()
    message = push_message(notification)
    handler_for(fake_onesignal)(message)
    assert fake_onesignal.state.requests == []
    assert ProcessedMessage.objects.get(idempotency_key=message.idempotency_key).outcome == "skipped"
    assert NotificationRequest.objects.get(id=notification.id).status == "no_devices"


def test_registry_rejects_unknown_types_and_bad_bodies(db: str, fake_onesignal: FakeOneSignal) -> None:
    registry = Registry()
    registry.register("push.requested", handler_for(fake_onesignal))
    registry.register("webhook.received", handle_webhook)

    def msg(queue: str, body: str) -> Message:
        return Message(queue, "u", str(uuid.uuid4()), "rh", body, {})

    with pytest.raises(PoisonMessage):
        registry.dispatch(msg("background-jobs", json.dumps({"type": "job.nope"})))
    with pytest.raises(PoisonMessage):
        registry.dispatch(msg("push-notifications", "{oops"))
    with pytest.raises(PoisonMessage):
        registry.dispatch(msg("push-notifications", json.dumps({"notification_id": "not-a-uuid"})))
    event = json.dumps({"provider": "onesignal", "event": {"event": "notification.clicked", "id": "x"}})
    registry.dispatch(msg("webhook-events", event))
    registry.dispatch(msg("webhook-events", event))  # same body, same derived key: once

    from loopin_web.notifications.models import ProcessedMessage

    assert ProcessedMessage.objects.filter(queue="webhook-events").count() == 1
