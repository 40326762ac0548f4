"""The consumer loop against moto's SQS: decisions applied, poison to the DLQ, graceful stop."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import Queues, make_queues
from loopin_worker import logs
from loopin_worker.consumer import Consumer
from loopin_worker.messages import Message
from loopin_worker.policy import PermanentError, PoisonMessage, RetryPolicy, TransientError

POLICY = RetryPolicy(base_seconds=1, max_seconds=2, poison_delay_seconds=0)
REQUEST_ID = "0b7d2a52-1c39-4a53-9a8c-0d2b8d1f5e10"


def send(queues: Queues, queue: str, body: str, **attributes: str) -> str:
    attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    return str(
        queues.sqs.send_message(QueueUrl=queues.urls[queue], MessageBody=body, MessageAttributes=attrs)[
            "MessageId"
        ]
    )


def consumer_for(queues: Queues, dispatch, **kwargs) -> Consumer:  # type: ignore[no-untyped-def]
    kwargs.setdefault("wait_time_seconds", 0)
    return Consumer(
        queues.sqs, {"push-notifications": queues.urls["push-notifications"]}, dispatch, POLICY, **kwargs
    )


def test_success_deletes_transient_backs_off_permanent_deletes(queues: Queues) -> None:
    def dispatch(message: Message) -> None:
        kind = message.json()["kind"]
        if kind == "transient":
            raise TransientError("429", retry_after=2)
        if kind == "permanent":
            raise PermanentError("invalid recipient")

    for kind in ("ok", "transient", "permanent"):
        send(queues, "push-notifications", json.dumps({"kind": kind}))
    consumer = consumer_for(queues, dispatch)
    handled = 0
    for _ in range(5):
        handled += consumer.poll_once("push-notifications", queues.urls["push-notifications"])
    assert handled == 3
    url = queues.urls["push-notifications"]
    # Only the transient one is left, invisible for its Retry-After, then back.
    assert queues.depth(url) == 1
    assert queues.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
    time.sleep(2.2)
    again = queues.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"])["Messages"]
    assert json.loads(again[0]["Body"]) == {"kind": "transient"}
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_every_attempt_writes_one_outcome_line_for_the_slo_metrics(
    queues: Queues, capsys: pytest.CaptureFixture[str]
) -> None:
    """ok, retry or poison, with the queue: what the monitoring role's SLO metric filters count."""
    logs.configure("INFO")

    def dispatch(message: Message) -> None:
        kind = message.json()["kind"]
        if kind == "transient":
            raise TransientError("503")
        if kind == "permanent":
            raise PermanentError("invalid recipient")  # recorded and deleted: not a failed attempt
        if kind == "poison":
            raise PoisonMessage("unknown message type")

    for kind in ("ok", "transient", "permanent", "poison"):
        send(queues, "push-notifications", json.dumps({"kind": kind}))
    consumer = consumer_for(queues, dispatch)
    attempts = 0
    for _ in range(5):
        attempts += consumer.poll_once("push-notifications", queues.urls["push-notifications"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    outcomes = [(line["queue"], line["outcome"]) for line in lines if "outcome" in line]
    # One line per attempt; the transient and the poison message come back (poison delay 0).
    assert len(outcomes) == attempts >= 4
    assert outcomes.count(("push-notifications", "ok")) == 2  # the ok and the permanent one
    assert {outcome for _, outcome in outcomes} == {"ok", "retry", "poison"}
    assert {queue for queue, _ in outcomes} == {"push-notifications"}


def test_poison_never_stops_the_loop_and_ends_in_the_dlq(
    queues: Queues, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO")
    seen: list[str] = []

    def dispatch(message: Message) -> None:
        data = message.json()  # raises PoisonMessage on bad JSON
        if data.get("type") != "push.requested":
            raise PoisonMessage(f"unknown message type {data.get('type')!r}")
        seen.append(data["id"])

    send(queues, "push-notifications", "{not json", request_id=REQUEST_ID)
    send(queues, "push-notifications", json.dumps({"type": "nope"}), request_id=REQUEST_ID)
    for i in range(5):
        send(queues, "push-notifications", json.dumps({"type": "push.requested", "id": str(i)}))
    consumer = consumer_for(queues, dispatch)
    deadline = time.monotonic() + 20
    while queues.depth(queues.dlqs["push-notifications"]) < 2 and time.monotonic() < deadline:
        consumer.poll_once("push-notifications", queues.urls["push-notifications"])
    assert sorted(seen) == ["0", "1", "2", "3", "4"]
    dead = queues.drain(queues.dlqs["push-notifications"])
    assert sorted(m["Body"] for m in dead) == sorted(["{not json", json.dumps({"type": "nope"})])
    assert queues.depth(queues.urls["push-notifications"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    poison_lines = [line for line in lines if line["message"].startswith("poison message")]
    assert poison_lines and all(line["request_id"] == REQUEST_ID for line in poison_lines)
    assert all("request_id" in line for line in lines)


def test_stop_finishes_running_messages_and_releases_the_rest(aws_env: dict[str, str]) -> None:
    queues = make_queues(visibility=60)
    url = queues.urls["push-notifications"]
    for i in range(10):
        send(queues, "push-notifications", json.dumps({"n": i}))
    running: list[int] = []
    both_running = threading.Event()
    finished: list[int] = []

    def slow(message: Message) -> None:
        running.append(message.json()["n"])
        if len(running) == 2:
            both_running.set()
        time.sleep(1.0)
        finished.append(message.json()["n"])

    consumer = consumer_for(queues, slow, concurrency=2)
    consumer.start()
    assert both_running.wait(10)
    consumer.stop()
    assert consumer.drain(timeout=10)
    # The two that were running finished and were deleted; the eight never started are visible
    # again at once, although the queue's visibility timeout is 60 s.
    assert len(finished) == 2
    released = queues.drain(url)
    assert len(released) == 8
    assert {json.loads(m["Body"])["n"] for m in released}.isdisjoint(finished)
