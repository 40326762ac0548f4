"""The emulator's FCM stand-in: Google's token endpoint and messages:send, as documented."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt
from google.auth import jwt as google_jwt
from localcloud.emulator.vendors import fcm
from werkzeug.test import Client

TOKEN_URI = "http://127.0.0.1:5000/_localcloud/vendors/fcm/token"


def service_account() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "loopin-test",
        "private_key": pem,
        "client_email": "worker@loopin-test.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
    }


ACCOUNT = service_account()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(fcm, "_accounts", lambda: {ACCOUNT["client_email"]: ACCOUNT})
    fcm.reset()
    yield Client(fcm.app)
    fcm.reset()


def assertion(account: dict[str, Any] = ACCOUNT, **claims: Any) -> str:
    """What google-auth's service-account credentials post (google.auth.jwt signs it)."""
    now = int(time.time())
    payload = {
        "iss": account["client_email"],
        "aud": "https://oauth2.googleapis.com/token",  # google-auth's, whatever the token_uri
        "scope": fcm.SCOPE,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return google_jwt.encode(crypt.RSASigner.from_string(account["private_key"]), payload).decode()


def grant(client: Client, signed: str) -> Any:
    return client.post("/token", data={"grant_type": fcm.GRANT_TYPE, "assertion": signed})


def send(client: Client, access: str, project: str = "loopin-test", **message: Any) -> Any:
    body = {"message": {"token": "device-1", "data": {"k": "v"}, **message}}
    return client.post(
        f"/v1/projects/{project}/messages:send", json=body, headers={"Authorization": f"Bearer {access}"}
    )


def test_the_grant_google_auth_makes_is_accepted(client: Client) -> None:
    """The worker's own credentials class signs the assertion (what FcmClient posts to token_uri)."""
    from google.oauth2 import service_account as google_service_account

    credentials = google_service_account.Credentials.from_service_account_info(ACCOUNT, scopes=[fcm.SCOPE])
    answer = grant(client, credentials._make_authorization_grant_assertion())
    assert answer.status_code == 200, answer.json


def test_a_signed_grant_gets_a_token_that_sends_to_its_project(client: Client) -> None:
    answer = grant(client, assertion())
    assert answer.status_code == 200 and answer.json["token_type"] == "Bearer"
    sent = send(client, answer.json["access_token"])
    assert sent.status_code == 200 and sent.json["name"].startswith("projects/loopin-test/messages/")
    (delivered,) = json.loads(client.get("/_control/messages").get_data())
    assert delivered["token"] == "device-1" and delivered["name"] == sent.json["name"]
    assert send(client, answer.json["access_token"], project="another").status_code == 401


@pytest.mark.parametrize(
    ("signed", "error"),
    [
        (lambda: assertion(aud=TOKEN_URI), "Failed audience check"),
        (lambda: assertion(service_account()), "Invalid JWT Signature"),  # a key Google never issued
        (lambda: assertion(exp=int(time.time()) + 7200), "short-lived"),
        (lambda: assertion(scope="https://www.googleapis.com/auth/cloud-platform"), "Invalid OAuth scope"),
        (lambda: assertion()[:-4] + "AAAA", "Invalid JWT Signature"),
    ],
)
def test_bad_grants_are_refused_as_google_refuses_them(client: Client, signed: Any, error: str) -> None:
    answer = grant(client, signed())
    assert answer.status_code == 400
    assert error in answer.json["error_description"]


def test_send_errors_have_googles_shape(client: Client) -> None:
    access = grant(client, assertion()).json["access_token"]
    assert send(client, "ya29.not-issued").json["error"]["status"] == "UNAUTHENTICATED"
    bad = send(client, access, data={"n": 1})
    assert bad.status_code == 400 and bad.json["error"]["details"][0]["errorCode"] == "INVALID_ARGUMENT"
    client.put("/_control/unregistered", json={"token": "device-1"})
    gone = send(client, access)
    assert gone.status_code == 404 and gone.json["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    client.put("/_control/outage", json={"status": 503})
    assert send(client, access, token="device-2").status_code == 503
    client.delete("/_control/outage")
    assert send(client, access, token="device-2").status_code == 200
    assert [m["token"] for m in json.loads(client.get("/_control/messages").get_data())] == ["device-2"]
