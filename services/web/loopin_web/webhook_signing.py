"""The webhook signature scheme, importable without Django (senders and tests use it too).

signature = "v1=" + hex(HMAC-SHA256(secret, "<unix timestamp>." + raw body))
"""

from __future__ import annotations

import hashlib
import hmac

WINDOW_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())
