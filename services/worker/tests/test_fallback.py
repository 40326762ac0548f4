"""The FCM fallback in the push handler, on real PostgreSQL, the fake OneSignal and the fake FCM.

When OneSignal fails for long enough (the fallback policy), pushes go through FCM; what is
recorded per device before and after each FCM send keeps OneSignal's recovery from pushing the
same request twice; errors that are the request's fault never fall back; an unregistered FCM
token is removed from the user's devices.
"""

from __future__ import annotations

import logging

import pytest
from fake_fcm import FakeFcm
from fake_onesignal import FakeOneSignal
from helpers import fcm_token, make_notification, make_user, push_message, routing
from loopin_worker.handlers.push import PushHandler
from loopin_worker.policy import PermanentError, TransientError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def deliveries(notification: object) -> list[tuple[str, str]]:
    from loopin_web.notifications.models import PushDelivery

    rows = PushDelivery.objects.filter(notification=notification).order_by("device__push_token")
    return list(rows.values_list("provider", "status"))


def test_after_the_window_the_outage_goes_to_fcm(
    db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm, caplog: pytest.LogCaptureFixture
) -> None:
    from loopin_web.notifications.models import NotificationRequest, ProcessedMessage

    clock = Clock()
    push = routing(fake_onesignal, fake_fcm, after=60, clock=clock)
    handler = PushHandler(push)
    fake_onesignal.state.down = 503
    tokens = [fcm_token(), fcm_token()]
    notification = make_notification(make_user(tokens=tokens))
    message = push_message(notification)
    caplog.set_level(logging.INFO, logger="loopin_worker.push")
    with pytest.raises(TransientError) as caught:
        handler(message)
    # Back when the fallback would take over, not on the usual backoff: two receives at most.
    assert caught.value.retry_after == 60 and fake_fcm.state.delivered == []
    clock.now += 30
    with pytest.raises(TransientError) as again:
        handler(message)
    assert again.value.retry_after == 30
    clock.now += 31
    handler(message)
    assert sorted(fake_fcm.delivered_by_notification()[str(notification.id)]) == sorted(tokens)
    assert deliveries(notification) == [("fcm", "sent"), ("fcm", "sent")]
    assert ProcessedMessage.objects.get(idempotency_key=message.idempotency_key).outcome == "succeeded"
    assert NotificationRequest.objects.get(id=notification.id).status == "sent"
    assert fake_onesignal.state.creations == {}
    events = [r.__dict__.get("event") for r in caplog.records if r.__dict__.get("event")]
    assert events == ["onesignal_failed"] * 3 + ["push_fallback_started"]
    sent = [r for r in caplog.records if r.getMessage() == "push sent"]
    assert [(r.__dict__["provider"], r.__dict__["via"], r.__dict__["devices"]) for r in sent] == [
        ("fcm", "fallback", 2)
    ]
    snapshot = push.snapshot()
    assert snapshot["notifications"] == {"fcm": 1} and snapshot["devices"] == {"fcm": 2}
    assert snapshot["fallback_notifications"] == 1 and snapshot["fallback"]["active"] is True
    handler(message)  # a redelivery: nothing sent again
    assert len(fake_fcm.state.delivered) == 2


def test_errors_that_never_fall_back(db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm) -> None:
    from loopin_web.notifications.models import ProcessedMessage

    handler = PushHandler(routing(fake_onesignal, fake_fcm, after=0))
    # Invalid player ids: OneSignal answered, the recipient is the problem.
    fake_onesignal.state.invalid_ids = {"11111111-1111-1111-1111-111111111111"}
    bad = make_notification(make_user(subscription_ids=["11111111-1111-1111-1111-111111111111"]))
    with pytest.raises(PermanentError):
        handler(push_message(bad))
    # A 4xx validation error: FCM would be asked the same wrong thing.
    wrong_app = PushHandler(routing(fake_onesignal, fake_fcm, after=0))
    wrong_app.routing.onesignal.app_id = "not-the-app"
    with pytest.raises(PermanentError):
        wrong_app(push_message(make_notification(make_user(tokens=[fcm_token()]))))
    # 429 is not an outage by default (PUSH_FALLBACK_ON): OneSignal's Retry-After, no FCM.
    fake_onesignal.state.next_faults = ["429"]
    limited = push_message(make_notification(make_user(tokens=[fcm_token()])))
    with pytest.raises(TransientError) as caught:
        handler(limited)
    assert caught.value.retry_after == 1.0
    assert fake_fcm.state.delivered == [] and fake_fcm.state.grants == 0
    assert ProcessedMessage.objects.filter(outcome="failed").count() == 2
    assert not handler.routing.health.active


def test_while_falling_back_onesignal_gets_only_probes(
    db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm
) -> None:
    clock = Clock()
    push = routing(fake_onesignal, fake_fcm, after=0, probe=30, clock=clock)
    handler = PushHandler(push)
    fake_onesignal.state.down = 503
    user = make_user(tokens=[fcm_token()])
    handler(push_message(make_notification(user)))  # the first failure opens the fallback
    handler(push_message(make_notification(user)))  # straight to FCM
    assert len(fake_onesignal.state.requests) == 1 and len(fake_fcm.state.delivered) == 2
    clock.now += 31
    handler(push_message(make_notification(user)))  # a probe: OneSignal is still down, FCM sends
    assert len(fake_onesignal.state.requests) == 2 and len(fake_fcm.state.delivered) == 3
    fake_onesignal.state.down = None
    clock.now += 31
    handler(push_message(make_notification(user)))  # the probe succeeds: back on OneSignal
    handler(push_message(make_notification(user)))
    assert not push.health.active
    assert len(fake_onesignal.state.creations) == 2 and len(fake_fcm.state.delivered) == 3
    assert push.snapshot()["notifications"] == {"fcm": 3, "onesignal": 2}


