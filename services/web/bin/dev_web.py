"""`make dev`: the web service on http://127.0.0.1:8000 against the local stack.

Local PostgreSQL (database `loopin`, created and migrated), local Redis (DB 0) and the SQS queues
in the emulator that `make emulator-up` started at AWS_ENDPOINT_URL. Development placeholders
for the secrets (APP_ENV=development is the only environment that accepts them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg

WEB = Path(__file__).resolve().parents[1]
DATABASE = os.environ.get("LOOPIN_DEV_DB", "loopin")
PORT = os.environ.get("PORT", "8000")


def main() -> None:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1"):
        raise SystemExit(
            "make dev talks only to the local emulator: AWS_ENDPOINT_URL must be http://127.0.0.1:..."
        )
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "ap-south-1"))
    queues = {
        name: sqs.create_queue(QueueName=name)["QueueUrl"]
        for name in ("push-notifications", "webhook-events")
    }

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "APP_ENV": "development",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SQS_PUSH_QUEUE_URL": queues["push-notifications"],
        "SQS_WEBHOOK_QUEUE_URL": queues["webhook-events"],
        "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-south-1"),
    }
    subprocess.run([str(WEB / "bin" / "migrate-web"), "-v", "0"], env=env, check=True)
    print(f"dev: database {DATABASE} migrated; queues {', '.join(queues)} in the emulator at {endpoint}")
    print(
        f"dev: API on http://127.0.0.1:{PORT}  "
        "(docs /v1/docs, liveness /health, readiness /ready, admin /admin)"
    )
    print("dev: JSON logs follow; Ctrl-C stops the server", flush=True)
    # Replace this process, as the container's entry point does, so Ctrl-C reaches uvicorn.
    os.execve(str(WEB / "bin" / "start-web"), ["start-web", "--host", "127.0.0.1", "--port", PORT], env)  # noqa: S606


if __name__ == "__main__":
    main()
