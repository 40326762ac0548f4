"""loopin.platform.sqs_queue_encryption against a real moto server."""

from __future__ import annotations

from typing import Any


def attributes(boto: Any, url: str) -> dict[str, str]:
    return dict(boto("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def test_modes(run_module: Any, boto: Any) -> None:
    url = boto("sqs").create_queue(QueueName="push-notifications")["QueueUrl"]
    # AWS (and moto) turn SSE-SQS on for new queues: nothing to do
    result = run_module("sqs_queue_encryption", {"queue_name": "push-notifications"}, diff=True)
    assert result["changed"] is False
    assert (result["encryption"], result["sqs_managed_sse_enabled"]) == ("sqs", True)
    assert result["queue_url"] == url and result["queue_arn"].endswith(":push-notifications")

    # off: check mode first
    off = {"queue_url": url, "encryption": "none"}
    result = run_module("sqs_queue_encryption", off, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"encryption": "sqs"}, "after": {"encryption": "none"}}
    assert attributes(boto, url)["SqsManagedSseEnabled"] == "true"
    assert run_module("sqs_queue_encryption", off)["changed"] is True
    assert attributes(boto, url)["SqsManagedSseEnabled"] == "false"
    assert run_module("sqs_queue_encryption", off)["changed"] is False

    # back on (the gap community.aws.sqs_queue leaves)
    on = {"queue_url": url, "encryption": "sqs"}
    assert run_module("sqs_queue_encryption", on)["changed"] is True
    assert attributes(boto, url)["SqsManagedSseEnabled"] == "true"
    assert run_module("sqs_queue_encryption", on, check=True)["changed"] is False

    # KMS, then back to SQS-owned keys
    kms = {"queue_url": url, "encryption": "kms", "kms_master_key_id": "alias/aws/sqs"}
    result = run_module("sqs_queue_encryption", kms, diff=True)
    assert result["changed"] is True and result["encryption"] == "kms"
    assert result["diff"]["after"] == {
        "encryption": "kms",
        "kms_master_key_id": "alias/aws/sqs",
        "kms_data_key_reuse_period_seconds": 300,
    }
    assert attributes(boto, url)["KmsMasterKeyId"] == "alias/aws/sqs"
    assert run_module("sqs_queue_encryption", kms)["changed"] is False
    assert run_module("sqs_queue_encryption", {**kms, "kms_data_key_reuse_period_seconds": 3600})["changed"]
    assert attributes(boto, url)["KmsDataKeyReusePeriodSeconds"] == "3600"
    assert run_module("sqs_queue_encryption", on)["changed"] is True
    stored = attributes(boto, url)
    assert not stored.get("KmsMasterKeyId") and stored["SqsManagedSseEnabled"] == "true"


def test_bad_input(run_module: Any, boto: Any) -> None:
    result = run_module("sqs_queue_encryption", {"queue_name": "missing"})
    assert result["failed"] is True and "Queue missing does not exist" in result["msg"]
    boto("sqs").create_queue(QueueName="jobs")
    cases = [
        ({"queue_name": "jobs", "encryption": "kms"}, "kms_master_key_id"),
        ({"queue_name": "jobs", "kms_master_key_id": "alias/aws/sqs"}, "need encryption=kms"),
        (
            {
                "queue_name": "jobs",
                "encryption": "kms",
                "kms_master_key_id": "k",
                "kms_data_key_reuse_period_seconds": 5,
            },
            "between 60 and 86400",
        ),
        ({}, "one of the following is required: queue_url, queue_name"),
    ]
    for args, message in cases:
        result = run_module("sqs_queue_encryption", args)
        assert result["failed"] is True, args
        assert message in result["msg"]
