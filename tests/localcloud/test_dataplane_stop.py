"""Stopping a data plane this process started ends when the data plane has exited.

The tests start the data plane and stop it in one process (tests/stack.py, test_agent.py). A child
that has exited stays a zombie until it is reaped; a stop that only asks `kill(pid, 0)` whether it
still runs waits its whole deadline (150 s) and then SIGKILLs a finished process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import emulator
from localcloud import __main__ as localcloud
from stack import environ

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_a_stop_returns_once_the_data_plane_has_exited(tmp_path: Path) -> None:
    with environ(LOOPIN_STATE_DIR=str(tmp_path)), emulator.running() as url:
        pid = localcloud.start_dataplane(url)
        started = time.monotonic()
        assert localcloud.stop_dataplane(url) is True
        took = time.monotonic() - started
        log = (tmp_path / f"localcloud-{url.rsplit(':', 1)[1]}" / "dataplane" / "dataplane.log").read_text()
    # it stopped on SIGTERM by itself, and the stop saw it go instead of waiting out its deadline
    assert "data plane stopped" in log, log[-2000:]
    assert took < localcloud.DATAPLANE_STOP_SECONDS / 3, f"stop took {took:.0f} s"
    assert not localcloud._pid_alive(pid)


def test_a_data_plane_whose_emulator_is_gone_stops_by_itself(tmp_path: Path) -> None:
    """An emulator stopped without `make down` (molecule's destroy, a crash) must not leave its
    data plane running tasks and load balancer ports for a state that no longer exists."""
    log_file = tmp_path / "dataplane.log"
    env = {**os.environ, "LOOPIN_STATE_DIR": str(tmp_path), "PYTHONPATH": str(TOOLS)}
    with emulator.running() as url, log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud.dataplane", "--endpoint", url, "--emulator-grace", "3"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "data plane on" not in log_file.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_file.read_text()[-2000:]
            time.sleep(0.2)
    # the emulator is stopped here; the data plane notices within its grace and exits cleanly
    try:
        returncode = proc.wait(timeout=60)
    finally:
        proc.kill()
    text = log_file.read_text()
    assert returncode == 0, text[-2000:]
    assert "its state is gone, stopping" in text, text[-2000:]
    assert "data plane stopped" in text, text[-2000:]
