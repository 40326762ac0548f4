"""The local load balancer's decisions, one function at a time (the process is tested end to end in
test_localcloud_loadbalancer.py): rule conditions, redirects, TLS policies, forwarded headers,
the WAF's rate rules, the health-check state machine and probe, metric buffering."""

from __future__ import annotations

import asyncio
import http.server
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from localcloud.dataplane import lb_health, lb_metrics, lb_tls, lb_waf
from localcloud.dataplane.lb_model import (
    HealthCheck,
    Listener,
    LoadBalancerAttributes,
    parse_action,
    parse_listener,
    parse_rule,
)
from localcloud.dataplane.lb_routing import RequestView, choose_target_group, redirect_location, select_rule
from localcloud.dataplane.loadbalancer import Settings, forwarded_headers, trace_header
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

TRACE_ID = r"1-[0-9a-f]{8}-[0-9a-f]{24}"


def view(
    path: str = "/",
    method: str = "GET",
    host: str = "api.loopin.test",
    query: str = "",
    source: str = "10.1.2.3",
    **headers: str,
) -> RequestView:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return RequestView(
        method=method,
        host=host,
        path=path,
        query=MultiDictProxy(MultiDict(pairs)),
        headers=CIMultiDictProxy(CIMultiDict(headers)),
        source_ip=source,
    )


