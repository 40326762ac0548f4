"""The load balancer's configuration as read from the elbv2 API, in typed, immutable pieces.

Built from DescribeLoadBalancers, DescribeListeners, DescribeRules, DescribeTargetGroups and the
attribute calls; the routing, health-check and metrics code reads only these.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PRIORITY = sys.maxsize  # the listener's default rule is evaluated last


def lb_dimension(arn: str) -> str:
    """CloudWatch's LoadBalancer dimension: ``app/<name>/<id>``, the ARN after ``loadbalancer/``."""
    return arn.split(":loadbalancer/", 1)[1]


def tg_dimension(arn: str) -> str:
    """CloudWatch's TargetGroup dimension: ``targetgroup/<name>/<id>``, the ARN's last part."""
    return arn.rsplit(":", 1)[1]


@dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[str, ...] = ()
    header: str = ""  # http-header
    pairs: tuple[tuple[str | None, str], ...] = ()  # query-string: (key or None, value)


@dataclass(frozen=True)
class Action:
    type: str
    order: int = 0
    # forward: (target group ARN, weight); a plain TargetGroupArn has weight 1
    target_groups: tuple[tuple[str, int], ...] = ()
    stickiness: bool = False
    # fixed-response: status, content type, body; redirect: the RedirectConfig
    config: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Rule:
    arn: str
    priority: int
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]

    @property
    def terminal(self) -> Action:
        """The action that answers (authenticate-* actions before it are not modelled)."""
        return max(self.actions, key=lambda a: a.order)


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str
    ssl_policy: str
    certificate_arns: tuple[str, ...]
    rules: tuple[Rule, ...]  # in evaluation order


@dataclass(frozen=True)
class LoadBalancerAttributes:
    idle_timeout: float = 60.0
    xff_mode: str = "append"  # append | preserve | remove
    xff_client_port: bool = False

    @classmethod
    def parse(cls, attributes: list[dict[str, str]]) -> LoadBalancerAttributes:
        values = {a["Key"]: a["Value"] for a in attributes}
        return cls(
            idle_timeout=float(values.get("idle_timeout.timeout_seconds", 60)),
            xff_mode=values.get("routing.http.xff_header_processing.mode", "append"),
            xff_client_port=values.get("routing.http.xff_client_port.enabled", "false") == "true",
        )


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    listeners: tuple[Listener, ...]
    attributes: LoadBalancerAttributes

    @property
    def dimension(self) -> str:
        return lb_dimension(self.arn)


@dataclass(frozen=True)
class HealthCheck:
    enabled: bool
    protocol: str
    port: str  # "traffic-port" or a number
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str  # "200", "200,202", "200-299"

    def port_for(self, target_port: int) -> int:
        return target_port if self.port == "traffic-port" else int(self.port)

    def matches(self, status: int) -> bool:
        for part in self.matcher.split(","):
            low, _, high = part.strip().partition("-")
            if int(low) <= status <= int(high or low):
                return True
        return False


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    protocol: str
    port: int
    health: HealthCheck
    algorithm: str = "round_robin"

    @property
    def dimension(self) -> str:
        return tg_dimension(self.arn)

    @classmethod
    def parse(cls, group: dict[str, Any], attributes: dict[str, str] | None = None) -> TargetGroup:
        attributes = attributes or {}
        protocol = group.get("Protocol") or "HTTP"
        return cls(
            arn=group["TargetGroupArn"],
            name=group["TargetGroupName"],
            protocol=protocol,
            port=int(group.get("Port") or 80),
            health=HealthCheck(
                enabled=bool(group.get("HealthCheckEnabled", True)),
                protocol=group.get("HealthCheckProtocol") or protocol,
                port=str(group.get("HealthCheckPort") or "traffic-port"),
                path=group.get("HealthCheckPath") or "/",
                interval=float(group.get("HealthCheckIntervalSeconds") or 30),
                timeout=float(group.get("HealthCheckTimeoutSeconds") or 5),
                healthy_threshold=int(group.get("HealthyThresholdCount") or 5),
                unhealthy_threshold=int(group.get("UnhealthyThresholdCount") or 2),
                matcher=(group.get("Matcher") or {}).get("HttpCode") or "200",
            ),
            algorithm=attributes.get("load_balancing.algorithm.type", "round_robin"),
        )


def parse_condition(raw: dict[str, Any]) -> Condition:
    name = raw["Field"]
    config_key = {
        "path-pattern": "PathPatternConfig",
        "host-header": "HostHeaderConfig",
        "http-header": "HttpHeaderConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "query-string": "QueryStringConfig",
        "source-ip": "SourceIpConfig",
    }.get(name, "")
    config = raw.get(config_key) or {}
    if name == "query-string":
        pairs = tuple((p.get("Key"), p["Value"]) for p in config.get("Values") or [])
        return Condition(name, pairs=pairs)
    values = tuple(config.get("Values") or raw.get("Values") or ())
    return Condition(name, values=values, header=config.get("HttpHeaderName", ""))


def parse_action(raw: dict[str, Any]) -> Action:
    kind = raw["Type"]
    order = int(raw.get("Order") or 0)
    if kind == "forward":
        forward = raw.get("ForwardConfig") or {}
        groups = tuple(
            (g["TargetGroupArn"], int(g.get("Weight", 1))) for g in forward.get("TargetGroups") or []
        )
        if not groups and raw.get("TargetGroupArn"):
            groups = ((raw["TargetGroupArn"], 1),)
        sticky = bool((forward.get("TargetGroupStickinessConfig") or {}).get("Enabled", False))
        return Action(kind, order, target_groups=groups, stickiness=sticky)
    if kind == "fixed-response":
        return Action(
            kind, order, config={k: str(v) for k, v in (raw.get("FixedResponseConfig") or {}).items()}
        )
    if kind == "redirect":
        return Action(kind, order, config={k: str(v) for k, v in (raw.get("RedirectConfig") or {}).items()})
    return Action(kind, order)


def parse_rule(raw: dict[str, Any]) -> Rule:
    priority = raw.get("Priority", "default")
    return Rule(
        arn=raw.get("RuleArn", ""),
        priority=DEFAULT_PRIORITY if raw.get("IsDefault") or priority == "default" else int(priority),
        conditions=tuple(parse_condition(c) for c in raw.get("Conditions") or []),
        actions=tuple(parse_action(a) for a in raw.get("Actions") or []),
    )


def parse_listener(raw: dict[str, Any], rules: list[dict[str, Any]]) -> Listener:
    parsed = [parse_rule(r) for r in rules]
    if not any(r.priority == DEFAULT_PRIORITY for r in parsed):
        default = {"IsDefault": True, "Actions": raw.get("DefaultActions") or []}
        parsed.append(parse_rule(default))
    return Listener(
        arn=raw["ListenerArn"],
        port=int(raw["Port"]),
        protocol=raw["Protocol"],
        ssl_policy=raw.get("SslPolicy") or "",
        certificate_arns=tuple(c["CertificateArn"] for c in raw.get("Certificates") or []),
        rules=tuple(sorted(parsed, key=lambda r: r.priority)),
    )


def forwarded_target_groups(listeners: tuple[Listener, ...]) -> set[str]:
    """Every target group a listener's rules forward to: the ones the load balancer health-checks."""
    return {
        arn
        for listener in listeners
        for rule in listener.rules
        for action in rule.actions
        if action.type == "forward"
        for arn, _ in action.target_groups
    }
