"""push.requested: deliver a NotificationRequest to its user's devices, exactly once in effect.

1. Already in ProcessedMessage -> nothing to do (a redelivery).
2. OneSignal (the usual path): one request with the message's idempotency key, so that a try
   that reached OneSignal but crashed before the commit is replayed by OneSignal, not re-sent.
   Then the deliveries, the request's status and the ProcessedMessage in one statement.
3. FCM (OneSignal failing per the fallback policy, or PUSH_PROVIDER=fcm): FCM has no idempotency
   key, so each device's send is recorded around it: a `pending` PushDelivery row (provider fcm)
   is committed before the send, `sent`/`failed` after it, and the row is deleted again when FCM
   answered an error (nothing reached the phone). A retry skips devices already sent or failed.
   Any PushDelivery row of a request that is not processed yet means FCM owns that request: it
   never goes to OneSignal afterwards, so OneSignal recovering mid-batch cannot push it twice.
   A token FCM calls UNREGISTERED is removed from the user's devices.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from loopin_web.notifications.models import (
    Device,
    NotificationRequest,
    ProcessedMessage,
    PushDelivery,
)

from ..idempotency import already_processed, commit_once
from ..messages import Message
from ..policy import PermanentError, PoisonMessage, TransientError
from ..push import InvalidRecipients, ProviderFailure, PushRequest, PushResult, PushRouting

log = logging.getLogger("loopin_worker.push")

SENT, FAILED, PENDING = (PushDelivery.Status.SENT.value, PushDelivery.Status.FAILED.value,
                         PushDelivery.Status.PENDING.value)  # fmt: skip


def _notification_id(message: Message) -> uuid.UUID:
    data = message.json()
    raw = data.get("notification_id") or data.get("notification_request_id")
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise PoisonMessage("push.requested without a valid notification_id") from exc


@dataclass(frozen=True)
class DeviceRow:
    id: uuid.UUID
    subscription_id: str  # OneSignal subscription id
    token: str  # native push token (the FCM registration token)
    delivery: str | None  # this request's PushDelivery status for the device, if any


@dataclass(frozen=True)
class Target:
    """A notification request with what a send needs, read in one query."""

    id: uuid.UUID
    title: str
    body: str
    data: dict[str, Any]
    done: bool
    claimed: bool  # a PushDelivery row exists but the message is not processed: FCM owns it
    devices: list[DeviceRow]


class PushHandler:
    def __init__(self, routing: PushRouting) -> None:
        self.routing = routing

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
        if not target.devices and not target.claimed:
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
            subscription_ids=[device.subscription_id for device in target.devices],
            tokens=[device.token for device in target.devices],
            title=target.title,
            body=target.body,
            data={**target.data, "notification_id": str(target.id)},
        )
        routing = self.routing
        if target.claimed:
            self._via_fcm(message, target, request, "pinned")
            return
        if routing.primary == "fcm":
            self._via_fcm(message, target, request, "primary")
            return
        if routing.can_fall_back and routing.health.route() == "fcm":
            self._via_fcm(message, target, request, "fallback")
            return
        try:
            result = routing.onesignal.send(request)
        except ProviderFailure as exc:
            wait = self._onesignal_failed(exc)
            if wait == 0:
                self._via_fcm(message, target, request, "fallback")
                return
            if wait is not None:
                # Back when the fallback would take over: at most two receives spent on an outage.
                raise TransientError(f"{exc.reason}; FCM takes over in {wait:.0f} s", wait) from exc
            raise
        except PermanentError as exc:  # InvalidRecipients included: OneSignal answered, it is up
            routing.health.answered()
            failed = PushResult(routing.onesignal.name, "", list(request.subscription_ids))
            _record_once(message, ProcessedMessage.Outcome.FAILED, target, failed)
            reason = f"no valid recipient: {exc}" if isinstance(exc, InvalidRecipients) else str(exc)
            raise PermanentError(reason) from exc
        routing.health.answered()
        recorded = _record_once(message, ProcessedMessage.Outcome.SUCCEEDED, target, result)
        if recorded:
            sent = len(target.devices) - len(set(result.invalid_recipients))
            routing.stats.delivered(result.provider, max(sent, 0), fallback=False)
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

    def _onesignal_failed(self, exc: ProviderFailure) -> float | None:
        """Count a OneSignal failure; None: retry as usual, 0: FCM now, else seconds until FCM."""
        health = self.routing.health
        if not health.counts(exc.kind):
            return None
        # One line per failure of an outage kind: the monitoring role's metric filter counts them.
        log.warning(
            "OneSignal failed: %s",
            exc.reason,
            extra={"event": "onesignal_failed", "failure": exc.kind},
        )
        if not self.routing.can_fall_back:
            return None
        return health.failed(exc.kind)

    def _via_fcm(self, message: Message, target: Target, request: PushRequest, why: str) -> None:
        """Send to each device not yet sent or failed, recording each send around it."""
        fcm = self.routing.fcm
        if fcm is None:
            raise TransientError("FCM has sent part of this request but is not configured now")
        removed = refused = 0
        for device in target.devices:
            if device.delivery in (SENT, FAILED):
                continue
            claimed_now = device.delivery is None
            if claimed_now:
                _claim(target.id, device.id)
            try:
                answer = fcm.send(device.token, request)
            except ProviderFailure as exc:
                if claimed_now and not exc.maybe_delivered:
                    _release(target.id, device.id)  # FCM answered an error: nothing was sent
                raise
            if answer.sent:
                _finish(target.id, device.id, SENT, answer.name, "")
            elif answer.unregistered:
                _remove_device(target.id, device.id)
                removed += 1
            else:
                _finish(target.id, device.id, FAILED, "", f"FCM {answer.error}")
                refused += 1
        self._complete_fcm(message, target, why, removed, refused)

    def _complete_fcm(self, message: Message, target: Target, why: str, removed: int, refused: int) -> None:
        statuses = list(
            PushDelivery.objects.filter(notification_id=target.id).values_list("status", flat=True)
        )
        sent = statuses.count(SENT)
        status = (
            NotificationRequest.Status.SENT
            if sent == len(statuses)
            else (NotificationRequest.Status.FAILED if sent == 0 else NotificationRequest.Status.PARTIAL)
        )
        outcome = ProcessedMessage.Outcome.SUCCEEDED if sent else ProcessedMessage.Outcome.FAILED
        recorded, _ = commit_once(
            message,
            outcome,
            lambda: NotificationRequest.objects.filter(id=target.id).update(
                status=status, updated_at=timezone.now()
            ),
        )
        if recorded and sent:
            self.routing.stats.delivered("fcm", sent, fallback=why != "primary")
        log.info(
            "push sent" if sent else "push failed",
            extra={
                "provider": "fcm",
                "via": why,
                "devices": sent,
                "invalid": refused,
                "removed": removed,
                "recorded": recorded,
            },
        )
        if not sent:
            raise PermanentError("FCM: no device of the user could receive it")


# -- the FCM path's bookkeeping: one small statement per device, committed around each send -----


def _claim(notification_id: uuid.UUID, device_id: uuid.UUID) -> None:
    now = timezone.now()
    PushDelivery.objects.bulk_create(
        [
            PushDelivery(
                notification_id=notification_id,
                device_id=device_id,
                status=PENDING,
                provider="fcm",
                created_at=now,
                updated_at=now,
            )
        ],
        ignore_conflicts=True,
    )


def _release(notification_id: uuid.UUID, device_id: uuid.UUID) -> None:
    PushDelivery.objects.filter(notification_id=notification_id, device_id=device_id, status=PENDING).delete()


def _finish(
    notification_id: uuid.UUID, device_id: uuid.UUID, status: str, provider_id: str, error: str
) -> None:
    PushDelivery.objects.filter(notification_id=notification_id, device_id=device_id).update(
        status=status, provider="fcm", provider_id=provider_id, error=error, updated_at=timezone.now()
    )


def _remove_device(notification_id: uuid.UUID, device_id: uuid.UUID) -> None:
    """FCM says the token is gone (app uninstalled, token expired): the device goes too."""
    with transaction.atomic():
        _finish(notification_id, device_id, FAILED, "", "FCM UNREGISTERED: device removed")
        # Django sets PushDelivery.device to NULL on every delivery of the device (SET_NULL).
        Device.objects.filter(id=device_id).delete()
    log.info("device removed: FCM says its token is unregistered", extra={"device": str(device_id)})


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
    n, d, p, r = NotificationRequest, Device, ProcessedMessage, PushDelivery
    # Identifiers come from the models' metadata, values are parameters. The deliveries joined
    # are this request's, found through the (notification, device) unique index.
    return (
        f"SELECT n.{_col(n, 'title')}, n.{_col(n, 'body')}, n.{_col(n, 'data')},"  # noqa: S608
        f" EXISTS (SELECT 1 FROM {_table(p)} WHERE {_col(p, 'idempotency_key')} = %s),"
        f" EXISTS (SELECT 1 FROM {_table(r)} WHERE {_col(r, 'notification')} = n.{_col(n, 'id')}),"
        f" d.{_col(d, 'id')}, d.{_col(d, 'onesignal_subscription_id')}, d.{_col(d, 'push_token')},"
        f" r.{_col(r, 'status')}"
        f" FROM {_table(n)} n LEFT JOIN {_table(d)} d ON d.{_col(d, 'user')} = n.{_col(n, 'user')}"
        f" LEFT JOIN {_table(r)} r ON r.{_col(r, 'notification')} = n.{_col(n, 'id')}"
        f" AND r.{_col(r, 'device')} = d.{_col(d, 'id')}"
        f" WHERE n.{_col(n, 'id')} = %s ORDER BY d.{_col(d, 'created_at')}"
    )


def _read(notification_id: uuid.UUID, key: str) -> Target | None:
    with connection.cursor() as cursor:
        cursor.execute(_read_sql(), [key, notification_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    title, body, data, done, claimed = rows[0][:5]
    if isinstance(data, str):
        data = json.loads(data)
    devices = [DeviceRow(row[5], str(row[6]), str(row[7]), row[8]) for row in rows if row[5] is not None]
    return Target(notification_id, title, body, data or {}, bool(done), bool(claimed), devices)


def _record_once(message: Message, outcome: str, target: Target, result: PushResult) -> bool:
    """Record the deliveries, the request's status and the message as processed, atomically.

    False when the message was already recorded (a racing redelivery): nothing is written then.
    """
    invalid = set(result.invalid_recipients)
    statuses, errors = [], []
    for device in target.devices:
        bad = device.subscription_id in invalid or device.token in invalid
        statuses.append(FAILED if bad else SENT)
        errors.append("invalid recipient" if bad else "")
    sent = statuses.count(SENT)
    status = "sent" if sent == len(statuses) else ("failed" if sent == 0 else "partial")
    params = [
        message.idempotency_key,
        message.queue,
        outcome,
        target.id,
        result.provider,
        result.notification_id,
        [device.id for device in target.devices],
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
