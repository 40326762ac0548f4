#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sqs_queue_encryption
short_description: Set the server-side encryption of an existing SQS queue (SSE-SQS, SSE-KMS or none)
version_added: 0.1.0
description:
  - community.aws.sqs_queue manages SSE-KMS (O(kms_master_key_id)) but has no option for SQS-managed
    encryption (C(SqsManagedSseEnabled), no KMS cost). This module sets the encryption mode of a
    queue that already exists, typically right after community.aws.sqs_queue created it.
  - AWS enables SSE-SQS on new queues by default, so on a fresh queue V(sqs) usually reports no change;
    the module makes the setting explicit, enforced on queues created before that default and
    visible in C(--check --diff).
  - The queue itself is not created or deleted here, so there is no C(state) option; V(none)
    turns encryption off.
author:
  - Loopin platform team (@loopin-platform)
options:
  queue_url:
    description: The queue's URL. One of O(queue_url) and O(queue_name) is required.
    type: str
  queue_name:
    description: The queue's name (in this account and region).
    type: str
  encryption:
    description:
      - V(sqs) - SQS-owned keys (C(SqsManagedSseEnabled=true)).
      - V(kms) - the KMS key O(kms_master_key_id), for example V(alias/aws/sqs).
      - V(none) - no server-side encryption.
    type: str
    choices: [sqs, kms, none]
    default: sqs
  kms_master_key_id:
    description: The KMS key (ID, ARN or alias) for O(encryption=kms).
    type: str
  kms_data_key_reuse_period_seconds:
    description: With O(encryption=kms), how long SQS reuses a data key (60 to 86400 seconds).
    type: int
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create the queue
  community.aws.sqs_queue:
    name: push-notifications
    receive_message_wait_time_seconds: 20
  register: push_queue

- name: Encrypt it with SQS-owned keys
  loopin.platform.sqs_queue_encryption:
    queue_url: "{{ push_queue.queue_url }}"
    encryption: sqs

- name: Encrypt another queue with the AWS-managed KMS key
  loopin.platform.sqs_queue_encryption:
    queue_name: webhook-events
    encryption: kms
    kms_master_key_id: alias/aws/sqs
    kms_data_key_reuse_period_seconds: 300
"""

RETURN = r"""
queue_url:
  description: The queue's URL.
  returned: always
  type: str
queue_arn:
  description: The queue's ARN.
  returned: always
  type: str
encryption:
  description: The encryption mode after the call (sqs, kms or none).
  returned: always
  type: str
  sample: sqs
kms_master_key_id:
  description: The KMS key when the mode is kms, else null.
  returned: always
  type: str
sqs_managed_sse_enabled:
  description: Whether SQS-owned-key encryption is on.
  returned: always
  type: bool
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result


def encryption_state(attributes):
    """{encryption, kms_master_key_id, kms_data_key_reuse_period_seconds} from queue attributes."""
    key = attributes.get("KmsMasterKeyId") or None
    if key:
        # KMS wins: some implementations keep SqsManagedSseEnabled=true next to a KMS key.
        return {
            "encryption": "kms",
            "kms_master_key_id": key,
            "kms_data_key_reuse_period_seconds": int(attributes.get("KmsDataKeyReusePeriodSeconds") or 300),
        }
    if str(attributes.get("SqsManagedSseEnabled", "false")).lower() == "true":
        return {"encryption": "sqs"}
    return {"encryption": "none"}


def wanted_state(params, current):
    if params["encryption"] != "kms":
        return {"encryption": params["encryption"]}
    reuse = params["kms_data_key_reuse_period_seconds"]
    if reuse is None:
        reuse = current.get("kms_data_key_reuse_period_seconds", 300)
    return {
        "encryption": "kms",
        "kms_master_key_id": params["kms_master_key_id"],
        "kms_data_key_reuse_period_seconds": reuse,
    }


def attribute_update(current, wanted):
    """One SetQueueAttributes call that leaves the old mode and enters the new one (AWS accepts only
    one SSE type at a time, and a single call leaves no unencrypted moment)."""
    if wanted["encryption"] == "kms":
        update = {
            "KmsMasterKeyId": wanted["kms_master_key_id"],
            "KmsDataKeyReusePeriodSeconds": str(wanted["kms_data_key_reuse_period_seconds"]),
        }
        if current["encryption"] == "sqs":
            update["SqsManagedSseEnabled"] = "false"
        return update
    update = {"SqsManagedSseEnabled": "true" if wanted["encryption"] == "sqs" else "false"}
    if current["encryption"] == "kms":
        update["KmsMasterKeyId"] = ""
    return update


def read_attributes(client, queue_url):
    return client.get_queue_attributes(aws_retry=True, QueueUrl=queue_url, AttributeNames=["All"])[
        "Attributes"
    ]


def main():
    argument_spec = dict(
        queue_url=dict(type="str"),
        queue_name=dict(type="str"),
        encryption=dict(type="str", choices=["sqs", "kms", "none"], default="sqs"),
        kms_master_key_id=dict(type="str", no_log=False),
        kms_data_key_reuse_period_seconds=dict(type="int", no_log=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[["queue_url", "queue_name"]],
        mutually_exclusive=[["queue_url", "queue_name"]],
        required_if=[["encryption", "kms", ["kms_master_key_id"]]],
    )
    params = module.params
    if params["encryption"] != "kms" and (
        params["kms_master_key_id"] or params["kms_data_key_reuse_period_seconds"]
    ):
        module.fail_json(msg="kms_master_key_id and kms_data_key_reuse_period_seconds need encryption=kms")
    reuse = params["kms_data_key_reuse_period_seconds"]
    if reuse is not None and not 60 <= reuse <= 86400:
        module.fail_json(msg=f"kms_data_key_reuse_period_seconds must be between 60 and 86400, got {reuse}")

    client = module.client("sqs", retry_decorator=AWSRetry.jittered_backoff())
    queue_url = params["queue_url"]
    try:
        if not queue_url:
            queue_url = client.get_queue_url(aws_retry=True, QueueName=params["queue_name"])["QueueUrl"]
        attributes = read_attributes(client, queue_url)
    except is_boto3_error_code(["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"]):
        module.fail_json(msg=f"Queue {params['queue_name'] or queue_url} does not exist; create it first")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read queue {params['queue_name'] or queue_url}")

    current = encryption_state(attributes)
    wanted = wanted_state(params, current)
    changed = current != wanted
    result = {"changed": changed, "queue_url": queue_url, **diff_result(module, current, wanted)}

    if changed and not module.check_mode:
        try:
            client.set_queue_attributes(
                aws_retry=True, QueueUrl=queue_url, Attributes=attribute_update(current, wanted)
            )
            attributes = read_attributes(client, queue_url)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to set the encryption of {queue_url}")
        final = encryption_state(attributes)
        if final != wanted:
            module.fail_json(msg=f"The encryption of {queue_url} is {final}, not {wanted}, after the update")
    shown = wanted if changed else current
    module.exit_json(
        queue_arn=attributes.get("QueueArn"),
        encryption=shown["encryption"],
        kms_master_key_id=shown.get("kms_master_key_id"),
        sqs_managed_sse_enabled=shown["encryption"] == "sqs",
        **result,
    )


if __name__ == "__main__":
    main()
