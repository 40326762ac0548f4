"""Metric math with the examples of AWS's "Using metric math" page, and the roles' expressions."""

from __future__ import annotations

import pytest
from localcloud.cloudwatch.metric_math import Context, ExpressionError, evaluate, references

GRID = [0, 60, 120, 180, 240]


def series(*values: float | None) -> dict[int, float]:
    return {t: v for t, v in zip(GRID, values, strict=False) if v is not None}


def run(expression: str, **named: dict[int, float]) -> object:
    return evaluate(
        expression, Context(series=named, grid=GRID, periods=dict.fromkeys(named, 60), metric_ids=list(named))
    )


def test_comparison_and_logical_operators_as_documented() -> None:
    metric1, metric2 = series(30, 20, 0, 0), series(20, None, 20, None)
    assert run("(metric1 < metric2)", metric1=metric1, metric2=metric2) == series(0, 0, 1, 0)
    assert run("(metric1 >= 30)", metric1=metric1) == series(1, 0, 0, 0)
    assert run("(metric1 > 15 AND metric2 > 15)", metric1=metric1, metric2=metric2) == series(1, 0, 0, 0)
    assert run("metric1 > 15 && metric2 > 15", metric1=metric1, metric2=metric2) == series(1, 0, 0, 0)
    assert run("metric1 > 25 || metric2 > 15", metric1=metric1, metric2=metric2) == series(1, 0, 1, 0)


def test_if_as_documented() -> None:
    metric1, metric2, metric3 = (
        series(1, 1, 0, 0, None),
        series(30, None, 0, 0, 30),
        series(0, 0, 20, None, 20),
    )
    assert run("IF(metric1, metric2, metric3)", metric1=metric1, metric2=metric2, metric3=metric3) == series(
        30, 0, 20, None, None
    )
    assert run("IF(metric1, 5, metric3)", metric1=metric1, metric3=metric3) == series(5, 5, 20, None, None)
    assert run("IF(metric1, metric2, 5)", metric1=metric1, metric2=metric2) == series(30, 0, 5, 5, None)
    assert run("IF(metric1 < 1, 10, 2)", metric1=metric1) == series(2, 2, 10, 10)
    assert run("IF(metric1, metric2)", metric1=metric1, metric2=metric2) == series(30, 0)


def test_arithmetic_missing_is_zero_and_division_by_zero_drops() -> None:
    m1, m2 = series(10, 20, None, 40), series(1, None, 3, 0)
    assert run("m1 + m2", m1=m1, m2=m2) == series(11, 20, 3, 40)
    assert run("m1 / m2", m1=m1, m2=m2) == {0: 10.0, 120: 0.0}
    assert run("-m1 * 2 + 2 ^ 3 ^ 0", m1=m1) == {0: -18.0, 60: -38.0, 180: -78.0}
    assert run("PERIOD(m1) / 60 * m1", m1=m1) == m1


def test_fill_and_functions() -> None:
    m1 = series(1, None, 3, None, 5)
    assert run("FILL(m1, 0)", m1=m1) == series(1, 0, 3, 0, 5)
    assert run("FILL(m1, REPEAT)", m1=m1) == series(1, 1, 3, 3, 5)
    assert run("FILL(m1, LINEAR)", m1=m1) == series(1, 2, 3, 4, 5)
    assert run("m1 - AVG(m1)", m1=m1) == series(-2, None, 0, None, 2)
    assert run("SUM([m1, FILL(m1, 1)])", m1=m1) == series(2, 1, 6, 1, 10)
    assert run("MAX([m1, TIME_SERIES(2)])", m1=m1) == series(2, 2, 3, 2, 5)
    assert run("ABS(DIFF(m1))", m1=m1) == {120: 2.0, 240: 2.0}
    assert run("SUM(METRICS())", m1=m1, m2=series(1)) == series(2, None, 3, None, 5)


def test_the_roles_error_rate_and_backlog_expressions() -> None:
    error_rate = "IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"
    result = run(
        error_rate,
        requests=series(100, 50, None, 10),
        target5xx=series(2, None, None, 5),
        elb5xx=series(None, 1),
    )
    assert result == series(2, 2, None, 50)
    backlog = "IF(tasks > 0, (q1 + q2 + q3) / tasks, q1 + q2 + q3)"
    assert run(backlog, tasks=series(2, 0), q1=series(300, 5), q2=series(100, 0), q3=series(0, 0)) == series(
        200, 5
    )
    assert references(error_rate) == {"requests", "target5xx", "elb5xx"}


@pytest.mark.parametrize("expression", ["m1 +", "M1 + 1", "NOSUCH(m1)", "IF(m1)", "(m1", "unknown * 2"])
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(ExpressionError):
        run(expression, m1=series(1))
