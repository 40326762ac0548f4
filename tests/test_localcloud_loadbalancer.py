"""The local load balancer, as a process, in front of real HTTP targets, against its own emulator.

One module-wide stack: an ALB with an HTTPS listener (TLS 1.2+ policy, a rule per behaviour and a
weighted /* rule) and an HTTP listener that redirects, target groups whose targets are small
HTTP servers of this process registered as ip targets, then the load balancer
(``python -m localcloud.dataplane.loadbalancer``) started on it. Health checks run with AWS's
shortest settings (every 5 s, threshold 2), so a test that waits for a state change waits
seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.client
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import budget
import emulator
import pytest

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-south-1"
TRACE_ID = r"1-[0-9a-f]{8}-[0-9a-f]{24}"
IDLE_TIMEOUT = 2  # seconds; the slow target answers after SLOW_SECONDS
SLOW_SECONDS = 4


class Target:
    """An HTTP/1.1 server on a free loopback port: echoes what it got as JSON; /health answers
    `health_status`; /slow/... answers after SLOW_SECONDS."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health_status = 200
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path == "/health":
                    status, payload = target.health_status, b"ok"
                else:
                    if self.path.startswith("/slow/"):
                        time.sleep(SLOW_SECONDS)
                    status = 200
                    payload = json.dumps(
                        {
                            "target": target.name,
                            "method": self.command,
                            "path": self.path,
                            "body": body,
                            "headers": {k: self.headers.get_all(k) for k in self.headers},
                        }
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"target {name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stack:
    endpoint: str
    state: Path
    ca: Path
    boto: Callable[[str], Any]
    lb_arn: str
    https_rule: str
    groups: dict[str, str]
    targets: dict[str, Target]
    https_port: int = 0
    http_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self, healthy: tuple[str, ...] = ("blue", "green", "dead", "slow"), **env: str) -> None:
        """Run the load balancer (its own process) and wait until it serves and its targets pass."""
        with (self.state / "loadbalancer.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "localcloud.dataplane.loadbalancer", "--endpoint", self.endpoint],
                env={
                    # Free ports unless a test pins them: `make test` exports make up's fixed ones.
                    **{k: v for k, v in os.environ.items() if k != "LOCALCLOUD_LB_PORTS"},
                    "PYTHONPATH": str(ROOT / "tools"),
                    "LOOPIN_STATE_DIR": str(self.state),
                    "LOCALCLOUD_LB_METRICS_SECONDS": "1",
                    **env,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        pid = self.proc.pid
        listeners = wait_for(
            "both listeners served",
            lambda: (
                self.status(pid).get("listeners", [])
                if len(self.status(pid).get("listeners", [])) == 2
                else None
            ),
        )
        self.https_port = next(entry["port"] for entry in listeners if entry["protocol"] == "HTTPS")
        self.http_port = next(entry["port"] for entry in listeners if entry["protocol"] == "HTTP")
        for group in healthy:
            wait_for(
                f"{group} healthy",
                lambda g=group: set(self.status(pid)["targetGroups"][f"test-{g}"].values()) == {"healthy"},
                timeout=15,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def lb_dim(self) -> str:
        return self.lb_arn.split(":loadbalancer/", 1)[1]

    def tg_dim(self, group: str) -> str:
        return self.groups[group].rsplit(":", 1)[1]

    def status(self, pid: int | None = None) -> dict[str, Any]:
        """The load balancer's section of status.json (of process `pid` only, when given)."""
        f = self.state / f"localcloud-{self.endpoint.rsplit(':', 1)[1]}" / "dataplane" / "status.json"
        if not f.exists():
            return {}
        status = json.loads(f.read_text())
        if pid is not None and status.get("pid") != pid:
            return {}
        return status.get("loadbalancer") or {}

    def tls(self) -> ssl.SSLContext:
        return _client_context(self.ca)

    def get(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        source: str = "127.0.0.1",
        https: bool = True,
    ) -> Answer:
        """One request on a new connection (the idle timeout is short), from `source`."""
        conn: http.client.HTTPConnection
        if https:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, timeout=10, context=self.tls(), source_address=(source, 0)
            )
        else:
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, timeout=10, source_address=(source, 0)
            )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def spread(self, count: int = 30, path: str = "/spread") -> Counter[str]:
        return Counter(self.get(path).json()["target"] for _ in range(count))

    def health(self, group: str) -> dict[str, dict[str, Any]]:
        found = self.boto("elbv2").describe_target_health(TargetGroupArn=self.groups[group])
        return {
            f"{d['Target']['Id']}:{d['Target']['Port']}": d["TargetHealth"]
            for d in found["TargetHealthDescriptions"]
        }

    def key(self, target: str) -> str:
        return f"127.0.0.1:{self.targets[target].port}"


@functools.cache
def _client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> Any:
    """check()'s first truthy value; `timeout` is the quiet machine's, scaled to this one."""
    return budget.until(check, timeout, what, every=every, suppress=(OSError, KeyError, ValueError))


def build(boto: Callable[[str], Any], targets: dict[str, Target]) -> tuple[str, str, dict[str, str]]:
    """The ALB, its listeners and rules, the target groups with the targets registered."""
    ec2, elbv2, acm = boto("ec2"), boto("elbv2"), boto("acm")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    lb = elbv2.create_load_balancer(Name="loopin-test", Subnets=subnets, Type="application")["LoadBalancers"][
        0
    ]
    lb_arn = lb["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn,
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(IDLE_TIMEOUT)}],
    )
    cert = acm.request_certificate(DomainName="api.loopin.test", ValidationMethod="DNS")["CertificateArn"]
    groups: dict[str, str] = {}
    members = {
        "blue": ["blue-a", "blue-b"],
        "green": ["green"],
        "dead": ["dead"],
        "slow": ["slow"],
        "empty": [],
        "spare": ["green"],  # no listener forwards to it
    }
    for group, names in members.items():
        arn = elbv2.create_target_group(
            Name=f"test-{group}",
            Protocol="HTTP",
            Port=8000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            Matcher={"HttpCode": "200-299"},
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
        )
        if names:
            elbv2.register_targets(
                TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": targets[n].port} for n in names]
            )
        groups[group] = arn
    https = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "404",
                    "ContentType": "text/plain",
                    "MessageBody": "Not found",
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "redirect",
                "RedirectConfig": {
                    "Protocol": "HTTPS",
                    "Port": "443",
                    "Host": "#{host}",
                    "Path": "/#{path}",
                    "Query": "#{query}",
                    "StatusCode": "HTTP_301",
                },
            }
        ],
    )

    def forward(group: str) -> list[dict[str, Any]]:
        return [{"Type": "forward", "TargetGroupArn": groups[group]}]

    def path(pattern: str) -> list[dict[str, Any]]:
        return [{"Field": "path-pattern", "PathPatternConfig": {"Values": [pattern]}}]

    teapot = {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "short and stout"}
    rules: list[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]] = [
        (5, [{"Field": "source-ip", "SourceIpConfig": {"Values": ["127.0.0.4/32"]}}], forward("green")),
        (10, path("/dead/*"), forward("dead")),
        (11, path("/slow/*"), forward("slow")),
        (12, path("/empty/*"), forward("empty")),
        (13, path("/teapot"), [{"Type": "fixed-response", "FixedResponseConfig": teapot}]),
        (
            20,
            [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Side", "Values": ["gr?en"]}}],
            forward("green"),
        ),
        (30, [{"Field": "host-header", "HostHeaderConfig": {"Values": ["green.*.test"]}}], forward("green")),
    ]
    for priority, conditions, actions in rules:
        elbv2.create_rule(ListenerArn=https, Priority=priority, Conditions=conditions, Actions=actions)
    weighted = elbv2.create_rule(
        ListenerArn=https,
        Priority=100,
        Conditions=path("/*"),
        Actions=[{"Type": "forward", "ForwardConfig": weights(groups, 100, 0)}],
    )["Rules"][0]["RuleArn"]
    return lb_arn, weighted, groups


def weights(groups: dict[str, str], blue: int, green: int) -> dict[str, Any]:
    return {
        "TargetGroups": [
            {"TargetGroupArn": groups["blue"], "Weight": blue},
            {"TargetGroupArn": groups["green"], "Weight": green},
        ],
        "TargetGroupStickinessConfig": {"Enabled": False},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("localcloud")
    targets = {name: Target(name) for name in ("blue-a", "blue-b", "green", "dead", "slow")}
    with emulator.running() as endpoint:

        def boto(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        lb_arn, rule, groups = build(boto, targets)
        port = endpoint.rsplit(":", 1)[1]
        stack = Stack(
            endpoint,
            state,
            state / f"localcloud-{port}" / "pki" / "ca.pem",
            boto,
            lb_arn,
            rule,
            groups,
            targets,
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
            for target in targets.values():
                with contextlib.suppress(OSError):
                    target.stop()


def metric_sum(stack: Stack, namespace: str, name: str, dims: dict[str, str], stat: str = "Sum") -> float:
    now = dt.datetime.now(dt.UTC)
    points = stack.boto("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=[stat],
    )["Datapoints"]
    values = [p[stat] for p in points]
    return max(values) if stat in ("Maximum",) else sum(values)


def dimension_sets(stack: Stack, namespace: str, name: str) -> set[frozenset[tuple[str, str]]]:
    found = stack.boto("cloudwatch").list_metrics(Namespace=namespace, MetricName=name)["Metrics"]
    return {frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in found}


def test_https_is_served_with_the_local_ca_certificate(stack: Stack) -> None:
    answer = stack.get("/hello")
    assert answer.status == 200 and answer.json()["target"] in ("blue-a", "blue-b")
    with socket.create_connection(("127.0.0.1", stack.https_port)) as raw:
        with stack.tls().wrap_socket(raw, server_hostname="api.loopin.test") as tls:
            issuer = dict(pair[0] for pair in tls.getpeercert()["issuer"])
            assert issuer["commonName"] == "Loopin local cloud CA"
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert stack.status()["api"] == f"https://127.0.0.1:{stack.https_port}"


def test_tls_below_the_policy_minimum_is_refused(stack: Stack) -> None:
    def client(version: ssl.TLSVersion) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(stack.ca))
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets this client offer TLS 1.1 at all
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: offering it is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = version
        return context

    def handshake(context: ssl.SSLContext, port: int) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return str(tls.version())

    # The control: this client does speak TLS 1.1 to a server that allows it.
    cert, key = (stack.ca.parent / "alb-control.pem"), (stack.ca.parent / "alb-control.key")
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lenient.minimum_version = ssl.TLSVersion.TLSv1
    from localcloud.pki import LocalCA

    LocalCA(stack.ca.parent).issue("alb-control")
    lenient.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), lenient.wrap_socket(conn, server_side=True):
                pass

        threading.Thread(target=serve, daemon=True).start()
        assert handshake(client(ssl.TLSVersion.TLSv1_1), listener.getsockname()[1]) == "TLSv1.1"

    assert handshake(client(ssl.TLSVersion.TLSv1_2), stack.https_port) == "TLSv1.2"
    # The listener's policy (TLS13-1-2) refuses it. asyncio's TLS closes a failed handshake
    # without sending OpenSSL's protocol_version alert, so the client sees the connection end.
    with pytest.raises(ssl.SSLError):
        handshake(client(ssl.TLSVersion.TLSv1_1), stack.https_port)


def test_the_http_listener_redirects_to_the_https_one(stack: Stack) -> None:
    answer = stack.get("/a/b?x=1&y=2", https=False)
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://127.0.0.1:{stack.https_port}/a/b?x=1&y=2"
    assert answer.headers["Server"] == "awselb/2.0"


def test_forwarded_headers_and_trace_id_are_added(stack: Stack) -> None:
    fresh = stack.get(
        "/h", method="POST", body=b'{"a": 1}', headers={"X-Forwarded-For": "203.0.113.7"}
    ).json()
    headers = {k.lower(): v for k, v in fresh["headers"].items()}
    assert headers["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["https"] and headers["x-forwarded-port"] == ["443"]
    assert re.fullmatch(f"Root={TRACE_ID}", headers["x-amzn-trace-id"][0])
    assert fresh["method"] == "POST" and fresh["body"] == '{"a": 1}'
    incoming = "Root=1-5759e988-bd862e3fe1be46a994272793;CalledFrom=app"
    kept = stack.get("/h", headers={"X-Amzn-Trace-Id": incoming}).json()["headers"]
    trace = {k.lower(): v for k, v in kept.items()}["x-amzn-trace-id"][0]
    assert re.fullmatch(f"Self={TRACE_ID};{re.escape(incoming)}", trace)


def test_rules_match_headers_hosts_and_fixed_responses(stack: Stack) -> None:
    assert stack.get("/x", headers={"X-Side": "GREEN"}).json()["target"] == "green"
    assert stack.get("/x", headers={"Host": "green.api.test"}).json()["target"] == "green"
    assert stack.get("/x", source="127.0.0.4").json()["target"] == "green"
    assert stack.get("/x", source="127.0.0.5").json()["target"] != "green"
    teapot = stack.get("/teapot")
    assert (teapot.status, teapot.body) == (418, b"short and stout")


def test_a_client_waiting_for_100_continue_gets_it_from_the_load_balancer(stack: Stack) -> None:
    body = b'{"big": true}'
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.https_port), timeout=5) as raw:
        with stack.tls().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(head.encode())
            assert tls.recv(64).startswith(b"HTTP/1.1 100 Continue")
            tls.sendall(body)
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    echoed = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert echoed["body"] == body.decode() and "Expect" not in echoed["headers"]


def test_weight_changes_take_effect_within_seconds(stack: Stack) -> None:
    elbv2 = stack.boto("elbv2")

    def shift(blue: int, green: int) -> None:
        """Change the weights and wait until the node routes with them (its status says so)."""
        elbv2.modify_rule(
            RuleArn=stack.https_rule,
            Actions=[{"Type": "forward", "ForwardConfig": weights(stack.groups, blue, green)}],
        )
        wanted = {"test-blue": blue, "test-green": green}
        wait_for(
            f"weights {blue}/{green} in effect",
            lambda: stack.status()["weights"]["loopin-test:443 rule 100"] == wanted,
            timeout=4,  # refreshed every second, the status written every second
            every=0.05,
        )

    try:
        assert set(stack.spread(10)) <= {"blue-a", "blue-b"}
        shift(50, 50)
        split = stack.spread(40)  # 50/50: fewer than 8 on one side has a chance of about 1e-5
        assert split["green"] >= 8 and split["blue-a"] + split["blue-b"] >= 8
        shift(0, 100)
        assert set(stack.spread(10)) == {"green"}
    finally:
        shift(100, 0)
    assert "green" not in stack.spread(10)


def test_an_unhealthy_target_gets_no_traffic_and_shows_unhealthy(stack: Stack) -> None:
    target = stack.targets["blue-b"]
    target.health_status = 503
    try:
        health = wait_for(
            "blue-b unhealthy",
            lambda: (h := stack.health("blue")[stack.key("blue-b")])["State"] == "unhealthy" and h,
            timeout=15,
        )
        assert health == {
            "State": "unhealthy",
            "Reason": "Target.ResponseCodeMismatch",
            "Description": "Health checks failed with these codes: [503]",
        }
        assert stack.spread(20) == Counter({"blue-a": 20})
        wait_for(
            "make status shows it",
            lambda: stack.status()["targetGroups"]["test-blue"][stack.key("blue-b")] == "unhealthy",
            timeout=3,
        )
    finally:
        target.health_status = 200


def test_elb_errors_502_503_504(stack: Stack) -> None:
    stack.targets["dead"].stop()  # still healthy in the node's eyes until its checks fail
    dead = stack.get("/dead/x")
    assert dead.status == 502 and b"502 Bad Gateway" in dead.body
    assert stack.get("/empty/x").status == 503
    started = time.monotonic()
    assert stack.get("/slow/x").status == 504
    assert IDLE_TIMEOUT <= time.monotonic() - started < SLOW_SECONDS


def test_metrics_reach_cloudwatch_with_the_dimensions_the_alarms_query(stack: Stack) -> None:
    blue = {"LoadBalancer": stack.lb_dim, "TargetGroup": stack.tg_dim("blue")}
    lb = {"LoadBalancer": stack.lb_dim}
    before = metric_sum(stack, "AWS/ApplicationELB", "RequestCount", blue)
    for _ in range(5):
        assert stack.get("/m").status == 200
    wait_for(
        "5 more blue requests counted",
        lambda: metric_sum(stack, "AWS/ApplicationELB", "RequestCount", blue) >= before + 5,
        timeout=10,
    )
    assert metric_sum(stack, "AWS/ApplicationELB", "HTTPCode_Target_2XX_Count", blue) >= 5
    for name in (
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_ELB_502_Count",
        "HTTPCode_ELB_503_Count",
        "HTTPCode_ELB_504_Count",
    ):
        assert metric_sum(stack, "AWS/ApplicationELB", name, lb) >= 1, name
    assert metric_sum(stack, "AWS/ApplicationELB", "TargetConnectionErrorCount", lb) >= 1
    assert metric_sum(stack, "AWS/ApplicationELB", "HTTP_Fixed_Response_Count", lb) >= 1
    assert metric_sum(stack, "AWS/ApplicationELB", "HTTP_Redirect_Count", lb) >= 1
    assert metric_sum(stack, "AWS/ApplicationELB", "HTTPCode_ELB_3XX_Count", lb) >= 1
    assert metric_sum(stack, "AWS/ApplicationELB", "HealthyHostCount", blue, "Maximum") >= 1
    assert (
        metric_sum(
            stack, "AWS/ApplicationELB", "RequestCountPerTarget", {"TargetGroup": stack.tg_dim("blue")}
        )
        > 0
    )
    # Every response time is a sample of its own (Values/Counts): the p99 the alarms read is exact.
    samples = metric_sum(stack, "AWS/ApplicationELB", "TargetResponseTime", blue, "SampleCount")
    now = dt.datetime.now(dt.UTC)
    p99 = stack.boto("cloudwatch").get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        Dimensions=[{"Name": k, "Value": v} for k, v in blue.items()],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=600,
        ExtendedStatistics=["p99"],
    )["Datapoints"]
    slowest = metric_sum(stack, "AWS/ApplicationELB", "TargetResponseTime", blue, "Maximum")
    assert p99 and 0 < max(p["ExtendedStatistics"]["p99"] for p in p99) <= slowest
    assert samples == metric_sum(stack, "AWS/ApplicationELB", "RequestCount", blue) - metric_sum(
        stack, "AWS/ApplicationELB", "TargetConnectionErrorCount", blue
    )
    # Exactly AWS's dimension sets: the load balancer alone, and the load balancer with a target group.
    lb_only, with_group = frozenset(lb.items()), frozenset(blue.items())
    assert {lb_only, with_group} <= dimension_sets(stack, "AWS/ApplicationELB", "RequestCount")
    assert dimension_sets(stack, "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count") == {lb_only}
    assert with_group in dimension_sets(stack, "AWS/ApplicationELB", "UnHealthyHostCount")
    # Stamped with when the requests happened (this run), not with when they were published.
    stamps = [
        p["Timestamp"]
        for p in stack.boto("cloudwatch").get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName="RequestCount",
            Dimensions=[{"Name": k, "Value": v} for k, v in blue.items()],
            StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
            Period=1,
            Statistics=["Sum"],
        )["Datapoints"]
    ]
    assert len(stamps) > 1 and max(stamps) - min(stamps) < dt.timedelta(minutes=2)


