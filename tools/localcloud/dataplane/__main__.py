"""Run the data plane until SIGTERM: ``python -m localcloud.dataplane --endpoint URL``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from localcloud.dataplane.context import Context

log = logging.getLogger("localcloud.dataplane")


class Component(Protocol):
    name: str

    async def run(self, ctx: Context) -> None: ...


def components() -> list[Component]:
    """Every component, in start order. Each module owns one AWS host role."""
    # Imported here so that a component's dependencies load only in the data plane process.
    from localcloud.dataplane.agent import EcsAgent
    from localcloud.dataplane.elasticache import ElastiCacheNodes
    from localcloud.dataplane.loadbalancer import LoadBalancerNodes

    return [ElastiCacheNodes(), EcsAgent(), LoadBalancerNodes()]


async def _status_loop(ctx: Context) -> None:
    while not ctx.stopping.is_set():
        ctx.publish_status()
        try:
            await asyncio.wait_for(ctx.stopping.wait(), timeout=1.0)
        except TimeoutError:
            pass


# The data plane serves one emulator's state: once that emulator has not accepted a connection for
# this long (it was stopped without `make down`, or crashed), the tasks it runs belong to nothing.
EMULATOR_GONE_SECONDS = 30.0


async def _emulator_answers(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout=2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _stop_without_emulator(ctx: Context, grace: float, every: float = 2.0) -> None:
    """Stop the data plane once its emulator has been unreachable for `grace` seconds."""
    last_seen = time.monotonic()
    while not ctx.stopping.is_set():
        if await _emulator_answers(ctx.endpoint):
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen >= grace:
            log.warning(
                "emulator %s has not answered for %.0f s: its state is gone, stopping", ctx.endpoint, grace
            )
            ctx.stopping.set()
            return
        try:
            await asyncio.wait_for(ctx.stopping.wait(), timeout=every)
        except TimeoutError:
            pass


async def _report_slow_stop(ctx: Context, after: float = 10.0) -> None:
    """Once stopping, log every task still pending after `after` seconds, with where it waits:
    a stop that hangs says which component holds it (make down SIGKILLs after its deadline)."""
    await ctx.stopping.wait()
    await asyncio.sleep(after)
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        frames = task.get_stack(limit=3)
        where = " <- ".join(
            f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}" for f in frames
        )
        log.warning("still stopping after %.0f s: %s at %s", after, task.get_name(), where or "?")


async def main_async(endpoint: str, emulator_grace: float = EMULATOR_GONE_SECONDS) -> int:
    ctx = Context(endpoint=endpoint)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ctx.stopping.set)
    parts = components()
    ctx.status["components"] = [c.name for c in parts]
    tasks: dict[asyncio.Task[Any], str] = {asyncio.create_task(c.run(ctx)): c.name for c in parts}
    tasks[asyncio.create_task(_status_loop(ctx))] = "status"
    tasks[asyncio.create_task(_stop_without_emulator(ctx, emulator_grace))] = "emulator watch"
    watchdog = asyncio.create_task(_report_slow_stop(ctx))
    log.info("data plane on %s: %s", endpoint, ", ".join(c.name for c in parts) or "no components")
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    failed = [t for t in done if not t.cancelled() and t.exception() is not None]
    for task in failed:
        log.error("component %s failed", tasks[task], exc_info=task.exception())
    ctx.stopping.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    watchdog.cancel()
    log.info("data plane stopped")
    ctx.status["stopped"] = True
    ctx.publish_status()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:<port>")
    parser.add_argument(
        "--emulator-grace",
        type=float,
        default=EMULATOR_GONE_SECONDS,
        help="stop once the emulator has not answered for this many seconds (default %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(main_async(args.endpoint, args.emulator_grace))


if __name__ == "__main__":
    sys.exit(main())
