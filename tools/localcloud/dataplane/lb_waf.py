"""The web ACL associated with a load balancer, as far as it is modelled: its rate-based rules.

Rules are evaluated in priority order. A rate-based rule counts every request it inspects under
its aggregation key (the client address, a forwarded address header, or one key for all) over the
sliding window ``EvaluationWindowSec`` (default 300 s); once a key's count in the window exceeds
``Limit`` the rule matches that key's requests until the count falls back. A match with ``Block``
answers 403 (or the rule's custom response) and ends evaluation; ``Count`` counts and goes on;
``Allow`` lets the request through at once. Requests no rule settles take the default action.

Not modelled, so never matching: managed rule groups, rule group references and every other
statement; a rate rule's scope-down statement (every request is counted); CAPTCHA and Challenge
actions (treated as Count); CUSTOM_KEYS aggregation. AWS evaluates rates every few seconds and
so blocks a little late; here the count is exact and acts on the request that exceeds the limit.
"""

from __future__ import annotations

import collections
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WINDOW_SECONDS = 300
ALL_RULES = "ALL"  # the Rule dimension of a web ACL's totals


@dataclass(frozen=True)
class BlockResponse:
    status: int = 403
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class RateRule:
    name: str
    priority: int
    metric_name: str
    metrics: bool
    action: str  # Block | Count | Allow
    limit: int
    window: float
    key_type: str  # IP | FORWARDED_IP | CONSTANT
    header: str = ""
    fallback_match: bool = False
    block: BlockResponse = field(default_factory=BlockResponse)


@dataclass(frozen=True)
class WebAcl:
    arn: str
    name: str
    metric_name: str
    metrics: bool
    default_action: str  # Allow | Block
    rules: tuple[RateRule, ...]
    unmodelled: tuple[str, ...]  # names of the rules that never match here
    default_block: BlockResponse = field(default_factory=BlockResponse)


def _action_name(action: Mapping[str, Any] | None) -> str:
    for name in ("Block", "Allow", "Count", "Captcha", "Challenge"):
        if action and name in action:
            return name
    return "Count"


def _block_response(action: Mapping[str, Any] | None, bodies: Mapping[str, Any]) -> BlockResponse:
    custom = ((action or {}).get("Block") or {}).get("CustomResponse")
    if not custom:
        return BlockResponse()
    body = bodies.get(custom.get("CustomResponseBodyKey", "")) or {}
    content_type = {
        "TEXT_PLAIN": "text/plain",
        "TEXT_HTML": "text/html",
        "APPLICATION_JSON": "application/json",
    }
    return BlockResponse(
        status=int(custom.get("ResponseCode", 403)),
        headers=tuple((h["Name"], h["Value"]) for h in custom.get("ResponseHeaders") or []),
        body=body.get("Content"),
        content_type=content_type.get(body.get("ContentType", ""), None),
    )


def parse_web_acl(raw: Mapping[str, Any]) -> WebAcl:
    bodies = raw.get("CustomResponseBodies") or {}
    rules, unmodelled = [], []
    for rule in raw.get("Rules") or []:
        statement = (rule.get("Statement") or {}).get("RateBasedStatement")
        visibility = rule.get("VisibilityConfig") or {}
        if statement is None or statement.get("AggregateKeyType", "IP") not in (
            "IP",
            "FORWARDED_IP",
            "CONSTANT",
        ):
            unmodelled.append(rule["Name"])
            continue
        forwarded = statement.get("ForwardedIPConfig") or {}
        action = rule.get("Action")
        rules.append(
            RateRule(
                name=rule["Name"],
                priority=int(rule.get("Priority", 0)),
                metric_name=visibility.get("MetricName") or rule["Name"],
                metrics=bool(visibility.get("CloudWatchMetricsEnabled", True)),
                action=_action_name(action),
                limit=int(statement["Limit"]),
                window=float(statement.get("EvaluationWindowSec") or DEFAULT_WINDOW_SECONDS),
                key_type=statement.get("AggregateKeyType", "IP"),
                header=forwarded.get("HeaderName", ""),
                fallback_match=forwarded.get("FallbackBehavior") == "MATCH",
                block=_block_response(action, bodies),
            )
        )
    visibility = raw.get("VisibilityConfig") or {}
    default = raw.get("DefaultAction") or {"Allow": {}}
    return WebAcl(
        arn=raw["ARN"],
        name=raw["Name"],
        metric_name=visibility.get("MetricName") or raw["Name"],
        metrics=bool(visibility.get("CloudWatchMetricsEnabled", True)),
        default_action="Block" if "Block" in default else "Allow",
        rules=tuple(sorted(rules, key=lambda r: r.priority)),
        unmodelled=tuple(unmodelled),
        default_block=_block_response(default, bodies),
    )


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    terminating_rule: str  # metric name of the rule that settled it, or the web ACL's for the default action
    counted: tuple[str, ...] = ()  # metric names of the Count rules that matched
    block: BlockResponse | None = None


class RateTracker:
    """Request times per (rule, key) over each rule's window, for every web ACL of a load balancer."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], collections.deque[float]] = {}

    def hit(self, acl: str, rule: RateRule, key: str, now: float) -> int:
        """Count a request and return how many the key made in the window, this one included."""
        times = self._seen.setdefault((acl, rule.name, key), collections.deque())
        times.append(now)
        horizon = now - rule.window
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def prune(self, now: float, longest_window: float = 600.0) -> None:
        for key in [k for k, times in self._seen.items() if not times or times[-1] <= now - longest_window]:
            del self._seen[key]


def _aggregation_key(rule: RateRule, client_ip: str, headers: Mapping[str, str]) -> str | None:
    if rule.key_type == "CONSTANT":
        return "*"
    if rule.key_type == "IP":
        return client_ip
    # FORWARDED_IP: the first address of the header; without a valid one the fallback decides.
    value = (headers.get(rule.header) or "").split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return "" if rule.fallback_match else None


def evaluate(
    acl: WebAcl, tracker: RateTracker, client_ip: str, headers: Mapping[str, str], now: float
) -> Verdict:
    counted: list[str] = []
    for rule in acl.rules:
        key = _aggregation_key(rule, client_ip, headers)
        if key is None:
            continue
        if key == "":  # FallbackBehavior MATCH: the rule matches without counting
            matched = True
        else:
            matched = tracker.hit(acl.arn, rule, key, now) > rule.limit
        if not matched:
            continue
        if rule.action == "Block":
            return Verdict(False, rule.metric_name, tuple(counted), rule.block)
        if rule.action == "Allow":
            return Verdict(True, rule.metric_name, tuple(counted))
        counted.append(rule.metric_name)
    if acl.default_action == "Block":
        return Verdict(False, acl.metric_name, tuple(counted), acl.default_block)
    return Verdict(True, acl.metric_name, tuple(counted))
