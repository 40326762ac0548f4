"""`make push-status`: what it reads from CloudWatch, SQS, ECS and Secrets Manager (moto)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))

import push_status


def test_push_status_reports_the_outage_and_who_delivers(aws_env: dict[str, str]) -> None:
    session = boto3.session.Session()
    cloudwatch = session.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="loopin-local-onesignal-outage",
        Namespace="Loopin/local",
        MetricName="OneSignalFailures",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(
        AlarmName="loopin-local-onesignal-outage", StateValue="ALARM", StateReason="test"
    )
    now = dt.datetime.now(dt.UTC)
    cloudwatch.put_metric_data(
        Namespace="Loopin/local",
        MetricData=[
            {"MetricName": "OneSignalFailures", "Value": 4, "Timestamp": now - dt.timedelta(minutes=2)},
            {
                "MetricName": "PushesDelivered",
                "Dimensions": [{"Name": "provider", "Value": "fcm"}],
                "Value": 7,
                "Timestamp": now - dt.timedelta(minutes=1),
            },
        ],
    )
    sqs = session.client("sqs")
    sqs.create_queue(QueueName="loopin-local-push-notifications")
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="loopin-local")
    ecs.register_task_definition(
        family="loopin-local-worker",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "worker:1",
                "cpu": 256,
                "memory": 512,
                "environment": [
                    {"name": "PUSH_PROVIDER", "value": "onesignal"},
                    {"name": "PUSH_FALLBACK", "value": "fcm"},
                    {"name": "LOG_LEVEL", "value": "INFO"},
                ],
            }
        ],
    )
    ecs.create_service(
        cluster="loopin-local", serviceName="loopin-local-worker", taskDefinition="loopin-local-worker"
    )
    secrets = session.client("secretsmanager")
    secrets.create_secret(Name="loopin/local/fcm", SecretString="changethis")

    text = push_status.report("loopin", "local", session, now)
    assert "alarm loopin-local-onesignal-outage: ALARM" in text
    assert any(
        line.strip().startswith("OneSignal failures") and line.endswith("total 4")
        for line in text.splitlines()
    )
    assert any(
        line.strip().startswith("delivered by FCM") and line.endswith("total 7") for line in text.splitlines()
    )
    assert "queue loopin-local-push-notifications: 0 waiting, 0 in flight" in text
    assert "queue loopin-local-push-notifications-dlq: missing" in text
    assert "loopin-local-worker:1 PUSH_FALLBACK=fcm PUSH_PROVIDER=onesignal" in text
    assert "LOG_LEVEL" not in text
    assert "placeholder only" in text
    secrets.put_secret_value(SecretId="loopin/local/fcm", SecretString='{"type": "service_account"}')
    assert "secret loopin/local/fcm: set by an operator" in push_status.report(
        "loopin", "local", session, now
    )
    assert "service_account" not in push_status.report("loopin", "local", session, now)
