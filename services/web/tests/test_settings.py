"""The settings object: the container contract, and no placeholder secrets outside development."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml
from loopin_web.settings import SECRET_FIELDS, Settings
from pydantic import ValidationError

CONTRACT = Path(__file__).resolve().parents[1] / "container-env.yml"
STRONG = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "WEBHOOK_SECRETS": json.dumps({"onesignal": secrets.token_urlsafe(48)}),
}


def test_settings_read_exactly_what_the_task_definition_injects() -> None:
    contract = yaml.safe_load(CONTRACT.read_text())
    injected = set(contract["environment"]) | set(contract["secrets"])
    assert set(Settings.model_fields) == injected
    assert set(contract["secrets"]) == set(SECRET_FIELDS)
    assert len(contract["environment"]) == len(set(contract["environment"]))
    assert all(suffix.replace("-", "").isalnum() for suffix in contract["secrets"].values())


def test_development_accepts_placeholders() -> None:
    assert Settings(APP_ENV="development").is_development


@pytest.mark.parametrize("env", ["test", "staging", "production"])
def test_placeholders_are_refused_outside_development(env: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(APP_ENV=env)
    message = str(info.value)
    assert "DJANGO_SECRET_KEY" in message and "JWT_SIGNING_KEY" in message and "WEBHOOK_SECRETS" in message
    assert "changethis" not in message  # the error names fields, never values


def test_short_secret_is_refused_and_not_echoed() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(APP_ENV="production", **{**STRONG, "JWT_SIGNING_KEY": "short-but-real-secret"})
    assert "JWT_SIGNING_KEY" in str(info.value)
    assert "short-but-real-secret" not in str(info.value)


def test_production_with_real_secrets_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("ALLOWED_HOSTS", "api.loopin.app, admin.loopin.app")
    for name, value in STRONG.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.ALLOWED_HOSTS == ["api.loopin.app", "admin.loopin.app"]
    assert settings.webhook_secrets.keys() == {"onesignal"}


def test_webhook_secrets_must_be_a_json_object() -> None:
    with pytest.raises(ValidationError):
        Settings(WEBHOOK_SECRETS="[1, 2]")
