"""The outbox relay loop: publishes the web service's transactional outbox to SQS.

`relay_outbox` claims rows with FOR UPDATE SKIP LOCKED, so every worker task can run this loop
at once without publishing a row twice concurrently; a crash between send and commit republishes
it later, and the consumer's idempotency key makes that harmless.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import close_old_connections, connection
from loopin_web.notifications.outbox import relay_outbox

log = logging.getLogger("loopin_worker.outbox")


class OutboxRelay:
    def __init__(self, sqs: Any, queue_urls: dict[str, str], batch_size: int, interval: float) -> None:
        self.sqs = sqs
        self.queue_urls = queue_urls
        self.batch_size = batch_size
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        while not self.stopping.is_set():
            published = 0
            try:
                close_old_connections()
                published = relay_outbox(self.batch_size, self.sqs, self.queue_urls)
            except Exception:
                log.exception("outbox relay pass failed")
            # A full batch means more is waiting: go again at once.
            if published < self.batch_size:
                self.stopping.wait(self.interval)
        connection.close()  # this thread's own connection
