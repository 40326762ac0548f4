"""Accounts and tokens: policy, rotation with reuse detection, revocation, hostile JWTs."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from .conftest import PASSWORD, Account, new_account


def _login(client: TestClient, acct: Account, device_id: str | None = None) -> dict[str, str]:
    resp = client.post(
        "/v1/auth/login",
        json={"email": acct.email, "password": acct.password, "device_id": device_id or acct.device_id},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _refresh(client: TestClient, token: str, device_id: str) -> tuple[int, dict[str, str]]:
    resp = client.post("/v1/auth/refresh", json={"refresh_token": token, "device_id": device_id})
    return resp.status_code, resp.json()


def test_signup_returns_tokens_with_policy_lifetimes(client: TestClient, account: Account, settings) -> None:
    claims = jwt.decode(
        account.access,
        settings.JWT_SIGNING_KEY.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.JWT_AUDIENCE,
    )
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    refresh = jwt.decode(
        account.refresh,
        settings.JWT_SIGNING_KEY.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.JWT_AUDIENCE,
    )
    assert refresh["typ"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert refresh["did"] == account.device_id
    assert client.get("/v1/me", headers=account.headers).json()["email"] == account.email


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt!pass", "at least 12"),
        ("alllowercaseletters", "mix at least 3"),
        ("A" * 129 + "a1!", "at most"),
    ],
)
def test_password_policy(client: TestClient, password: str, reason: str) -> None:
    resp = client.post(
        "/v1/auth/signup",
        json={
            "email": f"p-{uuid.uuid4().hex[:8]}@example.com",
            "password": password,
            "device_id": str(uuid.uuid4()),
        },
    )
    assert resp.status_code == 422
    assert reason in json.dumps(resp.json())
    assert password not in resp.text  # the reason, never the input


def test_duplicate_email_is_409(client: TestClient, account: Account) -> None:
    resp = client.post(
        "/v1/auth/signup",
        json={"email": account.email.upper(), "password": PASSWORD, "device_id": str(uuid.uuid4())},
    )
    assert resp.status_code == 409


def test_wrong_password_is_401(client: TestClient, account: Account) -> None:
    resp = client.post(
        "/v1/auth/login",
        json={"email": account.email, "password": "Wrong-password-1", "device_id": account.device_id},
    )
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient, account: Account) -> None:
    status, first = _refresh(client, account.refresh, account.device_id)
    assert status == 200
    status, second = _refresh(client, first["refresh_token"], account.device_id)
    assert status == 200
    # The first refresh token is spent: presenting it again is a theft signal.
    status, body = _refresh(client, account.refresh, account.device_id)
    assert status == 401
    assert "reused" in body["detail"]
    # ... and the whole family is gone, including the newest tokens.
    assert _refresh(client, second["refresh_token"], account.device_id)[0] == 401
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 401
    )


def test_refresh_token_is_bound_to_its_device(client: TestClient, account: Account) -> None:
    status, body = _refresh(client, account.refresh, str(uuid.uuid4()))
    assert status == 401
    assert "device" in body["detail"]
    assert _refresh(client, account.refresh, account.device_id)[0] == 200


def test_refresh_has_an_absolute_lifetime(client: TestClient, account: Account, settings) -> None:
    first = jwt.decode(account.refresh, options={"verify_signature": False})
    _, rotated = _refresh(client, account.refresh, account.device_id)
    second = jwt.decode(rotated["refresh_token"], options={"verify_signature": False})
    assert second["exp"] == first["exp"]  # rotation never extends the 7 days


def test_logout_revokes_access_and_refresh(client: TestClient, account: Account) -> None:
    other = _login(client, account, str(uuid.uuid4()))
    assert client.post("/v1/auth/logout", headers=account.headers).status_code == 204
    assert client.get("/v1/me", headers=account.headers).status_code == 401
    assert _refresh(client, account.refresh, account.device_id)[0] == 401
    # Another session of the same user is untouched.
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 200
    )


def test_password_change_revokes_every_session(client: TestClient, account: Account) -> None:
    other = _login(client, account, str(uuid.uuid4()))
    new_password = "Another-Strong-Pass-7"
    resp = client.post(
        "/v1/auth/password",
        headers=account.headers,
        json={"current_password": PASSWORD, "new_password": new_password, "device_id": account.device_id},
    )
    assert resp.status_code == 200, resp.text
    fresh = resp.json()
    for token in (account.access, other["access_token"]):
        assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _refresh(client, other["refresh_token"], account.device_id)[0] == 401
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200
    )
    account.password = new_password
    _login(client, account)


def test_password_change_needs_the_current_password(client: TestClient, account: Account) -> None:
    resp = client.post(
        "/v1/auth/password",
        headers=account.headers,
        json={
            "current_password": "Not-the-password-1",
            "new_password": "Another-Strong-Pass-7",
            "device_id": account.device_id,
        },
    )
    assert resp.status_code == 401


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(account: Account) -> dict[str, object]:
    return jwt.decode(account.access, options={"verify_signature": False})


def _hostile_tokens(account: Account, settings) -> dict[str, str]:
    key = settings.JWT_SIGNING_KEY.get_secret_value()
    base = _claims(account)
    now = datetime.now(UTC)
    return {
        "forged": jwt.encode(base, "not-the-key-" + "x" * 40, algorithm="HS256"),
        "expired": jwt.encode(
            {
                **base,
                "iat": int((now - timedelta(hours=1)).timestamp()),
                "nbf": int((now - timedelta(hours=1)).timestamp()),
                "exp": int((now - timedelta(minutes=30)).timestamp()),
            },
            key,
            algorithm="HS256",
        ),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(base)}.",
        "wrong_aud": jwt.encode({**base, "aud": "someone-else"}, key, algorithm="HS256"),
        "wrong_iss": jwt.encode({**base, "iss": "https://evil.example"}, key, algorithm="HS256"),
        "refresh_as_access": account.refresh,
        "hs512": jwt.encode(base, key, algorithm="HS512"),
        "no_typ": jwt.encode({k: v for k, v in base.items() if k != "typ"}, key, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "expired",
        "alg_none",
        "wrong_aud",
        "wrong_iss",
        "refresh_as_access",
        "hs512",
        "no_typ",
        "garbage",
    ],
)
def test_hostile_access_tokens_are_401(client: TestClient, account: Account, settings, kind: str) -> None:
    token = _hostile_tokens(account, settings)[kind]
    resp = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401, (kind, resp.text)


def test_access_token_is_not_a_refresh_token(client: TestClient, account: Account) -> None:
    assert _refresh(client, account.access, account.device_id)[0] == 401


def test_missing_token_is_401(client: TestClient) -> None:
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_login_timing_does_not_reveal_unknown_emails(client: TestClient, account: Account) -> None:
    # Both paths run the password hasher; compare loosely (same order of magnitude).
    def timed(email: str) -> float:
        started = time.perf_counter()
        client.post(
            "/v1/auth/login",
            json={"email": email, "password": "Wrong-password-1", "device_id": account.device_id},
        )
        return time.perf_counter() - started

    # Fastest of three each: scheduling noise only ever adds time.
    known = min(timed(account.email) for _ in range(3))
    unknown = min(timed("nobody-" + uuid.uuid4().hex[:6] + "@example.com") for _ in range(3))
    assert unknown > known / 4


def test_new_account_helper_is_isolated(client: TestClient) -> None:
    a, b = new_account(client), new_account(client)
    assert a.email != b.email
