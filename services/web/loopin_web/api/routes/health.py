"""Liveness for the ALB (no dependencies) and readiness for deploy gates (every dependency)."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import anyio
from django.db import connection
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...db import run_db
from ..schemas import Health, Readiness

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Process is up and serving. Never touches a dependency, so a database outage does not make
    the ALB kill every task."""
    return Health()


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with anyio.fail_after(CHECK_TIMEOUT):
            await check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type is reported
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
)
async def ready(request: Request) -> JSONResponse:
    """PostgreSQL, Redis and SQS each answer within CHECK_TIMEOUT seconds."""
    state = request.app.state

    async def postgres() -> None:
        await run_db(_select_one)

    async def redis() -> None:
        await state.redis.client.ping()

    async def sqs() -> None:
        urls = [u for u in state.settings.queue_urls.values() if u]
        if not urls:
            raise LookupError("no SQS queue URLs configured")
        for url in urls:
            await anyio.to_thread.run_sync(
                partial(state.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])
            )

    checks = {"postgresql": await _timed(postgres), "redis": await _timed(redis), "sqs": await _timed(sqs)}
    ok = all(c["ok"] for c in checks.values())
    body = Readiness(status="ready" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