def _web_acl(stack: Stack, action: str, rule_metric: str) -> tuple[str, str]:
    waf = stack.boto("wafv2")
    acl = waf.create_web_acl(
        Name=f"test-{action.lower()}",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "test-acl",
        },
        Rules=[
            {
                "Name": "rate-limit-per-ip",
                "Priority": 1,
                "Action": {action: {}},
                "Statement": {
                    "RateBasedStatement": {"Limit": 10, "AggregateKeyType": "IP", "EvaluationWindowSec": 60}
                },
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": rule_metric,
                },
            }
        ],
    )["Summary"]
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stack.lb_arn)
    wait_for(
        "web ACL enforced", lambda: stack.status()["webAcls"].get("loopin-test") == acl["Name"], timeout=5
    )
    return acl["ARN"], acl["Name"]


@pytest.mark.parametrize(
    ("action", "source", "blocked"),
    [("Block", "127.0.0.2", 4), ("Count", "127.0.0.3", 0)],
    ids=["block", "count"],
)
def test_the_waf_rate_rule(stack: Stack, action: str, source: str, blocked: int) -> None:
    rule_metric = f"rate-{action.lower()}"
    _web_acl(stack, action, rule_metric)
    try:
        statuses = [stack.get("/w", source=source).status for _ in range(14)]
        assert statuses == [200] * (14 - blocked) + [403] * blocked
        assert stack.get("/w").status == 200  # another client address is not limited
        if blocked:
            assert b"403 Forbidden" in stack.get("/w", source=source).body
        dims = {"Region": REGION, "Rule": rule_metric, "WebACL": "test-acl"}
        metric = "BlockedRequests" if blocked else "CountedRequests"
        wait_for(
            f"{metric} published",
            lambda: metric_sum(stack, "AWS/WAFV2", metric, dims) >= (blocked + 1 if blocked else 4),
            timeout=10,
        )
        all_rules = {**dims, "Rule": "ALL"}
        assert metric_sum(stack, "AWS/WAFV2", "AllowedRequests", all_rules) >= 10
    finally:
        stack.boto("wafv2").disassociate_web_acl(ResourceArn=stack.lb_arn)
        wait_for("web ACL gone", lambda: not stack.status()["webAcls"], timeout=5)


