"""JSON logs, one line per record, with the request ID in each and no personal data or secrets.

`PiiScrubber` is attached to the handler, not to loggers, so it also covers records from
libraries (uvicorn, Django, boto). `scrub` is the same logic for Sentry events.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import IO, Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

REDACTED = "[redacted]"
# `extra={PRESCRUBBED: True}` marks a record whose message and fields were already scrubbed.
PRESCRUBBED = "_prescrubbed"
SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|e-?mail|phone|signature|dsn|api[-_]?key", re.I
)
# One alternation, so each string is scanned once (this runs for every log line).
_SENSITIVE_TEXT = re.compile(
    "|".join(
        [
            r"eyJ[\w-]+\.[\w-]+\.[\w-]*",  # JWTs
            r"(?i:bearer\s+[\w.~+/=-]+)",
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # email addresses
            r"(?<![\w.])\+?\d(?:[ ().-]?\d){9,14}(?![\w.])",  # phone numbers
            r"(?i:(?:password|passwd|secret|token)=\S+)",
        ]
    )
)

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


def scrub_text(text: str) -> str:
    return _SENSITIVE_TEXT.sub(REDACTED, text)


@functools.lru_cache(maxsize=1024)
def _sensitive_key(key: str) -> bool:
    return bool(SENSITIVE_KEY.search(key))


def scrub(value: Any, key: str = "") -> Any:
    """Redact sensitive keys and sensitive-looking strings anywhere in a nested structure."""
    if key and _sensitive_key(key):
        return REDACTED
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class PiiScrubber(logging.Filter):
    """Rewrites each record's message and extras before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.pop(PRESCRUBBED, False):
            return True  # built from scrubbed values by our own code (the per-request access line)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        fields = record.__dict__
        for name in fields.keys() - _STANDARD:
            fields[name] = scrub(fields[name], name)
        if record.exc_info and record.exc_info[1] is not None:
            # Exception messages can carry input (e.g. a DSN or an email); keep type and traceback.
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": f"{_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in fields.keys() - _STANDARD:
            entry.setdefault(name, fields[name])
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, separators=(",", ":"))


def make_handler(stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(PiiScrubber())
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route every logger (ours, uvicorn's, Django's) through one scrubbing JSON handler."""
    # Fields our JSON lines never show; skipping them is the logging docs' own optimisation, and
    # the access log runs once per request.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (file/line)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_loopin", False):
            root.removeHandler(old)
    handler = make_handler(stream)
    handler._loopin = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "django"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
