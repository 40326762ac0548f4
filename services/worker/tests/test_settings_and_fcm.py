"""Settings refuse placeholders and malformed secrets; the FCM client against the fake FCM:
the OAuth token minted from the service account, refreshed on expiry, and FCM's error codes."""

from __future__ import annotations

import json
import logging
import socket
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_fcm import FakeFcm
from fake_onesignal import FakeOneSignal
from helpers import fcm_token, routing
from loopin_worker.push import ProviderFailure, PushRequest, build_routing
from loopin_worker.push.fcm import FcmClient
from loopin_worker.settings import WorkerSettings
from pydantic import ValidationError

REAL_KEY = "a-real-looking-key-0123456789"
REAL_APP = "5eb5a37e-b458-11e3-ac11-000c2940e62c"


def test_placeholders_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValidationError, match="ONESIGNAL_API_KEY"):
        WorkerSettings()
    # What the secrets role writes until an operator sets the value.
    monkeypatch.setenv("ONESIGNAL_API_KEY", "changethis")
    monkeypatch.setenv("ONESIGNAL_APP_ID", REAL_APP)
    with pytest.raises(ValidationError, match="ONESIGNAL_API_KEY"):
        WorkerSettings()
    monkeypatch.setenv("ONESIGNAL_API_KEY", REAL_KEY)
    monkeypatch.setenv("ONESIGNAL_APP_ID", "changethis")
    with pytest.raises(ValidationError, match="ONESIGNAL_APP_ID"):
        WorkerSettings()
    monkeypatch.setenv("ONESIGNAL_APP_ID", REAL_APP)
    settings = WorkerSettings()
    assert settings.queue_names == ["push-notifications", "webhook-events", "background-jobs"]


def test_an_unset_fcm_secret_disables_the_fallback_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("ONESIGNAL_API_KEY", REAL_KEY)
    monkeypatch.setenv("ONESIGNAL_APP_ID", REAL_APP)
    monkeypatch.setenv("PUSH_FALLBACK", "fcm")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", "changethis")
    settings = WorkerSettings()
    assert settings.fcm_service_account_info is None
    with caplog.at_level(logging.WARNING, logger="loopin_worker.push"):
        routing = build_routing(settings)
    assert routing.fcm is None and not routing.can_fall_back
    assert [r.__dict__.get("event") for r in caplog.records] == ["push_fallback_unconfigured"]
    # Switching to FCM by hand with no service account is refused at start, not at the first push.
    monkeypatch.setenv("PUSH_PROVIDER", "fcm")
    with pytest.raises(ValidationError, match="PUSH_PROVIDER=fcm needs FCM_SERVICE_ACCOUNT"):
        WorkerSettings()


def test_a_malformed_service_account_fails_at_start_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, fake_fcm: FakeFcm
) -> None:
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", "{not json, secret-material-xyz")
    with pytest.raises(ValidationError) as caught:
        WorkerSettings()
    assert "is not JSON" in str(caught.value) and "secret-material-xyz" not in str(caught.value)
    account = fake_fcm.service_account()
    del account["private_key"]
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(account))
    with pytest.raises(ValidationError, match="lacks private_key"):
        WorkerSettings()
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(fake_fcm.service_account()))
    monkeypatch.setenv("PUSH_FALLBACK", "fcm")
    monkeypatch.setenv("FCM_API_URL", fake_fcm.url)
    routing = build_routing(WorkerSettings())
    assert routing.can_fall_back and routing.fcm is not None
    assert routing.fcm.url == f"{fake_fcm.url}/v1/projects/loopin-test/messages:send"


def test_the_fallback_policy_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_FALLBACK", "fcm")
    monkeypatch.setenv("PUSH_FALLBACK_ON", "server_error,timeouts")
    with pytest.raises(ValidationError, match="unknown failure kinds \\['timeouts'\\]"):
        WorkerSettings()
    monkeypatch.setenv("PUSH_FALLBACK_ON", " ")
    with pytest.raises(ValidationError, match="PUSH_FALLBACK_ON is empty"):
        WorkerSettings()
    monkeypatch.setenv("PUSH_FALLBACK_ON", "server_error, timeout")
    monkeypatch.setenv("SQS_QUEUE_PREFIX", "loopin-staging-")
    settings = WorkerSettings()
    assert settings.push_fallback_kinds == ("server_error", "timeout")
    assert settings.queue_names[0] == "loopin-staging-push-notifications"


def push(notification_id: str = "n-1") -> PushRequest:
    key = str(uuid.uuid4())
    return PushRequest(key, ["s"], [], "Title", "Body", {"notification_id": notification_id, "n": 1})


def client(fake: FakeFcm, timeout: float = 1.0) -> FcmClient:
    return FcmClient(fake.service_account(), fake.url, timeout)


