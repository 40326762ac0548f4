"""The SQS loop: receive a batch -> handle each message -> delete successes, back off failures.

One poller thread per queue long-polls SQS and hands each batch to a shared pool of handler
threads; when the last message of a batch is done, the policy's decisions are applied in two batch
calls (delete, change visibility). A message is deleted only after its handler returned, that is
after its effect and its processed-message record were committed. The poller does not wait for a
batch to finish before receiving the next one, but never holds more than `max_in_flight` messages
(running or waiting for a handler thread), so the next batch is at hand when a thread frees up.

Shutdown (SIGTERM from ECS): no new receive is issued, messages already running finish, messages
received but not started (and any batch a pending long poll still returns) get visibility 0 so
another task takes them at once instead of after the visibility timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .logs import message_context
from .messages import Message
from .policy import Ack, Decision, Poison, Retry, RetryPolicy

log = logging.getLogger("loopin_worker.consumer")

Dispatch = Callable[[Message], None]


@dataclass(frozen=True)
class Release:
    """Received but never started because the worker is stopping: visible again at once."""

    reason: str = "released on shutdown"


Outcome = Decision | Release


@dataclass
class Liveness:
    """What the health endpoint reports: when each poller last completed a receive."""

    started: float = field(default_factory=time.monotonic)
    last_poll: dict[str, float] = field(default_factory=dict)
    in_flight: int = 0
    draining: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def beat(self, queue: str) -> None:
        with self.lock:
            self.last_poll[queue] = time.monotonic()

    def snapshot(self, queues: list[str], threshold: float) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        with self.lock:
            ages = {q: round(now - self.last_poll.get(q, self.started), 3) for q in queues}
            in_flight, draining = self.in_flight, self.draining
        alive = not draining and all(age <= threshold for age in ages.values())
        return alive, {
            "status": "ok" if alive else ("draining" if draining else "stalled"),
            "last_poll_age_seconds": ages,
            "in_flight": in_flight,
        }


class _Batch:
    """The messages of one receive; decisions are applied once all of them are done."""

    def __init__(self, url: str, messages: list[Message]) -> None:
        self.url = url
        self.messages = messages
        self.outcomes: list[Outcome] = [Release("not run")] * len(messages)
        self.remaining = len(messages)
        self.lock = threading.Lock()
        self.done = threading.Event()


class Consumer:
    def __init__(
        self,
        sqs: Any,
        queue_urls: dict[str, str],
        dispatch: Dispatch,
        policy: RetryPolicy,
        *,
        batch_size: int = 10,
        wait_time_seconds: int = 20,
        concurrency: int = 10,
        pollers_per_queue: int = 1,
        max_in_flight: int | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_urls = queue_urls
        self.dispatch = dispatch
        self.policy = policy
        self.batch_size = batch_size
        self.wait_time_seconds = wait_time_seconds
        self.pollers_per_queue = pollers_per_queue
        self.max_in_flight = max(max_in_flight or concurrency + batch_size, batch_size)
        self._in_flight = 0
        self._capacity = threading.Condition()
        self.liveness = liveness or Liveness()
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="handler")
        self._pollers: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        for queue in self.queue_urls:
            for i in range(self.pollers_per_queue):
                thread = threading.Thread(target=self._poll_forever, args=(queue,), name=f"poll-{queue}-{i}")
                thread.daemon = True  # a second signal must be able to exit without joining them
                thread.start()
                self._pollers.append(thread)
        log.info("consumer started", extra={"queues": list(self.queue_urls)})

    def stop(self) -> None:
        """Stop receiving at once; running handlers carry on (see `drain`)."""
        if not self.stopping.is_set():
            self.stopping.set()
            with self.liveness.lock:
                self.liveness.draining = True
            log.info("stop requested: no new receives, draining in-flight messages")

    def drain(self, timeout: float) -> bool:
        """Wait for pollers and in-flight batches to finish; True if everything finished in time.

        Past the deadline, messages still waiting for a thread are cancelled (made visible again);
        messages still running are left to their visibility timeout.
        """
        deadline = time.monotonic() + timeout
        for thread in self._pollers:
            thread.join(max(deadline - time.monotonic(), 0))
        with self._capacity:
            while self._in_flight and time.monotonic() < deadline:
                self._capacity.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
            clean = self._in_flight == 0 and not any(t.is_alive() for t in self._pollers)
        self._pool.shutdown(wait=clean, cancel_futures=True)
        return clean

    # -- the loop --------------------------------------------------------------------------
    def _poll_forever(self, queue: str) -> None:
        url = self.queue_urls[queue]
        while not self.stopping.is_set():
            try:
                self.poll_once(queue, url, wait=False)
            except Exception:
                # Never let one failure (SQS unreachable, throttled) end the loop: pause and go on.
                log.exception("poll failed", extra={"queue": queue})
                self.stopping.wait(1.0)

    def _has_room(self) -> bool:
        """Wait until another batch fits under max_in_flight; False once stopping."""
        with self._capacity:
            while self._in_flight + self.batch_size > self.max_in_flight:
                if self.stopping.is_set():
                    return False
                # No liveness beat while waiting: handlers stuck for good must show as a stall.
                self._capacity.wait(0.5)
        return not self.stopping.is_set()

    def poll_once(self, queue: str, url: str, wait: bool = True) -> int:
        """Receive one batch and hand it to the pool; with `wait`, return once it is acknowledged."""
        if not self._has_room():
            return 0
        response = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_time_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["ApproximateReceiveCount"],
        )
        self.liveness.beat(queue)
        messages = [Message.from_sqs(queue, url, raw) for raw in response.get("Messages", [])]
        if not messages:
            return 0
        batch = _Batch(url, messages)
        with self._capacity:
            self._in_flight += len(messages)
        for index, message in enumerate(messages):
            future = self._pool.submit(self._handle, message)
            future.add_done_callback(partial(self._finished, batch, index))
        if wait:
            batch.done.wait()
        return len(messages)

    def _finished(self, batch: _Batch, index: int, future: Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except BaseException:  # noqa: BLE001 - cancelled by the pool's shutdown past the deadline
            outcome = Release("cancelled")
        with batch.lock:
            batch.outcomes[index] = outcome
            batch.remaining -= 1
            last = batch.remaining == 0
        if not last:
            return
        try:
            self._apply(batch.url, list(zip(batch.messages, batch.outcomes, strict=True)))
        except Exception:
            # Not deleted: the messages come back and are recognised by their idempotency keys.
            log.exception("acknowledging a batch failed; its messages will be redelivered")
        finally:
            with self._capacity:
                self._in_flight -= len(batch.messages)
                self._capacity.notify_all()
            batch.done.set()

    def _handle(self, message: Message) -> Outcome:
        with message_context(message.request_id, queue=message.queue, message_id=message.message_id):
            if self.stopping.is_set():
                return Release()
            with self.liveness.lock:
                self.liveness.in_flight += 1
            error: BaseException | None = None
            started = time.monotonic()
            try:
                self.dispatch(message)
            except Exception as exc:  # noqa: BLE001 - every failure goes to the policy
                error = exc
            finally:
                with self.liveness.lock:
                    self.liveness.in_flight -= 1
            decision = self.policy.decide(error, message.receive_count)
            took = round((time.monotonic() - started) * 1000, 1)
            # `outcome` on one line per message attempt (ok, retry, poison) is what the monitoring
            # role counts for the push and background-job SLOs (its worker metric filters).
            outcome = (
                "ok" if isinstance(decision, Ack) else "retry" if isinstance(decision, Retry) else "poison"
            )
            fields = {
                "type": message.type,
                "receive_count": message.receive_count,
                "ms": took,
                "outcome": outcome,
            }
            if isinstance(decision, Ack) and decision.reason == "done":
                log.info("message handled", extra=fields)
            elif isinstance(decision, Ack):
                log.info("message handled: %s", decision.reason, extra=fields)
            elif isinstance(decision, Retry):
                log.warning(
                    "transient failure, retry in %ss: %s",
                    decision.delay_seconds,
                    decision.reason,
                    extra=fields,
                )
            else:
                log.error("poison message, left for the dead-letter queue: %s", decision.reason, extra=fields)
            return decision

    def _apply(self, url: str, results: list[tuple[Message, Outcome]]) -> None:
        to_delete = [m for m, o in results if isinstance(o, Ack)]
        to_delay: list[tuple[Message, int]] = []
        for message, outcome in results:
            if isinstance(outcome, Retry | Poison):
                to_delay.append((message, outcome.delay_seconds))
            elif isinstance(outcome, Release):
                to_delay.append((message, 0))
        if to_delete:
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(to_delete)]
            failed = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            for entry in failed:
                # The effect is committed and recorded: a redelivery is recognised and deleted then.
                log.warning("delete failed, the message will come back and be skipped", extra=entry)
        released = sum(1 for _, o in results if isinstance(o, Release))
        if released:
            log.info("released unstarted messages (visibility 0)", extra={"released": released})
        if to_delay:
            visibility: list[dict[str, Any]] = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": delay}
                for i, (m, delay) in enumerate(to_delay)
            ]
            failed = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=visibility).get(
                "Failed", []
            )
            for entry in failed:
                log.warning("visibility change failed; the queue's timeout applies", extra=entry)
