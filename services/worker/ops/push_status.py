"""`make push-status ENV=<env>`: is OneSignal failing, which provider delivers, is anything piling up.

Reads only (CloudWatch alarms and metrics, SQS attributes, ECS and Secrets Manager metadata, never
a secret's value):

- the `<prefix>-onesignal-outage` alarm and its state;
- per 5 minutes over the last 30: OneSignal failures and pushes delivered by provider (the metric
  filters on the worker's log lines, namespace Loopin/<env>);
- the push queue and its dead-letter queue;
- the worker's running push settings (PUSH_* of its task definition) and whether the fcm secret
  was ever set after its creation (a placeholder until an operator puts the service account).

The environment's project and region come from inventories/<env>; credentials and endpoint from
the usual AWS variables (for ENV=local the Makefile points them at the emulator).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[3]
WINDOW_MINUTES = 30
STEP_SECONDS = 300


def inventory(env: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in sorted((ROOT / "inventories" / env / "group_vars" / "all").glob("*.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


def _sums(
    cloudwatch: Any, namespace: str, name: str, dimensions: list[dict[str, str]], now: dt.datetime
) -> list[int]:
    start = now - dt.timedelta(minutes=WINDOW_MINUTES)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=dimensions,
        StartTime=start,
        EndTime=now,
        Period=STEP_SECONDS,
        Statistics=["Sum"],
    )["Datapoints"]
    by_slot = {int((p["Timestamp"] - start).total_seconds() // STEP_SECONDS): int(p["Sum"]) for p in points}
    return [by_slot.get(slot, 0) for slot in range(WINDOW_MINUTES * 60 // STEP_SECONDS)]


def report(project: str, env: str, session: Any, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    prefix = f"{project}-{env}"
    namespace = f"Loopin/{env}"
    cloudwatch, sqs = session.client("cloudwatch"), session.client("sqs")
    lines = [f"push status of {prefix} at {now:%Y-%m-%d %H:%M} UTC"]

    alarms = cloudwatch.describe_alarms(AlarmNames=[f"{prefix}-onesignal-outage"])["MetricAlarms"]
    state = alarms[0]["StateValue"] if alarms else "missing (run make up: the monitoring role creates it)"
    lines.append(f"  alarm {prefix}-onesignal-outage: {state}")

    lines.append(f"  last {WINDOW_MINUTES} min, per {STEP_SECONDS // 60} min (oldest first):")
    series = {
        "OneSignal failures": _sums(cloudwatch, namespace, "OneSignalFailures", [], now),
        "delivered by OneSignal": _sums(
            cloudwatch, namespace, "PushesDelivered", [{"Name": "provider", "Value": "onesignal"}], now
        ),
        "delivered by FCM": _sums(
            cloudwatch, namespace, "PushesDelivered", [{"Name": "provider", "Value": "fcm"}], now
        ),
    }
    for label, values in series.items():
        lines.append(f"    {label:<24} {' '.join(f'{v:>5}' for v in values)}   total {sum(values)}")

    for name in (f"{prefix}-push-notifications", f"{prefix}-push-notifications-dlq"):
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            lines.append(f"  queue {name}: missing")
            continue
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        lines.append(
            f"  queue {name}: {attrs['ApproximateNumberOfMessages']} waiting,"
            f" {attrs['ApproximateNumberOfMessagesNotVisible']} in flight"
        )

    lines.append(f"  worker: {_worker_settings(session, prefix)}")
    lines.append(f"  secret {project}/{env}/fcm: {_fcm_secret(session, f'{project}/{env}/fcm')}")
    return "\n".join(lines)


def _worker_settings(session: Any, prefix: str) -> str:
    ecs = session.client("ecs")
    try:
        services = ecs.describe_services(cluster=prefix, services=[f"{prefix}-worker"]).get("services", [])
    except ecs.exceptions.ClusterNotFoundException:
        return f"cluster {prefix} missing"
    if not services:
        return "service missing"
    definition = ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"])["taskDefinition"]
    env = {
        e["name"]: e["value"] for c in definition["containerDefinitions"] for e in c.get("environment", [])
    }
    push = {k: v for k, v in sorted(env.items()) if k.startswith("PUSH_")}
    revision = definition["taskDefinitionArn"].rsplit("/", 1)[-1]
    return f"{revision} " + (" ".join(f"{k}={v}" for k, v in push.items()) or "(no PUSH_* settings)")


def _fcm_secret(session: Any, name: str) -> str:
    secrets = session.client("secretsmanager")
    try:
        described = secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        return "missing (run make up: the secrets role creates it)"
    versions = described.get("VersionIdsToStages") or {}
    # The secrets role writes one version at creation; an operator's put-secret-value adds one.
    return "set by an operator" if len(versions) > 1 else "placeholder only (no FCM fallback yet)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    args = parser.parse_args(argv)
    values = inventory(args.env)
    session = boto3.session.Session(region_name=values["aws_region"])
    print(report(values["loopin_project"], args.env, session))
    return 0


if __name__ == "__main__":
    sys.exit(main())