def test_a_group_with_only_unhealthy_targets_fails_open(stack: Stack) -> None:
    # The dead target (stopped above) has failed its checks by now: unhealthy, and still routed to.
    health = wait_for(
        "the dead target unhealthy",
        lambda: (h := stack.health("dead")[stack.key("dead")])["State"] == "unhealthy" and h,
        timeout=15,
    )
    assert health["Reason"] == "Target.FailedHealthChecks"
    assert stack.get("/dead/x").status == 502  # routed to (AWS fails open), not 503
    dims = {"LoadBalancer": stack.lb_dim, "TargetGroup": stack.tg_dim("dead")}
    wait_for(
        "UnHealthyHostCount published",
        lambda: metric_sum(stack, "AWS/ApplicationELB", "UnHealthyHostCount", dims, "Maximum") >= 1,
        timeout=5,
    )


def test_a_deregistered_target_drains_and_gets_no_new_requests(stack: Stack) -> None:
    elbv2, blue_b = stack.boto("elbv2"), {"Id": "127.0.0.1", "Port": stack.targets["blue-b"].port}
    wait_for("blue-b healthy again", lambda: stack.health("blue")[stack.key("blue-b")]["State"] == "healthy")
    elbv2.deregister_targets(TargetGroupArn=stack.groups["blue"], Targets=[blue_b])
    try:
        assert stack.health("blue")[stack.key("blue-b")] == {
            "State": "draining",
            "Reason": "Target.DeregistrationInProgress",
            "Description": "Target deregistration is in progress",
        }
        wait_for("blue-b out of rotation", lambda: set(stack.spread(4)) == {"blue-a"}, timeout=4, every=0)
        wait_for(
            "blue-b gone after the 1 s delay",
            lambda: stack.key("blue-b") not in stack.health("blue"),
            timeout=5,
        )
    finally:
        elbv2.register_targets(TargetGroupArn=stack.groups["blue"], Targets=[blue_b])


