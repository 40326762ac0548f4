"""EventBridge Scheduler's runner: schedules fire their targets on time.

moto stores schedules and never fires them. Here a background loop (every
``LOCALCLOUD_SCHEDULE_SECONDS``, default 5) fires every ENABLED schedule whose next time has
come (rate from its start, cron in its ScheduleExpressionTimezone, at once; the flexible time
window is honoured loosely: the run happens at the window's start), between its StartDate and
EndDate; an ``at`` schedule with ActionAfterCompletion DELETE is deleted after its run.

For an SQS target it does what the service does: it assumes the target's RoleArn (the role's
trust policy must let ``scheduler.amazonaws.com`` assume it, evaluated by
``iam_enforcement.service_credentials``) and sends the schedule's Input, with AWS's context attributes
(``<aws.scheduler.scheduled-time>`` and the others) replaced, to the queue through the emulator's
own HTTP endpoint (``http://127.0.0.1:$MOTO_PORT``), so that enforced IAM checks the role's
policy as it would on AWS. Other target types are recorded as not modelled. Every run is listed
at ``GET /_localcloud/scheduler/runs``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.scheduler.models import Schedule, scheduler_backends

from localcloud.cloudwatch.schedule import ScheduleError, next_fire
from localcloud.emulator import control
from localcloud.emulator.patches import iam_enforcement

log = logging.getLogger("localcloud.emulator.scheduler")

SCHEDULE_SECONDS = float(os.environ.get("LOCALCLOUD_SCHEDULE_SECONDS", "5"))
SERVICE_PRINCIPAL = "scheduler.amazonaws.com"
RUNS_KEPT = 200
_runs: list[dict[str, Any]] = []


def _epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _due(schedule: Schedule, now: float) -> float | None:
    """The scheduled time to run now, if one has come; keeps the next one on the schedule."""
    anchor = _epoch(schedule.start_date) or float(schedule.creation_date)
    if getattr(schedule, "localcloud_version", None) != schedule.last_modified_date:
        # New or updated: the first run is the first time after now (a rate: one rate after its start).
        schedule.localcloud_version = schedule.last_modified_date  # type: ignore[attr-defined]
        schedule.localcloud_next = None  # type: ignore[attr-defined]
        schedule.localcloud_checked = max(anchor, float(schedule.last_modified_date))  # type: ignore[attr-defined]
    pending = getattr(schedule, "localcloud_next", None)
    zone = schedule.schedule_expression_timezone
    anchor_dt = datetime.fromtimestamp(anchor, UTC)
    if pending is None:
        after = datetime.fromtimestamp(schedule.localcloud_checked, UTC)  # type: ignore[attr-defined]
        fire = next_fire(schedule.schedule_expression, zone, after, anchor_dt)
        pending = schedule.localcloud_next = fire.timestamp() if fire else float("inf")  # type: ignore[attr-defined]
    if now < pending:
        return None
    fire = next_fire(schedule.schedule_expression, zone, datetime.fromtimestamp(now, UTC), anchor_dt)
    schedule.localcloud_next = fire.timestamp() if fire else float("inf")  # type: ignore[attr-defined]
    end = _epoch(schedule.end_date)
    if end is not None and pending > end:
        return None
    return pending


def _input(schedule: Schedule, scheduled: float, execution_id: str) -> str:
    text = schedule.target.get("Input") or ""
    context = {
        "<aws.scheduler.schedule-arn>": schedule.arn,
        "<aws.scheduler.scheduled-time>": datetime.fromtimestamp(scheduled, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": "0",
    }
    for key, value in context.items():
        text = text.replace(key, value)
    return text


def _send_to_sqs(schedule: Schedule, account: str, body: str) -> str:
    target = schedule.target
    _, _, _, region, queue_account, queue_name = target["Arn"].split(":", 5)
    # As the service does: STS evaluates the role's trust for scheduler.amazonaws.com, with the
    # schedule as the confused-deputy source.
    try:
        with control.state_lock:
            keys = iam_enforcement.service_credentials(
                {
                    "roleArn": target["RoleArn"],
                    "service": SERVICE_PRINCIPAL,
                    "sourceAccount": account,
                    "sourceArn": schedule.arn,
                    "sessionName": f"scheduler-{uuid.uuid4().hex[:16]}",
                    "region": region,
                    "durationSeconds": 900,
                }
            )
    except control.ControlError as exc:
        raise PermissionError(exc.message) from exc
    endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=10),
    )
    params: dict[str, Any] = {"QueueUrl": f"{endpoint}/{queue_account}/{queue_name}", "MessageBody": body}
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    if group:
        params["MessageGroupId"] = group
    return str(sqs.send_message(**params)["MessageId"])


def fire(schedule: Schedule, account: str, scheduled: float) -> dict[str, Any]:
    execution_id = str(uuid.uuid4())
    run: dict[str, Any] = {
        "schedule": schedule.arn,
        "scheduledTime": datetime.fromtimestamp(scheduled, UTC).isoformat(),
        "firedAt": datetime.now(UTC).isoformat(),
        "target": schedule.target.get("Arn"),
        "executionId": execution_id,
    }
    try:
        if schedule.target.get("Arn", "").split(":")[2:3] != ["sqs"]:
            raise NotImplementedError("only SQS targets are modelled by the emulator")
        run["messageId"] = _send_to_sqs(schedule, account, _input(schedule, scheduled, execution_id))
        run["status"] = "Succeeded"
    except (
        ClientError,
        BotoCoreError,
        PermissionError,
        NotImplementedError,
        ValueError,
        RuntimeError,
    ) as exc:
        run["status"], run["error"] = "Failed", f"{type(exc).__name__}: {exc}"
        log.warning("schedule %s: %s", schedule.arn, run["error"])
    return run


def run_due(now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    due: list[tuple[Any, Schedule, str, float]] = []
    with control.state_lock:
        for account, regions in list(scheduler_backends.items()):
            for backend in list(regions.values()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        if schedule.state != "ENABLED":
                            continue
                        try:
                            scheduled = _due(schedule, now)
                        except ScheduleError as exc:
                            log.warning("schedule %s: %s", schedule.arn, exc)
                            continue
                        if scheduled is not None:
                            due.append((backend, schedule, account, scheduled))
    runs = []
    # Outside the lock: the send is an HTTP request to this same server.
    for backend, schedule, account, scheduled in due:
        run = fire(schedule, account, scheduled)
        runs.append(run)
        _runs.append(run)
        if schedule.schedule_expression.startswith("at(") and schedule.action_after_completion == "DELETE":
            with control.state_lock:
                backend.delete_schedule(schedule.group_name, schedule.name)
    del _runs[:-RUNS_KEPT]
    return runs


@control.route("GET", "/_localcloud/scheduler/runs")
def _list_runs(_body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_runs)


@control.background("scheduler-runner", SCHEDULE_SECONDS)
def _round() -> None:
    run_due()
