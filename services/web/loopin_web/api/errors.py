"""Error responses: every failure is a documented 4xx/503 with a reason; a 500 has no internals."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..db import DatabaseUnavailable
from ..ratelimit import RateLimited

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    detail: str | list[dict[str, Any]]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Statuses any endpoint may answer, documented once so the schema matches what clients see.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request body (not JSON, or not the expected encoding)"),
    422: _doc("Validation failed: unknown field, wrong type or value out of bounds"),
    429: _doc("Rate limited; see Retry-After"),
    503: _doc("A backing service (PostgreSQL) is unavailable; see Retry-After"),
}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {401: _doc("Missing, invalid or revoked access token")}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # FastAPI's default echoes the offending input, which can be a password: keep only the why.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(err["type"] == "json_invalid" for err in errors):
            return JSONResponse({"detail": "request body is not valid JSON"}, status.HTTP_400_BAD_REQUEST)
        return JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            {"detail": "too many requests"},
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning(
            "database unavailable", extra={"dependency": "postgresql", "error": type(exc.__cause__).__name__}
        )
        return JSONResponse(
            {"detail": "service temporarily unavailable"},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
