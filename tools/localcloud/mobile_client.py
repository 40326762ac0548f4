"""A mobile client of the API through the local load balancer, and a bounded background load.

The release drills (tools/drills), the end-to-end tests and the chaos experiments all talk to
the running stack as the apps do: HTTPS to the load balancer's listener with the local CA,
JSON bodies, a bearer token after sign-up. `BackgroundLoad` keeps a steady, bounded stream of
such requests going in a thread and counts every answer, so a drill can say how many requests a
bad release failed.

    client = MobileClient("https://127.0.0.1:8443", ca=Path(".state/localcloud-5000/pki/ca.pem"))
    client.sign_up()
    with BackgroundLoad(client, per_second=2) as load:
        ...
    print(load.counts())   # {"total": 240, "failed": 9, "by_status": {200: 231, 500: 9}}
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSWORD = "Correct-Horse-Battery-9"  # noqa: S105 - the test accounts' password, on the local stack only
# What the background load asks for, in turn: the liveness route, the hottest authenticated
# read, and a read of one of the client's own notifications (the database behind the API).
READS = ("/v1/health", "/v1/me", "/v1/notifications/{notification}")


class MobileClient:
    """One app installation: its account, its device and its bearer token."""

    def __init__(self, base: str, ca: Path, timeout: float = 30) -> None:
        self.base = base.rstrip("/")
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.timeout = timeout
        self.token: str | None = None
        self.device_id = str(uuid.uuid4())
        self.subscription_id = str(uuid.uuid4())
        self.push_token = f"fcm-{uuid.uuid4().hex}"

    def call(
        self, method: str, path: str, body: Any = None, request_id: str | None = None
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None); a refused connection or a timeout is status 0."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if request_id:
            headers["X-Request-ID"] = request_id
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError):
            return 0, None

    def sign_up(self, android_device: bool = True) -> None:
        """A new account (and, by default, one Android device registered for pushes)."""
        email = f"client-{uuid.uuid4().hex[:12]}@loopin.test"
        status, tokens = self.call(
            "POST", "/v1/auth/signup", {"email": email, "password": PASSWORD, "device_id": self.device_id}
        )
        if status != 201:
            raise RuntimeError(f"sign-up answered {status}: {tokens}")
        self.token = tokens["access_token"]
        if android_device:
            status, body = self.call(
                "POST",
                "/v1/devices",
                {
                    "device_id": self.device_id,
                    "platform": "android",
                    "push_token": self.push_token,
                    "onesignal_subscription_id": self.subscription_id,
                },
            )
            if status != 201:
                raise RuntimeError(f"device registration answered {status}: {body}")

    def push(self, body: str, request_id: str | None = None) -> str:
        """Send a notification to the client's own devices; its id (202 Accepted)."""
        status, accepted = self.call(
            "POST", "/v1/notifications", {"title": "loopin", "body": body}, request_id
        )
        if status != 202:
            raise RuntimeError(f"POST /v1/notifications answered {status}: {accepted}")
        return str(accepted["id"])

    def notification(self, notification: str) -> dict[str, Any] | None:
        status, seen = self.call("GET", f"/v1/notifications/{notification}")
        return seen if status == 200 else None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


@dataclass
class BackgroundLoad:
    """`per_second` requests a second from one client, cycling through READS, until stopped.

    Bounded on purpose: the local WAF's per-IP rate rule and the app's own per-IP limit count
    every request from 127.0.0.1, and the drills must measure a release, not the limits."""

    client: MobileClient
    per_second: float = 2.0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[tuple[float, str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __enter__(self) -> BackgroundLoad:
        if self.client.token is None:
            self.client.sign_up()
        self._notification = self.client.push("background load")
        self._thread = threading.Thread(target=self._run, name="background-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.client.timeout + 5)

    def _run(self) -> None:
        interval = 1.0 / self.per_second
        turn = 0
        while not self._stop.is_set():
            started = time.monotonic()
            path = READS[turn % len(READS)].format(notification=self._notification)
            status, _ = self.client.call("GET", path)
            with self._lock:
                self.statuses[status] += 1
                if status == 0 or status >= 500:
                    self.failures.append((time.time(), path, status))
            turn += 1
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def counts(self) -> dict[str, Any]:
        """total, failed (5xx and no answer) and every status seen, so far."""
        with self._lock:
            total = sum(self.statuses.values())
            failed = sum(n for status, n in self.statuses.items() if status == 0 or status >= 500)
            return {"total": total, "failed": failed, "by_status": dict(sorted(self.statuses.items()))}
