"""The ALB's nodes: every application load balancer in the emulator, served on loopback.

Each listener gets a port on 127.0.0.1 (``LOCALCLOUD_LB_PORTS`` pins them, else the port used last
time, else a free one) and behaves as the ALB documents: TLS with the listener's security policy
and a certificate from the local CA, listener rules in priority order (read again every second, so
weights a deploy shifts apply at once), forward / fixed-response / redirect actions, routing to
healthy targets only (failing open to the unhealthy ones when none is healthy, as AWS does),
``X-Forwarded-*`` and ``X-Amzn-Trace-Id``, the idle timeout, ELB 502/503/504 answers. The web ACL
associated with the load balancer is enforced first (its rate-based rules, see ``lb_waf``).
Targets are health-checked with their group's settings (``lb_health``) and the results reported to
the emulator; the ALB's and the WAF's metrics go to the emulator's CloudWatch (``lb_metrics``).

    python -m localcloud.dataplane.loadbalancer --endpoint http://127.0.0.1:5000

runs this component alone (the data plane runs it with the others).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import hashlib
import logging
import os
import random
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from localcloud.dataplane import lb_metrics, lb_tls
from localcloud.dataplane.context import Context
from localcloud.dataplane.lb_health import HealthChecker, TargetHealth, TargetKey
from localcloud.dataplane.lb_model import (
    Action,
    Listener,
    LoadBalancer,
    LoadBalancerAttributes,
    TargetGroup,
    forwarded_target_groups,
    parse_listener,
)
from localcloud.dataplane.lb_routing import (
    REDIRECT_STATUS,
    RequestView,
    choose_target_group,
    redirect_location,
    select_rule,
)
from localcloud.dataplane.lb_waf import ALL_RULES, RateTracker, Verdict, WebAcl, evaluate, parse_web_acl

log = logging.getLogger("localcloud.dataplane.loadbalancer")

ELB = "AWS/ApplicationELB"
WAF = "AWS/WAFV2"
HOST = "127.0.0.1"
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TTL_SECONDS = 10.0
SLOW_REFRESH_EVERY = 5  # attributes and certificates: every fifth refresh
CONNECT_TIMEOUT_SECONDS = 10.0  # the ALB's connection timeout to a target (504 after it)
PORTS_FILE = "dataplane/loadbalancer-ports.json"
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)
REASON = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
REASON |= {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass(frozen=True)
class Settings:
    """The component's settings, from the environment.

    ``LOCALCLOUD_LB_PORTS``: loopback ports for listeners, ``443=9443,80=9080`` (listener port ->
    local port) or per load balancer ``loopin-local:443=9443``; unlisted listeners keep the port
    they had last time, else get a free one. ``LOCALCLOUD_LB_REFRESH_SECONDS`` (1): how often the
    configuration is read. ``LOCALCLOUD_LB_METRICS_SECONDS`` (5): how often metrics are published.
    """

    ports: Mapping[str, int] = field(default_factory=dict)
    refresh_seconds: float = 1.0
    metrics_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        ports: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in environ.get("LOCALCLOUD_LB_PORTS", "").split(","))):
            listener, _, local = item.partition("=")
            if not local.isdigit() or not re.fullmatch(r"(?:[\w-]+:)?\d+", listener):
                raise ValueError(
                    f"LOCALCLOUD_LB_PORTS: {item!r} is not [<load balancer>:]<listener port>=<port>"
                )
            ports[listener] = int(local)
        return cls(
            ports=ports,
            refresh_seconds=float(environ.get("LOCALCLOUD_LB_REFRESH_SECONDS", 1.0)),
            metrics_seconds=float(environ.get("LOCALCLOUD_LB_METRICS_SECONDS", 5.0)),
        )


def trace_header(incoming: str | None, now: float) -> str:
    """``X-Amzn-Trace-Id`` as the ALB forwards it: a new ``Root`` when there is none, else the
    fields kept and a ``Self`` field (this hop) put first or updated."""

    def trace_id() -> str:
        return f"1-{int(now):08x}-{random.getrandbits(96):024x}"

    fields = [f.strip() for f in (incoming or "").split(";") if "=" in f]
    kept = [f for f in fields if not f.startswith("Self=")]
    if not any(f.startswith("Root=") for f in kept):
        if not kept:
            return f"Root={trace_id()}"
        kept.insert(0, f"Root={trace_id()}")
    return ";".join([f"Self={trace_id()}", *kept])


def forwarded_headers(
    incoming: CIMultiDictProxy[str] | CIMultiDict[str],
    peer: str,
    peer_port: int,
    listener: Listener,
    attributes: LoadBalancerAttributes,
    now: float,
) -> CIMultiDict[str]:
    """The headers the target gets: the client's, without hop-by-hop ones, plus the ALB's own."""
    listed = {h.strip().lower() for h in incoming.get("Connection", "").split(",")}
    own = {"x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id", "expect"}
    if attributes.xff_mode != "preserve":
        own.add("x-forwarded-for")
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if lower not in HOP_BY_HOP and lower not in listed and lower not in own:
            out.add(name, value)
    if attributes.xff_mode == "append":
        client = f"{peer}:{peer_port}" if attributes.xff_client_port else peer
        previous = ", ".join(incoming.getall("X-Forwarded-For", []))
        out["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
    out["X-Forwarded-Proto"] = listener.protocol.lower()
    out["X-Forwarded-Port"] = str(listener.port)
    out["X-Amzn-Trace-Id"] = trace_header(incoming.get("X-Amzn-Trace-Id"), now)
    return out


def _peer_port(request: web.BaseRequest) -> int:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return int(peername[1]) if peername else 0


def error_page(status: int) -> str:
    title = f"{status} {REASON.get(status, 'Error')}"
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<center><h1>{title}</h1></center>"]
    return "\r\n".join([*lines, "</body>", "</html>", ""])


@dataclass
class _Site:
    runner: web.ServerRunner
    port: int
    signature: tuple[Any, ...]
    url: str


class LoadBalancerNodes:
    name = "loadbalancer"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.owner = f"alb-node-{uuid.uuid4().hex[:12]}"
        self.metrics = lb_metrics.MetricBuffer()
        self.rates = RateTracker()
        self.rng = random.Random()  # noqa: S311 - traffic splitting, not security
        self.health = HealthChecker(self._report_health)
        # The configuration, replaced as a whole by each refresh.
        self.lbs: dict[str, LoadBalancer] = {}
        self.listeners: dict[str, tuple[LoadBalancer, Listener]] = {}
        self.groups: dict[str, TargetGroup] = {}
        self.registered: dict[str, list[TargetKey]] = {}
        self.acls: dict[str, WebAcl | None] = {}
        self._lb_attributes: dict[str, LoadBalancerAttributes] = {}
        self._tg_attributes: dict[str, dict[str, str]] = {}
        self._cert_names: dict[str, tuple[str, ...]] = {}
        self._sites: dict[str, _Site] = {}
        self._round_robin: dict[str, int] = collections.defaultdict(int)
        self._outstanding: collections.Counter[tuple[str, TargetKey]] = collections.Counter()
        self._not_in_use: set[tuple[str, TargetKey]] = set()
        self._errors: dict[str, str] = {}
        self._sessions: dict[float, aiohttp.ClientSession] = {}
        self._ctx: Context | None = None
        self._refreshes = 0
        self._refresh_seconds = 0.0

    @property
    def ctx(self) -> Context:
        assert self._ctx is not None, "run() sets the context"
        return self._ctx

    # --- the component ---------------------------------------------------------------------------

    async def run(self, ctx: Context) -> None:
        self._ctx = ctx
        loops = [
            asyncio.create_task(self._every(HEARTBEAT_SECONDS, self._heartbeat), name="alb heartbeat"),
            asyncio.create_task(
                self._every(self.settings.refresh_seconds, self._refresh), name="alb refresh"
            ),
            asyncio.create_task(
                self._every(self.settings.metrics_seconds, self._publish), name="alb metrics"
            ),
        ]
        try:
            await ctx.stopping.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            for site in list(self._sites.values()):
                await site.runner.cleanup()
            self._sites.clear()
            await self.health.close()
            with contextlib.suppress(Exception):  # the emulator may be gone first
                await self._publish()
            with contextlib.suppress(Exception):
                await ctx.control("elbv2/health-owner", {"owner": self.owner, "stopping": True})
            for session in self._sessions.values():
                await session.close()

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            started = time.monotonic()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the node keeps serving on what it last read
                self._error(job.__name__, exc)
            else:
                self._errors.pop(job.__name__, None)
            await asyncio.sleep(max(0.05, seconds - (time.monotonic() - started)))

    def _error(self, where: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if self._errors.get(where) != message:
            log.warning("%s: %s", where, message)
        self._errors[where] = message

    async def _heartbeat(self) -> None:
        self._publish_status()  # health changes between refreshes show too
        await self.ctx.control(
            "elbv2/health-owner", {"owner": self.owner, "ttlSeconds": HEARTBEAT_TTL_SECONDS}
        )

    async def _report_health(self, group_arn: str, target: TargetKey, health: TargetHealth) -> None:
        entry: dict[str, Any] = {"id": target[0], "port": target[1], "state": health.state}
        if health.reason:
            entry |= {"reason": health.reason, "description": health.description}
        await self.ctx.control("elbv2/target-health", {"targetGroupArn": group_arn, "targets": [entry]})

    def _session(self, idle_timeout: float) -> aiohttp.ClientSession:
        """The pool of keep-alive connections to the targets of load balancers with this idle
        timeout: the ALB keeps an idle target connection open that long (so a target whose own
        keep-alive is shorter sees the race AWS documents, a 502 now and then)."""
        session = self._sessions.get(idle_timeout)
        if session is None:
            session = self._sessions[idle_timeout] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=idle_timeout),
                auto_decompress=False,
                # The target gets the client's headers, not aiohttp's defaults.
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return session

    # --- reading the configuration ---------------------------------------------------------------

    async def _paged(self, service: str, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        paginator = self.ctx.client(service).get_paginator(operation)
        return await self.ctx.call(
            lambda: [item for page in paginator.paginate(**params) for item in page[key]]
        )

    async def _refresh(self) -> None:
        ctx = self.ctx
        started = time.monotonic()
        slow = self._refreshes % SLOW_REFRESH_EVERY == 0
        self._refreshes += 1
        raw_lbs = [
            lb
            for lb in await self._paged("elbv2", "describe_load_balancers", "LoadBalancers")
            if lb.get("Type") == "application"
        ]
        raw_listeners = await asyncio.gather(
            *(
                self._paged("elbv2", "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])
                for lb in raw_lbs
            )
        )
        pairs = [
            (lb, listener) for lb, found in zip(raw_lbs, raw_listeners, strict=True) for listener in found
        ]
        raw_rules = await asyncio.gather(
            *(
                self._paged("elbv2", "describe_rules", "Rules", ListenerArn=listener["ListenerArn"])
                for _, listener in pairs
            )
        )
        raw_groups = await self._paged("elbv2", "describe_target_groups", "TargetGroups")
        acls = await asyncio.gather(*(self._web_acl(lb["LoadBalancerArn"]) for lb in raw_lbs))
        # Everything again every few refreshes; a new load balancer or group at once, so that its
        # listener is bound with its idle timeout and certificate names from the start.
        if slow:
            await self._read_attributes(raw_lbs, raw_groups, replace=True)
        else:
            await self._read_attributes(
                [lb for lb in raw_lbs if lb["LoadBalancerArn"] not in self._lb_attributes],
                [g for g in raw_groups if g["TargetGroupArn"] not in self._tg_attributes],
                replace=False,
            )
        await self._read_certificates(
            [c for _, listener in pairs for c in listener.get("Certificates") or []]
        )

        listeners_of: dict[str, list[Listener]] = collections.defaultdict(list)
        for (lb, listener), rules in zip(pairs, raw_rules, strict=True):
            listeners_of[lb["LoadBalancerArn"]].append(parse_listener(listener, rules))
        lbs = {
            lb["LoadBalancerArn"]: LoadBalancer(
                arn=lb["LoadBalancerArn"],
                name=lb["LoadBalancerName"],
                dns_name=lb.get("DNSName", ""),
                listeners=tuple(sorted(listeners_of[lb["LoadBalancerArn"]], key=lambda item: item.port)),
                attributes=self._lb_attributes.get(lb["LoadBalancerArn"], LoadBalancerAttributes()),
            )
            for lb in raw_lbs
        }
        groups = {
            g["TargetGroupArn"]: TargetGroup.parse(g, self._tg_attributes.get(g["TargetGroupArn"]))
            for g in raw_groups
        }
        in_use = set().union(*(forwarded_target_groups(lb.listeners) for lb in lbs.values())) & set(groups)
        health = await asyncio.gather(
            *(ctx.aws("elbv2", "describe_target_health", TargetGroupArn=arn) for arn in sorted(in_use))
        )
        registered = {
            arn: sorted(
                (d["Target"]["Id"], int(d["Target"]["Port"]))
                for d in found["TargetHealthDescriptions"]
                if d["TargetHealth"]["State"] != "draining"
                and (
                    d["TargetHealth"]["State"] != "unused"
                    or d["TargetHealth"].get("Reason") == "Target.NotInUse"
                )
            )
            for arn, found in zip(sorted(in_use), health, strict=True)
        }

        self.lbs, self.groups, self.registered = lbs, groups, registered
        self.acls = dict(zip((lb["LoadBalancerArn"] for lb in raw_lbs), acls, strict=True))
        self.listeners = {listener.arn: (lb, listener) for lb in lbs.values() for listener in lb.listeners}
        self.health.reconcile({arn: groups[arn] for arn in in_use}, registered)
        await self._reconcile_sites()
        if slow:
            await self._report_not_in_use(set(groups) - in_use)
        self._refresh_seconds = time.monotonic() - started
        self._publish_status()

    async def _web_acl(self, lb_arn: str) -> WebAcl | None:
        try:
            found = await self.ctx.aws("wafv2", "get_web_acl_for_resource", ResourceArn=lb_arn)
        except Exception as exc:  # noqa: BLE001 - keep enforcing the web ACL read last time
            self._error(f"web ACL of {lb_arn}", exc)
            return self.acls.get(lb_arn)
        self._errors.pop(f"web ACL of {lb_arn}", None)
        acl = found.get("WebACL")
        return parse_web_acl(acl) if acl else None

    async def _read_attributes(
        self, raw_lbs: list[dict[str, Any]], raw_groups: list[dict[str, Any]], replace: bool
    ) -> None:
        """The attributes of these load balancers and target groups (``replace``: of all there are)."""
        if not raw_lbs and not raw_groups:
            return
        lb_arns = [lb["LoadBalancerArn"] for lb in raw_lbs]
        tg_arns = [g["TargetGroupArn"] for g in raw_groups]
        found = await asyncio.gather(
            *(
                self.ctx.aws("elbv2", "describe_load_balancer_attributes", LoadBalancerArn=arn)
                for arn in lb_arns
            ),
            *(
                self.ctx.aws("elbv2", "describe_target_group_attributes", TargetGroupArn=arn)
                for arn in tg_arns
            ),
        )
        lb_attributes = {
            arn: LoadBalancerAttributes.parse(answer["Attributes"])
            for arn, answer in zip(lb_arns, found[: len(lb_arns)], strict=True)
        }
        tg_attributes = {
            arn: {a["Key"]: a["Value"] for a in answer["Attributes"]}
            for arn, answer in zip(tg_arns, found[len(lb_arns) :], strict=True)
        }
        if replace:
            self._lb_attributes, self._tg_attributes = lb_attributes, tg_attributes
        else:
            self._lb_attributes |= lb_attributes
            self._tg_attributes |= tg_attributes

    async def _read_certificates(self, certificates: list[dict[str, Any]]) -> None:
        for arn in {c["CertificateArn"] for c in certificates} - set(self._cert_names):
            try:
                found = (await self.ctx.aws("acm", "describe_certificate", CertificateArn=arn))["Certificate"]
            except Exception as exc:  # noqa: BLE001 - the certificate is then issued for loopback names only
                self._error(f"certificate {arn}", exc)
                continue
            names = {found.get("DomainName", ""), *found.get("SubjectAlternativeNames", [])}
            self._cert_names[arn] = tuple(sorted(n for n in names if n and "*" not in n))

    async def _report_not_in_use(self, unused_groups: set[str]) -> None:
        """Targets of groups no listener forwards to are ``unused`` (``Target.NotInUse``), as on AWS."""
        seen: set[tuple[str, TargetKey]] = set()
        for arn in sorted(unused_groups):
            found = await self.ctx.aws("elbv2", "describe_target_health", TargetGroupArn=arn)
            fresh = []
            for d in found["TargetHealthDescriptions"]:
                key = (d["Target"]["Id"], int(d["Target"]["Port"]))
                seen.add((arn, key))
                if (arn, key) not in self._not_in_use and d["TargetHealth"]["State"] != "draining":
                    fresh.append(
                        {"id": key[0], "port": key[1], "state": "unused", "reason": "Target.NotInUse"}
                    )
            if fresh:
                await self.ctx.control("elbv2/target-health", {"targetGroupArn": arn, "targets": fresh})
        self._not_in_use = seen

    # --- listeners -------------------------------------------------------------------------------

    def _saved_ports(self) -> dict[str, int]:
        return self.ctx.state.read_json(PORTS_FILE) or {}

    def _wanted_port(self, lb: LoadBalancer, listener: Listener) -> tuple[int | None, bool]:
        """(port, pinned): the configured port, else the one saved from last time (else None)."""
        for key in (f"{lb.name}:{listener.port}", str(listener.port)):
            if key in self.settings.ports:
                return self.settings.ports[key], True
        return self._saved_ports().get(f"{lb.name}:{listener.port}"), False

    def _signature(self, lb: LoadBalancer, listener: Listener) -> tuple[Any, ...]:
        names = tuple(sorted({n for arn in listener.certificate_arns for n in self._cert_names.get(arn, ())}))
        return (listener.protocol, listener.ssl_policy, names, lb.attributes.idle_timeout)

    async def _reconcile_sites(self) -> None:
        for arn in set(self._sites) - set(self.listeners):
            await self._sites.pop(arn).runner.cleanup()
        for arn, (lb, listener) in self.listeners.items():
            signature = self._signature(lb, listener)
            site = self._sites.get(arn)
            if site is not None and site.signature == signature:
                continue
            if site is not None:
                await site.runner.cleanup()
            try:
                self._sites[arn] = await self._serve(lb, listener, signature, site.port if site else None)
            except OSError as exc:
                self._error(f"listener {lb.name}:{listener.port}", exc)
                self._sites.pop(arn, None)

    def _bind(self, port: int | None, pinned: bool) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port or 0))
        except OSError:
            if pinned or not port:
                sock.close()
                raise
            sock.bind((HOST, 0))  # the port of last time is taken: any free one
        return sock

    async def _serve(
        self, lb: LoadBalancer, listener: Listener, signature: tuple[Any, ...], port: int | None
    ) -> _Site:
        wanted, pinned = self._wanted_port(lb, listener)
        sock = self._bind(port or wanted, pinned)
        ssl_context = None
        if listener.protocol == "HTTPS":
            names = signature[2]
            digest = hashlib.sha256(",".join(names).encode()).hexdigest()[:8]
            cert, key = self.ctx.ca.issue(f"alb-{lb.name}-{digest}", ("localhost", lb.dns_name, *names))
            ssl_context = lb_tls.server_context(lb_tls.policy(listener.ssl_policy), str(cert), str(key))
        server = web.Server(
            functools.partial(self._handle, listener.arn),
            keepalive_timeout=lb.attributes.idle_timeout,
            access_log=None,
            max_line_size=16384,
            max_field_size=16384,
        )
        runner = web.ServerRunner(server, shutdown_timeout=5.0)
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=ssl_context, backlog=1024).start()
        bound = int(sock.getsockname()[1])
        saved = self._saved_ports()
        if saved.get(f"{lb.name}:{listener.port}") != bound:
            self.ctx.state.write_json(PORTS_FILE, {**saved, f"{lb.name}:{listener.port}": bound})
        url = f"{listener.protocol.lower()}://{HOST}:{bound}"
        log.info("listener %s %s:%s on %s", lb.name, listener.protocol, listener.port, url)
        return _Site(runner, bound, signature, url)

    # --- requests --------------------------------------------------------------------------------

    async def _handle(self, listener_arn: str, request: web.BaseRequest) -> web.StreamResponse:
        entry = self.listeners.get(listener_arn)
        now = time.time()
        if entry is None:  # the listener was deleted a moment ago
            return web.Response(status=503, text=error_page(503), content_type="text/html")
        lb, listener = entry
        peer = request.remote or ""
        acl = self.acls.get(lb.arn)
        if acl is not None:
            verdict = evaluate(acl, self.rates, peer, request.headers, now)
            self._count_waf(acl, verdict, now)
            if not verdict.allowed and verdict.block is not None:
                block = verdict.block
                return self._elb_answer(
                    lb,
                    block.status,
                    now,
                    body=block.body,
                    content_type=block.content_type,
                    headers=block.headers,
                )
        view = RequestView(
            method=request.method,
            host=request.url.host or "",
            path=request.rel_url.path,
            query=request.query,
            headers=request.headers,
            source_ip=peer,
        )
        action = select_rule(listener.rules, view).terminal
        if action.type == "forward":
            return await self._forward(lb, listener, action, request, peer, now)
        if action.type == "fixed-response":
            config = action.config
            self.metrics.count(ELB, "HTTP_Fixed_Response_Count", self._lb_dims(lb), now)
            return self._elb_answer(
                lb,
                int(config.get("StatusCode", 200)),
                now,
                body=config.get("MessageBody", ""),
                content_type=config.get("ContentType", "text/plain"),
            )
        if action.type == "redirect":
            local = {
                other.port: site.port
                for other in lb.listeners
                if (site := self._sites.get(other.arn)) is not None
            }
            location = redirect_location(
                action.config,
                listener.protocol,
                view.host,
                listener.port,
                request.rel_url.raw_path,
                request.rel_url.raw_query_string,
                local,
            )
            self.metrics.count(ELB, "HTTP_Redirect_Count", self._lb_dims(lb), now)
            status = REDIRECT_STATUS.get(action.config.get("StatusCode", "HTTP_301"), 301)
            return self._elb_answer(lb, status, now, headers=(("Location", location),), body="")
        return self._elb_answer(lb, 500, now)  # actions that are not modelled (authenticate-*)

    @staticmethod
    def _lb_dims(lb: LoadBalancer) -> lb_metrics.Dimensions:
        return (("LoadBalancer", lb.dimension),)

    def _elb_answer(
        self,
        lb: LoadBalancer,
        status: int,
        now: float,
        *,
        body: str | None = None,
        content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        """A response the load balancer itself makes, counted as HTTPCode_ELB_<n>XX."""
        if 300 <= status < 600:
            self.metrics.count(ELB, f"HTTPCode_ELB_{status // 100}XX_Count", self._lb_dims(lb), now)
        if status in (500, 502, 503, 504):
            self.metrics.count(ELB, f"HTTPCode_ELB_{status}_Count", self._lb_dims(lb), now)
        out = CIMultiDict({"Server": "awselb/2.0"})
        for name, value in headers:
            out.add(name, value)
        if body is None:
            body, content_type = error_page(status), "text/html"
        out["Content-Type"] = content_type or "text/plain"
        return web.Response(status=status, text=body, headers=out)

    def routable(self, group: TargetGroup) -> list[TargetKey]:
        """Healthy targets; if none, the unhealthy ones (AWS fails open); never ``initial`` ones."""
        registered = self.registered.get(group.arn, [])
        if not group.health.enabled:
            return registered
        states = {t: self.health.health(group.arn, t).state for t in registered}
        healthy = [t for t in registered if states[t] == "healthy"]
        return healthy or [t for t in registered if states[t] == "unhealthy"]

    def _pick(self, group: TargetGroup, targets: list[TargetKey]) -> TargetKey:
        if group.algorithm == "least_outstanding_requests":
            return min(targets, key=lambda t: (self._outstanding[(group.arn, t)], self.rng.random()))
        if group.algorithm == "weighted_random":
            return self.rng.choice(targets)
        index = self._round_robin[group.arn] % len(targets)
        self._round_robin[group.arn] = index + 1
        return targets[index]

    async def _forward(
        self,
        lb: LoadBalancer,
        listener: Listener,
        action: Action,
        request: web.BaseRequest,
        peer: str,
        now: float,
    ) -> web.StreamResponse:
        arn = choose_target_group(action, self.rng)
        group = self.groups.get(arn) if arn else None
        targets = self.routable(group) if group else []
        if group is None or not targets:
            return self._elb_answer(lb, 503, now)  # no target to choose: not in RequestCount
        target = self._pick(group, targets)
        lb_dims = self._lb_dims(lb)
        tg_dims = (("LoadBalancer", lb.dimension), ("TargetGroup", group.dimension))
        for dims in (lb_dims, tg_dims):
            self.metrics.count(ELB, "RequestCount", dims, now)
        healthy = sum(1 for t in targets if self.health.health(group.arn, t).state == "healthy")
        per_target = 1.0 / (healthy or len(self.registered.get(group.arn, targets)) or 1)
        for dims in ((("TargetGroup", group.dimension),), tg_dims):
            self.metrics.count(ELB, "RequestCountPerTarget", dims, now, per_target)

        scheme = "https" if group.protocol == "HTTPS" else "http"
        url = URL(f"{scheme}://{target[0]}:{target[1]}{request.rel_url.raw_path_qs}", encoded=True)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=lb.attributes.idle_timeout
        )
        key = (group.arn, target)
        self._outstanding[key] += 1
        started = time.perf_counter()
        response: web.StreamResponse | None = None
        try:
            if request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1):
                # The ALB answers the client's 100-continue itself, then streams the body on.
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            async with self._session(lb.attributes.idle_timeout).request(
                request.method,
                url,
                headers=forwarded_headers(
                    request.headers, peer, _peer_port(request), listener, lb.attributes, now
                ),
                data=request.content if request.body_exists else None,
                allow_redirects=False,
                timeout=timeout,
                ssl=False,
            ) as upstream:
                elapsed = time.perf_counter() - started
                for dims in (lb_dims, tg_dims):
                    self.metrics.sample(ELB, "TargetResponseTime", dims, now, elapsed, "Seconds")
                    self.metrics.count(ELB, f"HTTPCode_Target_{upstream.status // 100}XX_Count", dims, now)
                headers: CIMultiDict[str] = CIMultiDict()
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        headers.add(name, value)
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except aiohttp.ClientConnectorError:
            for dims in (lb_dims, tg_dims):
                self.metrics.count(ELB, "TargetConnectionErrorCount", dims, now)
            return self._elb_answer(lb, 502, now)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                for dims in (lb_dims, tg_dims):
                    self.metrics.count(ELB, "TargetConnectionErrorCount", dims, now)
            if response is not None and response.prepared:
                return self._abort(request, response)
            return self._elb_answer(lb, 504, now)
        except (aiohttp.ClientError, ConnectionError):
            if response is not None and response.prepared:
                return self._abort(request, response)
            return self._elb_answer(lb, 502, now)  # reset, closed or malformed answer
        finally:
            self._outstanding[key] -= 1

    @staticmethod
    def _abort(request: web.BaseRequest, response: web.StreamResponse) -> web.StreamResponse:
        """The target failed after its headers went out: the ALB closes the client's connection."""
        if request.transport is not None:
            request.transport.close()
        return response

    def _count_waf(self, acl: WebAcl, verdict: Verdict, now: float) -> None:
        """AllowedRequests / BlockedRequests / CountedRequests under the rule that acted (its metric
        name; the web ACL's own for the default action) and under ``ALL``, where metrics are enabled."""
        enabled = {rule.metric_name: rule.metrics for rule in acl.rules} | {acl.metric_name: acl.metrics}

        def count(metric: str, rule: str) -> None:
            for name in (rule, ALL_RULES):
                if enabled.get(name, acl.metrics):
                    dims = (("Region", self.ctx.region), ("Rule", name), ("WebACL", acl.metric_name))
                    self.metrics.count(WAF, metric, dims, now)

        for rule in verdict.counted:
            count("CountedRequests", rule)
        count("AllowedRequests" if verdict.allowed else "BlockedRequests", verdict.terminating_rule)

    # --- metrics and status ----------------------------------------------------------------------

    async def _publish(self) -> None:
        now = time.time()
        self.rates.prune(now)
        for lb in self.lbs.values():
            for arn in sorted(forwarded_target_groups(lb.listeners) & set(self.groups)):
                registered = self.registered.get(arn, [])
                if not registered:
                    continue  # AWS reports host counts only for groups with registered targets
                states = [self.health.health(arn, t).state for t in registered]
                dims = (("LoadBalancer", lb.dimension), ("TargetGroup", self.groups[arn].dimension))
                self.metrics.gauge(ELB, "HealthyHostCount", dims, now, states.count("healthy"))
                self.metrics.gauge(ELB, "UnHealthyHostCount", dims, now, states.count("unhealthy"))
        for namespace, data in self.metrics.drain().items():
            for index, batch in enumerate(lb_metrics.chunks(data)):
                try:
                    await self.ctx.aws("cloudwatch", "put_metric_data", Namespace=namespace, MetricData=batch)
                except Exception:
                    remaining = [d for b in list(lb_metrics.chunks(data))[index:] for d in b]
                    self.metrics.give_back(namespace, remaining)
                    raise

    def _publish_status(self) -> None:
        listeners = []
        for arn, site in self._sites.items():
            lb, listener = self.listeners[arn]
            listeners.append(
                {
                    "loadBalancer": lb.name,
                    "listenerPort": listener.port,
                    "protocol": listener.protocol,
                    "port": site.port,
                    "url": site.url,
                    **({"sslPolicy": listener.ssl_policy} if listener.protocol == "HTTPS" else {}),
                }
            )
        listeners.sort(
            key=lambda entry: (entry["loadBalancer"], entry["protocol"] != "HTTPS", entry["listenerPort"])
        )
        groups = {}
        for arn, targets in self.registered.items():
            group = self.groups.get(arn)
            if group is not None:
                groups[group.name] = {f"{t[0]}:{t[1]}": self.health.health(arn, t).state for t in targets}
        weights = {}
        for lb in self.lbs.values():
            for listener in lb.listeners:
                for rule in listener.rules:
                    action = rule.terminal
                    if action.type == "forward" and len(action.target_groups) > 1:
                        names = {
                            arn: self.groups[arn].name if arn in self.groups else arn
                            for arn, _ in action.target_groups
                        }
                        weights[f"{lb.name}:{listener.port} rule {rule.priority}"] = {
                            names[arn]: weight for arn, weight in action.target_groups
                        }
        https = [entry["url"] for entry in listeners if entry["protocol"] == "HTTPS"]
        self.ctx.status[self.name] = {
            "api": https[0] if https else None,
            "listeners": listeners,
            "targetGroups": groups,
            "weights": weights,
            "webAcls": {
                self.lbs[arn].name: acl.name for arn, acl in self.acls.items() if acl and arn in self.lbs
            },
            "errors": dict(self._errors),
            "refreshSeconds": round(self._refresh_seconds, 3),
        }


async def _main_async(endpoint: str) -> int:
    ctx = Context(endpoint=endpoint)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ctx.stopping.set)
    component = LoadBalancerNodes()
    ctx.status["components"] = [component.name]

    async def status() -> None:
        while not ctx.stopping.is_set():
            ctx.publish_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), timeout=1.0)

    await asyncio.gather(component.run(ctx), status())
    ctx.status["stopped"] = True
    ctx.publish_status()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:<port>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main_async(args.endpoint))


if __name__ == "__main__":
    sys.exit(main())
