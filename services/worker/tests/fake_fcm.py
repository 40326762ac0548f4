"""A fake FCM: a real HTTP server on 127.0.0.1 speaking Google's OAuth token endpoint and FCM HTTP v1.

- `POST /token`: the JWT bearer grant (RFC 7523) as Google's token endpoint takes it: form body
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`. The assertion's RS256
  signature is verified with the service account's public key (PyJWT, not google-auth, so the
  worker's signer is checked by another implementation), and its `iss`, `aud`
  (https://oauth2.googleapis.com/token), `scope`, `iat` and `exp` (at most an hour) as Google
  does. Answers `{"access_token", "expires_in", "token_type": "Bearer"}`, or 400 `invalid_grant`.
- `POST /v1/projects/<id>/messages:send`: the Bearer token must be one it issued and not expired
  (else 401 UNAUTHENTICATED); the message must name a token and carry string data values (else
  400 INVALID_ARGUMENT). Errors are in Google's format: `error.code`, `error.status`, `error.message`
  and `details[]` with the FcmError `errorCode`.

Device tokens in `unregistered` answer 404 UNREGISTERED, in `invalid` 400 INVALID_ARGUMENT.
Faults, planned per device token or for the next requests:
  "QUOTA_EXCEEDED"  429 RESOURCE_EXHAUSTED with Retry-After: 1
  "UNAVAILABLE"     503 UNAVAILABLE
  "INTERNAL"        500 INTERNAL
  "timeout"         delivers, then answers only after `timeout_sleep` seconds
Every delivered message is kept in `delivered` (device token, notification_id, idempotency key).
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
FAULTS = {
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
}


@dataclass
class Delivered:
    token: str
    notification_id: str
    idempotency_key: str
    message: dict[str, Any]


@dataclass
class FcmState:
    project_id: str
    client_email: str
    token_lifetime: int = 3600
    delay: float = 0.0  # seconds each send takes, so that a test can act mid-batch
    timeout_sleep: float = 3.0
    unregistered: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)
    plan: dict[str, list[str]] = field(default_factory=dict)  # device token -> faults
    next_faults: list[str] = field(default_factory=list)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at (epoch)
    grants: int = 0
    refused_grants: int = 0
    unauthenticated: int = 0
    delivered: list[Delivered] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)  # errorCode or "ok" -> count
    active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _google_error(code: int, status: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if error_code:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": error_code}]
    return {"error": error}


def _parse_message(raw: bytes) -> tuple[dict[str, Any] | None, str, dict[str, Any]]:
    """(message, device token, data), or (None, "", {}) when FCM would answer INVALID_ARGUMENT."""
    try:
        message = json.loads(raw)["message"]
    except (ValueError, KeyError, TypeError):
        return None, "", {}
    token = message.get("token") if isinstance(message, dict) else None
    data = message.get("data") or {} if isinstance(message, dict) else None
    if not isinstance(token, str) or not token or not isinstance(data, dict):
        return None, "", {}
    if not all(isinstance(value, str) for value in data.values()):
        return None, "", {}
    return message, token, data


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    # One key per test session: generating a 2048-bit key costs a tenth of a second or more.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeFcm:
    def __init__(self, project_id: str = "loopin-test") -> None:
        self.key = _key()
        self.state = FcmState(
            project_id=project_id, client_email=f"fcm-sender@{project_id}.iam.gserviceaccount.com"
        )
        state = self.state
        public_key = self.key.public_key()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                with state.lock:
                    state.active += 1
                try:
                    raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    path = self.path.split("?", 1)[0]
                    if path == "/token":
                        self._token(raw)
                    elif path == f"/v1/projects/{state.project_id}/messages:send":
                        self._send(raw)
                    else:
                        self._reply(404, _google_error(404, "NOT_FOUND", "Requested entity was not found."))
                finally:
                    with state.lock:
                        state.active -= 1

            def _token(self, raw: bytes) -> None:
                form = urllib.parse.parse_qs(raw.decode())
                if form.get("grant_type") != [GRANT_TYPE]:
                    self._reply(
                        400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
                    )
                    return
                try:
                    claims = jwt.decode(
                        (form.get("assertion") or [""])[0],
                        public_key,
                        algorithms=["RS256"],
                        audience=GOOGLE_TOKEN_AUDIENCE,
                        issuer=state.client_email,
                        options={"require": ["iss", "aud", "exp", "iat", "scope"]},
                    )
                except jwt.PyJWTError as exc:
                    with state.lock:
                        state.refused_grants += 1
                    self._reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"})
                    return
                if claims["exp"] - claims["iat"] > 3600 or FCM_SCOPE not in str(claims["scope"]).split():
                    with state.lock:
                        state.refused_grants += 1
                    self._reply(
                        400, {"error": "invalid_scope", "error_description": "Bad scope or lifetime."}
                    )
                    return
                token = "ya29.fake-" + secrets.token_urlsafe(24)
                with state.lock:
                    state.grants += 1
                    state.access_tokens[token] = time.time() + state.token_lifetime
                    lifetime = state.token_lifetime
                self._reply(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

            def _authorized(self) -> bool:
                header = self.headers.get("Authorization") or ""
                token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
                with state.lock:
                    expires = state.access_tokens.get(token)
                    ok = expires is not None and time.time() < expires
                    if not ok:
                        state.unauthenticated += 1
                if not ok:
                    self._reply(
                        401,
                        _google_error(
                            401,
                            "UNAUTHENTICATED",
                            "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                            " login cookie or other valid authentication credential.",
                        ),
                    )
                return ok

            def _send(self, raw: bytes) -> None:
                if state.delay:
                    time.sleep(state.delay)
                if not self._authorized():
                    return
                message, token, data = _parse_message(raw)
                if message is None:
                    self._reply(
                        400,
                        _google_error(
                            400,
                            "INVALID_ARGUMENT",
                            "Request contains an invalid argument.",
                            "INVALID_ARGUMENT",
                        ),
                    )
                    return
                with state.lock:
                    planned = state.plan.get(token)
                    fault = (
                        planned.pop(0)
                        if planned
                        else (state.next_faults.pop(0) if state.next_faults else None)
                    )
                if fault in FAULTS:
                    code, status, text = FAULTS[fault]
                    with state.lock:
                        state.answers[fault] += 1
                    headers = {"Retry-After": "1"} if code == 429 else {}
                    self._reply(code, _google_error(code, status, text, fault), headers)
                    return
                if token in state.unregistered:
                    with state.lock:
                        state.answers["UNREGISTERED"] += 1
                    self._reply(
                        404,
                        _google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
                    )
                    return
                if token in state.invalid:
                    with state.lock:
                        state.answers["INVALID_ARGUMENT"] += 1
                    self._reply(
                        400,
                        _google_error(
                            400,
                            "INVALID_ARGUMENT",
                            "The registration token is not a valid FCM registration token",
                            "INVALID_ARGUMENT",
                        ),
                    )
                    return
                name = f"projects/{state.project_id}/messages/0:{uuid.uuid4().hex}"
                with state.lock:
                    state.answers["ok"] += 1
                    state.delivered.append(
                        Delivered(
                            token, data.get("notification_id", ""), data.get("idempotency_key", ""), message
                        )
                    )
                if fault == "timeout":
                    time.sleep(state.timeout_sleep)
                self._reply(200, {"name": name})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def service_account(self) -> dict[str, str]:
        """The service-account key file an operator would download from Firebase, for this fake."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.state.project_id,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": self.state.client_email,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
        }

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now, as an hour passing would make it."""
        with self.state.lock:
            for token in self.state.access_tokens:
                self.state.access_tokens[token] = 0.0

    def delivered_by_notification(self) -> dict[str, list[str]]:
        """notification_id -> device tokens it was delivered to (a duplicate appears twice)."""
        result: dict[str, list[str]] = {}
        with self.state.lock:
            for item in self.state.delivered:
                result.setdefault(item.notification_id, []).append(item.token)
        return result

    def __enter__(self) -> FakeFcm:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