def rule(priority: int | str, conditions: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {
        "RuleArn": name,
        "Priority": str(priority),
        "Conditions": conditions,
        "Actions": [
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": name}}
        ],
    }


RULES = [
    rule(5, [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["DELETE"]}}], "delete"),
    rule(
        6,
        [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "debug", "Value": "t*e"}]}}],
        "debug",
    ),
    rule(7, [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "needle"}]}}], "any-key"),
    rule(
        8, [{"Field": "source-ip", "SourceIpConfig": {"Values": ["192.0.2.0/24", "2001:db8::/32"]}}], "source"
    ),
    rule(
        10,
        [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/v1/*"]}},
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["API.loopin.*"]}},
        ],
        "both",
    ),
    rule(20, [{"Field": "path-pattern", "Values": ["/img/??.png"]}], "two-chars"),
    {"RuleArn": "default", "Priority": "default", "IsDefault": True, "Conditions": [], "Actions": []},
]


@pytest.mark.parametrize(
    ("request_view", "expected"),
    [
        (view("/v1/me", method="DELETE"), "delete"),
        (view("/v1/me", method="delete"), "both"),  # the method is case-sensitive
        (view("/x", query="debug=TRUE"), "debug"),  # query values are not
        (view("/x", query="other=needle"), "any-key"),
        (view("/x", source="192.0.2.77"), "source"),
        (view("/x", source="2001:db8::1"), "source"),
        (view("/v1/me", host="api.loopin.test"), "both"),
        (view("/V1/me"), "default"),  # paths are case-sensitive
        (view("/v1/me", host="web.loopin.test"), "default"),  # every condition must hold
        (view("/img/ab.png"), "two-chars"),
        (view("/img/abc.png"), "default"),
    ],
)
def test_rules_are_matched_in_priority_order_with_aws_wildcards(
    request_view: RequestView, expected: str
) -> None:
    listener = parse_listener({"ListenerArn": "l", "Port": 443, "Protocol": "HTTPS"}, list(reversed(RULES)))
    assert select_rule(listener.rules, request_view).arn == expected


def test_a_listener_without_a_default_rule_gets_its_default_actions() -> None:
    listener = parse_listener(
        {"ListenerArn": "l", "Port": 80, "Protocol": "HTTP", "DefaultActions": [{"Type": "redirect"}]}, []
    )
    assert select_rule(listener.rules, view()).terminal.type == "redirect"


def test_forward_weights_choose_target_groups_in_proportion() -> None:
    action = parse_action(
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": "a", "Weight": 3}, {"TargetGroupArn": "b", "Weight": 1}]
            },
        }
    )
    rng = random.Random(7)
    picks = [choose_target_group(action, rng) for _ in range(4000)]
    assert 0.70 < picks.count("a") / len(picks) < 0.80
    none = parse_action(
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "a", "Weight": 0}]}}
    )
    assert choose_target_group(none, rng) is None
    assert parse_rule(
        {"Priority": "1", "Actions": [{"Type": "forward", "TargetGroupArn": "t"}]}
    ).terminal.target_groups == (("t", 1),)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            "https://api.loopin.test:9443/a/b?x=1",
        ),
        ({"Protocol": "#{protocol}", "Port": "#{port}"}, "http://api.loopin.test:9080/a/b?x=1"),
        (
            {
                "Protocol": "HTTPS",
                "Port": "443",
                "Host": "new.#{host}",
                "Path": "/moved/#{path}",
                "Query": "",
            },
            "https://new.api.loopin.test:9443/moved/a/b",
        ),
        (
            {"Protocol": "HTTPS", "Port": "443", "Query": "#{query}&from=alb"},
            "https://api.loopin.test:9443/a/b?x=1&from=alb",
        ),
        (
            {"Protocol": "HTTPS", "Port": "8443"},
            "https://api.loopin.test:8443/a/b?x=1",
        ),  # not a listener here
        (
            {"Protocol": "HTTPS", "Port": "443", "Host": "elsewhere.test"},
            "https://elsewhere.test:9443/a/b?x=1",
        ),
    ],
)
def test_redirects_substitute_like_the_alb_and_point_at_local_ports(
    config: dict[str, str], expected: str
) -> None:
    location = redirect_location(config, "HTTP", "api.loopin.test", 80, "/a/b", "x=1", {443: 9443, 80: 9080})
    assert location == expected


@pytest.mark.parametrize(
    ("name", "minimum", "maximum", "known"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, True),
        ("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, True),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, True),
        ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, True),
        ("ELBSecurityPolicy-FS-1-1-2019-08", ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, True),
        ("ELBSecurityPolicy-2016-08", ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2, True),
        ("MyPolicy", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, False),
    ],
)
def test_security_policies_decide_the_tls_versions(
    name: str, minimum: ssl.TLSVersion, maximum: ssl.TLSVersion, known: bool
) -> None:
    assert lb_tls.policy(name) == lb_tls.TlsPolicy(name, minimum, maximum, known)


def test_trace_ids_are_made_kept_and_extended() -> None:
    now = time.time()
    assert re.fullmatch(f"Root={TRACE_ID}", trace_header(None, now))
    assert trace_header(None, now).split("-")[1] == f"{int(now):08x}"
    assert re.fullmatch(
        f"Self={TRACE_ID};Root=1-abc;Sampled=1", trace_header("Self=1-old;Root=1-abc;Sampled=1", now)
    )
    assert re.fullmatch(
        f"Self={TRACE_ID};Root={TRACE_ID};CalledFrom=app", trace_header("CalledFrom=app", now)
    )


LISTENER = Listener("l", 443, "HTTPS", "", (), ())


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (LoadBalancerAttributes(), ["198.51.100.1, 10.0.0.9"]),
        (LoadBalancerAttributes(xff_client_port=True), ["198.51.100.1, 10.0.0.9:40123"]),
        (LoadBalancerAttributes(xff_mode="preserve"), ["198.51.100.1"]),
        (LoadBalancerAttributes(xff_mode="remove"), []),
    ],
)
def test_forwarded_headers_follow_the_xff_attributes(
    attributes: LoadBalancerAttributes, expected: list[str]
) -> None:
    incoming = CIMultiDict(
        {
            "X-Forwarded-For": "198.51.100.1",
            "X-Forwarded-Proto": "http",  # a client's claim is replaced
            "Connection": "keep-alive, X-Private",
            "X-Private": "hop-by-hop, named by Connection",
            "Transfer-Encoding": "chunked",
            "Expect": "100-continue",
            "Cookie": "a=1",
        }
    )
    out = forwarded_headers(incoming, "10.0.0.9", 40123, LISTENER, attributes, time.time())
    assert out.getall("X-Forwarded-For", []) == expected
    assert (out["X-Forwarded-Proto"], out["X-Forwarded-Port"], out["Cookie"]) == ("https", "443", "a=1")
    assert not {"Connection", "X-Private", "Transfer-Encoding", "Expect"} & set(out)


def acl(action: str = "Block", limit: int = 3, window: int = 60, **statement: Any) -> lb_waf.WebAcl:
    return lb_waf.parse_web_acl(
        {
            "ARN": "arn:acl",
            "Name": "acl",
            "DefaultAction": {"Allow": {}},
            "VisibilityConfig": {"MetricName": "acl-metric", "CloudWatchMetricsEnabled": True},
            "CustomResponseBodies": {
                "slow": {"ContentType": "APPLICATION_JSON", "Content": '{"slow": "down"}'}
            },
            "Rules": [
                {
                    "Name": "managed",
                    "Priority": 0,
                    "OverrideAction": {"None": {}},
                    "Statement": {
                        "ManagedRuleGroupStatement": {
                            "VendorName": "AWS",
                            "Name": "AWSManagedRulesCommonRuleSet",
                        }
                    },
                    "VisibilityConfig": {"MetricName": "managed"},
                },
                {
                    "Name": "rate",
                    "Priority": 1,
                    "Action": {action: {}},
                    "Statement": {
                        "RateBasedStatement": {"Limit": limit, "EvaluationWindowSec": window, **statement}
                    },
                    "VisibilityConfig": {"MetricName": "rate-metric"},
                },
            ],
        }
    )


def test_a_rate_rule_blocks_a_key_over_its_limit_within_the_window() -> None:
    web_acl, tracker = acl(), lb_waf.RateTracker()
    assert web_acl.unmodelled == ("managed",)
    verdicts = [lb_waf.evaluate(web_acl, tracker, "10.0.0.1", {}, t) for t in (0, 1, 2, 3)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert (verdicts[0].terminating_rule, verdicts[3].terminating_rule) == ("acl-metric", "rate-metric")
    assert verdicts[3].block == lb_waf.BlockResponse()
    assert lb_waf.evaluate(web_acl, tracker, "10.0.0.2", {}, 3).allowed  # another client
    assert not lb_waf.evaluate(web_acl, tracker, "10.0.0.1", {}, 59).allowed  # blocked requests count too
    # At t=61.5 the window (60 s) holds the requests of t=2, 3 and 59, and this one: still over.
    assert not lb_waf.evaluate(web_acl, tracker, "10.0.0.1", {}, 61.5).allowed
    assert lb_waf.evaluate(web_acl, tracker, "10.0.0.1", {}, 130).allowed


def test_count_and_allow_rate_rules_and_other_aggregation_keys() -> None:
    def run(web_acl: lb_waf.WebAcl, calls: list[tuple[str, dict[str, str]]]) -> list[lb_waf.Verdict]:
        tracker = lb_waf.RateTracker()
        return [lb_waf.evaluate(web_acl, tracker, ip, headers, 0) for ip, headers in calls]

    counted = run(acl("Count", limit=1), [("10.0.0.1", {})] * 2)
    assert [(v.allowed, v.counted) for v in counted] == [(True, ()), (True, ("rate-metric",))]
    (allowed,) = run(acl("Allow", limit=0), [("10.0.0.1", {})])
    assert (allowed.allowed, allowed.terminating_rule) == (True, "rate-metric")
    shared = run(acl(limit=1, AggregateKeyType="CONSTANT"), [("10.0.0.1", {}), ("10.0.0.2", {})])
    assert [v.allowed for v in shared] == [True, False]
    no_match = {"HeaderName": "X-Client", "FallbackBehavior": "NO_MATCH"}
    forwarded = acl(limit=1, AggregateKeyType="FORWARDED_IP", ForwardedIPConfig=no_match)
    client = {"X-Client": "203.0.113.9, 10.0.0.1"}
    assert [v.allowed for v in run(forwarded, [("10.0.0.1", client), ("10.0.0.2", client)])] == [True, False]
    assert all(
        v.allowed for v in run(forwarded, [("10.0.0.1", {})] * 3)
    )  # no header: the rule does not apply
    match = {"HeaderName": "X-Client", "FallbackBehavior": "MATCH"}
    fallback = acl(limit=5, AggregateKeyType="FORWARDED_IP", ForwardedIPConfig=match)
    assert not run(fallback, [("10.0.0.1", {"X-Client": "not an address"})])[0].allowed


def test_a_custom_block_response_is_answered() -> None:
    custom = lb_waf.parse_web_acl(
        {
            "ARN": "a",
            "Name": "a",
            "CustomResponseBodies": {
                "slow": {"ContentType": "APPLICATION_JSON", "Content": '{"slow": "down"}'}
            },
            "Rules": [
                {
                    "Name": "rate",
                    "Priority": 1,
                    "Action": {
                        "Block": {
                            "CustomResponse": {
                                "ResponseCode": 429,
                                "CustomResponseBodyKey": "slow",
                                "ResponseHeaders": [{"Name": "Retry-After", "Value": "60"}],
                            }
                        }
                    },
                    "Statement": {"RateBasedStatement": {"Limit": 0}},
                }
            ],
        }
    )
    verdict = lb_waf.evaluate(custom, lb_waf.RateTracker(), "10.0.0.1", {}, 0)
    assert verdict.block == lb_waf.BlockResponse(
        429, (("Retry-After", "60"),), '{"slow": "down"}', "application/json"
    )
    assert custom.rules[0].window == lb_waf.DEFAULT_WINDOW_SECONDS


CHECK = HealthCheck(
    True,
    "HTTP",
    "traffic-port",
    "/health",
    5,
    2,
    healthy_threshold=3,
    unhealthy_threshold=2,
    matcher="200-299",
)
PASS, FAIL = lb_health.CheckResult(True), lb_health.CheckResult(False, "Target.Timeout", "Request timed out")


def states(results: list[lb_health.CheckResult]) -> list[str]:
    tracked = lb_health._Tracked()
    return [lb_health.advance(tracked, r, CHECK).state for r in results]


def test_health_follows_aws_thresholds() -> None:
    assert states([PASS]) == ["healthy"]  # one pass admits a new target, whatever the threshold
    assert states([FAIL, FAIL]) == ["initial", "unhealthy"]
    assert states([PASS, FAIL, PASS, FAIL, FAIL]) == ["healthy", "healthy", "healthy", "healthy", "unhealthy"]
    assert states([FAIL, FAIL, PASS, PASS, FAIL, PASS, PASS, PASS]) == [
        "initial",
        "unhealthy",
        "unhealthy",
        "unhealthy",
        "unhealthy",
        "unhealthy",
        "unhealthy",
        "healthy",
    ]
    tracked = lb_health._Tracked()
    lb_health.advance(tracked, FAIL, CHECK)
    assert tracked.health == lb_health.INITIAL_CHECKING


@pytest.mark.parametrize(
    ("matcher", "status", "ok"),
    [("200", 200, True), ("200,302", 302, True), ("200-299", 204, True), ("200-299", 301, False)],
)
def test_matchers_accept_aws_code_lists_and_ranges(matcher: str, status: int, ok: bool) -> None:
    check = HealthCheck(True, "HTTP", "8000", "/", 5, 2, 2, 2, matcher)
    assert check.matches(status) is ok
    assert check.port_for(9001) == 8000


@pytest.fixture(scope="module")
def health_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(1)
            code = 503 if self.path == "/down" else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "listening", "expected"),
    [
        ("/health", True, lb_health.CheckResult(True)),
        (
            "/down",
            True,
            lb_health.CheckResult(
                False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]"
            ),
        ),
        ("/slow", True, lb_health.CheckResult(False, "Target.Timeout", "Request timed out")),
        ("/health", False, lb_health.CheckResult(False, "Target.FailedHealthChecks", "Health checks failed")),
    ],
)
def test_a_probe_reports_aws_reasons(
    health_server: int, path: str, listening: bool, expected: lb_health.CheckResult
) -> None:
    check = HealthCheck(True, "HTTP", "traffic-port", path, 5, 0.3, 2, 2, "200")
    port = health_server if listening else closed_port()

    async def run() -> lb_health.CheckResult:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            return await lb_health.probe(session, ("127.0.0.1", port), check)

    assert asyncio.run(run()) == expected


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_are_bucketed_by_second_with_every_sample() -> None:
    buffer = lb_metrics.MetricBuffer()
    dims = (("LoadBalancer", "app/x/1"),)
    for at in (100.1, 100.9, 101.5):
        buffer.count("NS", "RequestCount", dims, at)
    buffer.count("NS", "Zero", dims, 100, 0)
    for i in range(200):
        buffer.sample("NS", "TargetResponseTime", dims, 100.5, 0.001 * (i % 160), "Seconds")
    buffer.gauge("NS", "HealthyHostCount", dims, 100.2, 2)
    buffer.gauge("NS", "HealthyHostCount", dims, 100.7, 3)
    data = buffer.drain()["NS"]
    counts = [(d["Timestamp"].timestamp(), d["Value"]) for d in data if d["MetricName"] == "RequestCount"]
    assert counts == [(100, 2.0), (101, 1.0)]
    assert not [d for d in data if d["MetricName"] == "Zero"]  # AWS publishes no zero counts
    times = [d for d in data if d["MetricName"] == "TargetResponseTime"]
    assert [len(d["Values"]) for d in times] == [150, 10]  # PutMetricData's 150 values per datum
    assert sum(sum(d["Counts"]) for d in times) == 200 and times[0]["Unit"] == "Seconds"
    assert [d["Value"] for d in data if d["MetricName"] == "HealthyHostCount"] == [3]
    assert buffer.drain() == {}
    buffer.give_back("NS", data)
    assert buffer.drain()["NS"] == data
    assert [len(c) for c in lb_metrics.chunks([{}] * 2500)] == [1000, 1000, 500]


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"LOCALCLOUD_LB_PORTS": "443=9443, loopin-local:80=9080", "LOCALCLOUD_LB_METRICS_SECONDS": "2"}
    )
    assert settings.ports == {"443": 9443, "loopin-local:80": 9080} and settings.metrics_seconds == 2.0
    with pytest.raises(ValueError, match="LOCALCLOUD_LB_PORTS"):
        Settings.from_env({"LOCALCLOUD_LB_PORTS": "https=9443"})
