"""The monitoring role's push metric filters, as defined, fed the worker's own log lines.

OneSignal failures (the `-onesignal-outage` alarm's metric) and pushes delivered by provider,
through the emulator's metric filters (PutLogEvents -> metric store), on this module's emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from loopin_worker.logs import JsonFormatter
from test_localcloud_cloudwatch import aws, endpoint, last_complete_bucket  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
GROUP = "/ecs/loopin-test-worker"


def _filters() -> list[dict[str, Any]]:
    """monitoring__worker_metric_filters with the role's two internal names filled in."""
    text = (ROOT / "roles/monitoring/vars/main.yml").read_text()
    text = text.replace("{{ monitoring__prefix }}", "loopin-test").replace(
        "{{ monitoring__app_namespace }}", "Loopin/test"
    )
    return list(yaml.safe_load(text)["monitoring__worker_metric_filters"])


def _line(message: str, level: int = logging.INFO, **extra: str) -> str:
    record = logging.LogRecord("loopin_worker.push", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return JsonFormatter().format(record)


def test_onesignal_failures_and_pushes_by_provider(aws: Callable[[str], Any]) -> None:  # noqa: F811
    logs = aws("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="worker/worker/1")
    for item in _filters():
        metric = item["metric"]
        transformation = {
            "metricName": metric["metric_name"],
            "metricNamespace": metric["metric_namespace"],
            "metricValue": metric["metric_value"],
        }
        if "default_value" in metric:
            transformation["defaultValue"] = float(metric["default_value"])
        if "dimensions" in metric:
            transformation["dimensions"] = metric["dimensions"]
        logs.put_metric_filter(
            logGroupName=GROUP,
            filterName=item["name"],
            filterPattern=item["pattern"],
            metricTransformations=[transformation],
        )
    # The lines handlers/push.py and push/fallback.py write (tests/test_fallback.py checks them).
    lines = [
        _line("OneSignal failed: OneSignal server error (503)", logging.WARNING, event="onesignal_failed"),
        _line("OneSignal failed: provider timed out", logging.WARNING, event="onesignal_failed"),
        _line("OneSignal failing: pushes go through FCM", logging.WARNING, event="push_fallback_started"),
        _line("push sent", provider="fcm", via="fallback"),
        _line("push sent", provider="fcm", via="pinned"),
        _line("push sent", provider="onesignal"),
    ]
    at = int((last_complete_bucket() + 1) * 1000)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="worker/worker/1",
        logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(lines)],
    )

    def total(name: str, **dims: str) -> float:
        points = aws("cloudwatch").get_metric_statistics(
            Namespace="Loopin/test",
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=datetime.fromtimestamp(at / 1000 - 60, UTC),
            EndTime=datetime.fromtimestamp(at / 1000 + 60, UTC),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    assert total("OneSignalFailures") == 2
    assert total("PushesDelivered", provider="fcm") == 2
    assert total("PushesDelivered", provider="onesignal") == 1
