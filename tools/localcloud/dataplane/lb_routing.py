"""Listener rules as the ALB evaluates them: the first rule (by priority) whose conditions all hold.

Within a condition any value may match; every condition of a rule must. Wildcards are ``*`` (any
run of characters) and ``?`` (one character). Path patterns and the request method are
case-sensitive; host names, header values and query strings are not. The path is matched
(decoded) without its query string, the host without its port, query values decoded.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from multidict import CIMultiDictProxy, MultiDictProxy

from localcloud.dataplane.lb_model import Action, Condition, Rule


@dataclass(frozen=True)
class RequestView:
    """The parts of a request the rules look at."""

    method: str
    host: str  # without the port
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    source_ip: str


@functools.lru_cache(maxsize=1024)
def wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _any(patterns: Sequence[str], value: str, case_sensitive: bool = False) -> bool:
    return any(wildcard(p, case_sensitive).match(value) for p in patterns)


def condition_holds(condition: Condition, request: RequestView) -> bool:
    kind = condition.field
    if kind == "path-pattern":
        return _any(condition.values, request.path, case_sensitive=True)
    if kind == "host-header":
        return _any(condition.values, request.host)
    if kind == "http-header":
        return any(_any(condition.values, v) for v in request.headers.getall(condition.header, []))
    if kind == "http-request-method":
        return request.method in condition.values
    if kind == "query-string":
        for key, value in condition.pairs:
            if key is None:
                if any(wildcard(value, False).match(v) for v in request.query.values()):
                    return True
            elif any(_any([value], v) for k, v in request.query.items() if k.lower() == key.lower()):
                return True
        return False
    if kind == "source-ip":
        try:
            address = ipaddress.ip_address(request.source_ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in condition.values)
    return False


def select_rule(rules: Sequence[Rule], request: RequestView) -> Rule:
    """The rule that answers: rules are in priority order and the default rule (no conditions) is last."""
    for rule in rules:
        if all(condition_holds(c, request) for c in rule.conditions):
            return rule
    raise LookupError("a listener always has a default rule")


def choose_target_group(action: Action, rng: random.Random) -> str | None:
    """A weighted choice among the forward action's target groups (stickiness is not modelled)."""
    groups = [(arn, weight) for arn, weight in action.target_groups if weight > 0]
    if not groups:
        return None
    if len(groups) == 1:
        return groups[0][0]
    arns, weights = zip(*groups, strict=True)
    return rng.choices(arns, weights=weights)[0]


REDIRECT_STATUS = {"HTTP_301": 301, "HTTP_302": 302}


def redirect_location(
    config: Mapping[str, str],
    protocol: str,
    host: str,
    port: int,
    path: str,
    query: str,
    local_ports: Mapping[int, int],
) -> str:
    """The Location of a redirect action, with ``#{protocol}``, ``#{host}``, ``#{port}``, ``#{path}``
    and ``#{query}`` as the ALB substitutes them.

    The listener ports of the load balancer are served on other loopback ports here, so a redirect
    to one of them points at its local port (``local_ports``: listener port -> local port)."""
    values = {
        "protocol": protocol.lower(),
        "host": host,
        "port": str(port),
        "path": path.lstrip("/"),
        "query": query,
    }

    def substitute(template: str) -> str:
        return re.sub(r"#\{(protocol|host|port|path|query)\}", lambda m: values[m.group(1)], template)

    scheme = substitute(config.get("Protocol", "#{protocol}")).lower()
    target_host = substitute(config.get("Host", "#{host}"))
    target_port = int(substitute(config.get("Port", "#{port}")))
    target_port = local_ports.get(target_port, target_port)
    target_path = substitute(config.get("Path", "/#{path}"))
    target_query = substitute(config.get("Query", "#{query}"))
    default_port = {"http": 80, "https": 443}.get(scheme)
    authority = target_host if target_port == default_port else f"{target_host}:{target_port}"
    return f"{scheme}://{authority}{target_path}" + (f"?{target_query}" if target_query else "")
