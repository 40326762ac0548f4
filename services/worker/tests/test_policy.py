"""The retry policy decides; these pin its decisions."""

from __future__ import annotations

import pytest
from loopin_worker.policy import (
    Ack,
    PermanentError,
    Poison,
    PoisonMessage,
    Retry,
    RetryPolicy,
    TransientError,
)

POLICY = RetryPolicy(base_seconds=5, max_seconds=60, poison_delay_seconds=1)


def test_success_and_permanent_failures_are_acked() -> None:
    assert POLICY.decide(None, 1) == Ack()
    assert isinstance(POLICY.decide(PermanentError("invalid recipient"), 1), Ack)


def test_retry_after_is_honoured_exactly() -> None:
    decision = POLICY.decide(TransientError("429", retry_after=7.2), receive_count=1)
    assert decision == Retry(8, "429")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 10, 50])
def test_backoff_grows_and_stays_bounded(count: int) -> None:
    for _ in range(50):
        delay = POLICY.backoff(count)
        assert 5 <= delay <= 60
        assert delay <= 5 * 2 ** (count - 1)


def test_unknown_errors_retry_rather_than_drop() -> None:
    decision = POLICY.decide(RuntimeError("boom"), 2)
    assert isinstance(decision, Retry) and "RuntimeError" in decision.reason


def test_poison_gets_the_short_delay_towards_the_dlq() -> None:
    assert POLICY.decide(PoisonMessage("bad json"), 1) == Poison(1, "bad json")


def test_retry_after_is_capped_by_sqs_maximum() -> None:
    assert POLICY.backoff(1, retry_after=10**9) == 43200
