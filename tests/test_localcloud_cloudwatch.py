"""CloudWatch on the emulator's side, through the AWS API against a real emulator process.

Metric filters, alarm evaluation (M of N, missing data, metric math) and its actions (SNS to a
subscribed queue, Application Auto Scaling policies that change an ECS service's desiredCount),
scheduled scaling and EventBridge Scheduler delivering to SQS. The emulator is this module's
own, with its loops every second and 10-second periods, so the file runs in well under a minute:
most datapoints are put at real timestamps in the last few periods, as a late publisher would.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import budget
import emulator
import pytest
import yaml
from loopin_worker.logs import JsonFormatter as WorkerFormatter

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-south-1"
PERIOD = 10


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCALCLOUD_ALARM_EVALUATION_SECONDS", "1")
        mp.setenv("LOCALCLOUD_SCHEDULE_SECONDS", "1")
        mp.setenv("LOOPIN_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        with emulator.running() as url:
            yield url


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Callable[[str], Any]:
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return clients[service]

    return client


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """check()'s first truthy value; `timeout` is the quiet machine's, scaled to this one."""
    return budget.until(check, timeout, what, every=0.3)


def last_complete_bucket(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return int((now - 1) // PERIOD * PERIOD) - PERIOD


def early_in_a_period() -> None:
    """Sleep until 1.5 s into a period, so an evaluation a second away sees the same periods."""
    into = time.time() % PERIOD
    if not 1.5 <= into <= 6:
        time.sleep((1.5 - into) % PERIOD)


def state(aws: Callable[[str], Any], name: str) -> str:
    return aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def first_evaluated_state(aws: Callable[[str], Any], name: str) -> str | None:
    items = aws("cloudwatch").describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    if not items:
        return None
    return json.loads(items[0]["HistoryData"])["newState"]["stateValue"]


def put(aws: Callable[[str], Any], namespace: str, name: str, at: float, value: float, **dims: str) -> None:
    aws("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Value": value,
                "Timestamp": datetime.fromtimestamp(at, UTC),
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            }
        ],
    )


@pytest.fixture(scope="module")
def inbox(aws: Callable[[str], Any]) -> dict[str, str]:
    """An alerts topic with a queue subscribed, as an on-call integration would be."""
    topic = aws("sns").create_topic(Name="alerts")["TopicArn"]
    url = aws("sqs").create_queue(QueueName="alerts-inbox")["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return {"topic": topic, "queue": url}


def notifications(aws: Callable[[str], Any], queue: str, alarm: str) -> list[dict[str, Any]]:
    got = []
    for message in aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        body = json.loads(message["Body"])
        aws("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if body.get("AlarmName") == alarm:
            got.append(body)
    return got


def test_threshold_crossing_alarms_notifies_and_clears(
    aws: Callable[[str], Any], inbox: dict[str, str]
) -> None:
    cloudwatch = aws("cloudwatch")
    bucket = last_complete_bucket()
    for value in (4, 5):  # 9 in one period: above 5
        put(aws, "Test/Crossing", "Errors", bucket + 2, value, Service="web")
    cloudwatch.put_metric_alarm(
        AlarmName="errors-high",
        AlarmDescription="More than 5 errors in 10 s",
        Namespace="Test/Crossing",
        MetricName="Errors",
        Dimensions=[{"Name": "Service", "Value": "web"}],
        Statistic="Sum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[inbox["topic"]],
        OKActions=[inbox["topic"]],
    )
    assert state(aws, "errors-high") == "INSUFFICIENT_DATA"  # AWS's initial state
    wait_for(lambda: state(aws, "errors-high") == "ALARM", timeout=5, what="ALARM")
    alarm = cloudwatch.describe_alarms(AlarmNames=["errors-high"])["MetricAlarms"][0]
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoint [9.0 (")
    reason_data = json.loads(alarm["StateReasonData"])
    assert reason_data["statistic"] == "Sum" and reason_data["threshold"] == 5.0
    assert reason_data["evaluatedDatapoints"][0]["value"] == 9.0
    assert reason_data["evaluatedDatapoints"][0]["sampleCount"] == 2.0

    alarmed = wait_for(
        lambda: notifications(aws, inbox["queue"], "errors-high"), what="the ALARM notification"
    )
    assert alarmed[0]["NewStateValue"] == "ALARM"
    assert alarmed[0]["OldStateValue"] == "INSUFFICIENT_DATA"
    assert alarmed[0]["Region"] == "Asia Pacific (Mumbai)"
    assert alarmed[0]["Trigger"]["MetricName"] == "Errors"
    assert alarmed[0]["Trigger"]["Statistic"] == "SUM"
    assert alarmed[0]["Trigger"]["Dimensions"] == [{"value": "web", "name": "Service"}]

    # A quiet period after the errors: the newest datapoint is within the threshold.
    put(aws, "Test/Crossing", "Errors", time.time(), 1, Service="web")
    wait_for(lambda: state(aws, "errors-high") == "OK", timeout=2 * PERIOD + 5, what="back to OK")
    cleared = wait_for(lambda: notifications(aws, inbox["queue"], "errors-high"), what="the OK notification")
    assert cleared[0]["NewStateValue"] == "OK"
    kinds = [
        i["HistorySummary"]
        for i in cloudwatch.describe_alarm_history(AlarmName="errors-high", HistoryItemType="StateUpdate")[
            "AlarmHistoryItems"
        ]
    ]
    assert kinds[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"]


# (alarm name, datapoints to alarm, treatment, the last five periods oldest first, expected state)
MISSING_DATA_CASES = [
    ("m-missing", 2, "missing", "0 - X - -", "OK"),
    ("m-ignore", 2, "ignore", "0 - X - -", "OK"),
    ("m-breaching", 2, "breaching", "0 - X - -", "ALARM"),
    ("m-notbreaching", 2, "notBreaching", "0 - X - -", "OK"),
    ("m-missing-silent", 2, "missing", "- - - - X", "INSUFFICIENT_DATA"),
    ("m-breaching-silent", 2, "breaching", "- - - - -", "ALARM"),
    ("m-2of3", 2, "missing", "0 0 X 0 X", "ALARM"),
    ("m-3of3", 3, "missing", "0 0 X 0 X", "OK"),
]


def test_m_of_n_and_missing_data_as_documented(aws: Callable[[str], Any]) -> None:
    early_in_a_period()
    last = last_complete_bucket()
    for name, m, treatment, row, _ in MISSING_DATA_CASES:
        for i, mark in enumerate(row.split()):
            if mark != "-":
                put(aws, "Test/Missing", name, last - (4 - i) * PERIOD + 1, 10.0 if mark == "X" else 1.0)
        aws("cloudwatch").put_metric_alarm(
            AlarmName=name,
            Namespace="Test/Missing",
            MetricName=name,
            Statistic="Maximum",
            Period=PERIOD,
            EvaluationPeriods=3,
            DatapointsToAlarm=m,
            Threshold=5,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData=treatment,
        )
    # An alarm that stays INSUFFICIENT_DATA records no state change: read it once the others
    # (evaluated in the same round) have changed.
    for name, _m, _treatment, row, expected in sorted(
        MISSING_DATA_CASES, key=lambda c: c[4] == "INSUFFICIENT_DATA"
    ):
        if expected == "INSUFFICIENT_DATA":
            assert (name, row, state(aws, name), first_evaluated_state(aws, name)) == (
                name,
                row,
                expected,
                None,
            )
            continue
        got = wait_for(
            lambda name=name: first_evaluated_state(aws, name), timeout=10, what=f"{name} evaluated"
        )
        assert (name, row, got) == (name, row, expected)


def test_metric_math_error_rate_alarm(aws: Callable[[str], Any]) -> None:
    """The monitoring role's error-rate shape: 5xx (target + ELB) in percent of requests."""
    lb = [{"Name": "LoadBalancer", "Value": "app/loopin-test/0123456789abcdef"}]

    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": lb},
                "Period": PERIOD,
                "Stat": "Sum",
            },
        }

    bucket = last_complete_bucket()
    dims = {"LoadBalancer": "app/loopin-test/0123456789abcdef"}
    put(aws, "AWS/ApplicationELB", "RequestCount", bucket + 1, 200, **dims)
    put(aws, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", bucket + 1, 3, **dims)
    put(aws, "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", bucket + 2, 1, **dims)
    aws("cloudwatch").put_metric_alarm(
        AlarmName="alb-5xx-rate",
        Metrics=[
            stat("target5xx", "HTTPCode_Target_5XX_Count"),
            stat("requests", "RequestCount"),
            stat("elb5xx", "HTTPCode_ELB_5XX_Count"),
            {
                "Id": "errorrate",
                "Label": "Percent of requests answered 5xx",
                "ReturnData": True,
                "Expression": "IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)",
            },
        ],
        Threshold=1,
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    wait_for(lambda: state(aws, "alb-5xx-rate") == "ALARM", timeout=10, what="2% of 5xx to alarm")
    alarm = aws("cloudwatch").describe_alarms(AlarmNames=["alb-5xx-rate"])["MetricAlarms"][0]
    assert "[2.0 (" in alarm["StateReason"]
    # GetMetricData answers the same expression the same way.
    result = aws("cloudwatch").get_metric_data(
        MetricDataQueries=[
            stat("target5xx", "HTTPCode_Target_5XX_Count"),
            stat("requests", "RequestCount"),
            stat("elb5xx", "HTTPCode_ELB_5XX_Count"),
            {"Id": "errorrate", "Expression": "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"},
        ],
        StartTime=datetime.fromtimestamp(bucket, UTC),
        EndTime=datetime.fromtimestamp(bucket + PERIOD, UTC),
    )["MetricDataResults"]
    assert [r["Values"] for r in result if r["Id"] == "errorrate"] == [[2.0]]


@pytest.fixture(scope="module")
def services(aws: Callable[[str], Any]) -> Callable[[str, int], str]:
    """ECS services to scale: returns the App Auto Scaling resource id of a new service."""
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="scaling")
    ecs.register_task_definition(
        family="app", containerDefinitions=[{"name": "app", "image": "app:1", "cpu": 256, "memory": 512}]
    )

    def make(name: str, desired: int) -> str:
        ecs.create_service(cluster="scaling", serviceName=name, taskDefinition="app", desiredCount=desired)
        return f"service/scaling/{name}"

    return make


def desired(aws: Callable[[str], Any], resource_id: str) -> int:
    _, cluster, service = resource_id.split("/")
    return aws("ecs").describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]


