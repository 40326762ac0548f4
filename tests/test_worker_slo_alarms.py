"""The push-notification and background-job SLO burn-rate alarms on the emulator's alarm evaluator.

The alarms are the monitoring role's own (its alarms template rendered by Ansible for a given
environment), the metrics come from its worker metric filters fed the worker's JSON lines (one per
message attempt, with `outcome`), written with past timestamps so that hours of traffic take
seconds. A burst of failures fires the fast burn alarm only; a trickle below the budget's slow
rate fires nothing; a sustained rate between the slow and the fast threshold fires the slow one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from loopin_worker.logs import JsonFormatter, message_context
from test_localcloud_cloudwatch import aws, endpoint, state, wait_for  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "monitoring"
RENDER = """
- hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {vars}]
  vars:
    loopin_project: loopin
    monitoring__dims: {{alb: app/loopin/0123456789abcdef, blue: targetgroup/b/1, green: targetgroup/g/1}}
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{template}') | from_yaml | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def render_alarms(tmp_path: Path, environment: str) -> dict[str, dict[str, Any]]:
    """The role's alarm entries for `environment`, by name."""
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        RENDER.format(
            defaults=ROLE / "defaults/main.yml",
            vars=ROLE / "vars/main.yml",
            template=ROLE / "templates/alarms.yml.j2",
        )
    )
    out = tmp_path / f"alarms-{environment}.json"
    run = subprocess.run(
        [
            ROOT / ".venv/bin/ansible-playbook",
            playbook,
            "-e",
            f"loopin_environment={environment}",
            "-e",
            f"out={out}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {alarm["name"]: alarm for alarm in json.loads(out.read_text())}


def worker_filters(environment: str) -> list[dict[str, Any]]:
    text = (ROLE / "vars/main.yml").read_text()
    text = text.replace("{{ monitoring__prefix }}", f"loopin-{environment}").replace(
        "{{ monitoring__app_namespace }}", f"Loopin/{environment}"
    )
    return list(yaml.safe_load(text)["monitoring__worker_metric_filters"])


def attempt_line(queue: str, outcome: str) -> str:
    """The line loopin_worker/consumer.py writes for one message attempt."""
    level = {"ok": logging.INFO, "retry": logging.WARNING, "poison": logging.ERROR}[outcome]
    record = logging.LogRecord("loopin_worker.consumer", level, __file__, 1, "message handled", None, None)
    record.__dict__.update({"type": "push", "receive_count": 1, "ms": 12.5, "outcome": outcome})
    with message_context("req-1", queue=queue, message_id="m-1"):
        return JsonFormatter().format(record)


def set_up(aws: Callable[[str], Any], tmp_path: Path, environment: str) -> dict[str, dict[str, Any]]:  # noqa: F811
    """The log group with the role's worker filters; the worker SLO alarms of `environment`."""
    group = f"/ecs/loopin-{environment}-worker"
    logs = aws("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="worker/worker/1")
    for item in worker_filters(environment):
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
            logGroupName=group,
            filterName=item["name"],
            filterPattern=item["pattern"],
            metricTransformations=[transformation],
        )
    rendered = render_alarms(tmp_path, environment)
    names = [
        f"loopin-{environment}-{slo}-slo-burn-{speed}"
        for slo in ("push", "jobs")
        for speed in ("fast", "slow")
    ]
    assert set(names) <= set(rendered), sorted(rendered)
    return {name: rendered[name] for name in names}


def put_alarms(aws: Callable[[str], Any], alarms: dict[str, dict[str, Any]]) -> None:  # noqa: F811
    """The alarms as the role's alarm task puts them (its defaults for comparison and missing data).

    After the data: the evaluator evaluates a new alarm at once, then once a minute (the cadence of
    an alarm whose period is a minute or more), so hours of past data need no waiting.
    """
    for name, alarm in alarms.items():
        aws("cloudwatch").put_metric_alarm(
            AlarmName=name,
            AlarmDescription=alarm["description"],
            Metrics=alarm["metrics"],
            Threshold=float(alarm["threshold"]),
            EvaluationPeriods=int(alarm["evaluation_periods"]),
            DatapointsToAlarm=int(alarm["datapoints_to_alarm"]),
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )


def feed(
    aws: Callable[[str], Any],  # noqa: F811
    environment: str,
    queue: str,
    minutes: int,
    attempts: int,
    failed: int,
) -> None:
    """`attempts` lines every 5 minutes over the last `minutes`, `failed` of them retries."""
    now = time.time()
    events = []
    for start in range(int(now - minutes * 60), int(now) - 5, 300):
        for i in range(attempts):
            outcome = "retry" if i < failed else "ok"
            events.append({"timestamp": (start + i * 4) * 1000, "message": attempt_line(queue, outcome)})
    events = [e for e in events if e["timestamp"] < now * 1000]
    for chunk in range(0, len(events), 5000):
        aws("logs").put_log_events(
            logGroupName=f"/ecs/loopin-{environment}-worker",
            logStreamName="worker/worker/1",
            logEvents=events[chunk : chunk + 5000],
        )


def evaluated(aws: Callable[[str], Any], names: list[str]) -> dict[str, str]:  # noqa: F811
    """The alarms' states after their first evaluation."""

    def done() -> dict[str, str] | None:
        found = aws("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
        states = {a["AlarmName"]: a["StateValue"] for a in found}
        return None if "INSUFFICIENT_DATA" in states.values() else states

    return wait_for(done, timeout=20, what="the SLO alarms evaluated")


def test_attempt_line_is_what_the_filters_match() -> None:
    line = json.loads(attempt_line("push-notifications", "retry"))
    assert (line["queue"], line["outcome"], line["level"]) == ("push-notifications", "retry", "WARNING")


def test_push_burst_fires_the_fast_burn_alarm_only(aws: Callable[[str], Any], tmp_path: Path) -> None:  # noqa: F811
    alarms = set_up(aws, tmp_path, "burst")
    push = [name for name in alarms if "-push-" in name]
    assert alarms["loopin-burst-push-slo-burn-fast"]["threshold"] == pytest.approx(7.2)  # 0.5% x 14.4
    # 10% of push attempts failing for the last 55 minutes: 10 or 11 of the fast alarm's 12 windows of
    # 5 min burn (it needs 9); 2 of the slow one's windows of 30 min (it needs 9 of 12).
    feed(aws, "burst", "push-notifications", minutes=55, attempts=40, failed=4)
    put_alarms(aws, alarms)
    states = evaluated(aws, push)
    assert states == {"loopin-burst-push-slo-burn-fast": "ALARM", "loopin-burst-push-slo-burn-slow": "OK"}, (
        states
    )
    reason = aws("cloudwatch").describe_alarms(AlarmNames=["loopin-burst-push-slo-burn-fast"])[
        "MetricAlarms"
    ][0]
    assert "10.0" in reason["StateReason"], reason["StateReason"]


def test_low_rates_fire_nothing_and_a_sustained_one_the_slow_alarm(
    aws: Callable[[str], Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    alarms = set_up(aws, tmp_path, "trickle")
    # Push: 2.5% failing for 6 h, under the slow threshold (0.5% x 6 = 3%): inside the budget's pace.
    feed(aws, "trickle", "push-notifications", minutes=360, attempts=40, failed=1)
    # Jobs: 10% failing for 6 h: above the slow threshold (1% x 6 = 6%), under the fast one (14.4%).
    feed(aws, "trickle", "background-jobs", minutes=360, attempts=40, failed=4)
    put_alarms(aws, alarms)
    states = evaluated(aws, list(alarms))
    assert states == {
        "loopin-trickle-push-slo-burn-fast": "OK",
        "loopin-trickle-push-slo-burn-slow": "OK",
        "loopin-trickle-jobs-slo-burn-fast": "OK",
        "loopin-trickle-jobs-slo-burn-slow": "ALARM",
    }, states
