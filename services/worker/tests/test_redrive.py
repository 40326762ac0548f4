"""`dlq redrive` moves every message back, attributes included, and loses none."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import Queues


def test_redrive_moves_everything_back(queues: Queues, aws_env: dict[str, str]) -> None:
    dlq = queues.dlqs["push-notifications"]
    bodies = [json.dumps({"n": i}) for i in range(23)]
    for body in bodies:
        queues.sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageAttributes={"request_id": {"DataType": "String", "StringValue": f"rid-{body}"}},
        )
    result = subprocess.run(
        [sys.executable, "-m", "loopin_worker", "dlq", "redrive", "--queue", "push-notifications"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**aws_env, "PATH": "/usr/bin:/bin"},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["moved"] == 23 and report["failed"] == 0
    assert queues.depth(dlq) == 0
    back = queues.drain(queues.urls["push-notifications"])
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    assert all(m["MessageAttributes"]["request_id"]["StringValue"] == f"rid-{m['Body']}" for m in back)


def test_redrive_limit(queues: Queues) -> None:
    from loopin_worker.dlq import redrive

    dlq = queues.dlqs["webhook-events"]
    for i in range(5):
        queues.sqs.send_message(QueueUrl=dlq, MessageBody=str(i))
    report = redrive(queues.sqs, queues.urls["webhook-events"], limit=3)
    assert report.moved == 3
    assert queues.depth(queues.urls["webhook-events"]) == 3
    assert queues.depth(dlq) == 2
