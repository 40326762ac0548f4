"""ElastiCache nodes: one ``redis-server`` per replication group, where its endpoint says.

The emulator gives each group the endpoint 127.0.0.1:<group port>
(``emulator/patches/elasticache_nodes.py``); this component runs a Redis there with the group's
settings: TLS only when in-transit encryption is on (a certificate from the local CA, TLS 1.2+,
no client certificates, as ElastiCache), AUTH with the group's token, nothing persisted (a
node's data is lost when it stops, as a cache's is). A group deleted in the emulator stops its
node. ``stop_node``/``start_node`` let a chaos experiment take Redis away and bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from typing import Any

from localcloud.dataplane.context import Context

log = logging.getLogger("localcloud.dataplane.elasticache")
POLL_SECONDS = 2.0


class ElastiCacheNodes:
    name = "elasticache-nodes"

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[dict[str, Any], asyncio.subprocess.Process]] = {}

    async def run(self, ctx: Context) -> None:
        self.ctx = ctx
        binary = shutil.which("redis-server")
        try:
            while not ctx.stopping.is_set():
                try:
                    groups = {
                        g["replicationGroupId"]: g for g in await ctx.aws_control_get("elasticache/nodes")
                    }
                except Exception as exc:  # noqa: BLE001 - the emulator may be restarting
                    log.warning("could not list ElastiCache groups: %s", exc)
                    groups = None
                if groups is not None:
                    await self._reconcile(groups, binary)
                ctx.status["elasticache"] = [
                    {
                        "group": g,
                        "port": spec["port"],
                        "tls": spec["tls"],
                        "pid": proc.pid,
                        "up": proc.returncode is None,
                    }
                    for g, (spec, proc) in self.nodes.items()
                ]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.stopping.wait(), POLL_SECONDS)
        finally:
            for group in list(self.nodes):
                await self._stop(group)

    async def _reconcile(self, groups: dict[str, dict[str, Any]], binary: str | None) -> None:
        for group in [g for g in self.nodes if g not in groups]:
            await self._stop(group)
        for group, spec in groups.items():
            running = self.nodes.get(group)
            if running and running[0] == spec and running[1].returncode is None:
                continue
            if running:
                await self._stop(group)
            if binary is None:
                log.error("redis-server is not installed: ElastiCache group %s has no node", group)
                continue
            self.nodes[group] = (spec, await self._start(binary, group, spec))

    async def _start(self, binary: str, group: str, spec: dict[str, Any]) -> asyncio.subprocess.Process:
        directory = self.ctx.state.subdirectory("elasticache", group)
        args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
        args += ["--logfile", str(directory / "redis.log")]
        if spec["tls"]:
            cert, key = self.ctx.ca.issue(f"elasticache-{group}")
            args += ["--port", "0", "--tls-port", str(spec["port"]), "--tls-cert-file", str(cert)]
            args += [
                "--tls-key-file",
                str(key),
                "--tls-auth-clients",
                "no",
                "--tls-protocols",
                "TLSv1.2 TLSv1.3",
            ]
        else:
            args += ["--port", str(spec["port"])]
        if spec.get("authToken"):
            args += ["--requirepass", spec["authToken"]]
        process = await asyncio.create_subprocess_exec(
            binary, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
        )
        log.info(
            "ElastiCache %s: redis-server on 127.0.0.1:%s (TLS %s), pid %s",
            group,
            spec["port"],
            spec["tls"],
            process.pid,
        )
        return process

    async def _stop(self, group: str) -> None:
        _, process = self.nodes.pop(group)
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
            if process.returncode is None:
                process.kill()
                await process.wait()
