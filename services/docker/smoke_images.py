"""Run the built images as ECS would (read-only root, non-root user) and check their health.

    python services/docker/smoke_images.py [--tag dev]

Both containers use the host network (the engine here runs without a bridge) and talk only to
127.0.0.1: the worker to a throw-away moto server with the three queues and to the local
PostgreSQL. Checks, per image: the health endpoint answers 200 from the host, Docker's own
HEALTHCHECK turns `healthy`, the process runs as uid 10001, and `docker stop` (SIGTERM) ends it
with exit code 0.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import emulator  # noqa: E402

# The container's /tmp, a tmpfs: the only writable path, as on ECS with readonlyRootFilesystem.
READ_ONLY = ["--network", "host", "--read-only", "--tmpfs", "/tmp:rw,noexec,nosuid,size=64m"]  # noqa: S108
FAST_HEALTH = ["--health-interval", "2s", "--health-retries", "3", "--health-start-period", "30s"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def wait_http(url: str, container: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return dict(json.loads(response.read() or b"{}"))
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if docker("inspect", "-f", "{{.State.Running}}", container) != "true":
            raise RuntimeError(f"{container} exited:\n{docker('logs', container, check=False)[-3000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"{url} never answered 200:\n{docker('logs', container, check=False)[-3000:]}")


def wait_healthy(container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker("inspect", "-f", "{{.State.Health.Status}}", container) == "healthy":
            return
        time.sleep(0.5)
    raise RuntimeError(f"{container}: Docker HEALTHCHECK never became healthy")


def check(name: str, image: str, env: dict[str, str], url: str) -> None:
    started = time.monotonic()
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    container = docker("run", "-d", "--name", name, *READ_ONLY, *FAST_HEALTH, *env_args, image)
    try:
        body = wait_http(url, container)
        wait_healthy(container)
        uid = docker("exec", container, "python3", "-c", "import os; print(os.getuid())")
        assert uid == "10001", f"{name} runs as uid {uid}"
        stop_started = time.monotonic()
        docker("stop", "-t", "30", container)
        code = docker("inspect", "-f", "{{.State.ExitCode}}", container)
        logs = docker("logs", container, check=False)[-2000:]
        assert code == "0", f"{name} exited {code} on SIGTERM:\n{logs}"
        print(
            f"smoke: {image}: /health 200 {json.dumps(body)[:120]}, HEALTHCHECK healthy, uid 10001, "
            f"read-only root, SIGTERM -> exit 0 in {time.monotonic() - stop_started:.1f}s "
            f"(total {time.monotonic() - started:.1f}s)"
        )
    finally:
        docker("rm", "-f", container, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tag", default="dev")
    args = parser.parse_args()
    web_port = free_port()
    check(
        "loopin-smoke-web",
        f"loopin-web:{args.tag}",
        {"PORT": str(web_port), "APP_ENV": "development"},
        f"http://127.0.0.1:{web_port}/health",
    )
    with emulator.running() as endpoint:
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "ap-south-1",
        }
        sqs = boto3.client("sqs", **{"endpoint_url": endpoint, "region_name": "ap-south-1"})
        for queue in ("push-notifications", "webhook-events", "background-jobs"):
            sqs.create_queue(QueueName=queue)
        worker_port = free_port()
        check(
            "loopin-smoke-worker",
            f"loopin-worker:{args.tag}",
            {
                **aws,
                "APP_ENV": "development",
                "WORKER_HEALTH_PORT": str(worker_port),
                "WORKER_WAIT_TIME_SECONDS": "1",
                "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
                # Nothing is sent in this check; never the real API from here.
                "ONESIGNAL_API_URL": "http://127.0.0.1:9",
            },
            f"http://127.0.0.1:{worker_port}/health",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
