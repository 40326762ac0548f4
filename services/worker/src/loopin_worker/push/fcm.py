"""Firebase Cloud Messaging HTTP v1: one `messages:send` per device token, as a service account.

The service-account JSON (Secrets Manager `loopin/<env>/fcm`) is all the worker needs: google-auth
signs a JWT with its private key and trades it at the JSON's `token_uri` for an access token
(the JWT bearer grant), which lives an hour. The client refreshes it before it goes stale, and
once more when FCM answers 401 UNAUTHENTICATED (revoked, or expired early by clock skew).

FCM has no idempotency key, so the handler records each device's send (handlers/push.py); the
message also carries the idempotency key as Android's notification tag and collapse key and as
APNs' collapse id, so that a push sent twice replaces itself on the phone instead of showing twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
from google.auth.transport.urllib3 import Request as AuthRequest
from google.oauth2 import service_account

from .base import JsonHttp, ProviderFailure, PushRequest, decode, retry_after_seconds

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM's guidance for QUOTA_EXCEEDED without a Retry-After header: wait at least a minute.
QUOTA_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class FcmAnswer:
    """What FCM said about one device token; transient failures raise instead."""

    sent: bool
    name: str = ""  # projects/<id>/messages/<id> when sent
    error: str = ""  # FCM's errorCode (or status) when refused
    unregistered: bool = False  # the app was uninstalled or the token expired: drop the device


class FcmClient:
    name = "fcm"

    def __init__(self, info: dict[str, Any], api_url: str, timeout: float, pool_size: int = 10) -> None:
        self.project_id = str(info["project_id"])
        self.url = f"{api_url.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        self.http = JsonHttp(timeout, pool_size)
        # google-auth ships no type hints for these two.
        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
        self._auth_request = AuthRequest(self.http.pool)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self.tokens_minted = 0

    def access_token(self, rejected: str | None = None) -> str:
        """A valid access token; a new one if `rejected` is the current one (FCM answered 401).

        refresh() is called directly rather than through before_request(): the latter also starts
        google-auth's Regional Access Boundary lookup on Google's IAM API, which FCM does not need.
        """
        with self._lock:
            current = self._credentials.token
            if not self._credentials.valid or (rejected is not None and current == rejected):
                try:
                    self._credentials.refresh(self._auth_request)
                except google.auth.exceptions.TransportError as exc:
                    raise ProviderFailure("unreachable", "FCM token endpoint unreachable") from exc
                except google.auth.exceptions.RefreshError as exc:
                    # A revoked key or a wrong token_uri is an operator's fix: retry, then the DLQ.
                    raise ProviderFailure("auth", f"FCM token refused: {str(exc)[:200]}") from exc
                self.tokens_minted += 1
            return str(self._credentials.token)

    @staticmethod
    def message(token: str, request: PushRequest) -> dict[str, Any]:
        data = {k: str(v) for k, v in request.data.items()}
        data["idempotency_key"] = request.idempotency_key  # lets the app drop a duplicate
        key = request.idempotency_key
        return {
            "message": {
                "token": token,
                "notification": {"title": request.title, "body": request.body},
                "data": data,
                "android": {"collapse_key": key, "notification": {"tag": key}},
                "apns": {"headers": {"apns-collapse-id": key}},
            }
        }

    def send(self, token: str, request: PushRequest) -> FcmAnswer:
        """Send to one device token. Raises ProviderFailure when worth retrying."""
        body = self.message(token, request)
        access = self.access_token()
        response = self.http.post(self.url, body, {"Authorization": f"Bearer {access}"})
        status, error_status, code = _error(response.status, decode(response))
        if status == 401 and code != "THIRD_PARTY_AUTH_ERROR":
            access = self.access_token(rejected=access)
            response = self.http.post(self.url, body, {"Authorization": f"Bearer {access}"})
            status, error_status, code = _error(response.status, decode(response))
        if status == 200:
            answer = decode(response)
            return FcmAnswer(True, str(answer.get("name", "")) if isinstance(answer, dict) else "")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        reason = f"FCM answered {status} {code or error_status}".strip()
        if status == 429:
            raise ProviderFailure(
                "rate_limited", reason, QUOTA_RETRY_SECONDS if retry_after is None else retry_after
            )
        if status >= 500:
            raise ProviderFailure("server_error", reason, retry_after)
        if status == 401:
            # Still refused with a fresh token, or APNs credentials missing at Firebase: config.
            raise ProviderFailure("auth", reason, retry_after)
        if code == "UNREGISTERED" or (status == 404 and error_status == "NOT_FOUND"):
            return FcmAnswer(False, error="UNREGISTERED", unregistered=True)
        # INVALID_ARGUMENT (not an FCM token, e.g. a raw APNs one, or a payload FCM refuses),
        # SENDER_ID_MISMATCH (another Firebase project's token): this device cannot get it here.
        return FcmAnswer(False, error=code or error_status or str(status))


def _error(status: int, body: Any) -> tuple[int, str, str]:
    """(HTTP status, error.status, details[].errorCode) of an FCM answer in Google's error format."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return status, "", ""
    code = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = str(detail["errorCode"])
            break
    return status, str(error.get("status") or ""), code
