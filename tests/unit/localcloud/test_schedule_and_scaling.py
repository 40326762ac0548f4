"""Schedule expressions (rate, AWS cron in a time zone, at), scaling arithmetic, the metric store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from localcloud.cloudwatch import scaling
from localcloud.cloudwatch.schedule import ScheduleError, next_fire, to_croniter
from localcloud.cloudwatch.store import Datum, MetricStore

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        (
            "rate(15 minutes)",
            None,
            datetime(2026, 12, 1, 0, 20, tzinfo=UTC),
            datetime(2026, 12, 1, 0, 30, tzinfo=UTC),
        ),
        ("rate(1 hour)", None, START, datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
        ("rate(2 days)", None, START, datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
        # 03:30 in India is 22:00 UTC the day before
        ("cron(30 3 * * ? *)", "Asia/Kolkata", START, datetime(2026, 12, 1, 22, 0, tzinfo=UTC)),
        ("cron(0 18 ? * MON-FRI *)", "Asia/Kolkata", START, datetime(2026, 12, 1, 12, 30, tzinfo=UTC)),
        ("cron(0 9 ? * 2-6 *)", "UTC", START, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # 2-6 = MON-FRI
        ("cron(0 9 ? * 1 *)", "UTC", START, datetime(2026, 12, 6, 9, 0, tzinfo=UTC)),  # 1 = SUN
        ("cron(0 9 ? * 6L *)", "UTC", START, datetime(2026, 12, 25, 9, 0, tzinfo=UTC)),  # last Friday
        ("cron(0 9 ? * 2#3 *)", "UTC", START, datetime(2026, 12, 21, 9, 0, tzinfo=UTC)),  # third Monday
        ("cron(0 9 L * ? *)", "UTC", START, datetime(2026, 12, 31, 9, 0, tzinfo=UTC)),
        ("cron(0 9 1 * ? 2027)", "UTC", START, datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
        # daylight saving: 02:30 in New York on the day clocks go back
        (
            "cron(30 6 * * ? *)",
            "America/New_York",
            datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 11, 30, tzinfo=UTC),
        ),
        ("at(2026-12-01T10:00:00)", "Asia/Kolkata", START, datetime(2026, 12, 1, 4, 30, tzinfo=UTC)),
        ("at(2026-11-30T10:00:00)", "UTC", START, None),
    ],
)
def test_next_fire(expression: str, zone: str | None, after: datetime, expected: datetime | None) -> None:
    assert next_fire(expression, zone, after, anchor=START) == expected


@pytest.mark.parametrize(
    "expression", ["cron(0 9 * * * *)", "cron(0 9 ? * ? *)", "cron(0 9 * *)", "every day"]
)
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(ScheduleError):
        next_fire(expression, "UTC", START, START)


def test_cron_translation() -> None:
    assert to_croniter("0/15 8-17 ? * 2-6 *") == "0/15 8-17 * * 1-5 0 *"


def test_step_adjustments_relative_to_the_threshold() -> None:
    steps = [
        {"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1},
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 100.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 100.0, "ScalingAdjustment": 3},
    ]
    assert scaling.matching_step(steps, 150, 100)["ScalingAdjustment"] == 1  # type: ignore[index]
    assert scaling.matching_step(steps, 200, 100)["ScalingAdjustment"] == 3  # type: ignore[index]
    assert scaling.matching_step(steps, 100, 100)["ScalingAdjustment"] == 1  # type: ignore[index]
    assert scaling.matching_step(steps, 50, 100)["ScalingAdjustment"] == -1  # type: ignore[index]


@pytest.mark.parametrize(
    ("current", "kind", "adjustment", "magnitude", "expected"),
    [
        (2, "ChangeInCapacity", 3, None, 5),
        (2, "ExactCapacity", 7, None, 7),
        (10, "PercentChangeInCapacity", 25, None, 12),  # 2.5 rounds down
        (3, "PercentChangeInCapacity", 10, None, 4),  # 0.3 is at least 1
        (10, "PercentChangeInCapacity", -25, None, 8),  # -2.5 rounds toward zero
        (3, "PercentChangeInCapacity", -10, None, 2),
        (10, "PercentChangeInCapacity", 10, 3, 13),
    ],
)
def test_adjustments(
    current: int, kind: str, adjustment: float, magnitude: int | None, expected: int
) -> None:
    assert scaling.adjusted_capacity(current, kind, adjustment, magnitude) == expected


def test_target_tracking_and_bounds() -> None:
    assert scaling.target_tracking_capacity(2, 140, 70) == 4
    assert scaling.target_tracking_capacity(3, 71, 70) == 4  # rounded up
    assert scaling.target_tracking_capacity(4, 30, 70) == 2
    assert scaling.target_tracking_capacity(0, 5, 70) == 1
    assert scaling.clamp(9, 1, 5) == 5 and scaling.clamp(0, 1, 5) == 1
    assert scaling.aggregate([1, 5, 3], "Maximum") == 5 and scaling.aggregate([1, 5, 3], None) == 3


def test_store_statistics_percentiles_and_retention() -> None:
    store = MetricStore(retention_seconds=3600)
    dims = (("TargetGroup", "targetgroup/web/1"),)
    store.put("AWS/ApplicationELB", "TargetResponseTime", dims, Datum.of_values(1000.0, [0.1, 2.0], [99, 1]))
    store.put("AWS/ApplicationELB", "TargetResponseTime", dims, Datum.of_value(1005.0, 0.3))
    store.put("AWS/ApplicationELB", "TargetResponseTime", dims, Datum.of_statistics(990.0, 10, 5.0, 0.2, 0.8))
    series = store.series("AWS/ApplicationELB", "TargetResponseTime", dims)
    assert series is not None and series.timestamps == [990.0, 1000.0, 1005.0]  # kept in time order
    [(start, bucket)] = store.aggregate(series, 960, 1020, 60).items()
    assert start == 960
    assert bucket.statistic("SampleCount") == 111
    assert bucket.statistic("Sum") == pytest.approx(9.9 + 2.0 + 0.3 + 5.0)
    assert (bucket.statistic("Minimum"), bucket.statistic("Maximum")) == (0.1, 2.0)
    assert bucket.statistic("p50") == 0.1 and bucket.statistic("p99.5") == 2.0
    assert store.find("AWS/ApplicationELB", dimension_filters=[("TargetGroup", None)]) == [series]
    assert store.find("AWS/ApplicationELB", dimension_filters=[("LoadBalancer", None)]) == []
    assert store.prune(now=4601.0) == 2  # older than an hour: the datapoints at 990 and 1000
    assert store.datapoint_count() == 1
    assert store.prune(now=5000.0) == 1 and list(store) == []  # empty series are dropped
