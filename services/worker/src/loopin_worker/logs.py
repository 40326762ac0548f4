"""JSON log lines on stdout, each carrying the request ID of the message being handled.

The request ID travels API -> SQS message attribute -> worker (strategy: correlation IDs); a
context variable holds it while a message is handled, so every line logged on its behalf has it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
message_var: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("message", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            # logging's own names, as the web service writes them: the monitoring role's
            # app-errors metric filter matches { $.level = "ERROR" } in both log groups.
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        line.update(message_var.get() or {})
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            # The exception type and message, not the traceback: tracebacks go to Sentry.
            line["error"] = (
                f"{record.exc_info[0].__name__ if record.exc_info[0] else ''}: {record.exc_info[1]}"
            )
        return json.dumps(line, default=str)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time (pytest swaps it between tests)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def configure(level: str = "INFO") -> None:
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def message_context(request_id: str | None, **fields: str) -> Iterator[None]:
    token = request_id_var.set(request_id)
    token_fields = message_var.set(fields)
    try:
        yield
    finally:
        message_var.reset(token_fields)
        request_id_var.reset(token)
