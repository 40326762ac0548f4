"""Exactly-once effect: the processed-message record commits in the same transaction as the effect.

A redelivered message finds its idempotency key in `ProcessedMessage` and is only deleted. Two
workers racing on the same message both try to insert the key; the unique constraint lets one
commit and rolls the other back, effects included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction
from loopin_web.notifications.models import ProcessedMessage

from .messages import Message

T = TypeVar("T")


def already_processed(message: Message) -> bool:
    return bool(ProcessedMessage.objects.filter(idempotency_key=message.idempotency_key).exists())


def commit_once(message: Message, outcome: str, effect: Callable[[], T]) -> tuple[bool, T | None]:
    """Run `effect` and record the message in one transaction; (False, None) if already recorded."""
    try:
        with transaction.atomic():
            result = effect()
            ProcessedMessage.objects.create(
                idempotency_key=message.idempotency_key, queue=message.queue, outcome=outcome
            )
    except IntegrityError:
        if already_processed(message):
            return False, None
        raise
    return True, result
