"""OneSignal's create-notification API, as the local stand-in of the vendor.

    POST <prefix>/notifications        Authorization: Key <api key>, JSON body as OneSignal documents
                                       (app_id, include_subscription_ids, headings, contents, data,
                                       idempotency_key)

Like OneSignal it refuses a key that is not the app's (403), a body without recipients (400), and
creates a notification once per idempotency key, replaying the first answer with
``Idempotent-Replayed: true``. The apps it knows are the JSON secrets named ``*/onesignal`` in the
emulator's Secrets Manager (``{"app_id": ..., "api_key": ...}``, the app id a UUID): the
placeholder the secrets role writes is no app, as the real vendor would refuse it.

The control side, for tests and drills:

    GET    <prefix>/_control/notifications[?app_id=]   what was created, oldest first
    PUT    <prefix>/_control/outage  {"status": 503}   every API request answers that status
    DELETE <prefix>/_control/outage                    the outage ends
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.emulator.vendors import json_response, outage_control, stored_credentials

PREFIX = "/_localcloud/vendors/onesignal"
ACCESS_DENIED = "Access denied.  Please include an 'Authorization: Key ...' header with a valid API key."
NO_RECIPIENTS = "You must include which players, segments, or tags you wish to send this notification to."

_lock = threading.Lock()
_created: list[dict[str, Any]] = []
_by_key: dict[tuple[str, str], dict[str, Any]] = {}  # (app_id, idempotency_key) -> the first answer
_outage: dict[str, int] = {}


def reset() -> None:
    with _lock:
        _created.clear()
        _by_key.clear()
        _outage.clear()


def _is_uuid(value: Any) -> bool:
    """OneSignal's app ids are UUIDs: the secrets role's placeholder (`changethis`) is no app."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _apps() -> dict[str, str]:
    """app_id -> api_key of every OneSignal secret the emulator holds (any account, any region)."""
    return {
        str(value["app_id"]): str(value["api_key"])
        for value in stored_credentials("onesignal")
        if _is_uuid(value.get("app_id")) and value.get("api_key")
    }


def _create(request: Request) -> Response:
    if status := _outage.get("status"):
        return json_response(status, {"errors": [f"stand-in outage ({status})"]}, {"Retry-After": "1"})
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return json_response(400, {"errors": ["Invalid JSON"]})
    if not isinstance(body, dict) or not body.get("app_id"):
        return json_response(
            400, {"errors": ["app_id not found. You may be missing a Content-Type: application/json header."]}
        )
    app_id = str(body["app_id"])
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme not in ("Key", "Basic") or not key or _apps().get(app_id) != key:
        return json_response(403, {"errors": [ACCESS_DENIED]})
    recipients = body.get("include_subscription_ids")
    if not isinstance(recipients, list) or not recipients:
        return json_response(400, {"errors": [NO_RECIPIENTS]})
    idempotency_key = str(body.get("idempotency_key") or "")
    with _lock:
        if idempotency_key and (app_id, idempotency_key) in _by_key:
            return json_response(200, _by_key[(app_id, idempotency_key)], {"Idempotent-Replayed": "true"})
        answer = {"id": str(uuid.uuid4()), "external_id": None}
        _created.append(
            {
                "id": answer["id"],
                "app_id": app_id,
                "include_subscription_ids": [str(r) for r in recipients],
                "headings": body.get("headings"),
                "contents": body.get("contents"),
                "data": body.get("data"),
                "idempotency_key": idempotency_key or None,
                "received_at": time.time(),
            }
        )
        if idempotency_key:
            _by_key[(app_id, idempotency_key)] = answer
    return json_response(200, answer)


def _control(request: Request, what: str) -> Response:
    if what == "notifications" and request.method == "GET":
        app_id = request.args.get("app_id")
        with _lock:
            return json_response(200, [n for n in _created if app_id in (None, n["app_id"])])
    if what == "outage":
        return outage_control(request, _outage)
    return json_response(404, {"error": f"no control {request.method} {what}"})


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    request = Request(environ)
    path = request.path.rstrip("/")
    if path == "/notifications" and request.method == "POST":
        response = _create(request)
    elif path.startswith("/_control/"):
        response = _control(request, path.removeprefix("/_control/"))
    else:
        response = json_response(404, {"errors": [f"no route {request.method} {path}"]})
    return response(environ, start_response)
