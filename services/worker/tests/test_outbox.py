"""The outbox relay runs in every worker task: several at once publish each row once."""

from __future__ import annotations

import time

from conftest import Queues


def test_concurrent_relays_publish_each_row_once(db: str, queues: Queues) -> None:
    from django.db import connection
    from loopin_web.notifications.models import PUSH_QUEUE, OutboxMessage
    from loopin_worker.outbox import OutboxRelay

    rows = [
        OutboxMessage.for_queue(
            PUSH_QUEUE, {"type": "push.requested", "notification_id": str(i)}, request_id=f"r{i}"
        )
        for i in range(60)
    ]
    OutboxMessage.objects.bulk_create(rows)
    relays = [OutboxRelay(queues.sqs, queues.urls, batch_size=7, interval=0.05) for _ in range(3)]
    for relay in relays:
        relay.start()
    deadline = time.monotonic() + 30
    while OutboxMessage.objects.filter(published_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    for relay in relays:
        relay.stop()
        relay.join(5)
    connection.close()
    assert not any(relay.thread.is_alive() for relay in relays)
    published = queues.drain(queues.urls[PUSH_QUEUE])
    keys = [m["MessageAttributes"]["idempotency_key"]["StringValue"] for m in published]
    assert len(keys) == 60 and len(set(keys)) == 60
    assert set(keys) == {str(row.idempotency_key) for row in rows}
    assert all(m["MessageAttributes"]["request_id"]["StringValue"].startswith("r") for m in published)
