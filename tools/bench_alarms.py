"""The alarm evaluator's cost per round, with the stack's alarms and an hour of metric data.

    python tools/bench_alarms.py [--alarms 40] [--hours 1] [--every 5] [--rounds 20]

Runs in-process on moto's backends with the emulator's patches applied (no server): puts
``--hours`` of datapoints for the metrics the stack's publishers send (per target group: the
ALB's six metrics, TargetResponseTime as values and counts; per service: CPU and memory; per
queue: depth and age), one datapoint per metric every ``--every`` seconds, then creates alarms of
the monitoring role's shapes (error-rate metric math, p99, Maximum, Average, the SLO burn rates)
until there are ``--alarms``, and times ``--rounds`` evaluation rounds in which every alarm is due.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localcloud.emulator import patches

ACCOUNT, REGION = "123456789012", "ap-south-1"
LB = "app/loopin-local/0123456789abcdef"
TARGET_GROUPS = [
    f"targetgroup/loopin-local-web-{side}/{i:016x}" for i, side in enumerate(("blue", "green", "worker"))
]
SERVICES = ["loopin-local-web", "loopin-local-worker"]
QUEUES = [
    f"loopin-local-{q}{dlq}"
    for q in ("push-notifications", "webhook-events", "background-jobs")
    for dlq in ("", "-dlq")
]


def publish(backend: Any, start: float, end: float, every: float) -> int:
    count = 0
    t = start
    while t < end:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        for tg in TARGET_GROUPS:
            dims = [{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": tg}]
            data: list[dict[str, Any]] = [
                {"MetricName": name, "Value": value, "Dimensions": dims, "Timestamp": stamp}
                for name, value in (
                    ("RequestCount", 50.0),
                    ("HTTPCode_Target_5XX_Count", 0.0),
                    ("HTTPCode_ELB_5XX_Count", 0.0),
                    ("HealthyHostCount", 2.0),
                    ("UnHealthyHostCount", 0.0),
                )
            ]
            data.append(
                {
                    "MetricName": "TargetResponseTime",
                    "Values": [0.02, 0.05, 0.2, 1.1],
                    "Counts": [30, 15, 4, 1],
                    "Dimensions": dims,
                    "Timestamp": stamp,
                }
            )
            backend.put_metric_data("AWS/ApplicationELB", data)
            count += len(data)
        lb_dims = [{"Name": "LoadBalancer", "Value": LB}]
        lb_data = [
            {"MetricName": name, "Value": value, "Dimensions": lb_dims, "Timestamp": stamp}
            for name, value in (
                ("RequestCount", 150.0),
                ("HTTPCode_Target_5XX_Count", 0.0),
                ("HTTPCode_ELB_5XX_Count", 0.0),
            )
        ]
        backend.put_metric_data("AWS/ApplicationELB", lb_data)
        count += len(lb_data)
        for service in SERVICES:
            dims = [
                {"Name": "ClusterName", "Value": "loopin-local"},
                {"Name": "ServiceName", "Value": service},
            ]
            backend.put_metric_data(
                "AWS/ECS",
                [
                    {"MetricName": "CPUUtilization", "Value": 35.0, "Dimensions": dims, "Timestamp": stamp},
                    {
                        "MetricName": "MemoryUtilization",
                        "Value": 55.0,
                        "Dimensions": dims,
                        "Timestamp": stamp,
                    },
                ],
            )
            count += 2
        for queue in QUEUES:
            dims = [{"Name": "QueueName", "Value": queue}]
            backend.put_metric_data(
                "AWS/SQS",
                [
                    {
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Value": 3.0,
                        "Dimensions": dims,
                        "Timestamp": stamp,
                    },
                    {
                        "MetricName": "ApproximateAgeOfOldestMessage",
                        "Value": 4.0,
                        "Dimensions": dims,
                        "Timestamp": stamp,
                    },
                ],
            )
            count += 2
        t += every
    return count


def error_rate(period: int, tg: str | None = None) -> list[dict[str, Any]]:
    dims = [{"Name": "LoadBalancer", "Value": LB}] + ([{"Name": "TargetGroup", "Value": tg}] if tg else [])

    def stat(qid: str, name: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims},
                "Period": period,
                "Stat": "Sum",
            },
        }

    return [
        stat("target5xx", "HTTPCode_Target_5XX_Count"),
        stat("requests", "RequestCount"),
        stat("elb5xx", "HTTPCode_ELB_5XX_Count"),
        {
            "Id": "errorrate",
            "ReturnData": True,
            "Expression": "IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)",
        },
    ]


def alarm_shapes() -> list[dict[str, Any]]:
    """The monitoring role's alarms, by shape (24 of them), for the stack's metrics."""
    shapes: list[dict[str, Any]] = [
        {"Metrics": error_rate(60), "EvaluationPeriods": 5},
        {"Metrics": error_rate(300), "EvaluationPeriods": 12, "DatapointsToAlarm": 9},
        {"Metrics": error_rate(1800), "EvaluationPeriods": 12, "DatapointsToAlarm": 9},
        {"Metrics": error_rate(60, TARGET_GROUPS[1]), "EvaluationPeriods": 1},
    ]
    for tg in TARGET_GROUPS[:2]:
        dims = [{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": tg}]
        base = {"Namespace": "AWS/ApplicationELB", "Dimensions": dims, "Period": 60}
        shapes.append(
            {**base, "MetricName": "TargetResponseTime", "ExtendedStatistic": "p99", "EvaluationPeriods": 5}
        )
        shapes.append(
            {**base, "MetricName": "UnHealthyHostCount", "Statistic": "Maximum", "EvaluationPeriods": 3}
        )
    for service in SERVICES:
        dims = [{"Name": "ClusterName", "Value": "loopin-local"}, {"Name": "ServiceName", "Value": service}]
        for name in ("CPUUtilization", "MemoryUtilization"):
            shapes.append(
                {
                    "Namespace": "AWS/ECS",
                    "MetricName": name,
                    "Dimensions": dims,
                    "Statistic": "Average",
                    "Period": 60,
                    "EvaluationPeriods": 5,
                }
            )
    for queue in QUEUES:
        dims = [{"Name": "QueueName", "Value": queue}]
        for name in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
            shapes.append(
                {
                    "Namespace": "AWS/SQS",
                    "MetricName": name,
                    "Dimensions": dims,
                    "Statistic": "Maximum",
                    "Period": 60,
                    "EvaluationPeriods": 5,
                }
            )
    return shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alarms", type=int, default=40)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between a metric's datapoints")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCALCLOUD_METRIC_RETENTION_SECONDS", str(int(args.hours * 3600)))
    patches.apply_all()
    from localcloud.emulator.patches import cloudwatch_alarms, cloudwatch_metric_store
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[ACCOUNT][REGION]
    now = time.time()
    started = time.perf_counter()
    points = publish(backend, now - args.hours * 3600, now, args.every)
    put_seconds = time.perf_counter() - started
    shapes = alarm_shapes()
    for i in range(args.alarms):
        shape = shapes[i % len(shapes)]
        backend.put_metric_alarm(
            name=f"bench-{i:03d}",
            namespace=shape.get("Namespace"),
            metric_name=shape.get("MetricName"),
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=shape["EvaluationPeriods"],
            datapoints_to_alarm=shape.get("DatapointsToAlarm"),
            period=shape.get("Period"),
            threshold=90.0,
            statistic=shape.get("Statistic"),
            extended_statistic=shape.get("ExtendedStatistic"),
            description="bench",
            dimensions=shape.get("Dimensions", []),
            alarm_actions=[],
            metric_data_queries=_queries(shape.get("Metrics")),
            treat_missing_data="notBreaching",
        )
    store = cloudwatch_metric_store.store_of(backend)
    timings = []
    for _ in range(args.rounds):
        for alarm in backend.alarms.values():
            alarm.localcloud_next_evaluation = 0.0
        began = time.perf_counter()
        evaluated = cloudwatch_alarms.evaluate_all(time.time())
        timings.append(time.perf_counter() - began)
    states: dict[str, int] = {}
    for alarm in backend.alarms.values():
        states[alarm.state_value] = states.get(alarm.state_value, 0) + 1
    series = sum(1 for _ in store)
    print(
        f"metric data: {points} datapoints put in {put_seconds:.1f} s ({points / put_seconds:.0f}/s), "
        f"{store.datapoint_count()} kept in {series} series"
        f" ({args.hours:g} h, one per metric every {args.every:g} s)"
    )
    print(f"alarms: {len(backend.alarms)} ({evaluated} evaluated per round), states {states}")
    print(
        f"evaluation round: median {statistics.median(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms over {args.rounds} rounds "
        f"({statistics.median(timings) / len(backend.alarms) * 1000:.2f} ms per alarm); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


def _queries(metrics: list[dict[str, Any]] | None) -> list[Any] | None:
    if not metrics:
        return None
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    out = []
    for q in metrics:
        stat = None
        if "MetricStat" in q:
            m = q["MetricStat"]["Metric"]
            stat = MetricStat(
                Metric(
                    m["MetricName"],
                    m["Namespace"],
                    [Dimension(d["Name"], d["Value"]) for d in m["Dimensions"]],
                ),
                q["MetricStat"]["Period"],
                q["MetricStat"]["Stat"],
                None,
            )
        out.append(MetricDataQuery(q["Id"], q.get("Label"), None, q["ReturnData"], q.get("Expression"), stat))
    return out


if __name__ == "__main__":
    sys.exit(main())
