"""Start, stop and inspect the embedded AWS emulator (moto's server) bound to loopback.

    python tools/emulator.py start [--port 5000] [--enforce-iam]   # idempotent: reuses a running server
    python tools/emulator.py stop  [--port 5000]
    python tools/emulator.py status|reset [--port 5000]
    python tools/emulator.py free-port              # a free loopback port, for tests

The server is moto's with the local cloud's patches (tools/localcloud/emulator). It keeps its
state in memory, so resources survive between `make up` runs until `make down`. Only 127.0.0.1
is ever bound or contacted.

It takes any key until `--enforce-iam` (localcloud.identities' bootstrap: an operator and the
service principal, then IAM enforced); throw-away emulators of tests that do not check
permissions run without it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

STATE_DIR = Path(os.environ.get("LOOPIN_STATE_DIR", Path(__file__).resolve().parent.parent / ".state"))
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def url_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def is_up(port: int, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url_for(port)}/moto-api/", timeout=timeout) as resp:  # noqa: S310 - http://127.0.0.1 only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _pidfile(port: int) -> Path:
    return STATE_DIR / f"emulator-{port}.pid"


def spawn(port: int, wait: float = 30.0) -> subprocess.Popen[bytes]:
    """Run a new moto server on `port` and return once it answers."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(STATE_DIR / f"emulator-{port}.log", "ab")  # handed to the child, closed with it
    # moto "issues" a DNS-validated ACM certificate 60 s after the request unless told otherwise;
    # real ACM takes about as long once the validation records exist. The certificates role
    # waits for the issue, so the emulator issues at once.
    env = {**os.environ, "MOTO_ACM_VALIDATION_WAIT": os.environ.get("MOTO_ACM_VALIDATION_WAIT", "0")}
    tools = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tools, env.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud.emulator.server", "-H", HOST, "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the make target that started it
    )
    log.close()  # the child holds its own descriptor
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}; see {log.name}")
        if is_up(port):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"emulator did not answer on {url_for(port)} within {wait:.0f}s")


def enforce_iam(port: int) -> str:
    """Bootstrap the identities and turn IAM enforcement on (a no-op when already done)."""
    from localcloud import identities

    done = identities.bootstrap(url_for(port))
    return ", ".join(f"{name} {what}" for name, what in done.items())


@contextlib.contextmanager
def running(port: int | None = None, wait: float = 30.0, *, enforce: bool = False) -> Iterator[str]:
    """A throw-away emulator on a free port for tests; yields its endpoint URL, then stops it."""
    port = port or free_port()
    proc = spawn(port, wait=wait)
    try:
        if enforce:
            enforce_iam(port)
        yield url_for(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start(port: int) -> int:
    """Start moto on `port` unless it already answers; return the server's pid (0 if foreign)."""
    pidfile = _pidfile(port)
    if is_up(port):
        return int(pidfile.read_text()) if pidfile.exists() else 0
    proc = spawn(port)
    pidfile.write_text(str(proc.pid))
    return proc.pid


def stop(port: int) -> bool:
    pidfile = _pidfile(port)
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text())
    pidfile.unlink()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    return True


def reset(port: int) -> None:
    req = urllib.request.Request(f"{url_for(port)}/moto-api/reset", method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=5):  # noqa: S310 - loopback
        pass


def _port_from_env() -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        return int(endpoint.rsplit(":", 1)[1].rstrip("/"))
    return 5000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status", "reset", "free-port"])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--enforce-iam", action="store_true", help="start: bootstrap identities, enforce IAM")
    args = parser.parse_args(argv)
    if args.action == "free-port":
        print(free_port())
        return 0
    port = args.port or _port_from_env()
    if args.action == "start":
        pid = start(port)
        print(f"emulator: moto server on {url_for(port)} (pid {pid or 'not ours'})")
        if args.enforce_iam:
            print(f"emulator: IAM enforced ({enforce_iam(port)})")
    elif args.action == "stop":
        print(f"emulator: {'stopped' if stop(port) else 'was not running (no pidfile)'} on {url_for(port)}")
    elif args.action == "reset":
        reset(port)
        print(f"emulator: state wiped on {url_for(port)}")
    else:
        up = is_up(port)
        print(f"emulator: {'up' if up else 'down'} on {url_for(port)}")
        return 0 if up else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
