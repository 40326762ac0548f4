# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The blue/green step controller: pure decisions, no AWS, no clock of its own.

A deploy is a sequence of phases. Phase ``health`` (index -1) runs before any traffic moves: the
green targets must all become healthy within ``health_timeout_seconds`` and stay so for
``health_seconds`` (the strategy's "health check 5 minutes"). Phase ``i`` (0-based) runs with
``steps[i]`` percent of the traffic on green and lasts ``bake_seconds``. At every sample the
controller gets the time and what the gate read (alarm states, the application's error count
since the phase started, target health) and answers one of:

- ``wait``     keep baking (with the seconds left),
- ``shift``    the phase is over and clean: move to ``next_weight`` percent,
- ``promote``  the last step baked clean: the new side becomes the live side,
- ``rollback`` with a ``reason``: restore 100% to the live side now and stop the new one.

The two sides are named (``Plan.new_side``, ``Plan.old_side``): green when blue is live, blue
when green is live, so every message names the side that really takes the new traffic. Which side
is live is one fact, read by ``live_side`` below from the listener rule (its tag, else the heavier
weight): the deploy, the summary and the roles that follow the live side all read it there.

Any alarm in ALARM, any unhealthy green target, fewer healthy targets than wanted once traffic
flows, an error count over the budget, or no clean sample before the phase's deadline (a stuck
read counts as a failure, never as a pass) rolls back. The module loops over ``decide`` with a
real clock; the unit tests loop over it with a fake one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

HEALTH_PHASE = -1
WAIT, SHIFT, PROMOTE, ROLLBACK = "wait", "shift", "promote", "rollback"
ALARM, MISSING = "ALARM", "MISSING"


@dataclass(frozen=True)
class Plan:
    """What the inventory asks for (seconds everywhere)."""

    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = 300
    health_seconds: float = 300
    health_timeout_seconds: float = 600
    poll_seconds: float = 15
    # Errors of the application metric tolerated per phase (0: the first error rolls back).
    max_app_errors: float = 0
    # Extra time after a phase's end during which a clean sample may still arrive.
    grace_seconds: float = 60
    # The side receiving the new traffic, and the side that is live while it does.
    new_side: str = "green"
    old_side: str = "blue"

    def __post_init__(self) -> None:
        problems = plan_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    def weight(self, phase: int) -> int:
        return 0 if phase == HEALTH_PHASE else self.steps[phase]

    def phase_seconds(self, phase: int) -> float:
        return self.health_seconds if phase == HEALTH_PHASE else self.bake_seconds

    def deadline(self, phase: int) -> float:
        """Seconds after the phase's start by which it must have ended (shift/promote)."""
        if phase == HEALTH_PHASE:
            return max(self.health_timeout_seconds, self.health_seconds + self.grace_seconds)
        return self.bake_seconds + self.grace_seconds

    def worst_case_seconds(self) -> float:
        """The longest the web part can take before it promotes or rolls back: every phase's
        deadline (roles/deploy/vars/main.yml prints the same sum for the run's plan)."""
        return sum(self.deadline(phase) for phase in range(HEALTH_PHASE, len(self.steps)))

    def describe(self, phase: int) -> str:
        if phase == HEALTH_PHASE:
            return "health check before the first shift"
        return f"step {phase + 1}/{len(self.steps)} ({self.steps[phase]}% to {self.new_side})"


def plan_problems(plan: Plan) -> list[str]:
    problems = []
    steps = list(plan.steps)
    if not steps:
        problems.append("steps must not be empty")
    elif steps != sorted(set(steps)) or steps[0] <= 0 or steps[-1] != 100:
        problems.append(f"steps must rise strictly from above 0 to exactly 100, got {steps}")
    for name in (
        "bake_seconds",
        "health_seconds",
        "health_timeout_seconds",
        "grace_seconds",
        "max_app_errors",
    ):
        if getattr(plan, name) < 0:
            problems.append(f"{name} must not be negative")
    if plan.poll_seconds <= 0:
        problems.append("poll_seconds must be positive")
    if plan.health_timeout_seconds < plan.health_seconds:
        problems.append("health_timeout_seconds must be at least health_seconds")
    if {plan.new_side, plan.old_side} != set(SIDES):
        problems.append(
            f"new_side and old_side must be blue and green in some order, got {plan.new_side}/{plan.old_side}"
        )
    return problems


