"""When pushes go through FCM instead of OneSignal: the fallback policy and OneSignal's health.

The policy comes from the task definition (PUSH_FALLBACK_*), set per environment in the inventory:

- a OneSignal failure of a kind in PUSH_FALLBACK_ON (default: unreachable, timeout, server_error)
  starts an outage; a success or any other answer from OneSignal (a 4xx, an invalid recipient)
  ends it. Failures of other kinds (429 by default) neither start nor end one.
- once the outage has lasted PUSH_FALLBACK_AFTER_SECONDS, the fallback is active: pushes go
  straight to FCM, except one every PUSH_FALLBACK_PROBE_SECONDS, which tries OneSignal first
  (a probe) and ends the fallback when OneSignal answers.
- before that, a failed push comes back when the fallback would become active, so a message
  spends at most two receives on an outage whatever the queue's maxReceiveCount, while a blip
  shorter than PUSH_FALLBACK_AFTER_SECONDS is still delivered by OneSignal.

Each worker task keeps its own view; tasks agree because they see the same OneSignal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger("loopin_worker.push")

Route = Literal["onesignal", "probe", "fcm"]


@dataclass(frozen=True)
class FallbackPolicy:
    after_seconds: float
    on: frozenset[str]
    probe_seconds: float


class OneSignalHealth:
    """Thread-safe outage tracking; `clock` is injectable for tests."""

    def __init__(self, policy: FallbackPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._fallback_since: float | None = None
        self._last_probe = 0.0

    @property
    def active(self) -> bool:
        with self._lock:
            return self._fallback_since is not None

    def route(self) -> Route:
        with self._lock:
            if self._fallback_since is None:
                return "onesignal"
            now = self.clock()
            if now - self._last_probe >= self.policy.probe_seconds:
                self._last_probe = now
                return "probe"
            return "fcm"

    def counts(self, kind: str) -> bool:
        return kind in self.policy.on

    def failed(self, kind: str) -> float | None:
        """Record a OneSignal failure. None: it does not count (retry as usual); 0: use FCM now;
        otherwise the seconds until the fallback becomes active."""
        if not self.counts(kind):
            return None
        with self._lock:
            now = self.clock()
            if self._failing_since is None:
                self._failing_since = now
            waited = now - self._failing_since
            if waited < self.policy.after_seconds:
                return self.policy.after_seconds - waited
            if self._fallback_since is None:
                self._fallback_since = self._last_probe = now
                log.warning(
                    "OneSignal failing: pushes go through FCM",
                    extra={"event": "push_fallback_started", "failing_seconds": round(waited, 1)},
                )
            return 0.0

    def answered(self) -> None:
        """OneSignal answered (a success, or a refusal that is the request's fault): it is up."""
        with self._lock:
            if self._failing_since is None:
                return
            if self._fallback_since is not None:
                log.warning(
                    "OneSignal answers again: pushes go through OneSignal",
                    extra={
                        "event": "push_fallback_ended",
                        "fallback_seconds": round(self.clock() - self._fallback_since, 1),
                    },
                )
            self._failing_since = self._fallback_since = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            return {
                "active": self._fallback_since is not None,
                "onesignal_failing_seconds": (
                    round(now - self._failing_since, 1) if self._failing_since is not None else None
                ),
            }
