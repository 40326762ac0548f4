"""Google's OAuth token endpoint and FCM HTTP v1, as the local stand-in of the vendor.

    POST <prefix>/token                                 the JWT bearer grant (RFC 7523) a service
                                                        account's key signs (google-auth's flow)
    POST <prefix>/v1/projects/<project>/messages:send   Authorization: Bearer <access token>

The service accounts it knows are the JSON secrets named ``*/fcm`` in the emulator's Secrets
Manager (type ``service_account``): the assertion's RS256 signature is checked with the public
half of the account's ``private_key``, and its ``iss`` (the ``client_email``), ``aud`` (Google's
token endpoint, whatever URL the grant is posted to), ``scope`` (firebase.messaging) and
lifetime (at most an hour) as Google checks them. An access token lives an hour and is good only
for its account's project. Errors have Google's shape (``error.code``, ``error.status``,
``error.message``, FcmError ``details[].errorCode``). The secrets role's placeholder is no
service account: the worker then runs without the FCM fallback, as it would on AWS.

The control side, for tests and drills:

    GET    <prefix>/_control/messages              what was delivered, oldest first
    PUT    <prefix>/_control/unregistered {"token"} that device token answers 404 UNREGISTERED
    PUT    <prefix>/_control/outage {"status": 503} every messages:send answers that status
    DELETE <prefix>/_control/outage                the outage ends
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from localcloud.emulator.vendors import json_response, outage_control, stored_credentials

PREFIX = "/_localcloud/vendors/fcm"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}

_lock = threading.Lock()
_tokens: dict[str, tuple[str, float]] = {}  # access token -> (project id, expiry)
_delivered: list[dict[str, Any]] = []
_unregistered: set[str] = set()
_outage: dict[str, int] = {}


def reset() -> None:
    with _lock:
        _tokens.clear()
        _delivered.clear()
        _unregistered.clear()
        _outage.clear()


def _accounts() -> dict[str, dict[str, Any]]:
    """client_email -> service account, for every FCM secret the emulator holds."""
    return {
        str(value["client_email"]): value
        for value in stored_credentials("fcm")
        if value.get("type") == "service_account" and value.get("client_email")
    }


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _oauth_error(description: str) -> Response:
    return json_response(400, {"error": "invalid_grant", "error_description": description})


def _token(request: Request) -> Response:
    if request.form.get("grant_type") != GRANT_TYPE:
        return json_response(
            400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        )
    try:
        header_part, payload_part, signature_part = request.form.get("assertion", "").split(".")
        header, claims = json.loads(_b64(header_part)), json.loads(_b64(payload_part))
    except ValueError:
        return _oauth_error("Invalid JWT: the assertion is not a signed JWT")
    if header.get("alg") != "RS256":
        return _oauth_error("Invalid JWT: only RS256 is accepted")
    account = _accounts().get(str(claims.get("iss")))
    if account is None:
        return _oauth_error("Invalid JWT Signature.")  # Google's answer for an unknown account too
    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    try:
        key.public_key().verify(
            _b64(signature_part),
            f"{header_part}.{payload_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return _oauth_error("Invalid JWT Signature.")
    now = time.time()
    if claims.get("aud") != AUDIENCE:
        return _oauth_error("Invalid JWT: Failed audience check.")
    if SCOPE not in str(claims.get("scope", "")).split():
        return json_response(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope"})
    iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
    if not iat - 300 <= now <= exp or exp - iat > 3600:
        return _oauth_error(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        )
    access = f"ya29.local-{secrets.token_urlsafe(32)}"
    with _lock:
        _tokens[access] = (str(account["project_id"]), now + 3600)
    return json_response(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})


def _fcm_error(status: int, message: str, code: str | None = None) -> Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNAVAILABLE"),
    }
    if code:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": code}]
    return json_response(status, {"error": error})


def _send(request: Request, project: str) -> Response:
    scheme, _, access = request.headers.get("Authorization", "").partition(" ")
    with _lock:
        held = _tokens.get(access) if scheme == "Bearer" else None
    if held is None or held[1] < time.time() or held[0] != project:
        return _fcm_error(401, "Request had invalid authentication credentials.")
    if status := _outage.get("status"):
        return _fcm_error(status, "The service is currently unavailable.", "UNAVAILABLE")
    body = request.get_json(silent=True)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict) or not message.get("token"):
        return _fcm_error(400, "Request contains an invalid argument.", "INVALID_ARGUMENT")
    data = message.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return _fcm_error(400, "Invalid JSON payload: data values must be strings.", "INVALID_ARGUMENT")
    if message["token"] in _unregistered:
        return _fcm_error(404, "Requested entity was not found.", "UNREGISTERED")
    name = f"projects/{project}/messages/{uuid.uuid4().hex}"
    with _lock:
        _delivered.append({"name": name, "project": project, **message, "received_at": time.time()})
    return json_response(200, {"name": name})


def _control(request: Request, what: str) -> Response:
    if what == "messages" and request.method == "GET":
        with _lock:
            return json_response(200, list(_delivered))
    if what == "unregistered" and request.method == "PUT":
        token = str((request.get_json(silent=True) or {}).get("token") or "")
        if not token:
            return json_response(400, {"error": "name the device token"})
        _unregistered.add(token)
        return json_response(200, {"token": token})
    if what == "outage":
        return outage_control(request, _outage)
    return json_response(404, {"error": f"no control {request.method} {what}"})


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    request = Request(environ)
    path = request.path.rstrip("/")
    if path == "/token" and request.method == "POST":
        response = _token(request)
    elif path.startswith("/v1/projects/") and path.endswith("/messages:send") and request.method == "POST":
        response = _send(request, path[len("/v1/projects/") : -len("/messages:send")])
    elif path.startswith("/_control/"):
        response = _control(request, path.removeprefix("/_control/"))
    else:
        response = json_response(
            404, {"error": {"code": 404, "message": f"no route {request.method} {path}"}}
        )
    return response(environ, start_response)
