#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_one_off_task
short_description: Run a one-off ECS task (a command override of a task definition) and wait for its exit code
version_added: 0.1.0
description:
  - Runs O(task_definition) once with O(command) as the command of O(container_name), in the network
    configuration, launch type (or capacity provider strategy) and platform version of
    O(service), waits until the task is STOPPED and returns the container's exit code.
  - Fails when the exit code is not 0, when the container never ran (no exit code) and when the task
    is still running after O(timeout_seconds) (the task is left to finish, not killed half way).
    The message names the task ARN and the CloudWatch Logs group and stream of the container.
  - The deploy runs the new release's database migrations this way before any traffic reaches it.
  - In check mode nothing runs; the result says what would.
author:
  - Loopin platform team (@loopin-platform)
options:
  cluster:
    description: The ECS cluster.
    type: str
    required: true
  task_definition:
    description: The task definition revision (ARN or family:revision) to run.
    type: str
    required: true
  service:
    description: The service whose network configuration, launch type and platform version the task uses.
    type: str
    required: true
  command:
    description: The command override of O(container_name).
    type: list
    elements: str
    required: true
  container_name:
    description: The container to override (default the task definition's first container).
    type: str
  started_by:
    description: The startedBy of the task (at most 36 characters), which finds it again in ListTasks.
    type: str
    default: loopin-deploy
  timeout_seconds:
    description: How long the task may take from RunTask to STOPPED.
    type: int
    default: 600
  poll_seconds:
    description: Seconds between two DescribeTasks.
    type: int
    default: 2
notes:
  - Supports C(check_mode).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Database migrations of the new release, before any traffic
  loopin.platform.ecs_one_off_task:
    cluster: loopin-production
    task_definition: "{{ started.task_definition_arn }}"
    service: loopin-production-web-green
    command: [loopin-web-manage, migrate, --noinput]
    timeout_seconds: 900
"""

RETURN = r"""
task_arn:
  description: The task that ran (null in check mode).
  returned: always
  type: str
exit_code:
  description: The container's exit code (null in check mode or when it never ran).
  returned: always
  type: int
stopped_reason:
  description: ECS's reason for the stop.
  returned: always
  type: str
log_group:
  description: The container's awslogs group (null without awslogs).
  returned: always
  type: str
log_stream:
  description: The container's awslogs stream (prefix/container/task id).
  returned: always
  type: str
seconds:
  description: Time from RunTask to STOPPED.
  returned: always
  type: float
"""

import time

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def log_location(container, task_arn):
    """The awslogs group and stream ECS writes the container's output to."""
    options = (container.get("logConfiguration") or {}).get("options") or {}
    if (container.get("logConfiguration") or {}).get("logDriver") != "awslogs":
        return None, None
    group = options.get("awslogs-group")
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container['name']}/{task_arn.rsplit('/', 1)[-1]}" if prefix and task_arn else None
    return group, stream


def run_request(service, definition, container_name, command, started_by, cluster):
    request = {
        "cluster": cluster,
        "taskDefinition": definition["taskDefinitionArn"],
        "count": 1,
        "startedBy": started_by,
        "overrides": {"containerOverrides": [{"name": container_name, "command": command}]},
    }
    if service.get("networkConfiguration"):
        request["networkConfiguration"] = service["networkConfiguration"]
    if service.get("capacityProviderStrategy"):
        request["capacityProviderStrategy"] = service["capacityProviderStrategy"]
    elif service.get("launchType"):
        request["launchType"] = service["launchType"]
    if service.get("platformVersion"):
        request["platformVersion"] = service["platformVersion"]
    return request


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        task_definition=dict(type="str", required=True),
        service=dict(type="str", required=True),
        command=dict(type="list", elements="str", required=True),
        container_name=dict(type="str"),
        started_by=dict(type="str", default="loopin-deploy"),
        timeout_seconds=dict(type="int", default=600),
        poll_seconds=dict(type="int", default=2),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not params["command"]:
        module.fail_json(msg="command must not be empty")
    if params["timeout_seconds"] < 1 or params["poll_seconds"] < 1:
        module.fail_json(msg="timeout_seconds and poll_seconds must be at least 1")
    if len(params["started_by"]) > 36:
        module.fail_json(msg=f"started_by is at most 36 characters (got {len(params['started_by'])})")
    cluster = params["cluster"]
    result = dict(
        changed=True, task_arn=None, exit_code=None, stopped_reason=None, log_group=None, log_stream=None,
        seconds=0.0,
    )  # fmt: skip
    if module.check_mode:
        # The revision may not even exist yet in check mode (the deploy registers it).
        module.exit_json(
            msg=f"would run {' '.join(params['command'])} as a one-off task of {params['task_definition']}",
            **result,
        )
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    try:
        services = client.describe_services(aws_retry=True, cluster=cluster, services=[params["service"]])
        service = next((s for s in services["services"] if s.get("status") == "ACTIVE"), None)
        if service is None:
            module.fail_json(msg=f"service {params['service']} not found in {cluster}", **result)
        definition = client.describe_task_definition(
            aws_retry=True, taskDefinition=params["task_definition"]
        )["taskDefinition"]
        containers = definition["containerDefinitions"]
        name = params["container_name"] or containers[0]["name"]
        container = next((c for c in containers if c["name"] == name), None)
        if container is None:
            module.fail_json(msg=f"{definition['taskDefinitionArn']} has no container {name}", **result)
        request = run_request(service, definition, name, params["command"], params["started_by"], cluster)
        start = time.monotonic()
        started = client.run_task(**request)
        if not started.get("tasks"):
            module.fail_json(msg=f"RunTask started nothing: {started.get('failures')}", **result)
        task_arn = started["tasks"][0]["taskArn"]
        result["task_arn"] = task_arn
        result["log_group"], result["log_stream"] = log_location(container, task_arn)
        where = (
            f"task {task_arn}, logs {result['log_group'] or '(no awslogs)'} / {result['log_stream'] or '-'}"
        )
        deadline = start + params["timeout_seconds"]
        task = started["tasks"][0]
        while task.get("lastStatus") != "STOPPED":
            if time.monotonic() >= deadline:
                result["seconds"] = round(time.monotonic() - start, 1)
                module.fail_json(
                    msg=(
                        f"{' '.join(params['command'])} still running after {params['timeout_seconds']} s "
                        f"(left running, a migration stopped half way is worse than a late one): {where}"
                    ),
                    **result,
                )
            time.sleep(params["poll_seconds"])
            task = client.describe_tasks(aws_retry=True, cluster=cluster, tasks=[task_arn])["tasks"][0]
        result["seconds"] = round(time.monotonic() - start, 1)
        ran = next((c for c in task.get("containers", []) if c.get("name") == name), {})
        result["exit_code"] = ran.get("exitCode")
        result["stopped_reason"] = task.get("stoppedReason")
    except errors as e:
        module.fail_json_aws(e, msg=f"one-off task of {params['task_definition']} in {cluster}")
    command = " ".join(params["command"])
    if result["exit_code"] is None:
        module.fail_json(msg=f"{command} never ran ({result['stopped_reason']}): {where}", **result)
    if result["exit_code"] != 0:
        module.fail_json(msg=f"{command} exited {result['exit_code']}: {where}", **result)
    module.exit_json(msg=f"{command} exited 0 in {result['seconds']} s: {where}", **result)


if __name__ == "__main__":
    main()
