"""The production server command, in one place: `loopin-web-start` (or `python -m loopin_web.serve`).

Replaces itself with uvicorn (exec), so the process ECS signals is the server: SIGTERM starts a
graceful drain of 25 s, inside Fargate's 30 s stop timeout. One worker process per task (ECS
scales tasks, not processes). Uvicorn's access log and X-Forwarded-For rewriting are off: the app
logs each request as JSON and trusts exactly TRUSTED_PROXY_HOPS (the ALB). Extra arguments are
appended (the benchmark and `make dev` pass --host/--port).
"""

from __future__ import annotations

import os
import sys

APP = "loopin_web.asgi:app"


def argv(extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn",  # this interpreter's uvicorn, whatever PATH says
        os.environ.get("APP_MODULE", APP),
        "--host", "0.0.0.0",  # noqa: S104 - in the task's own network namespace, behind the ALB
        "--port", os.environ.get("PORT", "8000"),
        "--workers", "1",
        "--loop", "uvloop",
        "--http", "httptools",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--timeout-graceful-shutdown", "25",
        "--timeout-keep-alive", "65",  # longer than the ALB's 60 s idle timeout
        *extra,
    ]  # fmt: skip


def main() -> None:
    command = argv(sys.argv[1:])
    os.execv(command[0], command)  # noqa: S606 - exec, not a shell: signals reach uvicorn


if __name__ == "__main__":
    main()