@dataclass(frozen=True)
class Readings:
    """One sample of the new side. ``error`` set means the sample could not be read."""

    alarms: dict[str, str] = field(default_factory=dict)
    app_errors: float = 0
    healthy: int = 0
    unhealthy: list[str] = field(default_factory=list)
    wanted: int = 1
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    action: str
    phase: int
    weight: int
    reason: str = ""
    next_phase: int | None = None
    next_weight: int | None = None
    elapsed: float = 0
    time_left: float = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "phase": self.phase,
            "weight": self.weight,
            "reason": self.reason,
            "next_phase": self.next_phase,
            "next_weight": self.next_weight,
            "elapsed": round(self.elapsed, 1),
            "time_left": round(self.time_left, 1),
        }


def problems_in(plan: Plan, phase: int, readings: Readings) -> list[str]:
    """Why this sample is bad (empty when clean). Health before the first shift may still be
    coming up, so fewer healthy targets than wanted is only a problem once traffic flows."""
    where = plan.describe(phase)
    found = []
    for name, state in sorted(readings.alarms.items()):
        if state == ALARM:
            found.append(f"alarm {name} is ALARM during {where}")
        elif state == MISSING:
            found.append(f"alarm {name} does not exist, so it cannot vouch for {plan.new_side} ({where})")
    if readings.unhealthy:
        found.append(
            f"{plan.new_side} targets unhealthy during {where}: {', '.join(sorted(readings.unhealthy))}"
        )
    if readings.app_errors > plan.max_app_errors:
        found.append(
            f"application errors {readings.app_errors:g} over the budget of {plan.max_app_errors:g} "
            f"during {where}"
        )
    if phase != HEALTH_PHASE and readings.healthy < readings.wanted:
        found.append(
            f"only {readings.healthy}/{readings.wanted} {plan.new_side} targets healthy during {where}"
        )
    return found


def decide(plan: Plan, phase: int, elapsed: float, readings: Readings) -> Decision:
    """The next move, ``elapsed`` seconds after ``phase`` started, given one sample."""
    if not HEALTH_PHASE <= phase < len(plan.steps):
        raise ValueError(f"phase {phase} is outside the plan (-1..{len(plan.steps) - 1})")
    weight = plan.weight(phase)
    deadline = plan.deadline(phase)
    left = max(0.0, plan.phase_seconds(phase) - elapsed)
    base = {"phase": phase, "weight": weight, "elapsed": elapsed, "time_left": left}

    if readings.error is None:
        problems = problems_in(plan, phase, readings)
        if problems:
            return Decision(ROLLBACK, reason="; ".join(problems), **base)
    if elapsed >= deadline:
        if readings.error is not None:
            why = f"no clean sample: {readings.error}"
        elif phase == HEALTH_PHASE:
            why = f"{readings.healthy}/{readings.wanted} {plan.new_side} targets healthy"
        else:
            why = "no decision"
        return Decision(
            ROLLBACK, reason=f"timed out after {elapsed:.0f}s in {plan.describe(phase)} ({why})", **base
        )
    if readings.error is not None:
        return Decision(WAIT, reason=f"sample failed, retrying: {readings.error}", **base)
    if phase == HEALTH_PHASE and readings.healthy < readings.wanted:
        return Decision(
            WAIT, reason=f"{readings.healthy}/{readings.wanted} {plan.new_side} targets healthy", **base
        )
    if elapsed < plan.phase_seconds(phase):
        return Decision(WAIT, reason="clean, baking", **base)
    if phase == len(plan.steps) - 1:
        return Decision(PROMOTE, reason=f"{plan.describe(phase)} baked clean", **base)
    return Decision(
        SHIFT,
        reason=f"{plan.describe(phase)} baked clean",
        next_phase=phase + 1,
        next_weight=plan.steps[phase + 1],
        **base,
    )


def watch(plan, phase, started, clock, sleep, sample, max_seconds=None):
    """Sample every ``poll_seconds`` until the decision is not ``wait`` (or ``max_seconds`` pass,
    then the last ``wait`` is returned so the caller can report progress and call again).

    ``started`` is the phase's start on ``clock``'s scale; ``sample(elapsed)`` returns Readings.
    Returns (decision, history) where history is a list of (elapsed, decision) pairs.
    """
    history = []
    call_start = clock()
    while True:
        elapsed = clock() - started
        decision = decide(plan, phase, elapsed, sample(elapsed))
        history.append((elapsed, decision))
        if decision.action != WAIT:
            return decision, history
        if max_seconds is not None and clock() - call_start + plan.poll_seconds > max_seconds:
            return decision, history
        sleep(plan.poll_seconds)


def weights_for(new_percent: int, new_side: str = "green") -> dict[str, int]:
    """Percent of the traffic on each side when ``new_side`` takes ``new_percent``."""
    old_side = other_side(new_side)
    return {old_side: 100 - new_percent, new_side: new_percent}


# --- the live side -----------------------------------------------------------------------------

