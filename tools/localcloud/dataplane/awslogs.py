"""The awslogs log driver: a container's stdout and stderr, line by line, into CloudWatch Logs.

As on Fargate: the stream is ``<awslogs-stream-prefix>/<container name>/<task id>`` in the
group the task definition names, created with the execution role's credentials (the group must
exist unless ``awslogs-create-group`` is set); events are batched and put at most a second
after they were written, with the time they were read. A copy goes to the task's own directory
(``container.log``) for ``make status`` and debugging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from localcloud.dataplane.context import Context

log = logging.getLogger("localcloud.dataplane.awslogs")
FLUSH_SECONDS = 1.0
MAX_BATCH_EVENTS = 1000
MAX_EVENT_BYTES = 256 * 1024 - 26


class AwsLogsDriver:
    def __init__(
        self, ctx: Context, client: Any, options: dict[str, str], container: str, task_id: str, copy: Path
    ):
        self.ctx = ctx
        self.client = client
        self.group = options["awslogs-group"]
        prefix = options.get("awslogs-stream-prefix")
        self.stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
        self.create_group = options.get("awslogs-create-group", "false").lower() == "true"
        self.copy = copy.open("a", encoding="utf-8")
        self._events: list[dict[str, Any]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create the stream; raises what ECS reports as ResourceInitializationError."""
        if self.create_group:
            try:
                await self.ctx.call(self.client.create_log_group, logGroupName=self.group)
            except self.client.exceptions.ResourceAlreadyExistsException:
                pass
        try:
            await self.ctx.call(
                self.client.create_log_stream, logGroupName=self.group, logStreamName=self.stream
            )
        except self.client.exceptions.ResourceAlreadyExistsException:
            pass
        self._flusher = asyncio.create_task(self._flush_loop())

    def write(self, line: str) -> None:
        line = line.rstrip("\n")
        self.copy.write(line + "\n")
        self.copy.flush()
        if not line:
            return
        self._events.append({"timestamp": int(time.time() * 1000), "message": line[:MAX_EVENT_BYTES]})

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            self.write(raw.decode("utf-8", errors="replace"))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        while self._events:
            batch, self._events = self._events[:MAX_BATCH_EVENTS], self._events[MAX_BATCH_EVENTS:]
            try:
                await self.ctx.call(
                    self.client.put_log_events,
                    logGroupName=self.group,
                    logStreamName=self.stream,
                    logEvents=batch,
                )
            except Exception as exc:  # noqa: BLE001 - a log driver never kills its container
                log.warning(
                    "awslogs %s/%s: %d events not delivered: %s", self.group, self.stream, len(batch), exc
                )

    async def close(self) -> None:
        if self._flusher:
            self._flusher.cancel()
        await self.flush()
        self.copy.close()
