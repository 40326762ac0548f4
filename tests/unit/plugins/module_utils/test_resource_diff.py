"""resource_diff: the attributes a desired state would change, with old and new values."""

from __future__ import annotations

from ansible_collections.loopin.platform.plugins.module_utils.resource_diff import (
    ABSENT,
    Change,
    changes,
    diff,
)


def test_only_what_the_desired_state_names_is_compared() -> None:
    now = {
        "VisibilityTimeout": "30",
        "QueueArn": "arn:aws:sqs:ap-south-1:1:q",
        "ApproximateNumberOfMessages": "7",
    }
    assert changes(now, {"VisibilityTimeout": 45}) == [Change("VisibilityTimeout", "30", 45)]
    assert changes(now, {"VisibilityTimeout": 30}) == []


def test_numbers_and_booleans_equal_their_text() -> None:
    assert changes({"from_port": 8000, "enabled": True}, {"from_port": "8000", "enabled": "true"}) == []
    assert changes({"enabled": False}, {"enabled": "true"}) == [Change("enabled", False, "true")]


def test_named_items_are_matched_by_name_wherever_they_sit() -> None:
    now = {"rules": [{"name": "sqli", "priority": 4}, {"name": "rate", "statement": {"limit": 1000}}]}
    wanted = {"rules": [{"name": "rate", "statement": {"limit": 2000}}, {"name": "sqli", "priority": 4}]}
    assert changes(now, wanted) == [Change("rules[rate].statement.limit", 1000, 2000)]


def test_a_named_item_added_or_removed() -> None:
    now = {"rules": [{"name": "old", "priority": 9}]}
    wanted = {"rules": [{"name": "new", "priority": 1}]}
    assert changes(now, wanted) == [
        Change("rules[new]", ABSENT, {"name": "new", "priority": 1}),
        Change("rules[old]", {"name": "old", "priority": 9}, ABSENT),
    ]
    assert changes(now, wanted, purge=False) == [Change("rules[new]", ABSENT, {"name": "new", "priority": 1})]


def test_a_missing_resource_lists_every_attribute_as_new() -> None:
    assert changes({}, {"a": 1, "b": {"c": 2}}) == [Change("a", ABSENT, 1), Change("b", ABSENT, {"c": 2})]


def test_plain_lists_compare_as_a_whole() -> None:
    assert changes({"subnets": ["a", "b"]}, {"subnets": ["a", "b"]}) == []
    assert changes({"subnets": ["a"]}, {"subnets": ["a", "b"]}) == [Change("subnets", ["a"], ["a", "b"])]


def test_the_diff_shows_one_line_per_attribute_old_above_new() -> None:
    shown = diff("web ACL loopin-dev", [Change("rules[rate].statement.limit", 1000, 2000)])
    assert shown == {
        "before_header": "web ACL loopin-dev (now)",
        "after_header": "web ACL loopin-dev (desired)",
        "before": "rules[rate].statement.limit: 1000\n",
        "after": "rules[rate].statement.limit: 2000\n",
    }
