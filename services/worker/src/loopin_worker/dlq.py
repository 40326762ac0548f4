"""`loopin-worker dlq redrive`: move messages from a dead-letter queue back to its source queue.

SQS's StartMessageMoveTask does this in AWS, but the emulator lacks it and it cannot be limited to
a count, so the command does it itself and loses nothing: each message is sent to the source
first and deleted from the DLQ only once the send succeeded. A crash in between leaves a copy in
both; the consumer's idempotency key (derived from the body, not the MessageId) makes the
duplicate harmless.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("loopin_worker.dlq")

# Attributes SQS sets itself; they cannot be sent.
_SYSTEM_PREFIX = "AWS."


@dataclass
class RedriveReport:
    source: str
    dlq: str
    moved: int = 0
    failed: int = 0


def dlq_url_for(sqs: Any, source_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    if "RedrivePolicy" not in attrs:
        raise ValueError(f"{source_url} has no RedrivePolicy, so no dead-letter queue")
    arn = json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"]
    account, name = arn.split(":")[4], arn.split(":")[5]
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def redrive(sqs: Any, source_url: str, dlq_url: str | None = None, limit: int | None = None) -> RedriveReport:
    dlq_url = dlq_url or dlq_url_for(sqs, source_url)
    report = RedriveReport(source=source_url, dlq=dlq_url)
    while limit is None or report.moved < limit:
        want = 10 if limit is None else max(1, min(10, limit - report.moved))
        received = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            break
        entries = []
        for i, message in enumerate(received):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
            attributes = {
                k: v
                for k, v in (message.get("MessageAttributes") or {}).items()
                if not k.startswith(_SYSTEM_PREFIX)
            }
            if attributes:
                entry["MessageAttributes"] = attributes
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        sent = {entry["Id"] for entry in response.get("Successful", [])}
        report.failed += len(response.get("Failed", []))
        to_delete = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(received)
            if str(i) in sent
        ]
        if to_delete:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=to_delete)
        report.moved += len(to_delete)
        if response.get("Failed"):
            # Unsent messages reappear in the DLQ after their visibility timeout: nothing is lost.
            log.warning("some messages could not be sent back", extra={"failed": len(response["Failed"])})
            break
    log.info("redrive finished", extra={"moved": report.moved, "failed": report.failed})
    return report
