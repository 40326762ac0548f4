"""The worker and the web write one level vocabulary, the one the app-errors metric filter matches."""

from __future__ import annotations

import json
import logging

import pytest
from loopin_web.logs import JsonFormatter as WebFormatter
from loopin_worker.logs import JsonFormatter as WorkerFormatter

LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@pytest.mark.parametrize("level", LEVELS)
def test_worker_and_web_name_levels_alike(level: int) -> None:
    record = logging.LogRecord("loopin_worker.consumer", level, __file__, 1, "handler failed", None, None)
    worker = json.loads(WorkerFormatter().format(record))
    web = json.loads(WebFormatter().format(record))
    assert worker["level"] == web["level"] == logging.getLevelName(level)
