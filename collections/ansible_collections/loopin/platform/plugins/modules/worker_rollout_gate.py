#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: worker_rollout_gate
short_description: Watch a worker rolling update (circuit breaker, DLQ inflow, oldest message age)
version_added: 0.1.0
description:
  - The worker has no traffic to shift; it rolls in place with ECS's deployment circuit breaker.
    This gate watches that rollout and the queues, and returns the controller's decision
    (module_utils/bluegreen.py C(decide_worker)) - C(wait), C(promote) or C(rollback) with a reason.
  - DLQ inflow is the growth of the dead-letter queues' depth since O(dlq_baseline) (read with
    O(baseline=true) before the rollout). The oldest message's age is CloudWatch's
    C(AWS/SQS ApproximateAgeOfOldestMessage) maximum over the last five minutes of O(queue_names)
    (no datapoints counts as 0).
  - moto runs no tasks, so its deployments stay C(IN_PROGRESS); O(require_rollout_completed=false)
    (the local inventory) bakes on the queue signals alone.
author:
  - Loopin platform team (@loopin-platform)
options:
  cluster:
    description: The ECS cluster.
    type: str
    required: true
  service:
    description: The worker service.
    type: str
    required: true
  task_definition:
    description: The new task definition (ARN), whose deployment is watched.
    type: str
  started_at:
    description: When the rollout started (epoch seconds).
    type: float
  baseline:
    description: Only read and return the DLQ depths (C(dlq_depths)), before the rollout.
    type: bool
    default: false
  queue_names:
    description: The source queues (oldest message age).
    type: list
    elements: str
    default: []
  dlq_names:
    description: The dead-letter queues (inflow).
    type: list
    elements: str
    default: []
  dlq_baseline:
    description: DLQ name to depth before the rollout.
    type: dict
    default: {}
  bake_seconds:
    description: How long the rolled-out worker must stay clean.
    type: float
    default: 300
  timeout_seconds:
    description: How long the rollout may take in all.
    type: float
    default: 900
  poll_seconds:
    description: Seconds between samples.
    type: float
    default: 15
  watch_seconds:
    description: Longest time one call watches before returning C(wait).
    type: float
    default: 60
  max_dlq_inflow:
    description: New DLQ messages tolerated.
    type: int
    default: 0
  max_oldest_message_age_seconds:
    description: Oldest message age tolerated.
    type: float
    default: 600
  require_rollout_completed:
    description: Wait for the ECS deployment to be C(COMPLETED) before the bake can end.
    type: bool
    default: true
notes:
  - Supports C(check_mode) (read-only).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: DLQ depths before the worker rollout
  loopin.platform.worker_rollout_gate:
    cluster: loopin-production
    service: loopin-production-worker
    baseline: true
    dlq_names: [loopin-production-push-notifications-dlq]
  register: dlq_before
"""

RETURN = r"""
decision:
  description: The controller's decision (absent with O(baseline=true)).
  returned: when not baseline
  type: dict
msg:
  description: One progress line.
  returned: always
  type: str
dlq_depths:
  description: DLQ name to current depth.
  returned: always
  type: dict
rollout_state:
  description: The watched deployment's rolloutState.
  returned: when not baseline
  type: str
oldest_message_age_seconds:
  description: The oldest message's age across O(queue_names).
  returned: when not baseline
  type: float
