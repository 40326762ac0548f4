"""Push providers: OneSignal by default, FCM as the fallback when OneSignal is failing.

The strategy's risk register asks to abstract the push service so OneSignal can be replaced or
backed up by FCM. The push handler (handlers/push.py) gets a `PushRouting` from `build_routing`
and the policy errors (`TransientError`, `PermanentError`) the providers raise.
"""

from __future__ import annotations

from ..settings import FAILURE_KINDS
from .base import (
    InvalidRecipients,
    ProviderFailure,
    ProviderUnreachable,
    PushProvider,
    PushRequest,
    PushResult,
)
from .factory import PushRouting, PushStats, build_routing

__all__ = [
    "FAILURE_KINDS",
    "InvalidRecipients",
    "ProviderFailure",
    "ProviderUnreachable",
    "PushProvider",
    "PushRequest",
    "PushResult",
    "PushRouting",
    "PushStats",
    "build_routing",
]
