"""Build the push providers the settings ask for, with the fallback policy and delivery counts."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..settings import WorkerSettings
from .fallback import FallbackPolicy, OneSignalHealth
from .onesignal import OneSignalProvider

if TYPE_CHECKING:
    from .fcm import FcmClient

log = logging.getLogger("loopin_worker.push")


@dataclass
class PushStats:
    """Deliveries since start, by provider: the health report and the shutdown summary show it."""

    notifications: Counter[str] = field(default_factory=Counter)
    devices: Counter[str] = field(default_factory=Counter)
    by_fallback: int = 0  # notifications FCM delivered because OneSignal was failing
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self, provider: str, devices: int, fallback: bool) -> None:
        with self.lock:
            self.notifications[provider] += 1
            self.devices[provider] += devices
            self.by_fallback += int(fallback)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "notifications": dict(self.notifications),
                "devices": dict(self.devices),
                "fallback_notifications": self.by_fallback,
            }


@dataclass
class PushRouting:
    """What the push handler sends with.

    primary: "onesignal", or "fcm" when an operator switched by hand (PUSH_PROVIDER=fcm).
    health: OneSignal's outage tracking; it decides only when `fcm` is there to fall back to.
    """

    primary: str
    onesignal: OneSignalProvider
    fcm: FcmClient | None
    health: OneSignalHealth
    fallback_enabled: bool
    stats: PushStats = field(default_factory=PushStats)

    @property
    def can_fall_back(self) -> bool:
        return self.fallback_enabled and self.fcm is not None

    def snapshot(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "fallback": {
                "provider": "fcm" if self.can_fall_back else None,
                **self.health.snapshot(),
            },
            "fcm_tokens_minted": self.fcm.tokens_minted if self.fcm else 0,
            **self.stats.snapshot(),
        }


def build_routing(settings: WorkerSettings) -> PushRouting:
    onesignal = OneSignalProvider(
        settings.onesignal_app_id,
        settings.onesignal_api_key.get_secret_value(),
        settings.onesignal_api_url,
        settings.push_timeout_seconds,
        pool_size=settings.concurrency,
    )
    info = settings.fcm_service_account_info
    fcm = None
    if info is not None:
        # Imported only when FCM is set: google-auth and cryptography add about 11 MiB of RSS.
        from .fcm import FcmClient

        fcm = FcmClient(
            info, settings.fcm_api_url, settings.push_timeout_seconds, pool_size=settings.concurrency
        )
    fallback = settings.push_fallback == "fcm" and settings.push_provider == "onesignal"
    if fallback and fcm is None:
        log.warning(
            "PUSH_FALLBACK=fcm but FCM_SERVICE_ACCOUNT is not set: no fallback until an operator sets"
            " the fcm secret",
            extra={"event": "push_fallback_unconfigured"},
        )
    policy = FallbackPolicy(
        settings.push_fallback_after_seconds,
        frozenset(settings.push_fallback_kinds),
        settings.push_fallback_probe_seconds,
    )
    return PushRouting(settings.push_provider, onesignal, fcm, OneSignalHealth(policy), fallback)
