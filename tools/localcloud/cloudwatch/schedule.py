"""Schedule expressions of EventBridge Scheduler and Application Auto Scaling scheduled actions.

``rate(5 minutes)``, ``cron(minutes hours day-of-month month day-of-week year)`` in a time zone,
``at(2026-12-24T18:00:00)`` in a time zone. AWS's cron is not Unix cron: six fields, ``?`` for
"any" in day-of-month or day-of-week, days of week 1-7 = SUN-SAT, ``L``, ``W`` and ``#``; it is
translated to croniter's dialect (days of week 0-6, ``L5`` for the last Friday, the year as a
seventh field after a seconds field) and croniter walks it across daylight-saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = ["ScheduleError", "next_fire"]


class ScheduleError(ValueError):
    pass


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)$")
_CRON = re.compile(r"cron\((.*)\)$")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def next_fire(expression: str, timezone: str | None, after: datetime, anchor: datetime) -> datetime | None:
    """The first time strictly after ``after`` that the expression fires, or None (an ``at`` past).

    ``anchor`` is when the schedule started counting (its creation or start date): a rate fires at
    anchor + k * rate, as EventBridge Scheduler's rate schedules do.
    """
    zone = ZoneInfo(timezone or "UTC")
    text = expression.strip()
    if m := _RATE.match(text):
        count, unit = int(m.group(1)), m.group(2).rstrip("s")
        if count <= 0:
            raise ScheduleError(f"a rate needs a positive value: {expression}")
        step = count * _UNIT_SECONDS[unit]
        elapsed = (after - anchor).total_seconds()
        periods = int(elapsed // step) + 1 if elapsed >= 0 else 0
        return anchor + timedelta(seconds=periods * step)
    if m := _AT.match(text):
        when = datetime.fromisoformat(m.group(1)).replace(tzinfo=zone).astimezone(UTC)
        return when if when > after else None
    if m := _CRON.match(text):
        it = croniter(to_croniter(m.group(1)), after.astimezone(zone))
        return it.get_next(datetime).astimezone(UTC)
    raise ScheduleError(f"not a rate, cron or at expression: {expression}")


_DOW_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}


def to_croniter(fields_text: str) -> str:
    fields = fields_text.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"AWS cron has six fields (minutes hours day-of-month month day-of-week year): {fields_text}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"exactly one of day-of-month and day-of-week is ?: {fields_text}")
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else _dow(dow)
    return f"{minutes} {hours} {dom} {month} {dow} 0 {year}"


def _dow(field: str) -> str:
    def shift(item: str) -> str:
        if item.upper() in _DOW_NAMES or item == "*":
            return item
        if not item.isdigit() or not 1 <= int(item) <= 7:
            raise ScheduleError(f"day of week {item!r} is not 1-7 or SUN-SAT")
        return str(int(item) - 1)

    def part(text: str) -> str:
        if text == "L":
            return "6"  # the last day of the week: Saturday
        if m := re.fullmatch(r"(\w+)L", text):
            return f"L{shift(m.group(1))}"
        if m := re.fullmatch(r"(\w+)#(\d)", text):
            return f"{shift(m.group(1))}#{m.group(2)}"
        step = ""
        if "/" in text:
            text, increment = text.split("/", 1)
            step = f"/{increment}"
        if "-" in text:
            low, high = text.split("-", 1)
            return f"{shift(low)}-{shift(high)}{step}"
        return f"{shift(text)}{step}"

    return ",".join(part(p) for p in field.split(","))
