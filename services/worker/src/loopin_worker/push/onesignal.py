"""OneSignal's create-notification API (POST /notifications), with its idempotency key."""

from __future__ import annotations

from typing import Any

from ..policy import PermanentError
from .base import (
    InvalidRecipients,
    JsonHttp,
    ProviderFailure,
    PushRequest,
    PushResult,
    decode,
    retry_after_seconds,
)

NOT_SUBSCRIBED = "All included players are not subscribed"
INVALID_KEYS = ("invalid_player_ids", "invalid_aliases", "invalid_external_user_ids")


class OneSignalProvider:
    name = "onesignal"

    def __init__(self, app_id: str, api_key: str, api_url: str, timeout: float, pool_size: int = 10) -> None:
        self.app_id = app_id
        self._auth = f"Key {api_key}"
        self.url = api_url.rstrip("/") + "/notifications?c=push"
        self.http = JsonHttp(timeout, pool_size)

    def payload(self, request: PushRequest) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "target_channel": "push",
            "include_subscription_ids": request.subscription_ids,
            "headings": {"en": request.title},
            "contents": {"en": request.body},
            "data": request.data,
            # The same key on every try: OneSignal sends once and replays its answer after that.
            "idempotency_key": request.idempotency_key,
        }

    def send(self, request: PushRequest) -> PushResult:
        response = self.http.post(self.url, self.payload(request), {"Authorization": self._auth})
        body = decode(response)
        status = response.status
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429:
            raise ProviderFailure("rate_limited", "OneSignal rate limit (429)", retry_after)
        if status >= 500:
            raise ProviderFailure("server_error", f"OneSignal server error ({status})", retry_after)
        if status in (401, 403):
            # A wrong or rotated key is an operator's fix, not the message's fault: keep retrying
            # (and end in the DLQ for a redrive) rather than drop the push.
            raise ProviderFailure("auth", f"OneSignal refused the API key ({status})", retry_after)
        errors = body.get("errors") if isinstance(body, dict) else None
        if status >= 400:
            if _all_invalid(errors):
                raise InvalidRecipients(f"OneSignal: {errors}", request.subscription_ids)
            raise PermanentError(f"OneSignal rejected the request ({status}): {str(errors)[:200]}")
        if not isinstance(body, dict):
            raise ProviderFailure("server_error", f"OneSignal answered {status} without a JSON object")
        notification_id = str(body.get("id") or "")
        if not notification_id:
            # HTTP 200 with an empty id: nothing was created (OneSignal documents this shape).
            if _all_invalid(errors):
                raise InvalidRecipients(f"OneSignal: {errors}", request.subscription_ids)
            raise PermanentError(f"OneSignal created no notification: {str(errors)[:200]}")
        invalid: list[str] = []
        if isinstance(errors, dict):
            for key in INVALID_KEYS:
                value = errors.get(key)
                if isinstance(value, list):
                    invalid.extend(str(v) for v in value)
                elif isinstance(value, dict):
                    for ids in value.values():
                        invalid.extend(str(v) for v in ids)
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return PushResult(self.name, notification_id, invalid, replayed)


def _all_invalid(errors: Any) -> bool:
    if isinstance(errors, list):
        return any(NOT_SUBSCRIBED.lower() in str(e).lower() for e in errors)
    return False
