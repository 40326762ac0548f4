"""background-jobs: scheduled work sent by EventBridge Scheduler, one handler per job name."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone
from loopin_web.notifications.models import ProcessedMessage
from loopin_web.notifications.outbox import relay_outbox

from ..idempotency import already_processed, commit_once
from ..messages import Message

log = logging.getLogger("loopin_worker.jobs")


class PurgeProcessedMessages:
    """job.purge_processed_messages: forget processed-message keys past the retention."""

    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days

    def __call__(self, message: Message) -> None:
        if already_processed(message):
            return
        cutoff = timezone.now() - timedelta(days=self.retention_days)

        def effect() -> int:
            deleted, _ = ProcessedMessage.objects.filter(processed_at__lt=cutoff).delete()
            return int(deleted)

        _, deleted = commit_once(message, ProcessedMessage.Outcome.SUCCEEDED, effect)
        log.info("purged processed messages", extra={"deleted": deleted or 0})


class RelayOutboxNow:
    """job.relay_outbox: one extra relay pass (the worker also relays continuously)."""

    def __init__(self, sqs: Any, queue_urls: dict[str, str], batch_size: int) -> None:
        self.sqs = sqs
        self.queue_urls = queue_urls
        self.batch_size = batch_size

    def __call__(self, message: Message) -> None:
        published = relay_outbox(self.batch_size, self.sqs, self.queue_urls)
        log.info("outbox relayed on request", extra={"published": published})
