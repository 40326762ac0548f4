"""Publish the transactional outbox to SQS. The worker calls `relay_outbox` in a loop.

Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED inside one transaction, so any number of
relays can run side by side without publishing a row twice at the same time. A crash between the
SQS send and the commit republishes the row later: delivery is at-least-once, and consumers
deduplicate on the `idempotency_key` message attribute (ProcessedMessage).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import OutboxMessage

log = logging.getLogger(__name__)

SQS_BATCH_LIMIT = 10


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": str(value)} for name, value in attributes.items()}


def relay_outbox(batch_size: int, sqs_client: Any, queue_urls: Mapping[str, str]) -> int:
    """Publish up to `batch_size` unpublished outbox rows; return how many were published.

    `queue_urls` maps queue names (OutboxMessage.queue_name) to SQS queue URLs. Failed sends stay
    unpublished with `attempts` incremented and `last_error` set, and are retried on a later call.
    """
    published = 0
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .order_by("created_at")[:batch_size]
        )
        if not rows:
            return 0
        by_queue: dict[str, list[OutboxMessage]] = defaultdict(list)
        for row in rows:
            by_queue[row.queue_name].append(row)
        now = timezone.now()
        for queue_name, queue_rows in by_queue.items():
            url = queue_urls.get(queue_name)
            if url is None:
                for row in queue_rows:
                    row.attempts += 1
                    row.last_error = f"no queue URL configured for {queue_name}"
                continue
            for start in range(0, len(queue_rows), SQS_BATCH_LIMIT):
                chunk = {str(row.id): row for row in queue_rows[start : start + SQS_BATCH_LIMIT]}
                entries = [
                    {
                        "Id": entry_id,
                        "MessageBody": json.dumps(row.body, separators=(",", ":")),
                        "MessageAttributes": _message_attributes(row.attributes),
                    }
                    for entry_id, row in chunk.items()
                ]
                try:
                    response = sqs_client.send_message_batch(QueueUrl=url, Entries=entries)
                except Exception as exc:  # noqa: BLE001 - any transport error leaves rows for later
                    log.warning(
                        "outbox publish failed", extra={"queue": queue_name, "error": type(exc).__name__}
                    )
                    for row in chunk.values():
                        row.attempts += 1
                        row.last_error = type(exc).__name__
                    continue
                for ok in response.get("Successful", []):
                    row = chunk[ok["Id"]]
                    row.published_at = now
                    row.attempts += 1
                    published += 1
                for failed in response.get("Failed", []):
                    row = chunk[failed["Id"]]
                    row.attempts += 1
                    row.last_error = str(failed.get("Code", "send failed"))[:500]
        OutboxMessage.objects.bulk_update(rows, ["published_at", "attempts", "last_error"])
    if published:
        log.info("outbox published", extra={"published": published})
    return published
