"""A fake OneSignal: a real HTTP server on 127.0.0.1 speaking the create-notification API.

POST /notifications with `Authorization: Key <api key>` and a JSON body (app_id,
include_subscription_ids, headings, contents, data, idempotency_key). Like OneSignal it creates a
notification once per idempotency key and replays the first answer (header
`Idempotent-Replayed: true`) for later requests with the same key; it answers 200 with an empty
id and `errors: ["All included players are not subscribed"]` when no recipient is valid, and
`errors: {"invalid_player_ids": [...]}` when some are not.

Faults are planned per notification (the `notification_id` in `data`) or for the next requests:
  "429"          429 with Retry-After: 1
  "500"          500
  "503"          503 (nothing created); `down = 503` answers every request so, until cleared
  "timeout"      creates the notification, then answers only after `timeout_sleep` seconds
  "reset"        resets the connection before reading the request (nothing created)
  "reset_after"  creates the notification, then resets the connection (the answer is lost)
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NOT_SUBSCRIBED = "All included players are not subscribed"


@dataclass
class Created:
    notification_id: str
    payload: dict[str, Any]
    answer: dict[str, Any]


@dataclass
class FakeState:
    api_key: str
    app_id: str
    delay: float = 0.0
    timeout_sleep: float = 3.0
    down: int | None = None  # an HTTP status every request gets (an outage), nothing created
    invalid_ids: set[str] = field(default_factory=set)
    plan: dict[str, list[str]] = field(default_factory=dict)  # notification_id -> faults
    next_faults: list[str] = field(default_factory=list)
    notifications: dict[str, Created] = field(default_factory=dict)  # by idempotency key
    creations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: list[tuple[str | None, str]] = field(default_factory=list)  # (key, outcome)
    unkeyed: int = 0
    active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeOneSignal:
    def __init__(self, api_key: str = "test-onesignal-key", app_id: str | None = None) -> None:
        self.state = FakeState(api_key=api_key, app_id=app_id or str(uuid.uuid4()))
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
            # the client's delayed ACK add 40 ms to every answer, which the real API does not.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def do_POST(self) -> None:
                with state.lock:
                    state.active += 1
                try:
                    self._handle()
                finally:
                    with state.lock:
                        state.active -= 1

            def _handle(self) -> None:
                if self.path.split("?", 1)[0] != "/notifications":
                    self._reply(404, {"errors": ["Not Found"]})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if state.delay:
                    time.sleep(state.delay)
                if self.headers.get("Authorization") != f"Key {state.api_key}":
                    self._reply(401, {"errors": ["Access denied. Please include an 'Authorization' header."]})
                    return
                try:
                    payload = json.loads(raw)
                except ValueError:
                    self._reply(400, {"errors": ["Invalid JSON"]})
                    return
                if payload.get("app_id") != state.app_id:
                    self._reply(400, {"errors": ["app_id not found"]})
                    return
                key = payload.get("idempotency_key")
                notification_ref = str((payload.get("data") or {}).get("notification_id", ""))
                with state.lock:
                    fault = None
                    planned = state.plan.get(notification_ref)
                    if state.down is not None:
                        fault = str(state.down)
                    elif planned:
                        fault = planned.pop(0)
                    elif state.next_faults:
                        fault = state.next_faults.pop(0)
                    state.requests.append((key, fault or "ok"))
                if fault == "reset":
                    self._reset()
                    return
                if fault == "429":
                    self._reply(429, {"errors": ["API rate limit exceeded"]}, {"Retry-After": "1"})
                    return
                if fault == "500":
                    self._reply(500, {"errors": ["Internal Server Error"]})
                    return
                if fault == "503":
                    self._reply(503, {"errors": ["Service Unavailable"]})
                    return
                if key is not None:
                    try:
                        key = str(uuid.UUID(str(key)))
                    except ValueError:
                        self._reply(400, {"errors": ["idempotency_key must be a UUID"]})
                        return
                status, answer, headers = self._create(key, payload)
                if fault == "timeout":
                    time.sleep(state.timeout_sleep)
                if fault == "reset_after":
                    self._reset()
                    return
                self._reply(status, answer, headers)

            def _create(self, key: str | None, payload: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
                recipients = [str(r) for r in payload.get("include_subscription_ids") or []]
                with state.lock:
                    if key is not None and key in state.notifications:
                        return 200, state.notifications[key].answer, {"Idempotent-Replayed": "true"}
                    invalid = [r for r in recipients if r in state.invalid_ids]
                    if not recipients or len(invalid) == len(recipients):
                        answer: dict[str, Any] = {"id": "", "errors": [NOT_SUBSCRIBED]}
                        notification_id = ""
                    else:
                        notification_id = str(uuid.uuid4())
                        answer = {"id": notification_id, "external_id": None}
                        if invalid:
                            answer["errors"] = {"invalid_player_ids": invalid}
                    if key is None:
                        state.unkeyed += 1
                    else:
                        state.notifications[key] = Created(notification_id, payload, answer)
                        if notification_id:
                            state.creations[key] += 1
                return 200, answer, {}

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeOneSignal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what the tests read -------------------------------------------------------------
    def created_by_notification(self) -> dict[str, list[str]]:
        """notification_id (from data) -> idempotency keys that created a notification for it."""
        result: dict[str, list[str]] = defaultdict(list)
        with self.state.lock:
            for key, created in self.state.notifications.items():
                if created.notification_id:
                    result[str(created.payload["data"]["notification_id"])].append(key)
        return dict(result)
