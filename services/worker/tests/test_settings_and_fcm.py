"""Settings refuse placeholders outside development; the FCM fallback maps FCM's answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from loopin_worker.policy import TransientError
from loopin_worker.push import InvalidRecipients, PushRequest
from loopin_worker.push.factory import FailoverProvider, build_provider
from loopin_worker.push.fcm import FcmProvider
from loopin_worker.settings import WorkerSettings
from pydantic import ValidationError


def test_placeholder_onesignal_key_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValidationError, match="ONESIGNAL_API_KEY"):
        WorkerSettings()
    monkeypatch.setenv("ONESIGNAL_API_KEY", "a-real-looking-key-0123456789")
    monkeypatch.setenv("ONESIGNAL_APP_ID", "5eb5a37e-b458-11e3-ac11-000c2940e62c")
    settings = WorkerSettings()
    assert settings.queue_names == ["push-notifications", "webhook-events", "background-jobs"]
    monkeypatch.setenv("PUSH_FALLBACK", "fcm")
    with pytest.raises(ValidationError, match="FCM"):
        WorkerSettings()


def test_development_defaults_and_queue_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQS_QUEUE_PREFIX", "loopin-staging-")
    monkeypatch.setenv("PUSH_FALLBACK", "fcm")
    settings = WorkerSettings()
    assert settings.queue_names[0] == "loopin-staging-push-notifications"
    assert isinstance(build_provider(settings), FailoverProvider)


class FakeFcm:
    """FCM HTTP v1 messages:send: 200 {name}, 404 UNREGISTERED, 429 with Retry-After."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append({"auth": self.headers.get("Authorization"), **body})
                token = body["message"]["token"]
                if token == "gone":
                    status, answer, extra = 404, {"error": {"status": "NOT_FOUND"}}, {}
                elif token == "busy":
                    status, answer, extra = (
                        429,
                        {"error": {"status": "RESOURCE_EXHAUSTED"}},
                        {"Retry-After": "7"},
                    )
                else:
                    status, answer, extra = 200, {"name": f"projects/p/messages/{len(outer.seen)}"}, {}
                data = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in {"Content-Length": str(len(data)), **extra}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_fcm() -> Iterator[FakeFcm]:
    fake = FakeFcm()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def push(*tokens: str) -> PushRequest:
    return PushRequest("0b7d2a52-1c39-4a53-9a8c-0d2b8d1f5e10", ["s"], list(tokens), "T", "B", {"n": 1})


def test_fcm_sends_per_token_and_reports_unregistered(fake_fcm: FakeFcm) -> None:
    provider = FcmProvider("p", "token-xyz", fake_fcm.url, 1.0)
    result = provider.send(push("ok-1", "gone"))
    assert result.provider == "fcm" and result.invalid_recipients == ["gone"]
    assert fake_fcm.seen[0]["auth"] == "Bearer token-xyz"
    assert fake_fcm.seen[0]["message"]["data"]["idempotency_key"] == "0b7d2a52-1c39-4a53-9a8c-0d2b8d1f5e10"
    with pytest.raises(InvalidRecipients):
        provider.send(push("gone"))
    with pytest.raises(TransientError) as caught:
        provider.send(push("busy"))
    assert caught.value.retry_after == 7.0
