"""loopin.platform.scheduler_schedule and _info against a real moto server."""

from __future__ import annotations

import json
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/loopin-scheduler"
QUEUE = "arn:aws:sqs:ap-south-1:123456789012:background-jobs"
DLQ = "arn:aws:sqs:ap-south-1:123456789012:background-jobs-dlq"
NAME = "loopin-test-nightly-cleanup"


def stored(boto: Any, name: str = NAME, group: str = "default") -> dict[str, Any] | None:
    scheduler = boto("scheduler")
    try:
        return dict(scheduler.get_schedule(Name=name, GroupName=group))
    except scheduler.exceptions.ResourceNotFoundException:
        return None


def test_lifecycle(run_module: Any, boto: Any) -> None:
    args: dict[str, Any] = {
        "name": NAME,
        "description": "Purge expired sessions",
        "schedule_expression": "cron(30 2 * * ? *)",
        "schedule_expression_timezone": "Asia/Kolkata",
        "target": {
            "arn": QUEUE,
            "role_arn": ROLE,
            "input": {"task": "maintenance.cleanup", "args": []},
            "retry_policy": {"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 3},
            "dead_letter_arn": DLQ,
        },
    }
    result = run_module("scheduler_schedule", args, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["before"] == {}
    assert result["diff"]["after"]["schedule_expression"] == "cron(30 2 * * ? *)"
    assert stored(boto) is None

    result = run_module("scheduler_schedule", args, diff=True)
    assert result["changed"] is True
    assert result["schedule"]["arn"].endswith(f":schedule/default/{NAME}")
    schedule = stored(boto)
    assert schedule is not None
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Target"]["Input"]) == {"task": "maintenance.cleanup", "args": []}
    assert schedule["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ}

    # idempotent; the same JSON input with other key order is the same input
    reordered = {**args, "target": {**args["target"], "input": '{"args": [], "task": "maintenance.cleanup"}'}}
    for check in (False, True):
        for variant in (args, reordered):
            again = run_module("scheduler_schedule", variant, check=check, diff=True)
            assert again["changed"] is False
            assert again["diff"]["before"] == again["diff"]["after"]

    # update: pause with a flexible window; omitted fields keep their values
    paused = {"name": NAME, "enabled": False, "flexible_time_window_minutes": 15}
    result = run_module("scheduler_schedule", paused, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["state"] == "ENABLED"
    assert result["diff"]["after"]["state"] == "DISABLED"
    assert stored(boto)["State"] == "ENABLED"  # type: ignore[index]
    assert run_module("scheduler_schedule", paused)["changed"] is True
    schedule = stored(boto)
    assert schedule is not None
    assert schedule["State"] == "DISABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert schedule["ScheduleExpression"] == "cron(30 2 * * ? *)"
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ}
    assert run_module("scheduler_schedule", paused)["changed"] is False

    # a retry policy field changes, the other is kept
    retry = {
        **paused,
        "target": {"arn": QUEUE, "role_arn": ROLE, "retry_policy": {"maximum_retry_attempts": 5}},
    }
    assert run_module("scheduler_schedule", retry)["changed"] is True
    assert stored(boto)["Target"]["RetryPolicy"] == {  # type: ignore[index]
        "MaximumEventAgeInSeconds": 3600,
        "MaximumRetryAttempts": 5,
    }

    info = run_module("scheduler_schedule_info", {"name_prefix": "loopin-test-"})
    [described] = info["schedules"]
    assert described["name"] == NAME and described["state"] == "DISABLED"
    assert run_module("scheduler_schedule_info", {"name": "nope"})["schedules"] == []

    absent = {"name": NAME, "state": "absent"}
    result = run_module("scheduler_schedule", absent, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert stored(boto) is not None
    assert run_module("scheduler_schedule", absent)["changed"] is True
    assert stored(boto) is None
    assert run_module("scheduler_schedule", absent)["changed"] is False


def test_custom_group(run_module: Any, boto: Any) -> None:
    args = {
        "name": "hourly",
        "group_name": "loopin-test",
        "schedule_expression": "rate(1 hour)",
        "target": {"arn": QUEUE, "role_arn": ROLE, "input": "{}"},
    }
    result = run_module("scheduler_schedule", args)
    assert result["failed"] is True and "Schedule group loopin-test does not exist" in result["msg"]
    boto("scheduler").create_schedule_group(Name="loopin-test")
    assert run_module("scheduler_schedule", args)["changed"] is True
    assert run_module("scheduler_schedule", args)["changed"] is False
    assert stored(boto, "hourly", "loopin-test") is not None


def test_bad_input(run_module: Any, boto: Any) -> None:
    target = {"arn": QUEUE, "role_arn": ROLE}
    cases = [
        ({"name": NAME, "target": target}, "schedule_expression required to create"),
        ({"name": NAME, "schedule_expression": "rate(1 hour)"}, "target required to create"),
        (
            {"name": NAME, "schedule_expression": "every hour", "target": target},
            "must be rate(...), cron(...)",
        ),
        ({"name": NAME, "schedule_expression": "rate(1 hour)", "target": {"arn": QUEUE}}, "role_arn"),
        (
            {
                "name": NAME,
                "schedule_expression": "rate(1 hour)",
                "target": target,
                "flexible_time_window_minutes": -1,
            },
            "between 0 and 1440",
        ),
    ]
    for args, message in cases:
        result = run_module("scheduler_schedule", args)
        assert result["failed"] is True, args
        assert message in result["msg"]
    assert stored(boto) is None