def activities(aws: Callable[[str], Any], resource_id: str) -> list[dict[str, Any]]:
    return aws("application-autoscaling").describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=resource_id
    )["ScalingActivities"]


def step_scaled(
    aws: Callable[[str], Any],
    resource: str,
    bounds: tuple[int, int],
    steps: list[dict[str, Any]],
    alarm: dict[str, Any],
) -> None:
    """A scalable target, a step policy (cooldown 300 s) and the alarm that drives it."""
    scaling = aws("application-autoscaling")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": resource,
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=bounds[0], MaxCapacity=bounds[1])
    policy = scaling.put_scaling_policy(
        PolicyName=f"{alarm['AlarmName']}-policy",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "Cooldown": 300,
            "MetricAggregationType": "Maximum",
            "StepAdjustments": steps,
        },
        **target,
    )["PolicyARN"]
    aws("cloudwatch").put_metric_alarm(
        Namespace="Test/Scaling",
        MetricName=alarm["AlarmName"],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        AlarmActions=[policy],
        **alarm,
    )


def test_step_policies_honour_bounds_and_cooldowns(
    aws: Callable[[str], Any], services: Callable[[str, int], str]
) -> None:
    last = last_complete_bucket()
    growing, shrinking = services("stepped", 1), services("shrinking", 3)
    put(aws, "Test/Scaling", "backlog", last + 1, 150)  # 50 above the threshold: the +1 step
    step_scaled(
        aws,
        growing,
        (1, 3),
        [
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 100, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 100, "ScalingAdjustment": 5},
        ],
        {"AlarmName": "backlog", "Threshold": 100, "ComparisonOperator": "GreaterThanThreshold"},
    )
    put(aws, "Test/Scaling", "idle", last + 1, 0)
    step_scaled(
        aws,
        shrinking,
        (1, 5),
        [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}],
        {"AlarmName": "idle", "Threshold": 1, "ComparisonOperator": "LessThanThreshold"},
    )
    wait_for(lambda: desired(aws, growing) == 2, timeout=5, what="+1 task")
    wait_for(lambda: desired(aws, shrinking) == 2, timeout=5, what="-1 task")
    # Deeper in the current period: the +5 step, computed from the capacity before the cooldown's
    # scale-out (1 + 5), clamped to the maximum 3. Still idle: the alarm invokes its policy again
    # every period, and the scale-in cooldown holds.
    now = time.time()
    put(aws, "Test/Scaling", "backlog", now, 500)
    put(aws, "Test/Scaling", "idle", now, 0)
    wait_for(lambda: desired(aws, growing) == 3, timeout=PERIOD + 5, what="clamped to the maximum")
    done = activities(aws, growing)
    assert [a["Description"] for a in done] == ["Setting desired count to 3.", "Setting desired count to 2."]
    assert done[0]["Cause"] == "monitor alarm backlog in state ALARM triggered policy backlog-policy"
    assert done[0]["StatusCode"] == "Successful"
    assert desired(aws, shrinking) == 2
    assert [a["Description"] for a in activities(aws, shrinking)] == ["Setting desired count to 2."]


