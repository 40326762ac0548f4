"""The worker reports errors to Sentry, scrubbed like the web's, against a real local HTTP server
standing in for Sentry's ingest endpoint. The SDK runs in a child process so its global
instrumentation stays out of the other tests.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

CHILD = r"""
import logging, sys
import sentry_sdk
from loopin_worker import logs, sentry
from loopin_worker.settings import WorkerSettings

settings = WorkerSettings()
logs.configure(settings.log_level)
assert sentry.init(settings)
token = logs.request_id_var.set(sys.argv[1])
try:
    raise RuntimeError("push failed for someone@example.org with token eyJhbGciOi.eyJzdWIi.c2ln")
except RuntimeError:
    logging.getLogger("loopin_worker.consumer").exception("handler failed")
logs.request_id_var.reset(token)
sentry_sdk.flush(5)
"""


class _Ingest(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        _Ingest.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ingest() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Ingest.received = []
    yield f"http://public-key@127.0.0.1:{server.server_address[1]}/42"
    server.shutdown()
    server.server_close()


def _child(env: dict[str, str], request_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, request_id], env=env, capture_output=True, text=True, timeout=60
    )


def test_worker_errors_reach_sentry_scrubbed_and_with_the_request_id(ingest: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "APP_ENV": "test",
        "DATABASE_URL": "postgresql://loopin:loopin@127.0.0.1:5432/loopin",
        "SENTRY_DSN": ingest,
    }
    request_id = str(uuid.uuid4())
    child = _child(env, request_id)
    assert child.returncode == 0, child.stderr[-2000:]
    events = [
        json.loads(line)
        for envelope in _Ingest.received
        for line in envelope.splitlines()
        if line.startswith(b"{") and b'"exception"' in line
    ]
    assert events, _Ingest.received
    dumped = json.dumps(events)
    assert events[0]["tags"]["request_id"] == request_id
    assert events[0]["environment"] == "test"
    assert "RuntimeError" in dumped
    for secret in ("someone@example.org", "eyJhbGciOi.eyJzdWIi.c2ln"):
        assert secret not in dumped, secret


def test_no_dsn_no_reporting() -> None:
    from loopin_worker import sentry
    from loopin_worker.settings import WorkerSettings

    settings = WorkerSettings(APP_ENV="test", DATABASE_URL="postgresql://x@127.0.0.1/x", SENTRY_DSN="")
    assert sentry.init(settings) is False
