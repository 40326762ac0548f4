"""The local load balancer's overhead: requests/s and latency through it vs straight to the target.

    .venv/bin/python tools/bench_loadbalancer.py [--seconds 10] [--connections 8]

Starts a throw-away emulator, one target (a minimal aiohttp app in its own process), an ALB with an
HTTP and an HTTPS listener forwarding to it, and the load balancer (its own process); then runs
the same closed-loop keep-alive load (N connections, each sending its next request when the last
one answered) straight at the target, through the HTTP listener and through the HTTPS listener,
and prints requests/s, p50/p99 latency and what the load balancer adds, plus its CPU while idle
and under load (and per request: the figure that depends least on what else the machine runs).
The load generator shares the machine's cores with both, so read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import psutil

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import emulator  # noqa: E402

REGION = "ap-south-1"


def serve_target(port: int) -> None:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def build(endpoint: str, target_port: int) -> None:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 - the throw-away emulator takes any key
        )

    ec2, elbv2, acm = client("ec2"), client("elbv2"), client("acm")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elbv2.create_load_balancer(Name="bench", Subnets=subnets, Type="application")["LoadBalancers"][0]
    group = elbv2.create_target_group(
        Name="bench",
        Protocol="HTTP",
        Port=8000,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.1", "Port": target_port}])
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    cert = acm.request_certificate(DomainName="bench.loopin.test", ValidationMethod="DNS")["CertificateArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward
    )
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=forward,
    )


async def load(url: str, seconds: float, connections: int, context: ssl.SSLContext | None) -> list[float]:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections, ssl=context if context else False)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def one_connection() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: {resp.status}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    return latencies


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
            return True
    except OSError:
        return False


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--target-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.target_port:
        serve_target(args.target_port)
        return 0

    state = Path(tempfile.mkdtemp(prefix="bench-lb-"))
    target_port = emulator.free_port()
    target = subprocess.Popen([sys.executable, __file__, "--target-port", str(target_port)])
    with emulator.running() as endpoint:
        build(endpoint, target_port)
        deadline = time.monotonic() + 30
        while not _answers(target_port) and time.monotonic() < deadline:
            time.sleep(0.2)
        env = {**os.environ, "PYTHONPATH": str(TOOLS), "LOOPIN_STATE_DIR": str(state)}
        with (state / "loadbalancer.log").open("wb") as log:
            balancer = subprocess.Popen(
                [sys.executable, "-m", "localcloud.dataplane.loadbalancer", "--endpoint", endpoint],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            status_file = state / f"localcloud-{endpoint.rsplit(':', 1)[1]}" / "dataplane" / "status.json"
            ports: dict[str, int] = {}
            deadline = time.monotonic() + 30
            import json

            while time.monotonic() < deadline and len(ports) < 2:
                time.sleep(0.5)
                if status_file.exists():
                    status = json.loads(status_file.read_text()).get("loadbalancer") or {}
                    ports = {e["protocol"]: e["port"] for e in status.get("listeners", [])}
                    healthy = all(
                        s == "healthy" for g in status.get("targetGroups", {}).values() for s in g.values()
                    )
                    if not healthy or not status.get("targetGroups"):
                        ports = {}
            if len(ports) < 2:
                raise SystemExit(
                    f"the load balancer did not come up within 30 s (log: {state}/loadbalancer.log)"
                )
            tls = ssl.create_default_context(cafile=str(status_file.parent.parent / "pki" / "ca.pem"))
            process = psutil.Process(balancer.pid)
            process.cpu_percent(None)
            time.sleep(5)
            idle_cpu = process.cpu_percent(None)
            runs = [
                ("direct", f"http://127.0.0.1:{target_port}/bench", None),
                ("ALB HTTP", f"http://127.0.0.1:{ports['HTTP']}/bench", None),
                ("ALB HTTPS", f"https://127.0.0.1:{ports['HTTPS']}/bench", tls),
            ]
            results = {}
            for name, url, context in runs:
                asyncio.run(load(url, 1.0, args.connections, context))  # warm the pools
                process.cpu_percent(None)
                latencies = asyncio.run(load(url, args.seconds, args.connections, context))
                results[name] = (latencies, process.cpu_percent(None))
        finally:
            balancer.terminate()
            balancer.wait(timeout=15)
            target.terminate()
            target.wait(timeout=10)

    load_avg = os.getloadavg()[0]
    print(
        f"bench-lb: {args.connections} keep-alive connections, {args.seconds:.0f} s per run, "
        f"{os.cpu_count()} cores, load average {load_avg:.1f}; load balancer idle CPU {idle_cpu:.1f}%"
    )
    header = f"{'run':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8}"
    print(f"{header} {'LB CPU':>7} {'LB CPU ms/req':>14}")
    base = results["direct"][0]
    for name, (latencies, cpu) in results.items():
        rps = len(latencies) / args.seconds
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        add50 = p50 - percentile(base, 50) * 1000
        add99 = p99 - percentile(base, 99) * 1000
        cpu_text = "-" if name == "direct" else f"{cpu:.0f}%"
        per_request = "-" if name == "direct" else f"{cpu * 10 / rps:.2f}"  # cpu% of 1 s / requests, in ms
        figures = f"{rps:8.0f} {p50:8.2f} {p99:8.2f} {add50:8.2f} {add99:8.2f}"
        print(f"{name:10} {figures} {cpu_text:>7} {per_request:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
