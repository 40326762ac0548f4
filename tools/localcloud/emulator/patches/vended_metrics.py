"""The metrics AWS services publish about themselves, which moto never publishes.

Every minute (``LOCALCLOUD_VENDED_METRICS_SECONDS``), as AWS does:

* ``AWS/SQS`` per queue (``QueueName``): ApproximateNumberOfMessagesVisible, ...NotVisible,
  ...Delayed and ApproximateAgeOfOldestMessage (seconds; 0 for an empty queue) - the queue depth,
  oldest-message and dead-letter alarms and the worker's backlog scaling read them;
* ``ECS/ContainerInsights`` per service (``ClusterName``, ``ServiceName``): RunningTaskCount,
  PendingTaskCount and DesiredTaskCount, 0 included (the worker's backlog-per-task expression
  divides by RunningTaskCount). On AWS these need Container Insights, which the ecs role enables.

Not published: SQS's per-period counts (NumberOfMessagesSent/Received/Deleted).
"""

from __future__ import annotations

import os
import time
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.ecs.models import ecs_backends
from moto.sqs.models import sqs_backends

from localcloud.emulator import control

INTERVAL_SECONDS = float(os.environ.get("LOCALCLOUD_VENDED_METRICS_SECONDS", "60"))


def _dims(**pairs: str) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in pairs.items()]


def sqs_metrics(queue: Any, now: float) -> list[dict[str, Any]]:
    messages = list(queue._messages)
    oldest = min((m.sent_timestamp for m in messages if m.sent_timestamp), default=None)
    values = {
        "ApproximateNumberOfMessagesVisible": queue.approximate_number_of_messages,
        "ApproximateNumberOfMessagesNotVisible": queue.approximate_number_of_messages_not_visible,
        "ApproximateNumberOfMessagesDelayed": queue.approximate_number_of_messages_delayed,
        "ApproximateAgeOfOldestMessage": max(0.0, now - oldest / 1000) if oldest else 0.0,
    }
    unit = {"ApproximateAgeOfOldestMessage": "Seconds"}
    return [
        {
            "MetricName": name,
            "Value": float(value),
            "Unit": unit.get(name, "Count"),
            "Dimensions": _dims(QueueName=queue.name),
        }
        for name, value in values.items()
    ]


def service_metrics(backend: Any) -> list[dict[str, Any]]:
    data = []
    for service in list(backend.services.values()):
        if service.status != "ACTIVE":
            continue
        dims = _dims(ClusterName=service.cluster_name, ServiceName=service.name)
        for name, value in (
            ("RunningTaskCount", service.running_count),
            ("PendingTaskCount", service.pending_count),
            ("DesiredTaskCount", service.desired_count),
        ):
            data.append({"MetricName": name, "Value": float(value or 0), "Unit": "Count", "Dimensions": dims})
    return data


@control.background("vended-metrics", INTERVAL_SECONDS)
def publish() -> None:
    now = time.time()
    with control.state_lock:
        for account, regions in list(sqs_backends.items()):
            for region, backend in list(regions.items()):
                data = [d for q in list(backend.queues.values()) for d in sqs_metrics(q, now)]
                _put(account, region, "AWS/SQS", data)
        for account, regions in list(ecs_backends.items()):
            for region, backend in list(regions.items()):
                _put(account, region, "ECS/ContainerInsights", service_metrics(backend))


def _put(account: str, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
    if data:
        cloudwatch_backends[account][region].put_metric_data(namespace, data)
