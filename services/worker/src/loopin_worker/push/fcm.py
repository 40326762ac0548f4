"""Firebase Cloud Messaging HTTP v1, the fallback provider (one request per device token).

FCM has no idempotency key: it is used only when OneSignal was certainly not reached (see
`ProviderUnreachable`) or when an operator switches PUSH_PROVIDER=fcm. The access token comes
from the environment (Secrets Manager); minting it from a service account is done outside.
"""

from __future__ import annotations

from ..policy import PermanentError, TransientError
from .base import InvalidRecipients, JsonHttp, PushRequest, PushResult, decode, retry_after_seconds

GONE = {"UNREGISTERED", "INVALID_ARGUMENT", "NOT_FOUND", "SENDER_ID_MISMATCH"}


class FcmProvider:
    name = "fcm"

    def __init__(self, project_id: str, access_token: str, api_url: str, timeout: float) -> None:
        self.url = f"{api_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._auth = f"Bearer {access_token}"
        self.http = JsonHttp(timeout)

    def send(self, request: PushRequest) -> PushResult:
        sent: list[str] = []
        invalid: list[str] = []
        data = {k: str(v) for k, v in request.data.items()}
        data["idempotency_key"] = request.idempotency_key  # lets the app drop a duplicate
        for token in request.tokens:
            message = {
                "message": {
                    "token": token,
                    "notification": {"title": request.title, "body": request.body},
                    "data": data,
                }
            }
            response = self.http.post(self.url, message, {"Authorization": self._auth})
            body = decode(response)
            status = response.status
            if status == 200 and isinstance(body, dict):
                sent.append(str(body.get("name", "")))
                continue
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if status in (429, 401) or status >= 500:
                raise TransientError(f"FCM answered {status}", retry_after)
            error = body.get("error", {}) if isinstance(body, dict) else {}
            code = str(error.get("status", "")) if isinstance(error, dict) else ""
            if code in GONE or status == 404:
                invalid.append(token)
                continue
            raise PermanentError(f"FCM rejected the message ({status} {code})")
        if not sent:
            raise InvalidRecipients("FCM: no valid token", invalid)
        return PushResult(self.name, sent[0], invalid)