SIDES = ("blue", "green")
LIVE_TAG = "loopin:live-side"


def other_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"a side is blue or green, got {side!r}")
    return "green" if side == "blue" else "blue"


def web_sides(prefix: str) -> dict[str, dict[str, str]]:
    """The two sides of the web service, each a fixed (target group, service) pair: blue is the
    service site.yml creates, ``<prefix>-web``; green is ``<prefix>-web-green``."""
    return {
        "blue": {"target_group": f"{prefix}-web-blue", "service": f"{prefix}-web"},
        "green": {"target_group": f"{prefix}-web-green", "service": f"{prefix}-web-green"},
    }


def side_of_target_group(name: str) -> str | None:
    for side in SIDES:
        if name.endswith(f"-web-{side}"):
            return side
    return None


def live_side(weights: dict[str, int], tags: dict[str, str]) -> str:
    """Which side is live, from the web rule: the side its ``loopin:live-side`` tag names (written
    by every promotion), else the heavier weight (a rule no deploy has touched yet: blue; a tie,
    as in a deploy stopped at 50%, keeps blue). ``weights`` maps target group names or sides to
    weights."""
    tagged = tags.get(LIVE_TAG, "")
    if tagged in SIDES:
        return tagged
    by_side = {side_of_target_group(name) or name: int(weight) for name, weight in weights.items()}
    return "green" if by_side.get("green", 0) > by_side.get("blue", 0) else "blue"


def retries_needed(plan: Plan, phase: int, watch_seconds: float) -> int:
    """How many calls of a ``watch`` window of ``watch_seconds`` cover a phase up to its deadline."""
    return max(
        1, math.ceil((plan.deadline(phase) + plan.poll_seconds) / max(watch_seconds, plan.poll_seconds)) + 1
    )


# --- change window -----------------------------------------------------------------------------

IST = timezone(timedelta(hours=5, minutes=30), "IST")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_window(now: datetime, days: list[str], start: str, end: str, tz: timezone = IST) -> bool:
    """Whether ``now`` (aware) falls on one of ``days`` between ``start`` and ``end`` (HH:MM, in tz)."""
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")
    local = now.astimezone(tz)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    return (
        DAYS[local.weekday()] in [d.lower()[:3] for d in days]
        and begin <= local.time().replace(tzinfo=None) < finish
    )


# --- worker rollout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerPlan:
    """The worker rolls in place (ECS rolling update with the circuit breaker), then bakes."""

    bake_seconds: float = 300
    timeout_seconds: float = 900
    max_dlq_inflow: int = 0
    max_oldest_message_age_seconds: float = 600
    poll_seconds: float = 15


@dataclass(frozen=True)
class WorkerReadings:
    dlq_inflow: int = 0
    oldest_message_age_seconds: float = 0
    # ECS deployment rolloutState of the new deployment: IN_PROGRESS, COMPLETED or FAILED
    # (FAILED is the circuit breaker tripping).
    rollout_state: str = "COMPLETED"
    error: str | None = None


def decide_worker(plan: WorkerPlan, elapsed: float, readings: WorkerReadings) -> Decision:
    left = max(0.0, plan.bake_seconds - elapsed)
    base = {"phase": 0, "weight": 100, "elapsed": elapsed, "time_left": left}
    if readings.error is None:
        problems = []
        if readings.rollout_state == "FAILED":
            problems.append("the ECS deployment circuit breaker stopped the worker rollout")
        if readings.dlq_inflow > plan.max_dlq_inflow:
            problems.append(f"{readings.dlq_inflow} new message(s) in the dead-letter queues")
        if readings.oldest_message_age_seconds > plan.max_oldest_message_age_seconds:
            problems.append(
                f"oldest message is {readings.oldest_message_age_seconds:.0f}s old "
                f"(limit {plan.max_oldest_message_age_seconds:.0f}s)"
            )
        if problems:
            return Decision(ROLLBACK, reason="worker rollout: " + "; ".join(problems), **base)
    if elapsed >= plan.timeout_seconds:
        why = readings.error or f"rollout {readings.rollout_state}"
        return Decision(ROLLBACK, reason=f"worker rollout timed out after {elapsed:.0f}s ({why})", **base)
    if readings.error is not None:
        return Decision(WAIT, reason=f"sample failed, retrying: {readings.error}", **base)
    if readings.rollout_state != "COMPLETED":
        return Decision(WAIT, reason=f"rollout {readings.rollout_state}", **base)
    if elapsed < plan.bake_seconds:
        return Decision(WAIT, reason="clean, baking", **base)
    return Decision(PROMOTE, reason="worker rollout baked clean", **base)
