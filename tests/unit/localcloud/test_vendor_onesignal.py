"""The emulator's OneSignal stand-in answers as OneSignal's create-notification API documents."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localcloud.emulator.vendors import onesignal
from werkzeug.test import Client

APP_ID = str(uuid.uuid4())
KEY = "os_v2_app_test"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(onesignal, "_apps", lambda: {APP_ID: KEY})
    onesignal.reset()
    yield Client(onesignal.app)
    onesignal.reset()


def send(client: Client, key: str = KEY, **body: Any) -> Any:
    payload = {"app_id": APP_ID, "include_subscription_ids": ["s-1"], "contents": {"en": "hi"}, **body}
    return client.post("/notifications?c=push", json=payload, headers={"Authorization": f"Key {key}"})


def created(client: Client) -> list[dict[str, Any]]:
    return json.loads(client.get("/_control/notifications").get_data())


def test_a_notification_is_created_once_per_idempotency_key(client: Client) -> None:
    first = send(client, idempotency_key="k-1")
    again = send(client, idempotency_key="k-1")
    assert first.status_code == again.status_code == 200
    assert first.json["id"] == again.json["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert send(client, idempotency_key="k-2").json["id"] != first.json["id"]
    assert [n["idempotency_key"] for n in created(client)] == ["k-1", "k-2"]


@pytest.mark.parametrize(
    ("key", "body", "status", "error"),
    [
        ("wrong", {}, 403, "Access denied"),
        (KEY, {"app_id": str(uuid.uuid4())}, 403, "Access denied"),  # an app it does not know
        (KEY, {"include_subscription_ids": []}, 400, "You must include which players"),
        (KEY, {"app_id": ""}, 400, "app_id not found"),
    ],
)
def test_refusals_say_why_and_create_nothing(
    client: Client, key: str, body: dict, status: int, error: str
) -> None:
    response = send(client, key, **body)
    assert response.status_code == status
    assert error in response.json["errors"][0]
    assert created(client) == []


def test_an_outage_answers_its_status_until_it_ends(client: Client) -> None:
    assert client.put("/_control/outage", json={"status": 503}).status_code == 200
    down = send(client, idempotency_key="k-1")
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert created(client) == []
    assert client.put("/_control/outage", json={"status": 200}).status_code == 400
    client.delete("/_control/outage")
    assert send(client, idempotency_key="k-1").status_code == 200
    assert len(created(client)) == 1


def test_the_apps_are_the_onesignal_secrets_with_a_uuid_app_id() -> None:
    """Read from the emulator's Secrets Manager (moto in process here); the secrets role's
    placeholder and other secrets are no app."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="ap-south-1")
        sm.create_secret(
            Name="loopin/local/onesignal", SecretString=json.dumps({"app_id": APP_ID, "api_key": KEY})
        )
        sm.create_secret(
            Name="loopin/dev/onesignal",
            SecretString=json.dumps({"app_id": "changethis", "api_key": "changethis"}),
        )
        sm.create_secret(Name="loopin/local/fcm", SecretString="changethis")
        assert onesignal._apps() == {APP_ID: KEY}
