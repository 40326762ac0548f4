"""Push devices: idempotent registration, and no view of anyone else's devices."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from .conftest import Account, new_account


def _device(account: Account, **over: str) -> dict[str, str]:
    return {
        "device_id": account.device_id,
        "platform": "ios",
        "push_token": "apns-" + uuid.uuid4().hex,
        "onesignal_subscription_id": str(uuid.uuid4()),
        **over,
    }


def test_register_is_idempotent_per_install(client: TestClient, account: Account) -> None:
    body = _device(account)
    first = client.post("/v1/devices", json=body, headers=account.headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/devices", json={**body, "push_token": "apns-rotated"}, headers=account.headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    listed = client.get("/v1/devices", headers=account.headers).json()
    assert [d["id"] for d in listed] == [first.json()["id"]]
    assert "push_token" not in listed[0]  # tokens are write-only


def test_other_users_devices_are_404(client: TestClient, account: Account) -> None:
    mine = client.post("/v1/devices", json=_device(account), headers=account.headers).json()
    intruder = new_account(client)
    assert client.get("/v1/devices", headers=intruder.headers).json() == []
    assert client.get(f"/v1/devices/{mine['id']}", headers=intruder.headers).status_code == 404
    assert client.delete(f"/v1/devices/{mine['id']}", headers=intruder.headers).status_code == 404
    assert client.get(f"/v1/devices/{mine['id']}", headers=account.headers).status_code == 200
    # Same install id registered by another user creates their own device, not a takeover.
    theirs = client.post("/v1/devices", json=_device(account), headers=intruder.headers)
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert client.get(f"/v1/devices/{mine['id']}", headers=account.headers).status_code == 200


def test_delete_then_404(client: TestClient, account: Account) -> None:
    mine = client.post(
        "/v1/devices", json=_device(account, platform="android"), headers=account.headers
    ).json()
    assert client.delete(f"/v1/devices/{mine['id']}", headers=account.headers).status_code == 204
    assert client.delete(f"/v1/devices/{mine['id']}", headers=account.headers).status_code == 404


def test_bad_device_input_is_422_with_reason(client: TestClient, account: Account) -> None:
    cases = [
        _device(account, platform="windows-phone"),
        {**_device(account), "unexpected": "field"},
        _device(account, push_token="x" * 513),
        _device(account, onesignal_subscription_id="not-a-uuid"),
        _device(account, push_token="has spaces\n"),
    ]
    for body in cases:
        resp = client.post("/v1/devices", json=body, headers=account.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["detail"][0]["msg"]
    assert client.get("/v1/devices/not-a-uuid", headers=account.headers).status_code == 422


def test_malformed_json_is_a_documented_400(client: TestClient, account: Account) -> None:
    resp = client.post(
        "/v1/devices",
        content=b'{"device_id": ',
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json() == {"detail": "request body is not valid JSON"}
    schema = client.get("/v1/openapi.json").json()
    assert "400" in schema["paths"]["/v1/devices"]["post"]["responses"]


def test_profile_update_is_seen_at_once_despite_the_caches(client: TestClient, account: Account) -> None:
    assert client.get("/v1/me", headers=account.headers).json()["display_name"] == ""
    resp = client.patch("/v1/me", json={"display_name": "  Asha  "}, headers=account.headers)
    assert resp.status_code == 200 and resp.json()["display_name"] == "Asha"
    assert client.get("/v1/me", headers=account.headers).json()["display_name"] == "Asha"
    assert (
        client.patch("/v1/me", json={"display_name": "x" * 101}, headers=account.headers).status_code == 422
    )
    assert (
        client.patch("/v1/me", json={"email": "new@example.com"}, headers=account.headers).status_code == 422
    )
