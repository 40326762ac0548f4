"""Push providers behind one interface: OneSignal by default, FCM as the fallback.

The strategy's risk register asks to abstract the push service so OneSignal can be replaced or
backed up by FCM. Handlers only see `PushProvider.send(PushRequest) -> PushResult` and the policy
errors (`TransientError`, `PermanentError`) it raises.
"""

from __future__ import annotations

from .base import InvalidRecipients, ProviderUnreachable, PushProvider, PushRequest, PushResult
from .factory import build_provider

__all__ = [
    "InvalidRecipients",
    "ProviderUnreachable",
    "PushProvider",
    "PushRequest",
    "PushResult",
    "build_provider",
]
