"""`make bench-worker`: notifications per second of one worker process against the SQS floor.

One run, one fresh emulator, the same queue for both measurements:

- floor:  a bare boto3 loop (receive 10 with long polling -> delete_message_batch) draining N
          pre-loaded messages, doing nothing with them;
- worker: `python -m loopin_worker run` (one process, default concurrency) draining N pre-loaded
          push.requested messages, each a real delivery: PostgreSQL reads, a POST to the fake
          OneSignal on 127.0.0.1, the deliveries and processed-message record committed, the
          message deleted.

Both consume continuously while the bench sends rounds of messages; a round is timed from its
first send to its last message done (the same for both), and the queue stays shallow. Floor and
worker alternate in segments (a fresh worker process each), so a shared machine's changing load
hits both alike; the rates are totals over all segments.
Peak RSS of the worker is its VmHWM at the end. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
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

# Override when several checkouts share one PostgreSQL.
DB = os.environ.get("WORKER_BENCH_DB", "loopin_worker_bench")
PG = "postgresql://postgres@127.0.0.1:5432"
QUEUE = "push-notifications"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed_rounds(
    send_round: Callable[[int], None], done: Callable[[], int], rounds: int, size: int, timeout: float = 120
) -> float:
    """Seconds spent on `rounds` rounds of `size` messages, each timed from its first send to its
    last message done. Rounds keep the queue shallow: moto's receive slows down with queue depth
    (about 8 ms at 20 messages, 270 ms at 200), which would otherwise measure the emulator only."""
    total_time = 0.0
    for r in range(rounds):
        target = done() + size
        t0 = time.monotonic()
        send_round(r)
        deadline = t0 + timeout
        while done() < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"round {r}: only {done()} of {target} done in {timeout}s")
            time.sleep(0.01)
        total_time += time.monotonic() - t0
    return total_time


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


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
    parser.add_argument("--segments", type=int, default=4, help="floor/worker alternations")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per segment")
    parser.add_argument("--size", type=int, default=50, help="messages per round")
    args = parser.parse_args()
    segments, rounds, size = args.segments, args.rounds, args.size
    n = segments * rounds * size  # per side

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

        counter = iter(range(10**9))

        # Floor: a bare receive/delete loop in a thread, consuming as the rounds are sent.
        def floor_segment() -> float:
            deleted = 0
            stop = threading.Event()

            def floor_loop() -> None:
                nonlocal deleted
                while not stop.is_set():
                    messages = sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
                    ).get("Messages", [])
                    if messages:
                        handles = [
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(messages)
                        ]
                        sqs.delete_message_batch(QueueUrl=url, Entries=handles)
                        deleted += len(messages)

            thread = threading.Thread(target=floor_loop, daemon=True)
            thread.start()
            seconds = timed_rounds(
                lambda r: preload(
                    sqs,
                    url,
                    [
                        (json.dumps({"n": next(counter)}), {"request_id": str(uuid.uuid4())})
                        for _ in range(size)
                    ],
                ),
                lambda: deleted,
                rounds,
                size,
            )
            stop.set()
            thread.join(5)
            return seconds

        # Worker: one process, real deliveries, polling its three queues as in production.
        pending = iter(notifications)
        worker_env = {
            **env,
            "DATABASE_URL": f"{PG}/{DB}",
            "APP_ENV": "test",
            "LOG_LEVEL": "INFO",  # as in production: two JSON lines per message
            "WORKER_HEALTH_HOST": "127.0.0.1",
            "WORKER_HEALTH_PORT": str(free_port()),
            "WORKER_OUTBOX_ENABLED": "false",
            # Only so that each segment's worker stops quickly; moto answers a long poll as soon as
            # it has a message, so this changes nothing while messages flow.
            "WORKER_WAIT_TIME_SECONDS": "1",
            "ONESIGNAL_API_URL": fake.url,
            "ONESIGNAL_API_KEY": fake.state.api_key,
            "ONESIGNAL_APP_ID": fake.state.app_id,
        }
        log_path = ROOT / ".state" / "bench-worker.log"
        log_path.parent.mkdir(exist_ok=True)
        peak_kb, cpu_seconds, exit_codes = 0, 0.0, []

        def worker_round(_: int) -> None:
            batch = [next(pending) for _ in range(size)]
            bodies = [
                (
                    json.dumps({"type": "push.requested", "notification_id": str(x.id)}),
                    {"request_id": str(uuid.uuid4()), "idempotency_key": str(uuid.uuid4())},
                )
                for x in batch
            ]
            preload(sqs, url, bodies)

        def cpu_of(pid: int) -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        def worker_segment() -> float:
            nonlocal peak_kb, cpu_seconds
            with open(log_path, "ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "loopin_worker", "run"],
                    env=worker_env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
                try:
                    health = f"http://127.0.0.1:{worker_env['WORKER_HEALTH_PORT']}/health"
                    deadline = time.monotonic() + 30
                    while not _up(health):
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise RuntimeError("the worker did not start")
                        time.sleep(0.1)
                    cpu_before = cpu_of(proc.pid)
                    seconds = timed_rounds(
                        worker_round, lambda: ProcessedMessage.objects.count(), rounds, size
                    )
                    cpu_seconds += cpu_of(proc.pid) - cpu_before
                    status = Path(f"/proc/{proc.pid}/status").read_text()
                    hwm = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
                    peak_kb = max(peak_kb, int(hwm))
                finally:
                    proc.terminate()
                    exit_codes.append(proc.wait(60))
            return seconds

        # Floor and worker alternate segments, so the load of a shared machine hits both alike.
        floor_times, worker_times = [], []
        for _ in range(segments):
            floor_times.append(floor_segment())
            worker_times.append(worker_segment())
        per_segment = rounds * size
        floor = per_segment * segments / sum(floor_times)
        worker = per_segment * segments / sum(worker_times)
        done = ProcessedMessage.objects.count()
        pushed = sum(fake.state.creations.values())

    print(
        f"bench-worker: {segments} alternating segments of {rounds} rounds x {size} messages each for the"
        f" floor and the worker; one emulator, queue {QUEUE}"
    )
    print(f"  floor  (bare boto3 receive/delete loop) : {floor:8.1f} messages/s")
    floor_rates = ", ".join(f"{per_segment / t:.0f}" for t in floor_times)
    worker_rates = ", ".join(f"{per_segment / t:.0f}" for t in worker_times)
    print(f"  per segment, floor                      : {floor_rates}")
    print(f"  per segment, worker                     : {worker_rates}")
    print(f"  worker (one process, full delivery)     : {worker:8.1f} notifications/s")
    print(f"  ratio worker/floor                      : {worker / floor:8.1%}  (target >= 70%)")
    print(f"  worker peak RSS (VmHWM)                 : {peak_kb / 1024:8.1f} MiB")
    print(f"  worker CPU per notification             : {cpu_seconds / n * 1000:8.2f} ms (user+system)")
    print(f"  delivered {done}/{n}, OneSignal notifications created {pushed}, exit codes {exit_codes}")
    print(f"  worker log: {log_path.relative_to(ROOT)}; machine load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
