#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: scheduler_schedule
short_description: Manage an EventBridge Scheduler schedule
version_added: 0.1.0
description:
  - Creates, updates or deletes a schedule of EventBridge Scheduler (the C(scheduler) API, not
    EventBridge rules) that sends a message to SQS, runs an ECS task, or calls any other target.
  - Options and target fields left unset keep their current value on an existing schedule (AWS
    defaults on a new one). C(UpdateSchedule) replaces the whole definition, so the module sends
    the current definition with the changes applied.
  - Schedules carry no tags in AWS (their group does).
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the schedule should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The schedule's name, unique within its group.
    type: str
    required: true
  group_name:
    description: The schedule group. It must exist (V(default) always does).
    type: str
    default: default
  description:
    description: What the schedule is for.
    type: str
  schedule_expression:
    description:
      - When it runs - V(rate(5 minutes)), V(cron(0 3 * * ? *)) or V(at(2026-12-01T09:00:00)).
      - Required to create the schedule.
    type: str
  schedule_expression_timezone:
    description: Time zone of cron and at expressions, for example V(Asia/Kolkata). AWS uses UTC when unset.
    type: str
  enabled:
    description: Whether the schedule runs (C(State=ENABLED)) or is paused (C(DISABLED)).
    type: bool
    default: true
  flexible_time_window_minutes:
    description:
      - Let AWS start the invocation up to this many minutes late to spread load; V(0) runs on time
        (C(Mode=OFF)).
    type: int
    default: 0
  kms_key_arn:
    description: The KMS key that encrypts the target's input.
    type: str
  action_after_completion:
    description: Whether a one-time (at) schedule is deleted after it ran.
    type: str
    choices: [NONE, DELETE]
  target:
    description: What the schedule invokes. Required to create the schedule.
    type: dict
    suboptions:
      arn:
        description: The target, for example an SQS queue ARN or an ECS cluster ARN.
        type: str
        required: true
      role_arn:
        description: The role EventBridge Scheduler assumes to invoke the target.
        type: str
        required: true
      input:
        description:
          - The payload. A dictionary or list is sent as JSON; JSON payloads are compared by value,
            not by key order.
        type: raw
      retry_policy:
        description: Retries of failed invocations.
        type: dict
        suboptions:
          maximum_event_age_in_seconds:
            description: Give up on an invocation after this many seconds (60 to 86400).
            type: int
          maximum_retry_attempts:
            description: Give up after this many retries (0 to 185).
            type: int
      dead_letter_arn:
        description: The SQS queue that receives invocations that failed for good.
        type: str
      sqs_message_group_id:
        description: The message group of a FIFO queue target.
        type: str
      ecs_parameters:
        description:
          - For an ECS cluster target, the API's C(EcsParameters) dictionary (C(TaskDefinitionArn),
            C(LaunchType), C(NetworkConfiguration)...), passed as given.
        type: dict
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Put the nightly cleanup job on the background-jobs queue
  loopin.platform.scheduler_schedule:
    name: loopin-production-nightly-cleanup
    description: Purge expired sessions and stale uploads
    schedule_expression: cron(30 2 * * ? *)
    schedule_expression_timezone: Asia/Kolkata
    flexible_time_window_minutes: 15
    target:
      arn: "{{ background_jobs_queue.queue_arn }}"
      role_arn: "{{ scheduler_role.iam_role.arn }}"
      input:
        task: maintenance.cleanup
        args: []
      retry_policy:
        maximum_event_age_in_seconds: 3600
        maximum_retry_attempts: 3
      dead_letter_arn: "{{ background_jobs_dlq.queue_arn }}"

- name: Pause it
  loopin.platform.scheduler_schedule:
    name: loopin-production-nightly-cleanup
    enabled: false

- name: Delete it
  loopin.platform.scheduler_schedule:
    name: loopin-production-nightly-cleanup
    state: absent
