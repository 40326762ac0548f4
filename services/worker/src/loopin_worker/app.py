"""Wire the worker together and run it until SIGTERM: `loopin-worker run`."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config

from . import logs, sentry
from .consumer import Consumer, Liveness
from .health import HealthServer
from .policy import RetryPolicy
from .push import PushRouting, build_routing
from .settings import WorkerSettings

log = logging.getLogger("loopin_worker")


def sqs_client(settings: WorkerSettings) -> Any:
    config = Config(
        max_pool_connections=settings.concurrency
        + 2 * settings.pollers_per_queue * len(settings.queue_names)
        + 2,
        retries={"mode": "standard", "max_attempts": 3},
        # Long polls hold the connection for WaitTimeSeconds: the read timeout must exceed it.
        read_timeout=settings.wait_time_seconds + 10,
        connect_timeout=5,
    )
    return boto3.client("sqs", config=config)


def queue_urls(sqs: Any, settings: WorkerSettings) -> dict[str, str]:
    return {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in settings.queue_names}


def setup_django(settings: WorkerSettings) -> None:
    from loopin_web.django_setup import setup

    setup(database_url=settings.database_url.get_secret_value())


def build_registry(settings: WorkerSettings, sqs: Any, urls: dict[str, str], routing: PushRouting) -> Any:
    from .handlers import Registry
    from .handlers.jobs import PurgeProcessedMessages, RelayOutboxNow
    from .handlers.push import PushHandler
    from .handlers.webhooks import handle_webhook

    registry = Registry(settings.queue_prefix)
    registry.register("push.requested", PushHandler(routing))
    registry.register("webhook.received", handle_webhook)
    registry.register(
        "job.purge_processed_messages", PurgeProcessedMessages(settings.processed_retention_days)
    )
    registry.register("job.relay_outbox", RelayOutboxNow(sqs, relay_targets(settings, urls), 100))
    return registry


def relay_targets(settings: WorkerSettings, urls: dict[str, str]) -> dict[str, str]:
    """Outbox rows name queues without the environment prefix; accept both spellings."""
    targets = dict(urls)
    for name, url in urls.items():
        targets[name.removeprefix(settings.queue_prefix)] = url
    return targets


class Signals:
    """First SIGTERM/SIGINT: drain. Second: exit at once (ECS would SIGKILL soon anyway)."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set():
            log.warning("second signal: exiting now", extra={"signal": signal.Signals(signum).name})
            os._exit(128 + signum)
        log.info("signal received: draining", extra={"signal": signal.Signals(signum).name})
        self.stop.set()


def run(settings: WorkerSettings) -> int:
    logs.configure(settings.log_level)
    sentry.init(settings)
    signals = Signals()
    signals.install()
    setup_django(settings)
    sqs = sqs_client(settings)
    urls = queue_urls(sqs, settings)
    liveness = Liveness()
    routing = build_routing(settings)
    health = HealthServer(
        settings.health_host,
        settings.health_port,
        liveness,
        list(urls),
        settings.liveness_seconds,
        push=routing.snapshot,
    )
    health.start()
    registry = build_registry(settings, sqs, urls, routing)
    policy = RetryPolicy(
        settings.backoff_base_seconds, settings.backoff_max_seconds, settings.poison_delay_seconds
    )
    consumer = Consumer(
        sqs,
        urls,
        registry.dispatch,
        policy,
        batch_size=settings.batch_size,
        wait_time_seconds=settings.wait_time_seconds,
        concurrency=settings.concurrency,
        pollers_per_queue=settings.pollers_per_queue,
        max_in_flight=settings.max_in_flight,
        liveness=liveness,
    )
    relay = None
    if settings.outbox_enabled:
        from .outbox import OutboxRelay

        relay = OutboxRelay(
            sqs, relay_targets(settings, urls), settings.outbox_batch_size, settings.outbox_interval_seconds
        )
    consumer.start()
    if relay:
        relay.start()
    log.info(
        "worker running",
        extra={
            "queues": list(urls),
            "health_port": health.port,
            "pid": os.getpid(),
            "outbox": bool(relay),
            "push_provider": routing.primary,
            "push_fallback": "fcm" if routing.can_fall_back else None,
        },
    )
    while not signals.stop.wait(1.0):
        pass
    started = time.monotonic()
    consumer.stop()
    if relay:
        relay.stop()
    clean = consumer.drain(settings.stop_timeout_seconds)
    if relay:
        relay.join(max(settings.stop_timeout_seconds - (time.monotonic() - started), 0.1))
    health.stop()
    took = round(time.monotonic() - started, 2)
    # The run's summary: which provider delivered how much, and whether the fallback was active.
    summary = {"drain_seconds": took, "push": routing.snapshot()}
    if clean:
        log.info("worker stopped cleanly", extra=summary)
        return 0
    log.error("stop timeout reached with messages in flight; they will be redelivered", extra=summary)
    return 1
