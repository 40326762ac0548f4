"""`make bench-web`: authenticated GET /v1/me served from Redis vs a bare FastAPI endpoint.

Both run under bin/start-web (the container's command: uvicorn, one worker, uvloop, httptools),
one after the other in the same run, against local PostgreSQL and Redis. Load comes from a
separate process (bench/load.py) on loopback. Prints req/s, p50/p99, the ratio and peak RSS.
The production settings apply (APP_ENV=production, INFO JSON access log per request, rate limits
counted in Redis) except the limits themselves, raised so one benchmark client is not throttled.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

WEB = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DB = "loopin_web_bench"
REDIS_DB = 12
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "15000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


# On a shared machine other jobs steal the server's and the load generator's CPU; when allowed
# (root), run both at a higher priority so the comparison is less at the mercy of the neighbours.
PRIORITY = ["nice", "-n", "-10"] if os.geteuid() == 0 and os.environ.get("BENCH_NICE", "1") == "1" else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTRY"))}
    env.update(
        {
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "APP_ENV": "production",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
            "AWS_REGION": "ap-south-1",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "WEBHOOK_SECRETS": json.dumps({"onesignal": secrets.token_urlsafe(48)}),
            "RATE_LIMIT_PER_IP_PER_MINUTE": "100000000",
            "RATE_LIMIT_PER_USER_PER_MINUTE": "100000000",
        }
    )
    return env


def wait_until_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (from /proc/<pid>/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, path: str, token: str = "", pid: int = 0) -> dict[str, float]:
    args = [
        *PRIORITY,
        sys.executable,
        str(WEB / "bench" / "load.py"),
        "--port",
        str(port),
        "--path",
        path,
        "--connections",
        str(CONNECTIONS),
    ]
    if token:
        args += ["--token", token]
    # Warm-up (connections, caches, first-request imports), then the measured run.
    subprocess.run([*args, "--requests", "500", "--seconds", "5"], check=True, capture_output=True)
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        [*args, "--requests", str(REQUESTS), "--seconds", str(SECONDS)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    # Server CPU per request: unlike req/s, barely moved by other processes on a shared machine.
    result["cpu_us"] = (cpu_seconds(pid) - cpu_before) / max(result["requests"], 1) * 1e6
    return result


def serve(app_module: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [*PRIORITY, str(WEB / "bin" / "start-web"), "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "APP_MODULE": app_module},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_until_up(port, proc)
    return proc, port


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput (its latencies belong to the same run)."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "non_2xx": sum(r["non_2xx"] for r in runs)}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def main() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    env = environment()
    subprocess.run([str(WEB / "bin" / "migrate-web"), "-v", "0"], env=env, check=True)
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=True, capture_output=True)
    log = Path(tempfile.mkdtemp(prefix="bench-web-")) / "server.log"

    bare_proc, bare_port = serve("loopin_web.bench_bare:app", env, log)
    api_proc, api_port = serve("loopin_web.asgi:app", env, log)
    try:
        body = json.dumps(
            {
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "Bench-Pass-2026!",
                "device_id": str(uuid.uuid4()),
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}/v1/auth/signup",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback only
            token = json.load(resp)["access_token"]
        # Interleaved rounds, so a change in machine load hits both sides alike; medians reported.
        rounds: dict[str, list[dict[str, float]]] = {"bare": [], "me": []}
        for _ in range(ROUNDS):
            rounds["bare"].append(load(bare_port, "/bare", pid=bare_proc.pid))
            rounds["me"].append(load(api_port, "/v1/me", token, pid=api_proc.pid))
        bare, me = median_run(rounds["bare"]), median_run(rounds["me"])
        bare_rss, me_rss = peak_rss_mb(bare_proc.pid), peak_rss_mb(api_proc.pid)
    finally:
        stop(bare_proc)
        stop(api_proc)

    print(
        f"bench-web: uvicorn (bin/start-web), 1 worker, {CONNECTIONS} keep-alive connections "
        "from a second process"
    )
    print(
        f"{'endpoint':<26}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'non-2xx':>9}"
        f"{'peak RSS MB':>13}"
    )
    for name, result, rss in (
        ("GET /bare (bare FastAPI)", bare, bare_rss),
        ("GET /v1/me (cached)", me, me_rss),
    ):
        print(
            f"{name:<26}{result['rps']:>8.0f}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}"
            f"{result['cpu_us']:>12.0f}{result['non_2xx']:>9}{rss:>13.1f}"
        )
    print(f"throughput ratio /v1/me : bare = {me['rps'] / bare['rps']:.0%} (target >= 50%)")
    print(
        f"CPU-capacity ratio (bare CPU/req : /v1/me CPU/req) = {bare['cpu_us'] / me['cpu_us']:.0%}, "
        "what one task's throughput would be with the load generator and Redis on other hosts"
    )
    print(f"peak RSS of the API worker {me_rss:.0f} MB (target < 200 MB)")
    print(
        f"median of {ROUNDS} interleaved rounds, each <= {REQUESTS} requests or {SECONDS:.0f} s"
        + (" (server and load at nice -10)" if PRIORITY else "")
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; server logs: {log}"
    )
    if me["non_2xx"] or bare["non_2xx"]:
        raise SystemExit("non-2xx answers during the benchmark")


if __name__ == "__main__":
    main()