"""

RETURN = r"""
schedule:
  description: The schedule after the call (its desired shape in check mode; empty when absent), snake_cased.
  returned: always
  type: dict
  contains:
    arn:
      description: The schedule's ARN (absent in check mode before creation).
      type: str
      sample: arn:aws:scheduler:ap-south-1:123456789012:schedule/default/loopin-production-nightly-cleanup
    name:
      description: The name.
      type: str
    group_name:
      description: The group.
      type: str
    schedule_expression:
      description: The expression.
      type: str
    schedule_expression_timezone:
      description: Its time zone.
      type: str
    state:
      description: ENABLED or DISABLED.
      type: str
    flexible_time_window:
      description: mode and maximum_window_in_minutes.
      type: dict
    target:
      description: The target (arn, role_arn, input, retry_policy, dead_letter_config...).
      type: dict
"""

import copy
import json

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result, snake_result

# The fields of a schedule that CreateSchedule/UpdateSchedule take back.
DEFINITION_KEYS = (
    "Description",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "State",
    "KmsKeyArn",
    "ActionAfterCompletion",
    "StartDate",
    "EndDate",
)


def get_schedule(client, name, group_name):
    try:
        return client.get_schedule(aws_retry=True, Name=name, GroupName=group_name)
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def definition(schedule):
    return {key: copy.deepcopy(schedule[key]) for key in DEFINITION_KEYS if schedule.get(key) is not None}


def encode_input(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def canonical(schedule_definition):
    """Compare JSON inputs by value."""
    result = copy.deepcopy(schedule_definition)
    payload = (result.get("Target") or {}).get("Input")
    if isinstance(payload, str):
        try:
            result["Target"]["Input"] = json.loads(payload)
        except ValueError:
            pass
    return result


def desired_changes(params):
    """The definition fields the task sets, in the API's shape."""
    wanted = {
        "State": "ENABLED" if params["enabled"] else "DISABLED",
        "FlexibleTimeWindow": (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": params["flexible_time_window_minutes"]}
            if params["flexible_time_window_minutes"]
            else {"Mode": "OFF"}
        ),
    }
    for key, option in (
        ("Description", "description"),
        ("ScheduleExpression", "schedule_expression"),
        ("ScheduleExpressionTimezone", "schedule_expression_timezone"),
        ("KmsKeyArn", "kms_key_arn"),
        ("ActionAfterCompletion", "action_after_completion"),
    ):
        if params[option] is not None:
            wanted[key] = params[option]
    target = params["target"]
    if target:
        wanted_target = {"Arn": target["arn"], "RoleArn": target["role_arn"]}
        if target["input"] is not None:
            wanted_target["Input"] = encode_input(target["input"])
        policy = target["retry_policy"]
        if policy:
            wanted_target["RetryPolicy"] = {}
            if policy["maximum_event_age_in_seconds"] is not None:
                wanted_target["RetryPolicy"]["MaximumEventAgeInSeconds"] = policy[
                    "maximum_event_age_in_seconds"
                ]
            if policy["maximum_retry_attempts"] is not None:
                wanted_target["RetryPolicy"]["MaximumRetryAttempts"] = policy["maximum_retry_attempts"]
        if target["dead_letter_arn"] is not None:
            wanted_target["DeadLetterConfig"] = {"Arn": target["dead_letter_arn"]}
        if target["sqs_message_group_id"] is not None:
            wanted_target["SqsParameters"] = {"MessageGroupId": target["sqs_message_group_id"]}
        if target["ecs_parameters"] is not None:
            wanted_target["EcsParameters"] = target["ecs_parameters"]
        wanted["Target"] = wanted_target
    return wanted


