"""Schema-driven fuzzing (schemathesis) of every operation, against the app served by uvicorn.

Checks: no 5xx, only documented status codes, documented content types and response schemas.
Bounded by MAX_EXAMPLES per operation so the run stays well under two minutes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import new_account

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def served_app(app: Any) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def fuzz_schema(served_app: str) -> Any:
    return schemathesis.openapi.from_url(f"{served_app}/v1/openapi.json")


@pytest.fixture(scope="session")
def fuzz_auth(client: Any) -> dict[str, Any]:
    account = new_account(client)
    return {"account": account, "client": client}


def _operations(fuzz_schema: Any) -> list[Any]:
    return [result.ok() for result in fuzz_schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(
    mode: GenerationMode, fuzz_schema: Any, served_app: str, fuzz_auth: dict[str, Any]
) -> None:
    failures: list[str] = []
    operations = _operations(fuzz_schema)
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            account = fuzz_auth["account"]
            if case.path in ("/v1/auth/logout", "/v1/auth/password"):
                # These end the session they are called with: give each case its own.
                account = new_account(fuzz_auth["client"])
            headers = dict(case.headers or {})
            if "authorization" not in {k.lower() for k in headers}:
                headers["Authorization"] = f"Bearer {account.access}"
            case.headers = headers
            case.call_and_validate(base_url=served_app, checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:
            # No inputs to get wrong (GET /health): nothing to fuzz negatively.
            assert mode is GenerationMode.NEGATIVE
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
