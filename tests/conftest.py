"""Shared fixtures: a real moto server on a free loopback port, and AWS settings pointing at it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "collections"))

import emulator  # noqa: E402

REGION = "ap-south-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One emulator for the session; tests that need a clean slate use `aws_env` (resets it)."""
    with emulator.running() as url:
        yield url


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 and ansible modules at a freshly reset emulator with fake credentials."""
    emulator.reset(int(moto_endpoint.rsplit(":", 1)[1]))
    return _point_at(moto_endpoint, monkeypatch)


@pytest.fixture
def emulator_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Like `aws_env`, but keeps what earlier (module-scoped) fixtures built in the emulator."""
    return _point_at(moto_endpoint, monkeypatch)


def _point_at(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return {**os.environ, **env}