def test_target_tracking_alarms_and_scale_out(
    aws: Callable[[str], Any], services: Callable[[str, int], str]
) -> None:
    resource = services("tracked", 1)
    scaling = aws("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )

    def put_policy(name: str, config: dict[str, Any]) -> dict[str, Any]:
        return scaling.put_scaling_policy(
            PolicyName=name,
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=config,
        )

    label = "app/loopin-test/0123456789abcdef/targetgroup/loopin-test-web/fedcba9876543210"
    requests = put_policy(
        "requests",
        {
            "TargetValue": 1000.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": label,
            },
            "DisableScaleIn": True,
        },
    )
    again = put_policy(
        "requests",
        {
            "TargetValue": 1000.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": label,
            },
            "DisableScaleIn": True,
        },
    )
    assert again["PolicyARN"] == requests["PolicyARN"]  # an update keeps the policy's ARN
    assert len(again["Alarms"]) == 1  # DisableScaleIn: no AlarmLow
    [request_alarm] = aws("cloudwatch").describe_alarms(AlarmNames=[again["Alarms"][0]["AlarmName"]])[
        "MetricAlarms"
    ]
    assert request_alarm["MetricName"] == "RequestCountPerTarget" and request_alarm["Statistic"] == "Sum"
    assert request_alarm["Dimensions"] == [
        {"Name": "TargetGroup", "Value": "targetgroup/loopin-test-web/fedcba9876543210"}
    ]

    cpu = put_policy(
        "cpu",
        {
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 300,
        },
    )
    alarms = aws("cloudwatch").describe_alarms(AlarmNames=[a["AlarmName"] for a in cpu["Alarms"]])[
        "MetricAlarms"
    ]
    shape = {
        a["AlarmName"].split("-Alarm")[1].split("-")[0]: (
            a["MetricName"],
            a["Namespace"],
            a["Threshold"],
            a["ComparisonOperator"],
            a["EvaluationPeriods"],
            a["DatapointsToAlarm"],
            a["Period"],
            a["AlarmActions"],
        )
        for a in alarms
    }
    assert shape == {
        "High": ("CPUUtilization", "AWS/ECS", 50.0, "GreaterThanThreshold", 3, 3, 60, [cpu["PolicyARN"]]),
        "Low": ("CPUUtilization", "AWS/ECS", 45.0, "LessThanThreshold", 15, 15, 60, [cpu["PolicyARN"]]),
    }
    # Three minutes of 120% CPU, published late: AlarmHigh fires and capacity goes to
    # ceil(1 * 120 / 50) = 3.
    minute = int(time.time() // 60 * 60) - 60
    for i in range(3):
        put(
            aws,
            "AWS/ECS",
            "CPUUtilization",
            minute - i * 60 + 5,
            120.0,
            ClusterName="scaling",
            ServiceName="tracked",
        )
    wait_for(lambda: desired(aws, resource) == 3, timeout=10, what="target tracking scale-out")
    assert activities(aws, resource)[0]["Cause"].endswith("triggered policy cpu")


def test_deregistering_a_target_deletes_its_policies_alarms_and_schedules(
    aws: Callable[[str], Any], services: Callable[[str, int], str]
) -> None:
    """AWS: deregistering a scalable target deletes its scaling policies and scheduled actions
    (and a target-tracking policy's alarms with it); the blue/green idle side relies on it."""
    resource = services("deregistered", 1)
    scaling, cloudwatch = aws("application-autoscaling"), aws("cloudwatch")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": resource,
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)
    for name, metric in (
        ("cpu", "ECSServiceAverageCPUUtilization"),
        ("memory", "ECSServiceAverageMemoryUtilization"),
    ):
        scaling.put_scaling_policy(
            PolicyName=name,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 60.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
            },
            **target,
        )
    scaling.put_scheduled_action(ScheduledActionName="night", Schedule="cron(0 20 * * ? *)", **target)
    alarms = [
        a["AlarmName"]
        for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"TargetTracking-{resource}")["MetricAlarms"]
    ]
    assert len(alarms) == 4  # AlarmHigh and AlarmLow of each policy

    scaling.deregister_scalable_target(**target)
    assert (
        scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"]
        == []
    )
    assert (
        scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource)["ScheduledActions"]
        == []
    )
    assert cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"] == []


