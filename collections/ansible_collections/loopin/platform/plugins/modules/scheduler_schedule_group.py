#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: scheduler_schedule_group
short_description: Manage an EventBridge Scheduler schedule group
version_added: 0.1.0
description:
  - Creates, tags or deletes a schedule group (deleting a group deletes its schedules). Groups
    carry the tags that schedules cannot; M(loopin.platform.scheduler_schedule) needs its group to
    exist (the moto emulator answers 500 for a missing group).
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The group's name.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: The environment's schedules live in their own group
  loopin.platform.scheduler_schedule_group:
    name: loopin-dev
    tags:
      Project: loopin
"""

RETURN = r"""
arn:
  description: The group's ARN.
  returned: when the group exists
  type: str
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import (
    diff_result,
    tag_changes,
    tags_from_list,
    tags_to_list,
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            name=dict(type="str", required=True),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    client = module.client("scheduler", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    try:
        group = client.get_schedule_group(aws_retry=True, Name=name)
        if group.get("State") == "DELETING":
            group = None
    except is_boto3_error_code("ResourceNotFoundException"):
        group = None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read schedule group {name}")

    if params["state"] == "absent":
        if group and not module.check_mode:
            try:
                client.delete_schedule_group(aws_retry=True, Name=name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete schedule group {name}")
        module.exit_json(changed=bool(group), **diff_result(module, {"name": name} if group else {}, {}))

    if not group:
        arn = None
        if not module.check_mode:
            try:
                arn = client.create_schedule_group(
                    aws_retry=True, Name=name, Tags=tags_to_list(params["tags"])
                )["ScheduleGroupArn"]
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to create schedule group {name}")
        module.exit_json(
            changed=True, arn=arn, **diff_result(module, {}, {"name": name, "tags": params["tags"] or {}})
        )

    arn = group["Arn"]
    try:
        current_tags = tags_from_list(client.list_tags_for_resource(aws_retry=True, ResourceArn=arn)["Tags"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read the tags of {name}")
    to_set, to_remove = tag_changes(current_tags, params["tags"], params["purge_tags"])
    changed = bool(to_set or to_remove)
    if changed and not module.check_mode:
        try:
            if to_remove:
                client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=to_remove)
            if to_set:
                client.tag_resource(aws_retry=True, ResourceArn=arn, Tags=tags_to_list(to_set))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to tag schedule group {name}")
    after = {**{k: v for k, v in current_tags.items() if k not in to_remove}, **to_set}
    module.exit_json(
        changed=changed,
        arn=arn,
        **(diff_result(module, {"tags": current_tags}, {"tags": after}) if changed else {}),
    )


if __name__ == "__main__":
    main()
