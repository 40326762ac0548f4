#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: scheduler_schedule_info
short_description: Describe EventBridge Scheduler schedules
version_added: 0.1.0
description:
  - Returns one schedule (O(name)), or every schedule of a group, with full definitions.
author:
  - Loopin platform team (@loopin-platform)
options:
  name:
    description: Only this schedule. An unknown name returns an empty list.
    type: str
  group_name:
    description: The schedule group to look in; every group when omitted and O(name) is not set.
    type: str
  name_prefix:
    description: Only schedules whose name starts with this.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Every Loopin schedule of the environment
  loopin.platform.scheduler_schedule_info:
    name_prefix: loopin-production-
  register: schedules
"""

RETURN = r"""
schedules:
  description: The schedules, snake_cased like RV(loopin.platform.scheduler_schedule#module:schedule).
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: The schedule's ARN.
      type: str
    name:
      description: The name.
      type: str
    group_name:
      description: The group.
      type: str
    schedule_expression:
      description: The expression.
      type: str
    state:
      description: ENABLED or DISABLED.
      type: str
    target:
      description: The target.
      type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import snake_result


def describe(client, name, group_name):
    try:
        schedule = client.get_schedule(aws_retry=True, Name=name, GroupName=group_name)
    except is_boto3_error_code("ResourceNotFoundException"):
        return None
    schedule.pop("ResponseMetadata", None)
    return snake_result(schedule)


def main():
    argument_spec = dict(
        name=dict(type="str"),
        group_name=dict(type="str"),
        name_prefix=dict(type="str"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, mutually_exclusive=[["name", "name_prefix"]]
    )
    params = module.params
    client = module.client("scheduler", retry_decorator=AWSRetry.jittered_backoff())
    try:
        if params["name"]:
            found = describe(client, params["name"], params["group_name"] or "default")
            module.exit_json(changed=False, schedules=[found] if found else [])
        request = {}
        if params["group_name"]:
            request["GroupName"] = params["group_name"]
        if params["name_prefix"]:
            request["NamePrefix"] = params["name_prefix"]
        paginator = client.get_paginator("list_schedules")
        summaries = AWSRetry.jittered_backoff()(paginator.paginate(**request).build_full_result)()[
            "Schedules"
        ]
        # NamePrefix is filtered here too: not every implementation honours it.
        schedules = [
            describe(client, s["Name"], s["GroupName"])
            for s in summaries
            if not params["name_prefix"] or s["Name"].startswith(params["name_prefix"])
        ]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe schedules")
    module.exit_json(changed=False, schedules=[s for s in schedules if s])


if __name__ == "__main__":
    main()
