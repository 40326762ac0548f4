"""Push requests land in PostgreSQL with their outbox row; the relay publishes them to SQS."""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from .conftest import Account, new_account

# Django models exist once the session's app has configured Django: import them lazily.
if TYPE_CHECKING:
    from loopin_web.notifications.models import OutboxMessage


@pytest.fixture(autouse=True)
def _django(app: Any) -> None:
    global NotificationRequest, OutboxMessage, idempotency_key_for, relay_outbox
    from loopin_web.notifications import models, outbox

    NotificationRequest, OutboxMessage = models.NotificationRequest, models.OutboxMessage
    idempotency_key_for, relay_outbox = models.idempotency_key_for, outbox.relay_outbox


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not got.get("Messages"):
            return messages
        messages += got["Messages"]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in got["Messages"]],
        )


@pytest.fixture
def empty_outbox(queue_urls: dict[str, str], sqs: Any) -> None:
    OutboxMessage.objects.all().delete()
    for url in queue_urls.values():
        _drain(sqs, url)


def test_request_writes_notification_and_outbox_then_relay_publishes(
    client: TestClient, account: Account, sqs: Any, queue_urls: dict[str, str], empty_outbox: None
) -> None:
    request_id = str(uuid.uuid4())
    resp = client.post(
        "/v1/notifications",
        json={"title": "Hi", "body": "You have a new loop", "data": {"loop": "42"}},
        headers={**account.headers, "X-Request-ID": request_id},
    )
    assert resp.status_code == 202, resp.text
    notification = NotificationRequest.objects.get(id=resp.json()["id"])
    assert str(notification.request_id) == request_id
    outbox = OutboxMessage.objects.get(body__notification_id=str(notification.id))
    assert outbox.published_at is None
    assert outbox.idempotency_key == idempotency_key_for(outbox.id)

    assert relay_outbox(10, sqs, queue_urls) == 1
    assert relay_outbox(10, sqs, queue_urls) == 0  # nothing published twice
    (message,) = _drain(sqs, queue_urls["push-notifications"])
    assert json.loads(message["Body"])["notification_id"] == str(notification.id)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"request_id": request_id, "idempotency_key": str(outbox.idempotency_key)}
    assert (
        client.get(f"/v1/notifications/{notification.id}", headers=account.headers).json()["status"]
        == "pending"
    )


def test_sqs_down_loses_nothing(
    client: TestClient, account: Account, sqs: Any, queue_urls: dict[str, str], empty_outbox: None
) -> None:
    resp = client.post("/v1/notifications", json={"title": "t", "body": "b"}, headers=account.headers)
    assert resp.status_code == 202
    dead = {name: url.replace(url.split("/")[2], "127.0.0.1:9") for name, url in queue_urls.items()}
    import boto3
    from botocore.config import Config

    unreachable = boto3.client(
        "sqs",
        endpoint_url="http://127.0.0.1:9",
        region_name="ap-south-1",
        config=Config(connect_timeout=0.5, retries={"total_max_attempts": 1}),
    )
    assert relay_outbox(10, unreachable, dead) == 0
    row = OutboxMessage.objects.get(body__notification_id=resp.json()["id"])
    assert row.published_at is None and row.attempts == 1 and row.last_error
    assert relay_outbox(10, sqs, queue_urls) == 1


def test_concurrent_relays_publish_each_row_once(
    client: TestClient, account: Account, sqs: Any, queue_urls: dict[str, str], empty_outbox: None
) -> None:
    for i in range(25):
        client.post("/v1/notifications", json={"title": f"t{i}", "body": "b"}, headers=account.headers)
    counts: list[int] = []

    def relay() -> None:
        from django.db import connection

        try:
            while n := relay_outbox(5, sqs, queue_urls):
                counts.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 25
    bodies = [json.loads(m["Body"])["notification_id"] for m in _drain(sqs, queue_urls["push-notifications"])]
    assert len(bodies) == len(set(bodies)) == 25


def test_only_staff_may_notify_someone_else(client: TestClient, account: Account) -> None:
    other = new_account(client)
    resp = client.post(
        "/v1/notifications",
        json={"title": "t", "body": "b", "user_id": str(uuid.uuid4())},
        headers=other.headers,
    )
    assert resp.status_code == 403
    assert client.get(f"/v1/notifications/{uuid.uuid4()}", headers=account.headers).status_code == 404


def test_notification_input_is_bounded(client: TestClient, account: Account) -> None:
    for body in (
        {"title": "", "body": "b"},
        {"title": "t" * 121, "body": "b"},
        {"title": "t", "body": "b", "data": {"k": "v" * 501}},
        {"title": "t", "body": "b", "data": {str(i): "v" for i in range(21)}},
        {"title": "t", "body": "b", "priority": "high"},
        {"title": 5, "body": "b"},
    ):
        assert client.post("/v1/notifications", json=body, headers=account.headers).status_code == 422, body
