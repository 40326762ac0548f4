"""Health checks of a load balancer's targets, with each target group's settings, as the ALB runs them.

Each registered target is checked every ``HealthCheckIntervalSeconds`` with an HTTP(S) GET of the
group's path on its health-check port (``traffic-port``: the target's own), answered within
``HealthCheckTimeoutSeconds`` with a status the ``Matcher`` accepts. A new target is ``initial``
until its first check: one pass makes it ``healthy`` (AWS routes to a new target once it passes
"the first initial health check, irrespective of the configured threshold"), ``UnhealthyThresholdCount``
consecutive failures make it ``unhealthy``. From then on ``UnhealthyThresholdCount`` consecutive
failures make a healthy target unhealthy and ``HealthyThresholdCount`` consecutive passes make an
unhealthy one healthy again. Every change is reported to the emulator (DescribeTargetHealth).

As on AWS the checker opens a new connection per check and closes it, sends
``User-Agent: ELB-HealthChecker/2.0``, does not verify a target's certificate, and its requests
are not counted in any metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from localcloud.dataplane.lb_model import HealthCheck, TargetGroup

log = logging.getLogger("localcloud.dataplane.loadbalancer")

TargetKey = tuple[str, int]  # (address, port)
Reporter = Callable[[str, TargetKey, "TargetHealth"], Awaitable[None]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class TargetHealth:
    state: str
    reason: str | None = None
    description: str | None = None


INITIAL = TargetHealth("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_CHECKING = TargetHealth("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
HEALTHY = TargetHealth("healthy")


@dataclass
class _Tracked:
    health: TargetHealth = INITIAL
    passes: int = 0
    failures: int = 0
    # What the emulator was last told; None until the first check, so the first result is reported
    # whatever the emulator held before (a restarted data plane).
    reported: TargetHealth | None = None


def advance(tracked: _Tracked, result: CheckResult, check: HealthCheck) -> TargetHealth:
    """The target's health after one more check."""
    if result.ok:
        tracked.failures = 0
        tracked.passes += 1
        if tracked.health.state == "initial" or (
            tracked.health.state == "unhealthy" and tracked.passes >= check.healthy_threshold
        ):
            tracked.health = HEALTHY
        return tracked.health
    tracked.passes = 0
    tracked.failures += 1
    if tracked.health.state == "initial" and tracked.failures < check.unhealthy_threshold:
        tracked.health = INITIAL_CHECKING
    elif tracked.health.state == "unhealthy" or tracked.failures >= check.unhealthy_threshold:
        tracked.health = TargetHealth("unhealthy", result.reason, result.description)
    return tracked.health


async def probe(session: aiohttp.ClientSession, target: TargetKey, check: HealthCheck) -> CheckResult:
    scheme = "https" if check.protocol == "HTTPS" else "http"
    port = check.port_for(target[1])
    url = f"{scheme}://{target[0]}:{port}{check.path}"
    try:
        async with asyncio.timeout(check.timeout):
            async with session.get(
                url,
                headers={"User-Agent": "ELB-HealthChecker/2.0", "Host": f"{target[0]}:{port}"},
                allow_redirects=False,
                ssl=False,
            ) as resp:
                await resp.read()
    except TimeoutError:
        return CheckResult(False, "Target.Timeout", "Request timed out")
    except (aiohttp.ClientError, OSError):
        return CheckResult(False, "Target.FailedHealthChecks", "Health checks failed")
    if check.matches(resp.status):
        return CheckResult(True)
    return CheckResult(
        False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{resp.status}]"
    )


class HealthChecker:
    """One checking task per (target group, target); ``reconcile`` starts and stops them."""

    def __init__(self, report: Reporter) -> None:
        self._report = report
        self._groups: dict[str, TargetGroup] = {}
        self._tracked: dict[tuple[str, TargetKey], _Tracked] = {}
        self._tasks: dict[tuple[str, TargetKey], asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def health(self, group_arn: str, target: TargetKey) -> TargetHealth:
        tracked = self._tracked.get((group_arn, target))
        return tracked.health if tracked else INITIAL

    def reconcile(self, groups: dict[str, TargetGroup], registered: dict[str, list[TargetKey]]) -> None:
        """Check exactly the registered targets of these groups (with their current settings)."""
        self._groups = groups
        wanted = {
            (arn, target)
            for arn, targets in registered.items()
            if arn in groups and groups[arn].health.enabled
            for target in targets
        }
        for key in set(self._tasks) - wanted:
            self._tasks.pop(key).cancel()
            self._tracked.pop(key, None)
        for key in wanted - set(self._tasks):
            self._tracked[key] = _Tracked()
            self._tasks[key] = asyncio.create_task(self._check_loop(*key), name=f"health {key[1]}")

    async def _check_loop(self, group_arn: str, target: TargetKey) -> None:
        if self._session is None:
            # AWS closes the connection after every health check.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        while True:
            group = self._groups.get(group_arn)
            tracked = self._tracked.get((group_arn, target))
            if group is None or tracked is None:
                return
            result = await probe(self._session, target, group.health)
            health = advance(tracked, result, group.health)
            if health != tracked.reported:
                if tracked.reported is not None:
                    log.info("target %s:%s of %s: %s %s", *target, group.name, health.state, health.reason)
                try:
                    await self._report(group_arn, target, health)
                    tracked.reported = health
                except Exception:  # tried again after the next check; routing goes on meanwhile
                    log.warning("could not report the health of %s:%s", *target, exc_info=True)
            await asyncio.sleep(group.health.interval)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