def test_scheduled_action_sets_bounds_and_capacity(
    aws: Callable[[str], Any], services: Callable[[str, int], str]
) -> None:
    resource = services("nightly", 2)
    scaling = aws("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    scaling.put_scheduled_action(
        ServiceNamespace="ecs",
        ScheduledActionName="night",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        # Two seconds from now, on a clock of India (UTC+05:30).
        Schedule=f"at({(datetime.now(UTC) + timedelta(hours=5, minutes=30, seconds=2)):%Y-%m-%dT%H:%M:%S})",
        Timezone="Asia/Kolkata",
        ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 0},
    )
    wait_for(lambda: desired(aws, resource) == 0, timeout=10, what="scaled to zero at night")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 0)
    assert activities(aws, resource)[0]["Cause"] == "scheduled action name night was triggered"


def test_worker_error_line_through_the_monitoring_filter_into_an_alarm(aws: Callable[[str], Any]) -> None:
    """The app-errors metric filter as the monitoring role defines it, fed a real worker line."""
    tasks = yaml.safe_load((ROOT / "roles/monitoring/tasks/present.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    task = next(t for t in block if "amazon.aws.cloudwatchlogs_log_group_metric_filter" in t)
    spec = task["amazon.aws.cloudwatchlogs_log_group_metric_filter"]
    logs = aws("logs")
    logs.create_log_group(logGroupName="/ecs/loopin-test-worker")
    logs.create_log_stream(logGroupName="/ecs/loopin-test-worker", logStreamName="worker/worker/1")
    logs.put_metric_filter(
        logGroupName="/ecs/loopin-test-worker",
        filterName="loopin-test-worker-errors",
        filterPattern=spec["filter_pattern"],
        metricTransformations=[
            {
                "metricName": spec["metric_transformation"]["metric_name"],
                "metricNamespace": "Loopin/test",
                "metricValue": spec["metric_transformation"]["metric_value"],
                "defaultValue": float(spec["metric_transformation"]["default_value"]),
            }
        ],
    )
    formatter = WorkerFormatter()

    def line(level: int, message: str) -> str:
        return formatter.format(
            logging.LogRecord("loopin_worker.consumer", level, __file__, 1, message, None, None)
        )

    at = int((last_complete_bucket() + 1) * 1000)
    lines = [
        line(logging.ERROR, "handler failed"),
        line(logging.INFO, "processed"),
        line(logging.ERROR, "retry"),
    ]
    assert json.loads(lines[0])["level"] == "ERROR"
    logs.put_log_events(
        logGroupName="/ecs/loopin-test-worker",
        logStreamName="worker/worker/1",
        logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(lines)],
    )
    stats = aws("cloudwatch").get_metric_statistics(
        Namespace="Loopin/test",
        MetricName="ApplicationErrors",
        StartTime=datetime.fromtimestamp(at / 1000 - 60, UTC),
        EndTime=datetime.fromtimestamp(at / 1000 + 60, UTC),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    assert [(p["Sum"], p["SampleCount"]) for p in stats] == [(2.0, 3.0)]  # two errors; the info line counts 0
    aws("cloudwatch").put_metric_alarm(
        AlarmName="app-errors",
        Namespace="Loopin/test",
        MetricName="ApplicationErrors",
        Statistic="Sum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    wait_for(lambda: state(aws, "app-errors") == "ALARM", timeout=10, what="the app-errors alarm")


def test_put_metric_filter_replaces_and_refuses_bad_patterns(aws: Callable[[str], Any]) -> None:
    logs = aws("logs")
    logs.create_log_group(logGroupName="/test/filters")
    for pattern in ("ERROR", "?ERROR ?WARN"):
        logs.put_metric_filter(
            logGroupName="/test/filters",
            filterName="errors",
            filterPattern=pattern,
            metricTransformations=[{"metricName": "E", "metricNamespace": "T", "metricValue": "1"}],
        )
    filters = logs.describe_metric_filters(logGroupName="/test/filters")["metricFilters"]
    assert [f["filterPattern"] for f in filters] == ["?ERROR ?WARN"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_metric_filter(
            logGroupName="/test/filters",
            filterName="broken",
            filterPattern="{ $.level = ",
            metricTransformations=[{"metricName": "E", "metricNamespace": "T", "metricValue": "1"}],
        )


def test_schedule_delivers_its_input_to_sqs_as_its_role(aws: Callable[[str], Any], endpoint: str) -> None:
    queue = aws("sqs").create_queue(QueueName="background-jobs")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(RoleName="scheduler", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    untrusted = aws("iam").create_role(
        RoleName="not-for-scheduler",
        AssumeRolePolicyDocument=json.dumps(
            {
                **trust,
                "Statement": [{**trust["Statement"][0], "Principal": {"Service": "ecs-tasks.amazonaws.com"}}],
            }
        ),
    )["Role"]["Arn"]
    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    for name, role_arn, state_value in (
        ("job", role, "ENABLED"),
        ("off", role, "DISABLED"),
        ("denied", untrusted, "ENABLED"),
    ):
        aws("scheduler").create_schedule(
            Name=name,
            ScheduleExpression=f"at({soon})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            State=state_value,
            Target={
                "Arn": queue_arn,
                "RoleArn": role_arn,
                "Input": json.dumps({"type": name, "scheduled_time": "<aws.scheduler.scheduled-time>"}),
            },
        )
    messages = wait_for(
        lambda: aws("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"),
        timeout=10,
        what="the scheduled message",
    )
    assert [json.loads(m["Body"]) for m in messages] == [{"type": "job", "scheduled_time": soon + "Z"}]

    def runs() -> dict[str, dict[str, Any]]:
        with urllib.request.urlopen(f"{endpoint}/_localcloud/scheduler/runs", timeout=5) as response:  # noqa: S310
            return {r["schedule"].rsplit("/", 1)[1]: r for r in json.loads(response.read())}

    by_name = wait_for(
        lambda: (found := runs()).keys() >= {"job", "denied"} and found, what="both runs listed"
    )
    assert by_name["job"]["status"] == "Succeeded"
    assert by_name["denied"]["status"] == "Failed" and "not allowed to assume" in by_name["denied"]["error"]
    assert "off" not in by_name
    time.sleep(1.5)
    assert not aws("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages")
