"""The step controller with a fake clock and injected readings: every step, every failure point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from ansible_collections.loopin.platform.plugins.module_utils import bluegreen as bg

PLAN = bg.Plan(
    steps=(10, 50, 100), bake_seconds=60, health_seconds=30, health_timeout_seconds=120, poll_seconds=5,
    grace_seconds=20,
)  # fmt: skip
ALARMS = (
    "loopin-local-green-5xx",
    "loopin-local-green-p99",
    "loopin-local-green-unhealthy",
    "loopin-local-app-errors",
)


def ok(**changes: object) -> bg.Readings:
    values: dict[str, object] = {"alarms": dict.fromkeys(ALARMS, "OK"), "healthy": 2, "wanted": 2}
    values.update(changes)
    return bg.Readings(**values)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run_deploy(readings_at: Callable[[int, float], bg.Readings]) -> tuple[list[bg.Decision], FakeClock]:
    """Drive a whole deploy like the playbook does: one watch per phase, shift on `shift`."""
    clock = FakeClock()
    phase, outcome = bg.HEALTH_PHASE, []
    while True:
        started = clock()
        decision, _ = bg.watch(PLAN, phase, started, clock, clock.sleep, lambda e, p=phase: readings_at(p, e))
        outcome.append(decision)
        if decision.action != bg.SHIFT:
            return outcome, clock
        phase = decision.next_phase  # type: ignore[assignment]


def test_clean_deploy_walks_every_step_and_promotes() -> None:
    decisions, clock = run_deploy(lambda phase, elapsed: ok())
    assert [d.action for d in decisions] == ["shift", "shift", "shift", "promote"]
    assert [d.next_weight for d in decisions[:3]] == [10, 50, 100]
    assert [d.weight for d in decisions] == [0, 10, 50, 100]
    # 30 s health + 3 x 60 s bake, sampled every 5 s: no phase ends early, none lingers a poll late.
    assert clock.now - 1000 == pytest.approx(30 + 3 * 60)
    assert set(clock.sleeps) == {5}


def test_health_phase_waits_for_targets_then_holds_for_health_seconds() -> None:
    readings = lambda elapsed: ok(healthy=0 if elapsed < 40 else 2)  # noqa: E731
    assert bg.decide(PLAN, -1, 10, readings(10)).action == "wait"
    assert "0/2 green targets healthy" in bg.decide(PLAN, -1, 10, readings(10)).reason
    assert bg.decide(PLAN, -1, 40, readings(40)).action == "shift"
    assert bg.decide(PLAN, -1, 25, ok()).action == "wait"
    assert bg.decide(PLAN, -1, 25, ok()).time_left == 5


def test_health_check_failure_before_the_first_shift_rolls_back() -> None:
    decision = bg.decide(PLAN, -1, 10, ok(healthy=1, unhealthy=["10.0.2.11:8000"]))
    assert decision.action == "rollback"
    assert "unhealthy during health check before the first shift: 10.0.2.11:8000" in decision.reason
    assert decision.weight == 0


def test_health_timeout_rolls_back() -> None:
    decision = bg.decide(PLAN, -1, 120, ok(healthy=1))
    assert decision.action == "rollback"
    assert (
        decision.reason
        == "timed out after 120s in health check before the first shift (1/2 green targets healthy)"
    )
    assert bg.decide(PLAN, -1, 119, ok(healthy=1)).action == "wait"


@pytest.mark.parametrize("phase", [-1, 0, 1, 2])
@pytest.mark.parametrize("alarm", ALARMS)
def test_an_alarm_at_any_phase_rolls_back_naming_it(phase: int, alarm: str) -> None:
    readings = ok(alarms={**dict.fromkeys(ALARMS, "OK"), alarm: "ALARM"})
    decision = bg.decide(PLAN, phase, 3, readings)
    assert decision.action == "rollback"
    assert f"alarm {alarm} is ALARM during {PLAN.describe(phase)}" in decision.reason


@pytest.mark.parametrize("failing_phase", [0, 1, 2])
def test_rollback_at_each_step_of_a_deploy_stops_there(failing_phase: int) -> None:
    def readings(phase: int, elapsed: float) -> bg.Readings:
        if phase == failing_phase and elapsed >= 20:
            return ok(alarms={**dict.fromkeys(ALARMS, "OK"), "loopin-local-green-5xx": "ALARM"})
        return ok()

    decisions, _ = run_deploy(readings)
    assert [d.action for d in decisions] == ["shift"] * (failing_phase + 1) + ["rollback"]
    last = decisions[-1]
    assert last.weight == PLAN.steps[failing_phase]
    # Detected at the first sample at or after the alarm: within one poll interval.
    assert 20 <= last.elapsed < 20 + PLAN.poll_seconds


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_app_errors_over_budget_roll_back(phase: int) -> None:
    decision = bg.decide(PLAN, phase, 10, ok(app_errors=3))
    assert decision.action == "rollback"
    assert "application errors 3 over the budget of 0" in decision.reason
    tolerant = bg.Plan(**{**PLAN.__dict__, "max_app_errors": 5})
    assert bg.decide(tolerant, phase, 10, ok(app_errors=3)).action == "wait"


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_losing_healthy_targets_after_a_shift_rolls_back(phase: int) -> None:
    decision = bg.decide(PLAN, phase, 10, ok(healthy=1))
    assert decision.action == "rollback"
    assert "only 1/2 green targets healthy" in decision.reason


@pytest.mark.parametrize("phase", [-1, 0, 1, 2])
def test_failed_samples_wait_then_time_out(phase: int) -> None:
    broken = bg.Readings(error="Throttling: Rate exceeded")
    assert bg.decide(PLAN, phase, 5, broken).action == "wait"
    decision = bg.decide(PLAN, phase, PLAN.deadline(phase), broken)
    assert decision.action == "rollback"
    assert "timed out" in decision.reason and "Throttling" in decision.reason
    # A stuck read is never a pass, even past the bake time.
    assert bg.decide(PLAN, phase, PLAN.phase_seconds(phase) + 1, broken).action == "wait"


def test_each_step_shifts_to_the_next_weight_and_the_last_promotes() -> None:
    assert bg.decide(PLAN, 0, 60, ok()).as_dict()["next_weight"] == 50
    assert bg.decide(PLAN, 1, 60, ok()).next_weight == 100
    promote = bg.decide(PLAN, 2, 60, ok())
    assert (promote.action, promote.next_weight) == ("promote", None)
    waiting = bg.decide(PLAN, 1, 45, ok())
    assert (waiting.action, waiting.time_left) == ("wait", 15)


def test_watch_returns_early_for_progress_and_resumes() -> None:
    clock = FakeClock()
    decision, history = bg.watch(PLAN, 0, clock(), clock, clock.sleep, lambda e: ok(), max_seconds=20)
    assert decision.action == "wait"
    assert [round(e) for e, _ in history] == [0, 5, 10, 15, 20]
    decision, _ = bg.watch(PLAN, 0, 1000, clock, clock.sleep, lambda e: ok())
    assert decision.action == "shift" and decision.elapsed == 60


def test_retries_cover_the_deadline() -> None:
    assert bg.retries_needed(PLAN, 0, 20) * 20 >= PLAN.deadline(0)
    assert bg.retries_needed(PLAN, -1, 1000) == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": (50, 10, 100)}, "steps must rise"),
        ({"steps": (10, 50)}, "exactly 100"),
        ({"steps": ()}, "must not be empty"),
        ({"poll_seconds": 0}, "poll_seconds must be positive"),
        ({"health_timeout_seconds": 10}, "at least health_seconds"),
        ({"bake_seconds": -1}, "bake_seconds must not be negative"),
    ],
)
def test_bad_plans_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bg.Plan(**{**PLAN.__dict__, **changes})


def test_phase_outside_the_plan_is_a_bug() -> None:
    with pytest.raises(ValueError):
        bg.decide(PLAN, 3, 0, ok())


# --- worker ------------------------------------------------------------------------------------

WPLAN = bg.WorkerPlan(
    bake_seconds=30, timeout_seconds=90, max_dlq_inflow=0, max_oldest_message_age_seconds=300
)


@pytest.mark.parametrize(
    "readings, action, reason",
    [
        (bg.WorkerReadings(rollout_state="IN_PROGRESS"), "wait", "rollout IN_PROGRESS"),
        (bg.WorkerReadings(), "wait", "clean, baking"),
        (bg.WorkerReadings(rollout_state="FAILED"), "rollback", "circuit breaker"),
        (bg.WorkerReadings(dlq_inflow=1), "rollback", "1 new message(s) in the dead-letter queues"),
        (bg.WorkerReadings(oldest_message_age_seconds=301), "rollback", "oldest message is 301s old"),
        (bg.WorkerReadings(error="boom"), "wait", "boom"),
    ],
)
def test_worker_gate(readings: bg.WorkerReadings, action: str, reason: str) -> None:
    decision = bg.decide_worker(WPLAN, 10, readings)
    assert decision.action == action
    assert reason in decision.reason


def test_worker_promotes_after_bake_and_times_out_when_stuck() -> None:
    assert bg.decide_worker(WPLAN, 30, bg.WorkerReadings()).action == "promote"
    stuck = bg.decide_worker(WPLAN, 90, bg.WorkerReadings(rollout_state="IN_PROGRESS"))
    assert stuck.action == "rollback" and "timed out" in stuck.reason


# --- change window -----------------------------------------------------------------------------

WINDOW = (["tue", "wed", "thu"], "14:00", "16:00")


@pytest.mark.parametrize(
    "utc, inside",
    [
        ("2026-11-24T08:30:00", True),  # Tue 14:00 IST
        ("2026-11-24T10:29:59", True),  # Tue 15:59:59 IST
        ("2026-11-24T10:30:00", False),  # Tue 16:00 IST
        ("2026-11-24T08:29:59", False),  # Tue 13:59:59 IST
        ("2026-11-26T09:00:00", True),  # Thu
        ("2026-11-27T09:00:00", False),  # Fri
        ("2026-11-23T09:00:00", False),  # Mon
        ("2026-11-24T19:40:00", False),  # Tue evening (Wed 01:10 IST)
    ],
)
def test_production_window_is_tue_to_thu_2_to_4_pm_ist(utc: str, inside: bool) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert bg.in_window(now, *WINDOW) is inside


def test_window_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        bg.in_window(datetime(2026, 11, 24, 9), *WINDOW)


def test_a_missing_gate_alarm_rolls_back() -> None:
    readings = ok(alarms={**dict.fromkeys(ALARMS, "OK"), "loopin-local-green-p99": "MISSING"})
    decision = bg.decide(PLAN, -1, 0, readings)
    assert decision.action == "rollback" and "loopin-local-green-p99 does not exist" in decision.reason


def test_insufficient_data_is_not_an_alarm() -> None:
    # Green alarms have no data before green takes traffic; that must not block the first shift.
    readings = ok(alarms=dict.fromkeys(ALARMS, "INSUFFICIENT_DATA"))
    assert bg.decide(PLAN, -1, 30, readings).action == "shift"


# --- the live side: one fact, read from the web rule -------------------------------------------


@pytest.mark.parametrize(
    ("weights", "tags", "live"),
    [
        ({"loopin-local-web-blue": 100, "loopin-local-web-green": 0}, {}, "blue"),  # untouched stack
        ({"loopin-local-web-blue": 0, "loopin-local-web-green": 100}, {}, "green"),  # heavier weight
        ({"loopin-local-web-blue": 50, "loopin-local-web-green": 50}, {}, "blue"),  # a tie keeps blue
        # the tag wins over the weights (green live, a deploy to blue stopped at 90%)
        ({"loopin-local-web-blue": 90, "loopin-local-web-green": 10}, {bg.LIVE_TAG: "green"}, "green"),
        ({"loopin-local-web-blue": 0, "loopin-local-web-green": 100}, {bg.LIVE_TAG: "nonsense"}, "green"),
    ],
)
def test_live_side_is_the_tag_else_the_heavier_weight(
    weights: dict[str, int], tags: dict[str, str], live: str
) -> None:
    assert bg.live_side(weights, tags) == live
    assert bg.other_side(live) == ({"blue", "green"} - {live}).pop()


def test_the_sides_are_named_as_they_are_in_both_directions() -> None:
    to_blue = bg.Plan(steps=(10, 50, 100), new_side="blue", old_side="green")
    assert to_blue.describe(1) == "step 2/3 (50% to blue)"
    assert bg.weights_for(10, "blue") == {"green": 90, "blue": 10}
    assert bg.weights_for(10) == {"blue": 90, "green": 10}
    readings = bg.Readings(alarms={"loopin-local-blue-p99": "ALARM"}, healthy=1, wanted=2)
    reason = bg.decide(to_blue, 1, 5, readings).reason
    assert "alarm loopin-local-blue-p99 is ALARM during step 2/3 (50% to blue)" in reason
    assert "only 1/2 blue targets healthy" in reason
    with pytest.raises(ValueError, match="new_side and old_side"):
        bg.Plan(new_side="blue", old_side="blue")
    assert bg.web_sides("loopin-dev")["green"] == {
        "target_group": "loopin-dev-web-green",
        "service": "loopin-dev-web-green",
    }
