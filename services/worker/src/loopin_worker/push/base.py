"""The provider interface and the HTTP plumbing the providers share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import urllib3

from ..policy import PermanentError, TransientError


@dataclass(frozen=True)
class PushRequest:
    idempotency_key: str  # a UUID: OneSignal honours it for 30 days
    subscription_ids: list[str]  # OneSignal subscription ids
    tokens: list[str]  # native push tokens (FCM registration tokens)
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PushResult:
    provider: str
    notification_id: str
    invalid_recipients: list[str] = field(default_factory=list)
    replayed: bool = False  # the provider recognised the idempotency key: nothing was sent again


class InvalidRecipients(PermanentError):
    """No recipient of the request can receive pushes (unsubscribed, unknown, malformed)."""

    def __init__(self, reason: str, recipients: list[str]) -> None:
        super().__init__(reason)
        self.recipients = recipients


class ProviderFailure(TransientError):
    """A provider failed in a way worth retrying; `kind` is one of FAILURE_KINDS (settings.py).

    `maybe_delivered` is true when the request may have been processed (read timeout, connection
    reset after sending): the provider's answer was lost, not refused.
    """

    def __init__(self, kind: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason, retry_after)
        self.kind = kind

    @property
    def maybe_delivered(self) -> bool:
        return self.kind == "timeout"


class ProviderUnreachable(ProviderFailure):
    """The request never reached the provider (connection refused, DNS, connect timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__("unreachable", reason)


class PushProvider(Protocol):
    name: str

    def send(self, request: PushRequest) -> PushResult: ...


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        import time

        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class JsonHttp:
    """A pooled HTTP client that maps transport failures onto the policy's errors."""

    def __init__(self, timeout: float, pool_size: int = 10) -> None:
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            retries=False,  # retries are the queue's job (visibility backoff), not the client's
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
        )

    def post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        all_headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        all_headers.update(headers)
        try:
            return self.pool.request("POST", url, body=body, headers=all_headers)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            raise ProviderUnreachable(f"connect failed: {type(exc).__name__}") from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise ProviderFailure("timeout", "provider timed out") from exc
        except urllib3.exceptions.HTTPError as exc:  # ProtocolError: connection reset, closed
            raise ProviderFailure("timeout", f"transport error: {type(exc).__name__}") from exc


def decode(response: urllib3.BaseHTTPResponse) -> Any:
    try:
        return json.loads(response.data or b"null")
    except ValueError:
        return None
