"""Application Auto Scaling's arithmetic: step adjustments and target tracking.

From the Application Auto Scaling user guide: a step applies when the metric minus the alarm
threshold is within its bounds (above the threshold the lower bound is inclusive and the upper
exclusive, below it the reverse); ChangeInCapacity adds, ExactCapacity sets,
PercentChangeInCapacity adds a percentage rounded away from zero to at least 1 (or
MinAdjustmentMagnitude); target tracking sets the capacity proportional to metric / target,
rounded up; the result is clamped to the scalable target's minimum and maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def aggregate(values: Sequence[float], aggregation: str | None) -> float:
    if not values:
        raise ValueError("no datapoint to scale on")
    if aggregation == "Minimum":
        return min(values)
    if aggregation == "Maximum":
        return max(values)
    return sum(values) / len(values)


def matching_step(steps: Sequence[dict[str, Any]], metric: float, threshold: float) -> dict[str, Any] | None:
    difference = metric - threshold
    for step in steps:
        lower = step.get("MetricIntervalLowerBound")
        upper = step.get("MetricIntervalUpperBound")
        low = -math.inf if lower is None else float(lower)
        high = math.inf if upper is None else float(upper)
        if difference >= 0:
            inside = low <= difference < high or (high == math.inf and difference >= low)
        else:
            inside = low < difference <= high
        if inside:
            return step
    return None


def adjusted_capacity(
    current: int, adjustment_type: str | None, adjustment: float, min_magnitude: int | None = None
) -> int:
    if adjustment_type == "ExactCapacity":
        return int(adjustment)
    if adjustment_type == "PercentChangeInCapacity":
        change = current * adjustment / 100.0
        if change > 0:
            step = max(1, math.floor(change))
        elif change < 0:
            step = min(-1, math.ceil(change))
        else:
            step = 0
        if min_magnitude and abs(step) < min_magnitude:
            step = int(math.copysign(min_magnitude, step)) if step else 0
        return current + step
    return current + int(adjustment)


def target_tracking_capacity(current: int, metric: float, target: float) -> int:
    if target <= 0:
        raise ValueError("a target value is positive")
    if current == 0:
        return 1 if metric > 0 else 0
    return math.ceil(round(current * metric / target, 9))


def clamp(capacity: int, minimum: int | None, maximum: int | None) -> int:
    if minimum is not None:
        capacity = max(capacity, minimum)
    if maximum is not None:
        capacity = min(capacity, maximum)
    return capacity
