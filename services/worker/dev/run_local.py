"""`make worker`: run the worker on this machine against the local stack.

- SQS: the emulator `make worker` started (AWS_ENDPOINT_URL, default http://127.0.0.1:5000); the
  three queues and their DLQs are created if `make up` has not made them yet.
- PostgreSQL: DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/loopin, the same as the
  web service's `make dev`); the database is created and migrated if needed.
- OneSignal: a fake on 127.0.0.1 (services/worker/tests/fake_onesignal.py) unless
  ONESIGNAL_API_URL is set; nothing leaves the machine.
- FCM: the fallback, with a fake FCM and its service account (services/worker/tests/fake_fcm.py)
  unless FCM_SERVICE_ACCOUNT is set.
- Health: http://127.0.0.1:8001/health (8000 is the web service's in `make dev`).

Ctrl-C (or SIGTERM) drains the worker like ECS does; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import boto3
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

QUEUES = ("push-notifications", "webhook-events", "background-jobs")
MAX_RECEIVE_COUNT = 5


def ensure_queues(prefix: str) -> dict[str, str]:
    sqs = boto3.client("sqs")
    urls = {}
    for name in (prefix + q for q in QUEUES):
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
            urls[name] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            continue
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
        urls[name] = sqs.create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": "60", "RedrivePolicy": policy}
        )["QueueUrl"]
    return urls


def ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    from django.core.management import call_command
    from loopin_web.django_setup import setup

    setup(database_url=url)
    call_command("migrate", verbosity=0, interactive=False)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/loopin")
    env.setdefault("WORKER_HEALTH_HOST", "127.0.0.1")
    env.setdefault("WORKER_HEALTH_PORT", "8001")
    env.setdefault("APP_ENV", "development")
    urls = ensure_queues(env.get("SQS_QUEUE_PREFIX", ""))
    ensure_database(env["DATABASE_URL"])
    fake = None
    if "ONESIGNAL_API_URL" not in env:
        from fake_onesignal import FakeOneSignal

        fake = FakeOneSignal().__enter__()
        env.update(
            ONESIGNAL_API_URL=fake.url,
            ONESIGNAL_API_KEY=fake.state.api_key,
            ONESIGNAL_APP_ID=fake.state.app_id,
        )
    fcm = None
    if "FCM_SERVICE_ACCOUNT" not in env:
        from fake_fcm import FakeFcm

        fcm = FakeFcm().__enter__()
        env.update(FCM_SERVICE_ACCOUNT=json.dumps(fcm.service_account()), FCM_API_URL=fcm.url)
        env.setdefault("PUSH_FALLBACK", "fcm")
    print(f"worker: queues {', '.join(urls)} on {env.get('AWS_ENDPOINT_URL', 'AWS')}", flush=True)
    print(f"worker: database {env['DATABASE_URL'].rsplit('/', 1)[1]}, OneSignal {env['ONESIGNAL_API_URL']}")
    if fcm is not None:
        print(f"worker: FCM fallback {fcm.url} (PUSH_FALLBACK={env['PUSH_FALLBACK']})")
    print(f"worker: health http://127.0.0.1:{env['WORKER_HEALTH_PORT']}/health; Ctrl-C drains", flush=True)
    # Its own session: a Ctrl-C reaches it once, forwarded below, not twice (which means "exit now").
    child = subprocess.Popen([sys.executable, "-m", "loopin_worker", "run"], env=env, start_new_session=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    if fake is not None:
        fake.__exit__(None, None, None)
        print(f"worker: the fake OneSignal received {len(fake.state.requests)} request(s)")
    if fcm is not None:
        fcm.__exit__(None, None, None)
        print(f"worker: the fake FCM delivered {len(fcm.state.delivered)} message(s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
