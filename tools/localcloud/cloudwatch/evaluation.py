"""An alarm's next state from its datapoints, as CloudWatch decides it.

From "Using Amazon CloudWatch alarms" (evaluating an alarm, how alarm state is evaluated when
data is missing): CloudWatch retrieves more periods than EvaluationPeriods (the *evaluation
range*; here EvaluationPeriods + 2, the size of the documentation's examples), then

- with at least EvaluationPeriods real datapoints in the range, it evaluates the most recent
  EvaluationPeriods of them and TreatMissingData plays no part;
- with fewer, it evaluates all of them plus as few missing ones as needed, treated as
  TreatMissingData says;
- ALARM when at least DatapointsToAlarm evaluated datapoints breach, else OK.

``missing`` and ``ignore`` cannot fill: with too few real datapoints the alarm is OK when a real
datapoint does not breach and the breaching ones cannot reach DatapointsToAlarm; otherwise
``missing`` gives INSUFFICIENT_DATA and ``ignore`` keeps the state. The documentation's one
exception is kept too: with ``missing``, a breach followed by silence in the last
EvaluationPeriods periods stays ALARM. Every row of the documentation's two tables is a unit test.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
EXTRA_PERIODS = 2


def evaluation_range(evaluation_periods: int) -> int:
    return evaluation_periods + EXTRA_PERIODS


@dataclass(frozen=True)
class Point:
    timestamp: int
    value: float | None
    sample_count: float | None = None


@dataclass
class Decision:
    state: str | None  # None: keep the current state (ignore)
    reason: str
    evaluated: list[Point] = field(default_factory=list)
    breaching: int = 0
    filled: int = 0


def decide(
    points: Sequence[Point],
    *,
    evaluation_periods: int,
    datapoints_to_alarm: int | None,
    comparison: str,
    threshold: float,
    treat_missing: str | None,
    current_state: str,
) -> Decision:
    """``points`` are the evaluation range, oldest first, ``value=None`` where none exists."""
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison {comparison} is not supported by the emulator")
    n = evaluation_periods
    m = datapoints_to_alarm or n
    treatment = treat_missing or "missing"
    breaches, words = COMPARISONS[comparison]
    real = [p for p in points if p.value is not None]

    def is_breaching(p: Point) -> bool:
        return breaches(p.value, threshold)  # type: ignore[arg-type]

    def verdict(
        evaluated: list[Point], breaching: int, filled: int, treated: str, state: str | None = None
    ) -> Decision:
        state = state or (ALARM if breaching >= m else OK)
        return Decision(
            state,
            _reason(state, current_state, evaluated, breaching, filled, treated, words, threshold, m, n),
            evaluated,
            breaching,
            filled,
        )

    if len(real) >= n:
        evaluated = real[-n:]
        return verdict(evaluated, sum(map(is_breaching, evaluated)), 0, treatment)

    missing = n - len(real)
    breaching = sum(map(is_breaching, real))
    if treatment == "breaching":
        return verdict(real, breaching + missing, missing, "Breaching")
    if treatment == "notBreaching":
        return verdict(real, breaching, missing, "NonBreaching")

    good = len(real) - breaching
    if breaching >= m or good > 0:
        return verdict(real, breaching, 0, treatment)
    if treatment == "missing" and real and all(p.timestamp < points[-n].timestamp for p in real):
        return verdict(real, breaching, 0, treatment, ALARM)
    if treatment == "ignore":
        return Decision(None, "", real, breaching, 0)
    unknown = n - len(real)
    return Decision(
        INSUFFICIENT_DATA,
        f"Insufficient Data: {unknown} datapoint{'s were' if unknown != 1 else ' was'} unknown.",
        real,
        breaching,
        0,
    )


def _stamp(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d/%m/%y %H:%M:%S")


def _reason(
    state: str,
    current: str,
    evaluated: list[Point],
    breaching: int,
    filled: int,
    treated: str,
    words: str,
    threshold: float,
    m: int,
    n: int,
) -> str:
    real = len(evaluated)
    negation = "" if state == ALARM else "not "
    shown = breaching - (filled if treated == "Breaching" else 0) if state == ALARM else real - breaching
    transition = f"{current} -> {state}"
    minimum = m if state == ALARM else n - m + 1
    if real == 0:
        return (
            f"Threshold Crossed: no datapoints were received for {n} period{'s' if n != 1 else ''} and "
            f"{filled} missing datapoint{'s were' if filled != 1 else ' was'} treated as [{treated}]."
        )
    listed = ", ".join(f"{_number(p.value)} ({_stamp(p.timestamp)})" for p in reversed(evaluated))
    verb = "were" if shown != 1 else "was"
    text = (
        f"Threshold Crossed: {shown} out of the last {real} datapoint{'s' if real != 1 else ''} [{listed}] "
        f"{verb} {negation}{words} the threshold ({_number(threshold)})"
    )
    if filled:
        text += f" and {filled} missing datapoint{'s were' if filled != 1 else ' was'} treated as [{treated}]"
    return f"{text} (minimum {minimum} datapoint{'s' if minimum != 1 else ''} for {transition} transition)."


def _number(value: float | None) -> str:
    return repr(float(value)) if value is not None else "null"
