#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sqs_queue_info
short_description: Look up SQS queues by name
version_added: 0.1.0
description:
  - Returns the URL, ARN and attributes of each named queue, and the names that do not exist, so a
    role can say which prerequisite is missing instead of failing on a lookup.
author:
  - Loopin platform team (@loopin-platform)
options:
  names:
    description: Queue names.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The worker's queues
  loopin.platform.sqs_queue_info:
    names: [loopin-dev-push-notifications, loopin-dev-push-notifications-dlq]
  register: queues
"""

RETURN = r"""
queues:
  description: Found queues by name.
  returned: always
  type: dict
  sample: {"loopin-dev-background-jobs": {"url": "https://...", "arn": "arn:aws:sqs:...", "attributes": {}}}
missing:
  description: Names with no queue.
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(names=dict(type="list", elements="str", required=True)), supports_check_mode=True
    )
    client = module.client("sqs", retry_decorator=AWSRetry.jittered_backoff())
    queues, missing = {}, []
    for name in module.params["names"]:
        try:
            url = client.get_queue_url(aws_retry=True, QueueName=name)["QueueUrl"]
            attributes = client.get_queue_attributes(aws_retry=True, QueueUrl=url, AttributeNames=["All"])[
                "Attributes"
            ]
        except is_boto3_error_code(["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"]):
            missing.append(name)
            continue
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Failed to look up queue {name}")
        queues[name] = {"url": url, "arn": attributes.get("QueueArn"), "attributes": attributes}
    module.exit_json(changed=False, queues=queues, missing=missing)


if __name__ == "__main__":
    main()
