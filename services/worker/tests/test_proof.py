"""The worker's delivery guarantee: nothing lost, nothing pushed twice, across SIGKILL and SIGTERM mid-batch.

The worker runs as a real subprocess (`python -m loopin_worker run`) against moto's SQS, real
PostgreSQL and the fake OneSignal, which answers some requests with 429, 500, a timeout or a
connection reset. The worker is SIGKILLed mid-batch and restarted, SIGTERMed mid-batch (it must
exit 0 within its stop timeout), and restarted once more to finish. Then:

- every push was created at OneSignal exactly once (one idempotency key per notification);
- poison messages (bad JSON, unknown type) sit in the DLQs, and nothing else does;
- permanent failures (invalid recipients) are recorded and deleted;
- sent = processed + in DLQ, and the source queues are empty.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

from conftest import Queues, make_queues
from fake_onesignal import FakeOneSignal
from helpers import make_notification, make_user, push_body
from loopin_worker.messages import Message
from processes import WorkerProcess, free_port, wait_for

STOP_TIMEOUT = 10
INVALID_SUBSCRIPTION = "99999999-9999-9999-9999-999999999999"


def test_exactly_once_effect_across_sigkill_and_sigterm(
    db: str, aws_env: dict[str, str], fake_onesignal: FakeOneSignal, tmp_path: Path
) -> None:
    from loopin_web.notifications.models import (
        PUSH_QUEUE,
        OutboxMessage,
        ProcessedMessage,
        PushDelivery,
    )

    # Short visibility so killed messages come back quickly; 6 receives before the DLQ.
    queues: Queues = make_queues(visibility=4, max_receive_count=6)
    fake = fake_onesignal
    fake.state.delay = 0.15  # slow enough that a signal lands mid-batch
    fake.state.timeout_sleep = 2.0
    fake.state.invalid_ids = {INVALID_SUBSCRIPTION}

    def send(queue: str, body: str, **attributes: str) -> Message:
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        url = queues.urls[queue]
        queues.sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
        return Message(queue, url, "-", "-", body, attributes)

    sent: list[Message] = []
    good: list[str] = []  # notification ids that must be pushed exactly once
    users = [make_user(devices=2) for _ in range(5)]
    for i in range(30):
        notification = make_notification(users[i % 5])
        good.append(str(notification.id))
        sent.append(
            send(
                PUSH_QUEUE,
                push_body(notification),
                request_id=str(uuid.uuid4()),
                idempotency_key=str(uuid.uuid4()),
            )
        )
    outbox_rows = []
    for i in range(20):
        notification = make_notification(users[i % 5])
        good.append(str(notification.id))
        outbox_rows.append(
            OutboxMessage.for_queue(
                PUSH_QUEUE,
                {"type": "push.requested", "notification_id": str(notification.id)},
                request_id=str(uuid.uuid4()),
            )
        )
    OutboxMessage.objects.bulk_create(outbox_rows)
    invalid_user = make_user(subscription_ids=[INVALID_SUBSCRIPTION])
    invalid = [make_notification(invalid_user) for _ in range(4)]
    for notification in invalid:
        sent.append(send(PUSH_QUEUE, push_body(notification), request_id=str(uuid.uuid4())))
    poison_request_ids = [str(uuid.uuid4()) for _ in range(5)]
    poison = [
        send(PUSH_QUEUE, "{this is not json", request_id=poison_request_ids[0]),
        send(PUSH_QUEUE, "[1, 2", request_id=poison_request_ids[1]),
        send("webhook-events", "<xml/>", request_id=poison_request_ids[2]),
        send(PUSH_QUEUE, json.dumps({"type": "push.teleport"}), request_id=poison_request_ids[3]),
        send("background-jobs", json.dumps({"type": "job.unknown"}), request_id=poison_request_ids[4]),
    ]
    sent += poison
    for i in range(4):
        event = {"provider": "onesignal", "event": {"event": "notification.clicked", "id": f"n{i}"}}
        sent.append(send("webhook-events", json.dumps(event), request_id=str(uuid.uuid4())))
    sent.append(send("background-jobs", json.dumps({"type": "job.purge_processed_messages"})))
    # Transient failures on some pushes: each recovers within two tries.
    faults = [["429"], ["500"], ["timeout"], ["reset"], ["reset_after"], ["429", "500"]]
    faults.append(["reset_after", "429"])
    for notification_id, plan in zip(good[::7], faults, strict=False):
        fake.state.plan[notification_id] = list(plan)

    expected_keys = {m.idempotency_key for m in sent if m not in poison} | {
        str(row.idempotency_key) for row in outbox_rows
    }
    total_sent = len(sent) + len(outbox_rows)

    env = {
        **os.environ,
        **aws_env,
        "DATABASE_URL": db,
        "APP_ENV": "test",
        "LOG_LEVEL": "INFO",
        "WORKER_WAIT_TIME_SECONDS": "1",
        "WORKER_BACKOFF_BASE_SECONDS": "1",
        "WORKER_BACKOFF_MAX_SECONDS": "2",
        "WORKER_POISON_DELAY_SECONDS": "0",
        "WORKER_STOP_TIMEOUT_SECONDS": str(STOP_TIMEOUT),
        "WORKER_HEALTH_HOST": "127.0.0.1",
        "WORKER_HEALTH_PORT": str(free_port()),
        "WORKER_OUTBOX_INTERVAL_SECONDS": "0.2",
        "ONESIGNAL_API_URL": fake.url,
        "ONESIGNAL_API_KEY": fake.state.api_key,
        "ONESIGNAL_APP_ID": fake.state.app_id,
        "PUSH_TIMEOUT_SECONDS": "1",
    }
    started = time.monotonic()

    # 1. SIGKILL mid-batch: requests are in flight at the fake when the process dies.
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    wait_for(lambda: len(fake.state.requests) >= 5 and fake.state.active > 0, 30, "a batch in flight")
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL

    # 2. Restart, then SIGTERM mid-batch: in-flight finish, the rest is released, exit 0.
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    wait_for(second.healthy, 30, "the restarted worker's health endpoint")
    before = len(fake.state.requests)
    wait_for(lambda: len(fake.state.requests) >= before + 10 and fake.state.active > 0, 30, "a second batch")
    term_at = time.monotonic()
    second.signal(signal.SIGTERM)
    assert second.wait(STOP_TIMEOUT + 5) == 0, (tmp_path / "worker-2.log").read_text()[-3000:]
    assert time.monotonic() - term_at < STOP_TIMEOUT + 2
    assert any(line["message"] == "worker stopped cleanly" for line in second.lines())

    # 3. A last worker finishes the job.
    third = WorkerProcess(env, tmp_path / "worker-3.log")
    dlqs = list(queues.dlqs.values())

    def accounted() -> bool:
        processed = ProcessedMessage.objects.filter(idempotency_key__in=expected_keys).count()
        return processed + sum(queues.depth(u) for u in dlqs) == total_sent and all(
            queues.depth(u) == 0 for u in queues.urls.values()
        )

    wait_for(accounted, 60, "every message processed or dead-lettered")
    third.signal(signal.SIGTERM)
    assert third.wait(STOP_TIMEOUT + 5) == 0

    # Exactly once at OneSignal: one created notification (one key) per notification request.
    created = fake.created_by_notification()
    assert sorted(created) == sorted(good)
    assert all(len(keys) == 1 for keys in created.values()), {k: v for k, v in created.items() if len(v) > 1}
    assert all(count == 1 for count in fake.state.creations.values())
    assert fake.state.unkeyed == 0
    assert PushDelivery.objects.filter(status="sent").count() == 2 * len(good)

    # Permanent failures recorded and deleted, not retried forever nor dead-lettered.
    failed = ProcessedMessage.objects.filter(outcome="failed")
    assert failed.count() == len(invalid)
    assert PushDelivery.objects.filter(status="failed").count() == len(invalid)

    # Poison, and only poison, in the DLQs; sent = processed + in DLQ.
    dead = [m for url in dlqs for m in queues.drain(url)]
    assert sorted(m["Body"] for m in dead) == sorted(m.body for m in poison)
    processed = ProcessedMessage.objects.filter(idempotency_key__in=expected_keys).count()
    assert processed == len(expected_keys)
    assert total_sent == processed + len(dead)
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0

    # The faults really happened, and every poison message was logged with its request ID.
    outcomes = {outcome for _, outcome in fake.state.requests}
    assert {"429", "500", "timeout", "reset", "reset_after"} <= outcomes
    lines = first.lines() + second.lines() + third.lines()
    logged_poison = {line["request_id"] for line in lines if line["message"].startswith("poison message")}
    assert set(poison_request_ids) <= logged_poison
    assert all("request_id" in line for line in lines)
    assert time.monotonic() - started < 100


def test_a_second_signal_exits_at_once(
    db: str, aws_env: dict[str, str], fake_onesignal: FakeOneSignal, tmp_path: Path
) -> None:
    from loopin_web.notifications.models import PUSH_QUEUE

    queues = make_queues(visibility=30)
    fake_onesignal.state.delay = 20  # the push hangs: the drain would take the whole stop timeout
    notification = make_notification(make_user())
    queues.sqs.send_message(QueueUrl=queues.urls[PUSH_QUEUE], MessageBody=push_body(notification))
    env = {
        **os.environ,
        **aws_env,
        "DATABASE_URL": db,
        "WORKER_WAIT_TIME_SECONDS": "1",
        "WORKER_STOP_TIMEOUT_SECONDS": "60",
        "WORKER_HEALTH_HOST": "127.0.0.1",
        "WORKER_HEALTH_PORT": str(free_port()),
        "ONESIGNAL_API_URL": fake_onesignal.url,
        "ONESIGNAL_API_KEY": fake_onesignal.state.api_key,
        "ONESIGNAL_APP_ID": fake_onesignal.state.app_id,
        "PUSH_TIMEOUT_SECONDS": "30",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    wait_for(lambda: fake_onesignal.state.active > 0, 30, "the push in flight")
    worker.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.proc.poll() is None  # draining, waiting for the push
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(5) == 128 + signal.SIGTERM
    assert time.monotonic() - signalled < 2
    assert any(line["message"] == "second signal: exiting now" for line in worker.lines())