def test_the_token_is_minted_once_and_the_message_is_fcm_v1(fake_fcm: FakeFcm) -> None:
    fcm = client(fake_fcm)
    token = fcm_token()
    request = push()
    first, second = fcm.send(token, request), fcm.send(token, request)
    assert first.sent and first.name.startswith("projects/loopin-test/messages/") and second.sent
    assert fake_fcm.state.grants == 1 and fcm.tokens_minted == 1
    message = fake_fcm.state.delivered[0].message
    key = request.idempotency_key
    assert message["data"] == {"notification_id": "n-1", "n": "1", "idempotency_key": key}
    assert message["android"] == {"collapse_key": key, "notification": {"tag": key}}
    assert message["apns"] == {"headers": {"apns-collapse-id": key}}
    assert message["notification"] == {"title": "Title", "body": "Body"}


def test_an_expired_token_is_refreshed_and_the_send_retried(fake_fcm: FakeFcm) -> None:
    fcm = client(fake_fcm)
    token = fcm_token()
    assert fcm.send(token, push()).sent
    fake_fcm.expire_tokens()  # the hour is over: FCM answers 401 UNAUTHENTICATED
    assert fcm.send(token, push()).sent
    assert fake_fcm.state.unauthenticated == 1 and fake_fcm.state.grants == 2
    assert len(fake_fcm.state.delivered) == 2


def test_a_token_close_to_expiry_is_refreshed_before_use(fake_fcm: FakeFcm) -> None:
    fake_fcm.state.token_lifetime = 2  # inside google-auth's refresh margin at once
    fcm = client(fake_fcm)
    for _ in range(3):
        assert fcm.send(fcm_token(), push()).sent
    assert fake_fcm.state.grants == 3 and fake_fcm.state.unauthenticated == 0


def test_a_wrong_key_or_an_unreachable_token_endpoint_is_transient(fake_fcm: FakeFcm) -> None:
    forged = fake_fcm.service_account()
    forged["private_key"] = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    stranger = fake_fcm.service_account()
    stranger["client_email"] = "someone-else@loopin-test.iam.gserviceaccount.com"
    for account in (forged, stranger):  # a bad signature, then a valid one by another issuer
        with pytest.raises(ProviderFailure) as caught:
            FcmClient(account, fake_fcm.url, 1.0).send(fcm_token(), push())
        assert caught.value.kind == "auth"
    assert fake_fcm.state.refused_grants == 2 and fake_fcm.state.grants == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unreachable_account = fake_fcm.service_account()
    unreachable_account["token_uri"] = f"http://127.0.0.1:{closed}/token"
    with pytest.raises(ProviderFailure) as unreachable:
        FcmClient(unreachable_account, fake_fcm.url, 1.0).send(fcm_token(), push())
    assert unreachable.value.kind == "unreachable" and not unreachable.value.maybe_delivered
    assert fake_fcm.state.delivered == []


def test_fcm_error_codes(fake_fcm: FakeFcm) -> None:
    fcm = client(fake_fcm, timeout=0.3)
    gone, apns = fcm_token(), "a" * 64  # an APNs device token is not an FCM registration token
    fake_fcm.state.unregistered = {gone}
    fake_fcm.state.invalid = {apns}
    unregistered = fcm.send(gone, push())
    assert unregistered.unregistered and unregistered.error == "UNREGISTERED" and not unregistered.sent
    invalid = fcm.send(apns, push())
    assert not invalid.sent and not invalid.unregistered and invalid.error == "INVALID_ARGUMENT"
    fake_fcm.state.next_faults = ["QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"]
    with pytest.raises(ProviderFailure) as quota:
        fcm.send(fcm_token(), push())
    assert quota.value.kind == "rate_limited" and quota.value.retry_after == 1.0
    for _ in range(2):
        with pytest.raises(ProviderFailure) as down:
            fcm.send(fcm_token(), push())
        assert down.value.kind == "server_error" and not down.value.maybe_delivered
    fake_fcm.state.next_faults = ["timeout"]
    fake_fcm.state.timeout_sleep = 1.0
    with pytest.raises(ProviderFailure) as lost:
        fcm.send(fcm_token(), push())
    assert lost.value.maybe_delivered and len(fake_fcm.state.delivered) == 1  # it was delivered


def test_health_and_summary_show_the_routing(fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm) -> None:
    snapshot = routing(fake_onesignal, fake_fcm).snapshot()
    assert snapshot["primary"] == "onesignal"
    assert snapshot["fallback"] == {"provider": "fcm", "active": False, "onesignal_failing_seconds": None}
    assert snapshot["notifications"] == {} and snapshot["fcm_tokens_minted"] == 0
