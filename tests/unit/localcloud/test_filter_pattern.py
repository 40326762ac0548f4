"""CloudWatch Logs filter patterns, with the examples of AWS's "Filter pattern syntax" page."""

from __future__ import annotations

import json

import pytest
from localcloud.cloudwatch.filter_pattern import PatternError, compile_pattern

# AWS's JSON example document for selectors, arrays, null and booleans.
DOC = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
    }
)
# AWS's document for compound conditions.
USERS = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)
APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'

CASES = [
    # terms: case-sensitive substrings, all must appear
    ("ERROR", "[ERROR] A fatal exception has occurred", True),
    ("ERROR", "Exiting with ERRORCODE: -1", True),
    ("ERROR", "error: lower case", False),
    ('"ERROR" - "Exiting"', "Exiting with ERRORCODE: -1", False),
    ('"ERROR" - "Exiting"', "[ERROR] A fatal exception has occurred", True),
    ("ERROR Exception", "[ERROR] Caught IllegalArgumentException", True),
    ("ERROR Exception", "[ERROR] Unhandled Exception", True),
    ("ERROR Exception", "[ERROR] Unhandled", False),
    ("Failed to process the request", "[WARN] Failed to process the request", True),
    ('"Failed to process the request"', "[ERROR] Unable to continue: Failed to process the request", True),
    ('"Failed to process the request"', "request the process to Failed", False),
    # ?term: any of
    ("?ERROR ?WARN", "ERROR WARN message", True),
    ("?ERROR ?WARN", "ERROR message", True),
    ("?ERROR ?WARN", "WARN message", True),
    ("?ERROR ?WARN", "INFO message", False),
    ("ERROR WARN", "ERROR message", False),
    ("ERROR -WARN", "ERROR message", True),
    ("ERROR -WARN", "ERROR WARN message", False),
    # the empty pattern matches everything
    ("", "anything at all", True),
    ('""', "anything at all", True),
    # JSON: equality, wildcards, arrays, null, booleans, existence
    ('{ $.eventType = "UpdateTrail" }', DOC, True),
    ("{ $.eventType = UpdateTrail }", DOC, True),
    ('{ $.eventType = "updatetrail" }', DOC, False),
    ("{ $.sourceIPAddress != 123.123.* }", DOC, True),
    ("{ $.sourceIPAddress = 111.111.* }", DOC, True),
    ("{ $.eventType = *Trail }", DOC, True),
    ("{ $.eventType = Update* }", DOC, True),
    ("{ $.eventType = * }", DOC, True),
    ("{ $.missing = * }", DOC, False),
    ('{ $.arrayKey[0] = "value" }', DOC, True),
    ('{ $.arrayKey[1] = "value" }', DOC, False),
    ("{ $.objectList[1].id = 2 }", DOC, True),
    ("{ $.objectList[0].id = 2 }", DOC, False),
    ("{ $.SomeObject IS NULL }", DOC, True),
    ("{ $.eventType IS NULL }", DOC, False),
    ("{ $.SomeOtherObject NOT EXISTS }", DOC, True),
    ("{ $.SomeObject NOT EXISTS }", DOC, False),
    ("{ $.ThisFlag IS TRUE }", DOC, True),
    ("{ $.ThisFlag IS FALSE }", DOC, False),
    # a selector naming an array or object matches neither = nor !=
    ("{ $.arrayKey = 1 }", DOC, False),
    ("{ $.arrayKey != 1 }", DOC, False),
    # compound conditions: () > && > ||
    ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', USERS, True),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', USERS, False),
    (
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch'
        " && $.actions[2] = nomatch }",
        USERS,
        True,
    ),
    (
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch)'
        " && $.actions[2] = nomatch }",
        USERS,
        False,
    ),
    ("{ $.coordinates[2][0] = 7 }", USERS, True),
    # numeric comparisons
    ("{ $.latency >= 500 }", '{"latency": 500}', True),
    ("{ $.latency >= 500 }", '{"latency": 499.9}', False),
    ("{ $.numbers[0] < 10e3 }", '{"numbers": [9999]}', True),
    ("{ $.numbers[0] < 10e-3 }", '{"numbers": [0.01]}', False),
    (
        "{ $.processes[4].averageRuntime <= 55.5 }",
        '{"processes": [{}, {}, {}, {}, {"averageRuntime": 55.5}]}',
        True,
    ),
    ("{ $.errorCode = 400 }", '{"errorCode": 400}', True),
    ("{ $.errorCode != 500 }", '{"errorCode": 400}', True),
    ("{ $.latency > +1000 }", '{"latency": 1001}', True),
    ("{ $.latency > 1000 }", '{"latency": "slow"}', False),
    # a JSON pattern never matches a line that is not JSON
    ('{ $.level = "ERROR" }', "ERROR plain text", False),
    ('{ $.level = "ERROR" }', '{"level": "ERROR", "message": "boom"}', True),
    ('{ $.level = "ERROR" }', '{"level": "error", "message": "boom"}', False),
    # space-delimited
    ("[ip, user, username, timestamp, request, status_code, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code]", APACHE, False),
    ("[..., status_code, bytes]", APACHE, True),
    ("[ip, user, ...]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", APACHE, False),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", APACHE, True),
    (
        "[ip, user, username, timestamp, request, status_code = 4* && status_code != 404, bytes]",
        APACHE,
        False,
    ),
    ("[w1=ERROR || w1=WARN, w2]", "WARN message", True),
    ("[w1=ERROR || w1=WARN, w2]", "INFO message", False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_pattern_matches_as_aws_documents(pattern: str, event: str, expected: bool) -> None:
    assert (compile_pattern(pattern).match(event) is not None) is expected


def test_values_for_transformations() -> None:
    json_match = compile_pattern("{ $.latency = * }").match('{"latency": 42, "route": {"name": "/v1/me"}}')
    assert json_match is not None
    assert json_match.value("$.latency") == 42
    assert json_match.value("$.route.name") == "/v1/me"
    assert json_match.value("$.absent") is None
    assert json_match.value("1") == "1"
    fields = compile_pattern("[ip, user, username, timestamp, request, status_code, bytes]").match(APACHE)
    assert fields is not None
    assert fields.value("$status_code") == "404"
    assert fields.value("$request") == "GET /index.html HTTP/1.0"
    assert fields.value("$7") == "1534"


@pytest.mark.parametrize("pattern", ["{ $.a = }", "{ $.a = 1", "{ a = 1 }", "{ $.a < abc }", "?", '"open'])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)