def test_targets_of_a_group_no_listener_uses_are_unused(stack: Stack) -> None:
    assert wait_for(
        "spare target reported",
        lambda: (h := stack.health("spare")[stack.key("green")])["State"] == "unused" and h,
        timeout=8,
    ) == {
        "State": "unused",
        "Reason": "Target.NotInUse",
        "Description": "Target group is not configured to receive traffic from the load balancer",
    }


def test_a_new_load_balancer_is_served_with_its_certificate_names_at_once(stack: Stack) -> None:
    ec2, elbv2, acm = stack.boto("ec2"), stack.boto("elbv2"), stack.boto("acm")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["CidrBlock"].startswith("10.0.")]
    lb = elbv2.create_load_balancer(Name="loopin-second", Subnets=subnets, Type="application")[
        "LoadBalancers"
    ][0]
    cert = acm.request_certificate(DomainName="second.loopin.test", ValidationMethod="DNS")["CertificateArn"]
    fixed = {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": "second"}
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": fixed}],
    )
    try:
        listener = wait_for(
            "the second load balancer served",
            lambda: next(
                (e for e in stack.status()["listeners"] if e["loadBalancer"] == "loopin-second"), None
            ),
            timeout=15,  # a new load balancer is read at the next refresh (every second)
        )
        conn = http.client.HTTPSConnection(
            "second.loopin.test", listener["port"], timeout=5, context=stack.tls()
        )
        conn.sock = stack.tls().wrap_socket(
            socket.create_connection(("127.0.0.1", listener["port"])), server_hostname="second.loopin.test"
        )
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"second"
        conn.close()
    finally:
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for("its listener closed", lambda: len(stack.status()["listeners"]) == 2, timeout=5)


def test_a_restarted_load_balancer_keeps_its_ports_and_without_one_moto_answers(stack: Stack) -> None:
    https_port = stack.https_port
    stack.stop()
    # The node said goodbye: the emulator answers moto's instant health again, even for the dead target.
    assert stack.health("dead")[stack.key("dead")] == {"State": "healthy"}
    pinned = emulator.free_port()
    stack.start(healthy=("blue", "green"), LOCALCLOUD_LB_PORTS=f"loopin-test:80={pinned}")
    assert (stack.https_port, stack.http_port) == (https_port, pinned)
    assert stack.get("/after-restart").status == 200