"""

import time
from datetime import datetime, timedelta, timezone

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils import bluegreen as bg


def dlq_depths(sqs, names):
    depths = {}
    for name in names:
        url = sqs.get_queue_url(aws_retry=True, QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            aws_retry=True,
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[name] = int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )
    return depths


def oldest_age(cloudwatch, names):
    end = datetime.now(timezone.utc)
    oldest = 0.0
    for name in names:
        stats = cloudwatch.get_metric_statistics(
            aws_retry=True,
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": name}],
            StartTime=end - timedelta(minutes=5),
            EndTime=end,
            Period=60,
            Statistics=["Maximum"],
        )
        oldest = max([oldest] + [point["Maximum"] for point in stats["Datapoints"]])
    return oldest


def rollout_state(ecs, cluster, service, task_definition):
    found = ecs.describe_services(aws_retry=True, cluster=cluster, services=[service])["services"]
    if not found:
        raise LookupError(f"service {service} not found in {cluster}")
    deployments = found[0].get("deployments", [])
    for deployment in deployments:
        if task_definition is None or deployment["taskDefinition"] == task_definition:
            return deployment.get("rolloutState", "COMPLETED")
    if found[0]["taskDefinition"] != task_definition:
        # The circuit breaker rolled back: the service runs the old revision again.
        return "FAILED"
    # moto updates the service but keeps its first deployment record: read the primary one.
    primary = [d for d in deployments if d.get("status") == "PRIMARY"]
    return primary[0].get("rolloutState", "COMPLETED") if primary else "COMPLETED"


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        task_definition=dict(type="str"),
        started_at=dict(type="float"),
        baseline=dict(type="bool", default=False),
        queue_names=dict(type="list", elements="str", default=[]),
        dlq_names=dict(type="list", elements="str", default=[]),
        dlq_baseline=dict(type="dict", default={}),
        bake_seconds=dict(type="float", default=300),
        timeout_seconds=dict(type="float", default=900),
        poll_seconds=dict(type="float", default=15),
        watch_seconds=dict(type="float", default=60),
        max_dlq_inflow=dict(type="int", default=0),
        max_oldest_message_age_seconds=dict(type="float", default=600),
        require_rollout_completed=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["baseline", False, ["started_at", "task_definition"]]],
    )
    params = module.params
    retry = AWSRetry.jittered_backoff()
    sqs = module.client("sqs", retry_decorator=retry)
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, LookupError)
    if params["baseline"]:
        try:
            depths = dlq_depths(sqs, params["dlq_names"])
        except errors as e:
            module.fail_json(msg=f"Failed to read the dead-letter queues: {e}")
        module.exit_json(changed=False, dlq_depths=depths, msg=f"DLQ depths before the rollout: {depths}")

    ecs = module.client("ecs", retry_decorator=retry)
    cloudwatch = module.client("cloudwatch", retry_decorator=retry)
    plan = bg.WorkerPlan(
        bake_seconds=params["bake_seconds"],
        timeout_seconds=params["timeout_seconds"],
        max_dlq_inflow=params["max_dlq_inflow"],
        max_oldest_message_age_seconds=params["max_oldest_message_age_seconds"],
        poll_seconds=params["poll_seconds"],
    )
    baseline = {k: int(v) for k, v in params["dlq_baseline"].items()}
    seen = {"depths": {}, "state": "", "age": 0.0}

    def sample(elapsed):
        try:
            depths = dlq_depths(sqs, params["dlq_names"])
            state = rollout_state(ecs, params["cluster"], params["service"], params["task_definition"])
            age = oldest_age(cloudwatch, params["queue_names"])
        except errors as e:
            return bg.WorkerReadings(error=f"{type(e).__name__}: {e}")
        seen.update(depths=depths, state=state, age=age)
        if state == "IN_PROGRESS" and not params["require_rollout_completed"]:
            state = "COMPLETED"
        inflow = sum(max(0, depth - baseline.get(name, 0)) for name, depth in depths.items())
        return bg.WorkerReadings(dlq_inflow=inflow, oldest_message_age_seconds=age, rollout_state=state)

    started = params["started_at"]
    history = []
    call_start = time.time()
    while True:
        elapsed = time.time() - started
        decision = bg.decide_worker(plan, elapsed, sample(elapsed))
        history.append(decision)
        if (
            decision.action != bg.WAIT
            or time.time() - call_start + plan.poll_seconds > params["watch_seconds"]
        ):
            break
        time.sleep(plan.poll_seconds)

    line = (
        f"worker rollout: {decision.action}"
        + (f", {decision.time_left:.0f}s left in the bake" if decision.action == bg.WAIT else "")
        + f" | deployment {seen['state'] or '?'} | DLQs {seen['depths']} (before {baseline})"
        + f" | oldest message {seen['age']:.0f}s"
        + (f" | {decision.reason}" if decision.reason else "")
    )
    module.exit_json(
        changed=False,
        decision=decision.as_dict(),
        msg=line,
        dlq_depths=seen["depths"],
        rollout_state=seen["state"],
        oldest_message_age_seconds=seen["age"],
    )


if __name__ == "__main__":
    main()
