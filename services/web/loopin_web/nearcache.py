"""A per-process cache in front of Redis for the hottest reads (session state, profile).

Entries live NEAR_TTL seconds, so a change made by another task (a logout elsewhere) is seen here
within that long; changes made by this process update it at once. It keeps the authenticated hot
path off the network for most requests.
"""

from __future__ import annotations

import time
from typing import Any

NEAR_TTL = 1.0
MAX_ENTRIES = 50_000


class NearCache:
    def __init__(self, ttl: float = NEAR_TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; refills from Redis within a second
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)
