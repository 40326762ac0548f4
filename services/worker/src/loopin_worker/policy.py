"""Where the retry and backoff policy lives.

A handler either returns (its effect is committed), or raises one of the three errors below. The
`RetryPolicy` turns that outcome into what happens to the SQS message:

| outcome                                   | decision   | what the consumer does                          |
|-------------------------------------------|------------|-------------------------------------------------|
| handler returned                          | `Ack`      | batch-delete the message (after the commit)     |
| `PermanentError` (invalid recipient, 4xx) | `Ack`      | the handler recorded the failure; delete        |
| `TransientError` (429, 5xx, timeout,      | `Retry`    | ChangeMessageVisibility to the backoff delay:   |
|  reset) or any unexpected exception       |            | `Retry-After` if given, else exponential        |
| `PoisonMessage` (bad JSON, unknown type)  | `Poison`   | short visibility; SQS moves it to the DLQ after |
|                                           |            | the queue's maxReceiveCount (RedrivePolicy)     |

Nothing here talks to SQS; `consumer.py` applies the decisions in batches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# SQS refuses a visibility timeout above 12 hours.
MAX_VISIBILITY_SECONDS = 43200


class WorkerError(Exception):
    """Base of the errors a handler raises to steer the policy."""


class TransientError(WorkerError):
    """Worth another try later: rate limited, provider down, timeout, connection reset."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentError(WorkerError):
    """Will never succeed (invalid recipient); the handler has recorded it, the message is dropped."""


class PoisonMessage(WorkerError):
    """The message itself is unusable (invalid JSON, unknown type): left for the dead-letter queue."""


@dataclass(frozen=True)
class Ack:
    reason: str = "done"


@dataclass(frozen=True)
class Retry:
    delay_seconds: int
    reason: str


@dataclass(frozen=True)
class Poison:
    delay_seconds: int
    reason: str


Decision = Ack | Retry | Poison


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded, honouring the provider's Retry-After."""

    base_seconds: int = 5
    max_seconds: int = 900
    poison_delay_seconds: int = 1

    def backoff(self, receive_count: int, retry_after: float | None = None) -> int:
        cap = min(self.max_seconds, MAX_VISIBILITY_SECONDS)
        if retry_after is not None and retry_after >= 0:
            # The provider said when; never earlier, and never beyond what SQS accepts.
            return min(max(int(retry_after + 0.999), 0), MAX_VISIBILITY_SECONDS)
        exponent = max(receive_count - 1, 0)
        ceiling = min(cap, self.base_seconds * int(2 ** min(exponent, 20)))
        # Full jitter spreads retries of a burst; the floor keeps a retry from being immediate.
        return max(min(self.base_seconds, ceiling), int(random.uniform(0, ceiling)))  # noqa: S311

    def decide(self, error: BaseException | None, receive_count: int) -> Decision:
        if error is None:
            return Ack()
        if isinstance(error, PermanentError):
            return Ack(reason=f"permanent failure recorded: {error}")
        if isinstance(error, PoisonMessage):
            return Poison(self.poison_delay_seconds, str(error))
        if isinstance(error, TransientError):
            return Retry(self.backoff(receive_count, error.retry_after), error.reason)
        # Unknown failures are treated as transient: they retry with backoff and, if they keep
        # failing, reach the DLQ through maxReceiveCount instead of being lost.
        return Retry(self.backoff(receive_count), f"unexpected {type(error).__name__}: {error}")
