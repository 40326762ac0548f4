"""push.requested: deliver a NotificationRequest to its user's devices, exactly once in effect.

1. Already in ProcessedMessage -> nothing to do (a redelivery).
2. Send through the provider with the message's idempotency key: if a previous try reached
   OneSignal but crashed before the commit, OneSignal replays its first answer instead of sending.
3. Record the deliveries, the request's status and the ProcessedMessage in one statement (one
   transaction).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, connection
from django.utils import timezone
from loopin_web.notifications.models import (
    Device,
    NotificationRequest,
    ProcessedMessage,
    PushDelivery,
)

from ..idempotency import already_processed, commit_once
from ..messages import Message
from ..policy import PermanentError, PoisonMessage
from ..push import InvalidRecipients, PushProvider, PushRequest, PushResult

log = logging.getLogger("loopin_worker.push")


def _notification_id(message: Message) -> uuid.UUID:
    data = message.json()
    raw = data.get("notification_id") or data.get("notification_request_id")
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise PoisonMessage("push.requested without a valid notification_id") from exc


@dataclass(frozen=True)
class Target:
    """A notification request with what a send needs, read in one query."""

    id: uuid.UUID
    title: str
    body: str
    data: dict[str, Any]
    done: bool
    devices: list[tuple[uuid.UUID, str, str]]  # (device id, OneSignal subscription id, push token)


class PushHandler:
    def __init__(self, provider: PushProvider) -> None:
        self.provider = provider

    def __call__(self, message: Message) -> None:
        notification_id = _notification_id(message)
        target = _read(notification_id, message.idempotency_key)
        if (target is not None and target.done) or (target is None and already_processed(message)):
            log.info("already delivered, dropping the redelivery")
            return
        if target is None:
            # Deleted with its user after it was queued: nothing to send, ever.
            commit_once(message, ProcessedMessage.Outcome.SKIPPED, lambda: None)
            raise PermanentError("notification request no longer exists")
        if not target.devices:
            commit_once(
                message,
                ProcessedMessage.Outcome.SKIPPED,
                lambda: NotificationRequest.objects.filter(id=target.id).update(
                    status=NotificationRequest.Status.NO_DEVICES, updated_at=timezone.now()
                ),
            )
            log.info("user has no devices")
            return
        request = PushRequest(
            idempotency_key=message.idempotency_key,
            subscription_ids=[sub for _, sub, _ in target.devices],
            tokens=[token for _, _, token in target.devices],
            title=target.title,
            body=target.body,
            data={**target.data, "notification_id": str(target.id)},
        )
        try:
            result = self.provider.send(request)
        except PermanentError as exc:  # InvalidRecipients included
            failed = PushResult(self.provider.name, "", list(request.subscription_ids))
            _record_once(message, ProcessedMessage.Outcome.FAILED, target, failed)
            reason = f"no valid recipient: {exc}" if isinstance(exc, InvalidRecipients) else str(exc)
            raise PermanentError(reason) from exc
        recorded = _record_once(message, ProcessedMessage.Outcome.SUCCEEDED, target, result)
        log.info(
            "push sent",
            extra={
                "provider": result.provider,
                "provider_id": result.notification_id,
                "devices": len(target.devices),
                "invalid": len(result.invalid_recipients),
                "replayed": result.replayed,
                "recorded": recorded,
            },
        )


# -- the hot path in SQL: one read and one write per push ---------------------------------------
# Every push runs these, so they are single statements built from the web service's models:
# the write is one statement (its own transaction), inserting the processed-message record, the
# deliveries and updating the request together; a duplicate key fails the whole statement.


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _col(model: Any, field: str) -> str:
    return str(model._meta.get_field(field).column)


@cache
def _read_sql() -> str:
    n, d, p = NotificationRequest, Device, ProcessedMessage
    # Identifiers come from the models' metadata, values are parameters.
    return (
        f"SELECT n.{_col(n, 'title')}, n.{_col(n, 'body')}, n.{_col(n, 'data')},"  # noqa: S608
        f" EXISTS (SELECT 1 FROM {_table(p)} WHERE {_col(p, 'idempotency_key')} = %s),"
        f" d.{_col(d, 'id')}, d.{_col(d, 'onesignal_subscription_id')}, d.{_col(d, 'push_token')}"
        f" FROM {_table(n)} n LEFT JOIN {_table(d)} d ON d.{_col(d, 'user')} = n.{_col(n, 'user')}"
        f" WHERE n.{_col(n, 'id')} = %s ORDER BY d.{_col(d, 'created_at')}"
    )


def _read(notification_id: uuid.UUID, key: str) -> Target | None:
    with connection.cursor() as cursor:
        cursor.execute(_read_sql(), [key, notification_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    title, body, data, done = rows[0][:4]
    if isinstance(data, str):
        data = json.loads(data)
    devices = [(row[4], str(row[5]), str(row[6])) for row in rows if row[4] is not None]
    return Target(notification_id, title, body, data or {}, bool(done), devices)


def _record_once(message: Message, outcome: str, target: Target, result: PushResult) -> bool:
    """Record the deliveries, the request's status and the message as processed, atomically.

    False when the message was already recorded (a racing redelivery): nothing is written then.
    """
    invalid = set(result.invalid_recipients)
    statuses, errors = [], []
    for _, sub, token in target.devices:
        bad = sub in invalid or token in invalid
        statuses.append(PushDelivery.Status.FAILED.value if bad else PushDelivery.Status.SENT.value)
        errors.append("invalid recipient" if bad else "")
    sent = statuses.count(PushDelivery.Status.SENT.value)
    status = "sent" if sent == len(statuses) else ("failed" if sent == 0 else "partial")
    params = [
        message.idempotency_key,
        message.queue,
        outcome,
        target.id,
        result.provider,
        result.notification_id,
        [device for device, _, _ in target.devices],
        statuses,
        errors,
        status,
        target.id,
    ]
    try:
        # Autocommit: the statement is its own transaction; no BEGIN/COMMIT round trips.
        with connection.cursor() as cursor:
            cursor.execute(_record_sql(), params)
    except IntegrityError:
        if already_processed(message):
            return False
        raise
    return True


@cache
def _record_sql() -> str:
    n, d, p = NotificationRequest, PushDelivery, ProcessedMessage
    # Identifiers come from the models' metadata, values are parameters.
    return (
        f"WITH processed AS (INSERT INTO {_table(p)}"  # noqa: S608
        f" ({_col(p, 'idempotency_key')}, {_col(p, 'queue')},"
        f" {_col(p, 'processed_at')}, {_col(p, 'outcome')})"
        f" VALUES (%s, %s, now(), %s) RETURNING 1),"
        f" deliveries AS (INSERT INTO {_table(d)}"
        f" ({_col(d, 'notification')}, {_col(d, 'device')}, {_col(d, 'status')}, {_col(d, 'provider')},"
        f" {_col(d, 'provider_id')}, {_col(d, 'error')}, {_col(d, 'created_at')}, {_col(d, 'updated_at')})"
        f" SELECT %s, x.device, x.status, %s, %s, x.error, now(), now()"
        f" FROM unnest(%s::uuid[], %s::text[], %s::text[]) AS x(device, status, error) RETURNING 1)"
        f" UPDATE {_table(n)} SET {_col(n, 'status')} = %s, {_col(n, 'updated_at')} = now()"
        f" WHERE {_col(n, 'id')} = %s"
    )
