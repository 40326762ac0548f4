"""The worker's health endpoint on port 8000: the ALB target group and the image HEALTHCHECK.

GET /health answers 200 while every poller has completed a receive within the liveness window
(a long poll returns at least every WORKER_WAIT_TIME_SECONDS), 503 when one is stuck or the worker
is draining. It has no dependency on PostgreSQL or OneSignal on purpose: their outages are
handled by retries, and restarting the task would not fix them.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .consumer import Liveness

log = logging.getLogger("loopin_worker.health")


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        liveness: Liveness,
        queues: list[str],
        threshold: float,
        push: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/health", "/"):
                    self._send(404, {"status": "not found"})
                    return
                alive, report = outer.liveness.snapshot(outer.queues, outer.threshold)
                if outer.push is not None:
                    # Informational (deliveries by provider, fallback state): never affects the status.
                    report["push"] = outer.push()
                self._send(200 if alive else 503, report)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # health probes every few seconds would drown the log

        self.liveness = liveness
        self.push = push
        self.queues = queues
        self.threshold = threshold
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("health endpoint listening", extra={"port": self.port})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def probe(url: str, timeout: float = 3.0) -> int:
    """`loopin-worker healthcheck`: 0 when the endpoint says healthy (the image HEALTHCHECK)."""
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the health probe only calls the local endpoint")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1
