"""Webhook intake: HMAC over timestamp and body, a time window, and replay rejection."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient
from loopin_web.webhook_signing import sign


def _post(
    client: TestClient,
    secret: str,
    payload: bytes,
    *,
    ts: int | None = None,
    sig: str | None = None,
    provider: str = "onesignal",
) -> Any:
    timestamp = str(ts if ts is not None else int(time.time()))
    return client.post(
        f"/v1/webhooks/{provider}",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "X-Loopin-Timestamp": timestamp,
            "X-Loopin-Signature": sig or sign(secret, timestamp, payload),
        },
    )


def _secret(settings: Any) -> str:
    return str(settings.webhook_secrets["onesignal"])


def test_signed_webhook_is_accepted_once_and_enqueued(client: TestClient, settings: Any) -> None:
    from loopin_web.notifications.models import OutboxMessage

    payload = json.dumps({"event": "notification.clicked", "id": time.time_ns()}).encode()
    first = _post(client, _secret(settings), payload)
    assert first.status_code == 202, first.text
    row = OutboxMessage.objects.filter(queue_name="webhook-events").order_by("-created_at").first()
    assert row is not None and row.body["payload"]["id"] == json.loads(payload)["id"]
    assert row.attributes["request_id"] == first.headers["x-request-id"]
    replay = _post(client, _secret(settings), payload, ts=int(first.request.headers["x-loopin-timestamp"]))
    assert replay.status_code == 409


def test_bad_signatures_and_stale_timestamps_are_401(client: TestClient, settings: Any) -> None:
    payload = b'{"event": "x"}'
    assert _post(client, "wrong-secret", payload).status_code == 401
    assert _post(client, _secret(settings), payload, ts=int(time.time()) - 301).status_code == 401
    assert _post(client, _secret(settings), payload, ts=int(time.time()) + 301).status_code == 401
    tampered = _post(client, _secret(settings), payload, sig=sign(_secret(settings), "1", payload))
    assert tampered.status_code == 401
    unsigned = client.post(
        "/v1/webhooks/onesignal", content=payload, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401


def test_unknown_provider_and_bad_bodies(client: TestClient, settings: Any) -> None:
    assert _post(client, _secret(settings), b"{}", provider="stripe").status_code == 404
    assert _post(client, _secret(settings), b"{not json").status_code == 400
    assert _post(client, _secret(settings), b"[1, 2]").status_code == 422
    assert _post(client, _secret(settings), b'{"a": "' + b"x" * 70_000 + b'"}').status_code == 413
