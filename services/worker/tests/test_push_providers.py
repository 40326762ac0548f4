"""OneSignal provider against the fake OneSignal server, each failure mode of the issue."""

from __future__ import annotations

import socket
import uuid

import pytest
from fake_onesignal import FakeOneSignal
from loopin_worker.policy import PermanentError, TransientError
from loopin_worker.push import InvalidRecipients, ProviderFailure, ProviderUnreachable, PushRequest
from loopin_worker.push.onesignal import OneSignalProvider


def provider_for(fake: FakeOneSignal, key: str | None = None, timeout: float = 1.0) -> OneSignalProvider:
    return OneSignalProvider(fake.state.app_id, key or fake.state.api_key, fake.url, timeout)


def request(*subscriptions: str, notification_id: str = "n-1") -> PushRequest:
    return PushRequest(
        idempotency_key=str(uuid.uuid4()),
        subscription_ids=list(subscriptions) or [str(uuid.uuid4())],
        tokens=["token"],
        title="Hi",
        body="There",
        data={"notification_id": notification_id},
    )


def test_sends_once_per_idempotency_key(fake_onesignal: FakeOneSignal) -> None:
    provider = provider_for(fake_onesignal)
    req = request()
    first = provider.send(req)
    again = provider.send(req)
    assert first.notification_id and first.notification_id == again.notification_id
    assert not first.replayed and again.replayed
    assert fake_onesignal.state.creations[req.idempotency_key] == 1
    sent = fake_onesignal.state.notifications[req.idempotency_key].payload
    assert sent["idempotency_key"] == req.idempotency_key and sent["target_channel"] == "push"


def test_429_carries_retry_after(fake_onesignal: FakeOneSignal) -> None:
    fake_onesignal.state.next_faults = ["429"]
    with pytest.raises(TransientError) as caught:
        provider_for(fake_onesignal).send(request())
    assert caught.value.retry_after == 1.0


@pytest.mark.parametrize("fault", ["500", "timeout", "reset", "reset_after"])
def test_server_errors_timeouts_and_resets_are_transient(fake_onesignal: FakeOneSignal, fault: str) -> None:
    fake_onesignal.state.next_faults = [fault]
    fake_onesignal.state.timeout_sleep = 1.5
    req = request()
    with pytest.raises(TransientError):
        provider_for(fake_onesignal, timeout=0.5).send(req)
    # The retry carries the same key: whatever the lost try created is replayed, not re-sent.
    result = provider_for(fake_onesignal).send(req)
    assert result.notification_id
    assert fake_onesignal.state.creations[req.idempotency_key] == 1


def test_all_recipients_invalid_is_permanent(fake_onesignal: FakeOneSignal) -> None:
    fake_onesignal.state.invalid_ids = {"bad-1"}
    with pytest.raises(InvalidRecipients):
        provider_for(fake_onesignal).send(request("bad-1"))


def test_some_recipients_invalid_are_reported(fake_onesignal: FakeOneSignal) -> None:
    fake_onesignal.state.invalid_ids = {"bad-1"}
    result = provider_for(fake_onesignal).send(request("bad-1", "good-1"))
    assert result.notification_id and result.invalid_recipients == ["bad-1"]


def test_wrong_key_retries_instead_of_dropping(fake_onesignal: FakeOneSignal) -> None:
    with pytest.raises(TransientError) as caught:
        provider_for(fake_onesignal, key="wrong").send(request())
    assert "401" in str(caught.value)


def test_other_4xx_is_permanent(fake_onesignal: FakeOneSignal) -> None:
    provider = OneSignalProvider("not-the-app", fake_onesignal.state.api_key, fake_onesignal.url, 1.0)
    with pytest.raises(PermanentError):
        provider.send(request())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("503", "server_error"), ("500", "server_error"), ("timeout", "timeout"), ("reset", "timeout"),
     ("reset_after", "timeout"), ("429", "rate_limited")],
)  # fmt: skip
def test_each_failure_names_its_kind(fake_onesignal: FakeOneSignal, fault: str, kind: str) -> None:
    """The fallback policy (PUSH_FALLBACK_ON) decides by these kinds."""
    fake_onesignal.state.next_faults = [fault]
    fake_onesignal.state.timeout_sleep = 1.0
    with pytest.raises(ProviderFailure) as caught:
        provider_for(fake_onesignal, timeout=0.3).send(request())
    assert caught.value.kind == kind
    assert caught.value.maybe_delivered == (kind == "timeout")


def test_unreachable_and_refused_key_kinds(fake_onesignal: FakeOneSignal) -> None:
    down = OneSignalProvider("app", "key", f"http://127.0.0.1:{closed_port()}", 0.5)
    with pytest.raises(ProviderUnreachable) as caught:
        down.send(request())
    assert caught.value.kind == "unreachable" and not caught.value.maybe_delivered
    with pytest.raises(ProviderFailure) as refused:
        provider_for(fake_onesignal, key="wrong").send(request())
    assert refused.value.kind == "auth"
