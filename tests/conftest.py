"""Shared fixtures, one owner each:

    moto_endpoint / aws_env / emulator_env   one emulator per session for tests that build their
                                            own state (aws_env resets it first)
    stack                                   the whole stack converged once (tests/stack.py), read-only

Timeouts follow the work (tests/budget.py): pytest-timeout's limit is scaled to this machine's
measured speed, and a converge in a fixture is bounded by its own budget instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import budget
import pytest
from stack import Stack, environ, open_stack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "collections"))

import emulator  # noqa: E402
import iam_stack  # noqa: E402

REGION = "ap-south-1"


def _per_test_limit(config: pytest.Config) -> float:
    """pyproject's pytest-timeout limit (the reference machine's) scaled like every budget."""
    return float(config.getini("timeout")) * budget.slowdown()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"budgets: {budget.slowdown():.1f}x slower than the reference machine; per-test limit "
        f"{_per_test_limit(config):.0f} s, site.yml converge {budget.timeout('site_cold'):.0f} s"
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets the scaled limit unless it carries its own timeout mark."""
    limit = _per_test_limit(config)
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit))


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The whole stack, converged once for the session; only for tests that do not change it."""
    with open_stack() as converged:
        yield converged


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One emulator for the session; tests that need a clean slate use `aws_env` (resets it)."""
    with emulator.running(wait=budget.timeout("emulator_start")) as url:
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


# --- the enforcing emulator: IAM checked on every call, each actor under its own identity ----


@pytest.fixture(scope="session")
def enforcing_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One emulator for the session that enforces IAM (its own state directory)."""
    state = tmp_path_factory.mktemp("localcloud-state")
    with environ(LOOPIN_STATE_DIR=str(state)), emulator.running() as url:
        yield url


@pytest.fixture
def enforced(enforcing_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> iam_stack.Enforced:
    """A reset emulator, bootstrapped (operator, service principal) and enforcing IAM, with
    roles/iam's OIDC provider and roles in it. The environment points boto3 at it as the operator."""
    emulator.reset(int(enforcing_endpoint.rsplit(":", 1)[1]))
    enforced = iam_stack.bootstrap(enforcing_endpoint)
    env = _point_at(enforcing_endpoint, monkeypatch)
    for key, value in enforced.operator_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    env.update(enforced.operator_env())
    env.pop("AWS_SESSION_TOKEN", None)
    return enforced
