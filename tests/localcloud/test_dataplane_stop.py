"""Stopping a data plane this process started ends when the data plane has exited.

The tests start the data plane and stop it in one process (tests/stack.py, test_agent.py). A child
that has exited stays a zombie until it is reaped; a stop that only asks `kill(pid, 0)` whether it
still runs waits its whole deadline (150 s) and then SIGKILLs a finished process.
"""

from __future__ import annotations

import time
from pathlib import Path

import emulator
from localcloud import __main__ as localcloud
from stack import environ


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
