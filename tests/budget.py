"""Time budgets that follow the work: a multiple of what the work measured, scaled to this machine.

    timeout("site_cold")  # seconds a cold converge of site.yml may take here, now

A budget is MULTIPLE x the work's measured duration on the reference machine x how much slower
this machine is at the moment. That slowdown is calibrated once per session: the larger of
  - a probe's wall time against the reference machine's: what dominates every Ansible module
    call here (an interpreter importing boto3 and Ansible's module_utils), and
  - the load average per core (two CPU-bound jobs per core make each take about twice as long,
    and a probe that lands on a quiet second can miss that),
so a loaded or slower machine gets longer budgets instead of a flat value it exceeds.
LOOPIN_SLOWDOWN=<factor> sets it instead.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

# Measured on the reference machine: 2 cores, load average below 1, mitogen_linear, moto 5.2.5.
# Keep them current: a budget derived from a stale figure either kills a legitimate run or
# waits too long for a stuck one. `pytest --durations` and `make bench-provision` measure them.
REFERENCE_SECONDS: dict[str, float] = {
    "probe": 0.55,  # the calibration probe below (its CPU time, which is its wall time when quiet)
    "emulator_start": 4.0,  # moto's server answering on its port
    "site_cold": 110.0,  # playbooks/site.yml on an empty emulator
    "site_plan": 60.0,  # playbooks/site.yml --check --diff on the converged stack
    "tier": 60.0,  # one tier playbook, cold or re-run, with what it needs before it
    "playbook": 30.0,  # a short playbook (validation, a deploy step, a refusal)
    "release": 45.0,  # localcloud release on the converged stack: images, migrations, the API answering
}
# How far above its measured time a run may go before it counts as stuck. Large enough to
# absorb the noise of a shared machine on top of the calibrated slowdown.
MULTIPLE = 4.0

_PROBE = (
    "import boto3, ansible.module_utils.basic;"
    " boto3.session.Session().client('ec2', region_name='ap-south-1')"
)


def _probe_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def _measure() -> float:
    override = os.environ.get("LOOPIN_SLOWDOWN")
    if override:
        return max(1.0, float(override))
    # The median of three absorbs one run that happened to hit a quiet (or busy) moment.
    measured = statistics.median(_probe_seconds() for _ in range(3))
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return max(1.0, measured / REFERENCE_SECONDS["probe"], per_core)


_slowdown: float | None = None  # measured once per process, on first use


def slowdown() -> float:
    """How many times slower than the reference machine this one is now (at least 1)."""
    global _slowdown
    if _slowdown is None:
        _slowdown = _measure()
    return _slowdown


def timeout(work: str) -> float:
    """Seconds `work` (a key of REFERENCE_SECONDS) may take on this machine before it is stuck."""
    return MULTIPLE * REFERENCE_SECONDS[work] * slowdown()


def until(
    check: Callable[[], Any],
    seconds: float,
    what: str,
    every: float = 0.2,
    suppress: tuple[type[BaseException], ...] = (),
) -> Any:
    """check()'s first truthy value, polled every `every` s; AssertionError after the budget.

    `seconds` is what the wait needs on the reference machine (a background loop's period plus a
    margin); it is scaled by slowdown(), so a busy machine waits longer instead of failing. The
    wait returns as soon as the condition holds, so a generous budget costs nothing when it passes.
    """
    budget = seconds * slowdown()
    deadline = time.monotonic() + budget
    last: Any = None
    while True:
        try:
            last = check()
        except suppress:
            pass
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {budget:.0f} s (last: {last!r})")
        time.sleep(every)
