"""Sentry, against a real local HTTP server standing in for Sentry's ingest endpoint.

The app runs in a child process so the SDK's global instrumentation stays out of the other tests.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

CHILD = r"""
import json, os, sys
import sentry_sdk
from fastapi.testclient import TestClient
from loopin_web.main import create_app

app = create_app()

@app.post("/boom")
async def boom() -> None:
    raise RuntimeError("login failed for someone@example.org with token eyJhbGciOi.eyJzdWIi.c2ln")

with TestClient(app, raise_server_exceptions=False) as client:
    resp = client.post("/boom", json={"password": "Hunter2-Hunter2"},
                       headers={"X-Request-ID": sys.argv[1], "Authorization": "Bearer abc.def.ghi"})
sentry_sdk.flush(5)
print(json.dumps({"status": resp.status_code, "body": resp.json()}))
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


def test_errors_reach_sentry_scrubbed_and_with_the_request_id(
    ingest: str, settings_values: dict[str, Any], aws_env: dict[str, str]
) -> None:
    env = {
        k: (v if isinstance(v, str) else json.dumps(v) if isinstance(v, list) else str(v))
        for k, v in settings_values.items()
    }
    env["ALLOWED_HOSTS"] = ",".join(settings_values["ALLOWED_HOSTS"])
    env.update(aws_env, SENTRY_DSN=ingest, PATH="/usr/bin:/bin")
    request_id = str(uuid.uuid4())
    child = subprocess.run(
        [sys.executable, "-c", CHILD, request_id], env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result == {"status": 500, "body": {"detail": "internal server error", "request_id": request_id}}

    events = [
        json.loads(line)
        for envelope in _Ingest.received
        for line in envelope.splitlines()
        if line.startswith(b"{") and b'"exception"' in line
    ]
    assert events, _Ingest.received
    dumped = json.dumps(events)
    assert events[0]["tags"]["request_id"] == request_id
    assert "RuntimeError" in dumped
    for secret in ("someone@example.org", "eyJhbGciOi.eyJzdWIi.c2ln", "Hunter2-Hunter2", "abc.def.ghi"):
        assert secret not in dumped, secret