def apply_changes(current, wanted):
    """`current` definition with the wanted fields laid over it (target and retry policy field by field)."""
    result = copy.deepcopy(current)
    for key, value in wanted.items():
        if key == "Target" and "Target" in result:
            target = result["Target"]
            for target_key, target_value in value.items():
                if target_key == "RetryPolicy":
                    target["RetryPolicy"] = dict(target.get("RetryPolicy") or {}, **target_value)
                else:
                    target[target_key] = copy.deepcopy(target_value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def shown(schedule_definition, name, group_name, arn=None):
    result = dict(schedule_definition, Name=name, GroupName=group_name)
    if arn:
        result["Arn"] = arn
    return snake_result(result)


def ensure_group_exists(module, client, group_name):
    if group_name == "default":
        return
    try:
        client.get_schedule_group(aws_retry=True, Name=group_name)
    except is_boto3_error_code("ResourceNotFoundException"):
        module.fail_json(msg=f"Schedule group {group_name} does not exist; create it first")


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        group_name=dict(type="str", default="default"),
        description=dict(type="str"),
        schedule_expression=dict(type="str"),
        schedule_expression_timezone=dict(type="str"),
        enabled=dict(type="bool", default=True),
        flexible_time_window_minutes=dict(type="int", default=0),
        kms_key_arn=dict(type="str", no_log=False),
        action_after_completion=dict(type="str", choices=["NONE", "DELETE"]),
        target=dict(
            type="dict",
            options=dict(
                arn=dict(type="str", required=True),
                role_arn=dict(type="str", required=True),
                input=dict(type="raw"),
                retry_policy=dict(
                    type="dict",
                    options=dict(
                        maximum_event_age_in_seconds=dict(type="int"),
                        maximum_retry_attempts=dict(type="int"),
                    ),
                ),
                dead_letter_arn=dict(type="str"),
                sqs_message_group_id=dict(type="str"),
                ecs_parameters=dict(type="dict"),
            ),
        ),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    name, group_name = params["name"], params["group_name"]
    expression = params["schedule_expression"]
    if expression is not None and not expression.startswith(("rate(", "cron(", "at(")):
        module.fail_json(
            msg=f"schedule_expression must be rate(...), cron(...) or at(...), got {expression!r}"
        )
    if not 0 <= params["flexible_time_window_minutes"] <= 1440:
        module.fail_json(msg="flexible_time_window_minutes must be between 0 and 1440")

    client = module.client("scheduler", retry_decorator=AWSRetry.jittered_backoff())
    try:
        existing = get_schedule(client, name, group_name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read schedule {group_name}/{name}")
    before = definition(existing) if existing else {}

    if params["state"] == "absent":
        result = {"changed": existing is not None, "schedule": {}}
        result.update(diff_result(module, snake_result(before), {}))
        if existing and not module.check_mode:
            try:
                client.delete_schedule(aws_retry=True, Name=name, GroupName=group_name)
            except is_boto3_error_code("ResourceNotFoundException"):
                pass
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Failed to delete schedule {group_name}/{name}")
        module.exit_json(**result)

    wanted = desired_changes(params)
    if existing is None:
        missing = [option for option in ("schedule_expression", "target") if params[option] is None]
        if missing:
            module.fail_json(msg=f"{' and '.join(missing)} required to create schedule {group_name}/{name}")
        after = wanted
    else:
        after = apply_changes(before, wanted)
    changed = canonical(after) != canonical(before)
    if not changed:
        after = before  # equal by value; show AWS's spelling of the JSON input
    result = {"changed": changed}
    result.update(diff_result(module, snake_result(before), snake_result(after)))
    if module.check_mode or not changed:
        module.exit_json(schedule=shown(after, name, group_name, existing and existing.get("Arn")), **result)

    try:
        if existing is None:
            ensure_group_exists(module, client, group_name)
            client.create_schedule(aws_retry=True, Name=name, GroupName=group_name, **after)
        else:
            client.update_schedule(aws_retry=True, Name=name, GroupName=group_name, **after)
        final = get_schedule(client, name, group_name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to write schedule {group_name}/{name}")
    module.exit_json(schedule=shown(definition(final), name, group_name, final.get("Arn")), **result)


if __name__ == "__main__":
    main()
