"""An SQS message as the worker sees it: body, attributes, request ID and idempotency key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .policy import PoisonMessage

# Fixed namespace for keys the worker derives itself (messages that carry no idempotency_key
# attribute). Never change it: a changed namespace would make redelivered messages look new.
WORKER_NAMESPACE = uuid.UUID("6f1c2c52-6a86-4d0e-9a43-7a0e1b7c5d11")

REQUEST_ID_ATTRIBUTES = ("request_id", "RequestId", "X-Request-ID", "correlation_id")
IDEMPOTENCY_ATTRIBUTES = ("idempotency_key", "IdempotencyKey")
TYPE_ATTRIBUTES = ("type", "message_type", "MessageType")


@dataclass(frozen=True)
class Message:
    queue: str
    queue_url: str
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    receive_count: int = 1

    @classmethod
    def from_sqs(cls, queue: str, queue_url: str, raw: dict[str, Any]) -> Message:
        attrs = {
            name: str(value.get("StringValue", ""))
            for name, value in (raw.get("MessageAttributes") or {}).items()
            if value.get("DataType", "String").split(".")[0] in ("String", "Number")
        }
        system = raw.get("Attributes") or {}
        return cls(
            queue=queue,
            queue_url=queue_url,
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=attrs,
            receive_count=int(system.get("ApproximateReceiveCount", "1")),
        )

    def _attribute(self, names: tuple[str, ...]) -> str | None:
        for name in names:
            if self.attributes.get(name):
                return self.attributes[name]
        return None

    @property
    def request_id(self) -> str | None:
        return self._attribute(REQUEST_ID_ATTRIBUTES)

    @cached_property
    def idempotency_key(self) -> str:
        """The key of the message's effect: the producer's if it set one, else derived from content.

        Derived from the queue and the body (not the SQS MessageId), so a message moved back from
        the DLQ by `dlq redrive` (a new MessageId) keeps its key and is not processed twice.
        """
        given = self._attribute(IDEMPOTENCY_ATTRIBUTES)
        if given:
            try:
                return str(uuid.UUID(given))
            except ValueError:
                return str(uuid.uuid5(WORKER_NAMESPACE, given))
        digest = hashlib.sha256(self.body.encode()).hexdigest()
        return str(uuid.uuid5(WORKER_NAMESPACE, f"{self.queue}:{digest}"))

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise PoisonMessage(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PoisonMessage("body is JSON but not an object")
        return data

    @cached_property
    def type(self) -> str | None:
        given = self._attribute(TYPE_ATTRIBUTES)
        if given:
            return given
        try:
            value = json.loads(self.body).get("type")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