def test_onesignal_recovering_mid_request_cannot_push_it_twice(
    db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm
) -> None:
    from loopin_web.notifications.models import NotificationRequest, PushDelivery

    tokens = sorted([fcm_token(), fcm_token(), fcm_token()])
    notification = make_notification(make_user(tokens=tokens))
    message = push_message(notification)
    fake_onesignal.state.down = 503
    by_device = {str(d.push_token): d for d in notification.user.devices.all()}
    second = sorted(by_device, key=lambda t: by_device[t].created_at)[1]
    fake_fcm.state.plan[second] = ["UNAVAILABLE"]
    with pytest.raises(TransientError):
        PushHandler(routing(fake_onesignal, fake_fcm, after=0))(message)
    # The first device got it; the second's row was removed again (FCM answered 503: nothing sent).
    rows = dict(
        PushDelivery.objects.filter(notification=notification).values_list("device__push_token", "status")
    )
    first = min(by_device, key=lambda t: by_device[t].created_at)
    assert rows == {first: "sent"}
    # OneSignal is back, and another task (a fresh view of OneSignal) takes the retry: FCM owns it.
    fake_onesignal.state.down = None
    PushHandler(routing(fake_onesignal, fake_fcm, after=0))(message)
    assert fake_onesignal.state.requests == [(message.idempotency_key, "503")]
    assert sorted(fake_fcm.delivered_by_notification()[str(notification.id)]) == tokens
    assert NotificationRequest.objects.get(id=notification.id).status == "sent"


def test_a_lost_fcm_answer_keeps_the_claim(db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm) -> None:
    """FCM delivered but the answer was lost: the device stays claimed by FCM, never OneSignal.
    The resend carries the same collapse id and tag, so the phone replaces the first one."""
    from loopin_web.notifications.models import PushDelivery

    token = fcm_token()
    notification = make_notification(make_user(tokens=[token]))
    message = push_message(notification)
    fake_onesignal.state.down = 503
    fake_fcm.state.next_faults = ["timeout"]
    fake_fcm.state.timeout_sleep = 0.8
    with pytest.raises(TransientError):
        PushHandler(routing(fake_onesignal, fake_fcm, after=0, timeout=0.3))(message)
    assert list(PushDelivery.objects.filter(notification=notification).values_list("status", flat=True)) == [
        "pending"
    ]
    fake_onesignal.state.down = None
    PushHandler(routing(fake_onesignal, fake_fcm, after=0))(message)
    assert len(fake_onesignal.state.requests) == 1 and fake_onesignal.state.creations == {}
    first, again = fake_fcm.state.delivered
    assert (
        first.message["android"]
        == again.message["android"]
        == {
            "collapse_key": message.idempotency_key,
            "notification": {"tag": message.idempotency_key},
        }
    )
    assert first.message["apns"] == again.message["apns"]


def test_an_unregistered_token_is_removed_from_the_users_devices(
    db: str, fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm
) -> None:
    from loopin_web.notifications.models import Device, NotificationRequest, ProcessedMessage, PushDelivery

    gone, kept, apns = fcm_token(), fcm_token(), "b" * 64
    user = make_user(tokens=[gone, kept, apns])
    fake_fcm.state.unregistered = {gone}
    fake_fcm.state.invalid = {apns}
    notification = make_notification(user)
    message = push_message(notification)
    PushHandler(routing(fake_onesignal, fake_fcm, primary="fcm"))(message)
    assert sorted(Device.objects.filter(user=user).values_list("push_token", flat=True)) == sorted(
        [kept, apns]
    )
    rows = sorted(PushDelivery.objects.filter(notification=notification).values_list("status", "error"))
    assert rows == [
        ("failed", "FCM INVALID_ARGUMENT"),
        ("failed", "FCM UNREGISTERED: device removed"),
        ("sent", ""),
    ]
    assert PushDelivery.objects.get(error__startswith="FCM UNREGISTERED").device_id is None
    assert NotificationRequest.objects.get(id=notification.id).status == "partial"
    assert ProcessedMessage.objects.get(idempotency_key=message.idempotency_key).outcome == "succeeded"
    assert fake_onesignal.state.requests == []  # switched to FCM by hand: OneSignal is not asked
    # The next push no longer tries the removed token.
    PushHandler(routing(fake_onesignal, fake_fcm, primary="fcm"))(push_message(make_notification(user)))
    assert [d.token for d in fake_fcm.state.delivered] == [kept, kept]
    # No device can receive it through FCM: recorded as failed, not retried.
    lonely = make_user(tokens=[fcm_token()])
    fake_fcm.state.unregistered.add(str(lonely.devices.get().push_token))
    with pytest.raises(PermanentError, match="no device"):
        PushHandler(routing(fake_onesignal, fake_fcm, primary="fcm"))(push_message(make_notification(lonely)))
    assert not Device.objects.filter(user=lonely).exists()


def test_without_fcm_an_outage_is_retried_and_counted(
    db: str, fake_onesignal: FakeOneSignal, caplog: pytest.LogCaptureFixture
) -> None:
    push = routing(fake_onesignal, None, after=0)
    assert not push.can_fall_back
    fake_onesignal.state.down = 503
    with (
        caplog.at_level(logging.WARNING, logger="loopin_worker.push"),
        pytest.raises(TransientError) as caught,
    ):
        PushHandler(push)(push_message(make_notification(make_user())))
    assert caught.value.retry_after is None  # the usual backoff
    assert [r.__dict__.get("event") for r in caplog.records] == ["onesignal_failed"]
    assert caplog.records[0].__dict__["failure"] == "server_error"
    assert not push.health.active
