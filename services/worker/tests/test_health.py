"""The health endpoint reports the poll loop's liveness."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from loopin_worker.consumer import Liveness
from loopin_worker.health import HealthServer, probe


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_follows_the_last_poll() -> None:
    liveness = Liveness()
    server = HealthServer("127.0.0.1", 0, liveness, ["push-notifications"], threshold=0.5)
    server.start()
    url = f"http://127.0.0.1:{server.port}/health"
    try:
        liveness.beat("push-notifications")
        status, body = get(url)
        assert status == 200 and body["status"] == "ok"
        assert probe(url) == 0
        time.sleep(0.7)
        status, body = get(url)
        assert status == 503 and body["status"] == "stalled"
        assert probe(url) == 1
        liveness.beat("push-notifications")
        liveness.draining = True
        assert get(url)[1]["status"] == "draining"
    finally:
        server.stop()
