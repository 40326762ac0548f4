"""Build the configured provider, with the fallback wrapped around it when one is set."""

from __future__ import annotations

import logging

from ..settings import WorkerSettings
from .base import ProviderUnreachable, PushProvider, PushRequest, PushResult
from .fcm import FcmProvider
from .onesignal import OneSignalProvider

log = logging.getLogger("loopin_worker.push")


class FailoverProvider:
    """Primary first; the secondary only when the primary was certainly never reached."""

    def __init__(self, primary: PushProvider, secondary: PushProvider) -> None:
        self.primary = primary
        self.secondary = secondary
        self.name = primary.name

    def send(self, request: PushRequest) -> PushResult:
        try:
            return self.primary.send(request)
        except ProviderUnreachable as exc:
            log.warning(
                "push provider %s unreachable (%s), using %s", self.primary.name, exc, self.secondary.name
            )
            return self.secondary.send(request)


def _single(name: str, settings: WorkerSettings) -> PushProvider:
    if name == "fcm":
        return FcmProvider(
            settings.fcm_project_id,
            settings.fcm_access_token.get_secret_value(),
            settings.fcm_api_url,
            settings.push_timeout_seconds,
        )
    return OneSignalProvider(
        settings.onesignal_app_id,
        settings.onesignal_api_key.get_secret_value(),
        settings.onesignal_api_url,
        settings.push_timeout_seconds,
        pool_size=settings.concurrency,
    )


def build_provider(settings: WorkerSettings) -> PushProvider:
    primary = _single(settings.push_provider, settings)
    if settings.push_fallback and settings.push_fallback != settings.push_provider:
        return FailoverProvider(primary, _single(settings.push_fallback, settings))
    return primary
