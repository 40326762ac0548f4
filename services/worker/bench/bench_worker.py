"""`make bench-worker`: notifications per second of one worker process against the SQS floor.

One run, one fresh emulator, the same queue for both measurements:

- floor:  a bare boto3 loop (receive 10 with long polling -> delete_message_batch) draining N
          pre-loaded messages, doing nothing with them;
- worker: `python -m loopin_worker run` (one process, default concurrency) draining N pre-loaded
          push.requested messages, each a real delivery: PostgreSQL reads, a POST to the fake
          OneSignal on 127.0.0.1, the deliveries and processed-message record committed, the
          message deleted.

Rates are taken between 10% and 90% of the messages done, so start-up and the tail do not count.
Peak RSS of the worker is its VmHWM at the end. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(HERE.parent / "tests"))

import emulator  # noqa: E402
from fake_onesignal import FakeOneSignal  # noqa: E402

DB = "loopin_worker_bench"
PG = "postgresql://postgres@127.0.0.1:5432"
QUEUE = "push-notifications"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def window_rate(done: Callable[[], int], total: int, timeout: float = 300) -> float:
    """Messages/s between 10% and 90% of `total` done, polling `done()`."""
    low, high = int(total * 0.1), int(total * 0.9)
    t_low = t_high = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = done()
        now = time.monotonic()
        if t_low is None and count >= low:
            t_low, n_low = now, count
        if count >= high:
            t_high, n_high = now, count
            break
        time.sleep(0.01)
    if t_low is None or t_high is None:
        raise RuntimeError(f"only {done()} of {total} done in {timeout}s")
    return (n_high - n_low) / (t_high - t_low)


def preload(sqs: object, url: str, bodies: list[tuple[str, dict[str, str]]]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": body,
                "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()},
            }
            for i, (body, attrs) in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="messages per measurement")
    args = parser.parse_args()
    n = args.n

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    from loopin_web.django_setup import setup

    setup(database_url=f"{PG}/{DB}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from loopin_web.accounts.models import User
    from loopin_web.notifications.models import Device, NotificationRequest, ProcessedMessage

    users = [User.objects.create_user(f"bench{i}@example.test", None) for i in range(50)]
    Device.objects.bulk_create(
        Device(
            user=u,
            installation_id=uuid.uuid4(),
            platform="android",
            push_token=f"fcm-{uuid.uuid4()}",
            onesignal_subscription_id=uuid.uuid4(),
        )
        for u in users
    )
    notifications = NotificationRequest.objects.bulk_create(
        NotificationRequest(user=users[i % 50], title="t", body="b", request_id=uuid.uuid4())
        for i in range(n)
    )

    with emulator.running() as endpoint, FakeOneSignal() as fake:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "ap-south-1",
        }
        os.environ.update(env)
        sqs = boto3.client("sqs")
        for other in ("webhook-events", "background-jobs"):  # the worker polls all three
            sqs.create_queue(QueueName=other)
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]

        # Floor: bare receive/delete.
        preload(sqs, url, [(json.dumps({"n": i}), {"request_id": str(uuid.uuid4())}) for i in range(n)])
        deleted = 0

        def floor_loop() -> int:
            nonlocal deleted
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if messages:
                handles = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                sqs.delete_message_batch(QueueUrl=url, Entries=handles)
                deleted += len(messages)
            return deleted

        floor = window_rate(floor_loop, n)
        while floor_loop() < n:
            pass

        # Worker: one process, real deliveries.
        preload(
            sqs,
            url,
            [
                (
                    json.dumps({"type": "push.requested", "notification_id": str(x.id)}),
                    {"request_id": str(uuid.uuid4()), "idempotency_key": str(uuid.uuid4())},
                )
                for x in notifications
            ],
        )
        worker_env = {
            **env,
            "DATABASE_URL": f"{PG}/{DB}",
            "APP_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "WORKER_WAIT_TIME_SECONDS": "1",
            "WORKER_HEALTH_HOST": "127.0.0.1",
            "WORKER_HEALTH_PORT": str(free_port()),
            "WORKER_OUTBOX_ENABLED": "false",
            "ONESIGNAL_API_URL": fake.url,
            "ONESIGNAL_API_KEY": fake.state.api_key,
            "ONESIGNAL_APP_ID": fake.state.app_id,
        }
        proc = subprocess.Popen([sys.executable, "-m", "loopin_worker", "run"], env=worker_env)
        try:
            worker = window_rate(lambda: ProcessedMessage.objects.count(), n)
            deadline = time.monotonic() + 120
            while ProcessedMessage.objects.count() < n and time.monotonic() < deadline:
                time.sleep(0.05)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        finally:
            proc.terminate()
            proc.wait(60)
        done = ProcessedMessage.objects.count()
        pushed = sum(fake.state.creations.values())

    print(f"bench-worker: {n} messages per measurement, one emulator, queue {QUEUE}")
    print(f"  floor  (bare boto3 receive/delete loop) : {floor:8.1f} messages/s")
    print(f"  worker (one process, full delivery)     : {worker:8.1f} notifications/s")
    print(f"  ratio worker/floor                      : {worker / floor:8.1%}  (target >= 70%)")
    print(f"  worker peak RSS (VmHWM)                 : {peak_kb / 1024:8.1f} MiB")
    print(f"  delivered {done}/{n}, OneSignal notifications created {pushed}, exit code {proc.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
