"""The OneSignal-outage drill: with OneSignal answering 503, pushes reach FCM-registered devices
through FCM exactly once each, across OneSignal recovering mid-batch, the FCM access token
expiring mid-run and a worker restart (SIGTERM) mid-batch.

The worker runs as a real subprocess with the task definition's settings (PUSH_FALLBACK*,
FCM_SERVICE_ACCOUNT as the secret holds it) against moto's SQS, PostgreSQL, the fake OneSignal
and the fake FCM. Then, for every notification request: delivered by exactly one provider, to
each of its devices exactly once; the unregistered token's device removed; the worker's summary
and its log lines say which provider delivered. docs/runbooks/onesignal-outage.md has the steps.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

from conftest import make_queues
from fake_fcm import FakeFcm
from fake_onesignal import FakeOneSignal
from helpers import fcm_token, make_notification, make_user, push_body
from processes import WorkerProcess, free_port, wait_for

NOTIFICATIONS = 40
STOP_TIMEOUT = 10


def test_onesignal_outage_drill(
    db: str, aws_env: dict[str, str], fake_onesignal: FakeOneSignal, fake_fcm: FakeFcm, tmp_path: Path
) -> None:
    from loopin_web.notifications.models import PUSH_QUEUE, Device, ProcessedMessage, PushDelivery

    queues = make_queues(visibility=5, max_receive_count=5)
    fake_onesignal.state.down = 503
    fake_fcm.state.delay = 0.1  # slow enough that the events below land mid-batch

    # A user whose first device was uninstalled (FCM: UNREGISTERED); its push goes out first.
    gone = fcm_token()
    uninstalled = make_user(tokens=[gone, fcm_token()])
    fake_fcm.state.unregistered = {gone}
    users = [uninstalled] + [make_user(tokens=[fcm_token(), fcm_token()]) for _ in range(5)]
    notifications = [make_notification(users[i % len(users)]) for i in range(NOTIFICATIONS)]
    tokens = {
        str(n.id): sorted(str(t) for t in n.user.devices.values_list("push_token", flat=True))
        for n in notifications
    }
    keys = [str(uuid.uuid4()) for _ in notifications]
    for notification, key in zip(notifications, keys, strict=True):
        queues.sqs.send_message(
            QueueUrl=queues.urls[PUSH_QUEUE],
            MessageBody=push_body(notification),
            MessageAttributes={
                "idempotency_key": {"DataType": "String", "StringValue": key},
                "request_id": {"DataType": "String", "StringValue": str(uuid.uuid4())},
            },
        )

    env = {
        **os.environ,
        **aws_env,
        "DATABASE_URL": db,
        "APP_ENV": "test",
        "WORKER_QUEUES": PUSH_QUEUE,
        "WORKER_WAIT_TIME_SECONDS": "1",
        "WORKER_CONCURRENCY": "4",
        "WORKER_BACKOFF_BASE_SECONDS": "1",
        "WORKER_BACKOFF_MAX_SECONDS": "2",
        "WORKER_STOP_TIMEOUT_SECONDS": str(STOP_TIMEOUT),
        "WORKER_HEALTH_HOST": "127.0.0.1",
        "WORKER_HEALTH_PORT": str(free_port()),
        "WORKER_OUTBOX_ENABLED": "false",
        "ONESIGNAL_API_URL": fake_onesignal.url,
        "ONESIGNAL_API_KEY": fake_onesignal.state.api_key,
        "ONESIGNAL_APP_ID": fake_onesignal.state.app_id,
        "PUSH_TIMEOUT_SECONDS": "2",
        # What the ecs role renders from the inventory, with a short window for the drill.
        "PUSH_PROVIDER": "onesignal",
        "PUSH_FALLBACK": "fcm",
        "PUSH_FALLBACK_AFTER_SECONDS": "1",
        "PUSH_FALLBACK_ON": "unreachable,timeout,server_error",
        "PUSH_FALLBACK_PROBE_SECONDS": "1",
        "FCM_SERVICE_ACCOUNT": json.dumps(fake_fcm.service_account()),
        "FCM_API_URL": fake_fcm.url,
    }
    started = time.monotonic()
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    wait_for(lambda: len(fake_fcm.state.delivered) >= 8, 30, "FCM deliveries during the outage")
    fake_fcm.expire_tokens()  # the access token's hour ends mid-run
    wait_for(lambda: len(fake_fcm.state.delivered) >= 12, 30, "FCM deliveries after the token expired")
    first.signal(signal.SIGTERM)  # a deploy or a scale-in mid-batch
    assert first.wait(STOP_TIMEOUT + 5) == 0
    before = len(fake_fcm.state.delivered)
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    wait_for(lambda: len(fake_fcm.state.delivered) >= before + 6, 30, "the restarted worker using FCM")
    fake_onesignal.state.down = None  # OneSignal recovers mid-batch

    def processed() -> int:
        return int(ProcessedMessage.objects.filter(idempotency_key__in=keys).count())

    wait_for(lambda: processed() == NOTIFICATIONS, 60, "every notification processed")
    wait_for(lambda: queues.depth(queues.urls[PUSH_QUEUE]) == 0, 10, "the queue emptied")
    second.signal(signal.SIGTERM)
    assert second.wait(STOP_TIMEOUT + 5) == 0
    took = time.monotonic() - started

    # Exactly once: each request went through one provider, to each device once.
    by_onesignal = set(fake_onesignal.created_by_notification())
    by_fcm = fake_fcm.delivered_by_notification()
    assert not by_onesignal & set(by_fcm), "a request was pushed by both providers"
    assert all(len(keys) == 1 for keys in fake_onesignal.created_by_notification().values())
    for notification in notifications:
        ref = str(notification.id)
        assert ref in by_onesignal or ref in by_fcm, f"{ref} was never delivered"
        if ref in by_fcm:
            expected = [t for t in tokens[ref] if t != gone]
            assert sorted(by_fcm[ref]) == expected, (ref, by_fcm[ref])
    assert len(by_fcm) >= 10 and by_onesignal, (len(by_fcm), len(by_onesignal))  # both delivered
    assert PushDelivery.objects.filter(status="pending").count() == 0

    # The unregistered token's device is gone; the user keeps the other one.
    assert list(Device.objects.filter(user=uninstalled).values_list("push_token", flat=True)) != []
    assert not Device.objects.filter(push_token=gone).exists()
    # The access token expired once mid-run: FCM said 401, the worker minted a new one.
    # The access token expired once mid-run: FCM said 401, the first worker minted a new one.
    assert fake_fcm.state.unauthenticated >= 1

    # What an operator sees: the summary line, and the log lines the metric filters count.
    lines = first.lines() + second.lines()
    summaries = [line["push"] for line in lines if line["message"] == "worker stopped cleanly"]
    assert len(summaries) == 2
    assert summaries[0]["fcm_tokens_minted"] == 2 and summaries[1]["fcm_tokens_minted"] >= 1
    assert sum(s["notifications"].get("fcm", 0) for s in summaries) == len(by_fcm)
    assert sum(s["notifications"].get("onesignal", 0) for s in summaries) == len(by_onesignal)
    events = {line.get("event") for line in lines}
    assert {"onesignal_failed", "push_fallback_started", "push_fallback_ended"} <= events
    sent = [line for line in lines if line["message"] == "push sent"]
    assert {line["provider"] for line in sent} == {"fcm", "onesignal"}
    assert took < 60
