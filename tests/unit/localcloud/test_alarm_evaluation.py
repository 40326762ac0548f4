"""Alarm state from datapoints: the two tables of AWS's "How alarm state is evaluated when data is
missing", the comparison operators, and the StateReason texts."""

from __future__ import annotations

import pytest
from localcloud.cloudwatch.evaluation import ALARM, INSUFFICIENT_DATA, OK, Point, decide

RETAIN = None  # "Retain current state"
MISSING, IGNORE, BREACHING, NOT_BREACHING = "missing", "ignore", "breaching", "notBreaching"


def points(row: str) -> list[Point]:
    """'0 - X - X' -> five periods, oldest first: 0 within the threshold, X breaching, - missing."""
    values = {"0": 1.0, "X": 10.0, "-": None}
    return [Point(60 * i, values[c]) for i, c in enumerate(row.split())]


# Datapoints to alarm 3, evaluation periods 3 (5 datapoints retrieved).
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
# Datapoints to alarm 2, evaluation periods 3.
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize(
    ("m", "row", "expected"),
    [(3, row, results) for row, *results in THREE_OF_THREE]
    + [(2, row, results) for row, *results in TWO_OF_THREE],
)
def test_documented_missing_data_tables(m: int, row: str, expected: list[str | None]) -> None:
    for treatment, want in zip((MISSING, IGNORE, BREACHING, NOT_BREACHING), expected, strict=True):
        decision = decide(
            points(row),
            evaluation_periods=3,
            datapoints_to_alarm=m,
            comparison="GreaterThanThreshold",
            threshold=5,
            treat_missing=treatment,
            current_state="OK",
        )
        assert decision.state == want, (row, treatment)


@pytest.mark.parametrize(
    ("comparison", "value", "state"),
    [
        ("GreaterThanThreshold", 5.0, OK),
        ("GreaterThanThreshold", 5.1, ALARM),
        ("GreaterThanOrEqualToThreshold", 5.0, ALARM),
        ("LessThanThreshold", 5.0, OK),
        ("LessThanThreshold", 4.9, ALARM),
        ("LessThanOrEqualToThreshold", 5.0, ALARM),
    ],
)
def test_comparison_operators(comparison: str, value: float, state: str) -> None:
    decision = decide(
        [Point(0, value)],
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison=comparison,
        threshold=5,
        treat_missing=MISSING,
        current_state=OK,
    )
    assert decision.state == state


def test_state_reasons_read_like_cloudwatchs() -> None:
    alarm = decide(
        [Point(1766311200, 1.0), Point(1766311260, 7.0), Point(1766311320, 9.0)],
        evaluation_periods=3,
        datapoints_to_alarm=2,
        comparison="GreaterThanThreshold",
        threshold=5,
        treat_missing=MISSING,
        current_state=OK,
    )
    assert alarm.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [9.0 (21/12/25 10:02:00), 7.0 (21/12/25 10:01:00),"
        " 1.0 (21/12/25 10:00:00)] were greater than the threshold (5.0)"
        " (minimum 2 datapoints for OK -> ALARM transition)."
    )
    ok = decide(
        [Point(1766311200, 1.0)],
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison="GreaterThanThreshold",
        threshold=5,
        treat_missing=MISSING,
        current_state=ALARM,
    )
    assert ok.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoint [1.0 (21/12/25 10:00:00)] was not greater than"
        " the threshold (5.0) (minimum 1 datapoint for ALARM -> OK transition)."
    )
    silent = decide(
        [Point(0, None)] * 3,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison="GreaterThanThreshold",
        threshold=5,
        treat_missing=BREACHING,
        current_state=OK,
    )
    assert silent.state == ALARM
    assert silent.reason == (
        "Threshold Crossed: no datapoints were received for 1 period and"
        " 1 missing datapoint was treated as [Breaching]."
    )
    unknown = decide(
        [Point(0, None)] * 5,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        comparison="GreaterThanThreshold",
        threshold=5,
        treat_missing=MISSING,
        current_state=OK,
    )
    assert unknown.reason == "Insufficient Data: 3 datapoints were unknown."
