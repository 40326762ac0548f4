"""Pure ASGI middleware: request ID, per-IP rate limit, one JSON access-log line per request."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import sentry_sdk
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import PRESCRUBBED, request_id_var, scrub_text
from .ratelimit import RateLimited, RateLimiter, client_ip

access_log = logging.getLogger("loopin_web.access")
log = logging.getLogger(__name__)

# Liveness must answer even when Redis is slow or a client is over its budget.
UNLIMITED_PATHS = frozenset({"/health", "/ready"})


def parse_request_id(value: str | None) -> str:
    """Accept the client's X-Request-ID only if it is a UUID; otherwise make a new one."""
    if value and len(value) <= 64:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    return str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, ip_limiter: RateLimiter | None, trusted_hops: int) -> None:
        self.app = app
        self.ip_limiter = ip_limiter
        self.trusted_hops = trusted_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only two headers matter here; ASGI servers give names lower-cased.
        client_request_id = forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                client_request_id = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
        request_id = parse_request_id(client_request_id)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        peer = scope["client"][0] if scope.get("client") else None
        ip = client_ip(peer, forwarded_for, self.trusted_hops)
        scope["state"]["client_ip"] = ip
        started = time.perf_counter()
        status = 500
        response_started = False
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            if self.ip_limiter is not None and scope["path"] not in UNLIMITED_PATHS:
                try:
                    self.ip_limiter.hit(ip)
                except RateLimited as exc:
                    await _send_json(send_with_id, 429, {"detail": "too many requests"}, exc.retry_after)
                    return
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answer here rather than in Starlette's outer error middleware, so the 500 still
            # carries the request ID; the body says nothing about the failure.
            log.error("unhandled error", exc_info=exc)
            sentry_sdk.capture_exception(exc)
            if not response_started:
                await _send_json(
                    send_with_id, 500, {"detail": "internal server error", "request_id": request_id}, None
                )
        finally:
            access_log.info(
                "request",
                extra={
                    PRESCRUBBED: True,
                    "method": scope["method"],
                    "path": scrub_text(scope["path"]),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


async def _send_json(send: Any, status: int, body: dict[str, Any], retry_after: int | None) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
