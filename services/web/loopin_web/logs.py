"""JSON logs, one line per record, with the request ID in each and no personal data or secrets.

`PiiScrubber` is attached to the handler, not to loggers, so it also covers records from
libraries (uvicorn, Django, boto). `scrub` is the same logic for Sentry events.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

REDACTED = "[redacted]"
SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|e-?mail|phone|signature|dsn|api[-_]?key", re.I
)
_PATTERNS = [
    re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),  # JWTs
    re.compile(r"(?i)bearer\s+[\w.~+/=-]+"),
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # email addresses
    re.compile(r"(?<![\w.])\+?\d(?:[ ().-]?\d){9,14}(?![\w.])"),  # phone numbers
    re.compile(r"(?i)(password|passwd|secret|token)=\S+"),
]

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


def scrub_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(value: Any, key: str = "") -> Any:
    """Redact sensitive keys and sensitive-looking strings anywhere in a nested structure."""
    if key and SENSITIVE_KEY.search(key):
        return REDACTED
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
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        for name in list(record.__dict__):
            if name not in _STANDARD:
                record.__dict__[name] = scrub(record.__dict__[name], name)
        if record.exc_info and record.exc_info[1] is not None:
            # Exception messages can carry input (e.g. a DSN or an email); keep type and traceback.
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in entry:
                entry[name] = value
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
