"""The progress callback prints the gate's line at each retry, and nothing for other tasks."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

from ansible_collections.loopin.platform.plugins.callback.deploy_progress import CallbackModule


def test_prints_the_gate_line_on_retry_only_for_gates() -> None:
    callback = CallbackModule()
    with mock.patch.object(callback, "_display") as display:
        line = "step 2/3 (50% to green): wait, 240s left in the bake | weights blue 50 / green 50"
        callback.v2_runner_retry(SimpleNamespace(_result={"decision": {"action": "wait"}, "msg": line}))
        callback.v2_runner_retry(SimpleNamespace(_result={"msg": "some other task"}))
    display.display.assert_called_once_with(f"  deploy progress: {line}", color="cyan")
