#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service
short_description: Manage an ECS service's infrastructure, leaving its revision and count to their owners
version_added: 0.1.0
description:
  - Creates, updates or deletes an ECS service. Unlike M(community.aws.ecs_service), ownership of
    a running service is split three ways, and this module only reconciles the first
    - B(infrastructure) (network, load balancers, capacity providers, deployment configuration,
      grace period, tags) is reconciled on every run;
    - B(the task-definition revision) belongs to the deploy pipeline - O(task_definition) is used to
      create the service and only replaces the running revision when O(update_task_definition=true)
      (the caller sets it when it registered a new revision itself, with the deployed image kept);
    - B(the desired count) belongs to the autoscaler - O(desired_count) is used only to create the
      service.
  - So re-running the playbook after a deploy or a scale-out reports no change and reverts nothing.
  - A field that the API does not report back for an existing service is not compared (the moto
    emulator, for example, drops C(deploymentConfiguration) and C(capacityProviderStrategy)); real
    AWS reports them all.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the service should exist. V(absent) scales it to zero and deletes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The service's name.
    type: str
    required: true
  cluster:
    description: The cluster's name or ARN.
    type: str
    required: true
  task_definition:
    description:
      - C(family:revision) or the task definition's ARN. Required to create the service.
      - On an existing service it is applied only when O(update_task_definition=true).
    type: str
  update_task_definition:
    description: Move an existing service to O(task_definition) (a new deployment).
    type: bool
    default: false
  desired_count:
    description: >-
      Number of tasks when the service is created; never
      changed afterwards (the autoscaler owns it).
    type: int
    default: 1
  capacity_provider_strategy:
    description: Capacity providers, for example FARGATE with a base and FARGATE_SPOT for the rest.
    type: list
    elements: dict
    default: []
    suboptions:
      capacity_provider:
        description: V(FARGATE) or V(FARGATE_SPOT) (or a cluster's own provider).
        type: str
        required: true
      weight:
        description: Relative share of the tasks.
        type: int
        default: 1
      base:
        description: Tasks placed on this provider before weights apply.
        type: int
        default: 0
  subnets:
    description: Subnets of the tasks' network interfaces (awsvpc).
    type: list
    elements: str
    required: true
  security_groups:
    description: Security groups of the tasks (the emulator fails without any).
    type: list
    elements: str
    required: true
  assign_public_ip:
    description: Give tasks a public address.
    type: bool
    default: false
  load_balancers:
    description: Target groups the service registers its tasks in.
    type: list
    elements: dict
    default: []
    suboptions:
      target_group_arn:
        description: The target group.
        type: str
        required: true
      container_name:
        description: The container that receives traffic.
        type: str
        required: true
      container_port:
        description: Its port.
        type: int
        required: true
  deployment_controller:
    description: Deployment controller, set at creation only.
    type: str
    choices: [ECS, CODE_DEPLOY, EXTERNAL]
    default: ECS
  circuit_breaker:
    description: Stop a failing rolling deployment and, with rollback, return to the last good revision.
    type: dict
    suboptions:
      enable:
        description: Turn the circuit breaker on.
        type: bool
        default: true
      rollback:
        description: Roll back on failure.
        type: bool
        default: true
  minimum_healthy_percent:
    description: Lower bound of running tasks during a deployment, in percent of the desired count.
    type: int
    default: 100
  maximum_percent:
    description: Upper bound of tasks during a deployment, in percent of the desired count.
    type: int
    default: 200
  health_check_grace_period_seconds:
    description: Ignore load-balancer health checks this long after a task starts (needs O(load_balancers)).
    type: int
  platform_version:
    description: Fargate platform version.
    type: str
    default: LATEST
  propagate_tags:
    description: Copy tags to the tasks from the service or the task definition.
    type: str
    choices: [SERVICE, TASK_DEFINITION, NONE]
    default: SERVICE
  enable_execute_command:
    description: Allow C(ecs execute-command) into the tasks.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: Web service on the blue target group, count owned by the autoscaler
  loopin.platform.ecs_service:
    name: loopin-dev-web
    cluster: loopin-dev
    task_definition: loopin-dev-web:3
    desired_count: 2
    capacity_provider_strategy:
      - capacity_provider: FARGATE
        base: 1
        weight: 1
    subnets: "{{ private_subnet_ids }}"
    security_groups: ["{{ web_sg_id }}"]
    load_balancers:
      - target_group_arn: "{{ blue_tg_arn }}"
        container_name: web
        container_port: 8000
    circuit_breaker:
      enable: true
      rollback: true
    health_check_grace_period_seconds: 60
    tags:
      Project: loopin
"""

RETURN = r"""
service:
  description: The service as ECS describes it (snake_case; tags as a dictionary), empty when absent.
  returned: always
  type: dict
  sample: {"service_name": "loopin-dev-web", "desired_count": 2}
updated_fields:
  description: The infrastructure fields that differed and were (or in check mode, would be) updated.
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result, snake_result


def ecs_tags(tags):
    return [{"key": k, "value": v} for k, v in sorted((tags or {}).items())]


def tags_dict(tag_list):
    return {t["key"]: t["value"] for t in tag_list or []}


def wanted_fields(params):
    """The infrastructure part of the service, in the API's shape."""
    fields = {
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": sorted(params["subnets"]),
                "securityGroups": sorted(params["security_groups"]),
                "assignPublicIp": "ENABLED" if params["assign_public_ip"] else "DISABLED",
            }
        },
        "loadBalancers": sorted(
            (
                {
                    "targetGroupArn": lb["target_group_arn"],
                    "containerName": lb["container_name"],
                    "containerPort": lb["container_port"],
                }
                for lb in params["load_balancers"]
            ),
            key=lambda lb: lb["targetGroupArn"],
        ),
        "deploymentConfiguration": {
            "maximumPercent": params["maximum_percent"],
            "minimumHealthyPercent": params["minimum_healthy_percent"],
        },
        "propagateTags": params["propagate_tags"],
        "enableExecuteCommand": params["enable_execute_command"],
    }
    if params["circuit_breaker"]:
        fields["deploymentConfiguration"]["deploymentCircuitBreaker"] = {
            "enable": params["circuit_breaker"]["enable"],
            "rollback": params["circuit_breaker"]["rollback"],
        }
    if params["capacity_provider_strategy"]:
        fields["capacityProviderStrategy"] = [
            {"capacityProvider": c["capacity_provider"], "weight": c["weight"], "base": c["base"]}
            for c in params["capacity_provider_strategy"]
        ]
    if params["health_check_grace_period_seconds"] is not None:
        fields["healthCheckGracePeriodSeconds"] = params["health_check_grace_period_seconds"]
    return fields


def current_fields(service, wanted):
    """The same keys as `wanted`, read from the service; keys the API did not report are skipped."""
    current = {}
    for key in wanted:
        if key not in service:
            continue
        value = service[key]
        if key == "networkConfiguration":
            vpc = value.get("awsvpcConfiguration", {})
            value = {
                "awsvpcConfiguration": {
                    "subnets": sorted(vpc.get("subnets", [])),
                    "securityGroups": sorted(vpc.get("securityGroups", [])),
                    "assignPublicIp": vpc.get("assignPublicIp", "DISABLED"),
                }
            }
        elif key == "loadBalancers":
            value = sorted(
                (
                    {k: lb.get(k) for k in ("targetGroupArn", "containerName", "containerPort")}
                    for lb in value
                ),
                key=lambda lb: lb["targetGroupArn"],
            )
        elif key == "deploymentConfiguration":
            value = {k: value.get(k) for k in wanted[key] if k in value}
            if "deploymentCircuitBreaker" in value:
                value["deploymentCircuitBreaker"] = {
                    k: value["deploymentCircuitBreaker"].get(k) for k in ("enable", "rollback")
                }
        elif key == "capacityProviderStrategy":
            value = [
                {
                    "capacityProvider": c["capacityProvider"],
                    "weight": c.get("weight", 0),
                    "base": c.get("base", 0),
                }
                for c in value
            ]
        current[key] = value
    return current


def service_result(service):
    if not service:
        return {}
    result = snake_result({k: v for k, v in service.items() if k != "tags"})
    result["tags"] = tags_dict(service.get("tags"))
    return result


def describe(client, cluster, name):
    services = client.describe_services(aws_retry=True, cluster=cluster, services=[name], include=["TAGS"])
    for service in services.get("services", []):
        if service.get("status") != "INACTIVE":
            return service
    return None


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        task_definition=dict(type="str"),
        update_task_definition=dict(type="bool", default=False),
        desired_count=dict(type="int", default=1),
        capacity_provider_strategy=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                capacity_provider=dict(type="str", required=True),
                weight=dict(type="int", default=1),
                base=dict(type="int", default=0),
            ),
        ),
        subnets=dict(type="list", elements="str", required=True),
        security_groups=dict(type="list", elements="str", required=True),
        assign_public_ip=dict(type="bool", default=False),
        load_balancers=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                target_group_arn=dict(type="str", required=True),
                container_name=dict(type="str", required=True),
                container_port=dict(type="int", required=True),
            ),
        ),
        deployment_controller=dict(type="str", choices=["ECS", "CODE_DEPLOY", "EXTERNAL"], default="ECS"),
        circuit_breaker=dict(
            type="dict",
            options=dict(enable=dict(type="bool", default=True), rollback=dict(type="bool", default=True)),
        ),
        minimum_healthy_percent=dict(type="int", default=100),
        maximum_percent=dict(type="int", default=200),
        health_check_grace_period_seconds=dict(type="int"),
        platform_version=dict(type="str", default="LATEST"),
        propagate_tags=dict(type="str", choices=["SERVICE", "TASK_DEFINITION", "NONE"], default="SERVICE"),
        enable_execute_command=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    name, cluster = params["name"], params["cluster"]

    try:
        service = describe(client, cluster, name)
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            service = None
        else:
            module.fail_json_aws(e, msg=f"Failed to describe service {name}")
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json_aws(e, msg=f"Failed to describe service {name}")

    if params["state"] == "absent":
        if not service:
            module.exit_json(changed=False, service={}, updated_fields=[])
        if not module.check_mode:
            try:
                client.update_service(aws_retry=True, cluster=cluster, service=name, desiredCount=0)
                client.delete_service(aws_retry=True, cluster=cluster, service=name, force=True)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete service {name}")
        module.exit_json(
            changed=True,
            service={},
            updated_fields=[],
            **diff_result(module, {"service": name}, {}),
        )

    wanted = wanted_fields(params)
    wanted_tags = params["tags"]

    if not service:
        if not params["task_definition"]:
            module.fail_json(msg=f"task_definition is required to create service {name}")
        request = dict(
            cluster=cluster,
            serviceName=name,
            taskDefinition=params["task_definition"],
            desiredCount=params["desired_count"],
            deploymentController={"type": params["deployment_controller"]},
            schedulingStrategy="REPLICA",
            enableECSManagedTags=True,
            **wanted,
        )
        if params["capacity_provider_strategy"]:
            request["platformVersion"] = params["platform_version"]
        else:
            request["launchType"] = "FARGATE"
            request["platformVersion"] = params["platform_version"]
        if wanted_tags:
            request["tags"] = ecs_tags(wanted_tags)
        after = {
            "task_definition": params["task_definition"],
            "desired_count": params["desired_count"],
            **wanted,
        }
        if module.check_mode:
            module.exit_json(changed=True, service={}, updated_fields=[], **diff_result(module, {}, after))
        try:
            created = client.create_service(aws_retry=True, **request)["service"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to create service {name}")
        module.exit_json(
            changed=True, service=service_result(created), updated_fields=[], **diff_result(module, {}, after)
        )

    current = current_fields(service, wanted)
    updated = sorted(key for key in current if current[key] != wanted[key])
    update = {key: wanted[key] for key in updated}
    before, after = dict(current), {**current, **update}
    if params["update_task_definition"] and params["task_definition"]:
        running = service["taskDefinition"]
        target = params["task_definition"]
        same = running == target or running.endswith(f"task-definition/{target}")
        if not same:
            update["taskDefinition"] = target
            updated.append("taskDefinition")
            before["taskDefinition"], after["taskDefinition"] = running, target

    current_tags = tags_dict(service.get("tags"))
    tags_to_set, tags_to_remove = {}, []
    if wanted_tags is not None:
        tags_to_set = {k: v for k, v in wanted_tags.items() if current_tags.get(k) != v}
        if params["purge_tags"]:
            tags_to_remove = [k for k in current_tags if k not in wanted_tags and not k.startswith("aws:")]
    if tags_to_set or tags_to_remove:
        updated.append("tags")
        before["tags"] = current_tags
        after["tags"] = {**{k: v for k, v in current_tags.items() if k not in tags_to_remove}, **tags_to_set}

    changed = bool(updated)
    if changed and not module.check_mode:
        try:
            if update:
                if "capacityProviderStrategy" in update:
                    update["forceNewDeployment"] = True
                client.update_service(aws_retry=True, cluster=cluster, service=name, **update)
            arn = service["serviceArn"]
            if tags_to_remove:
                client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=tags_to_remove)
            if tags_to_set:
                client.tag_resource(aws_retry=True, resourceArn=arn, tags=ecs_tags(tags_to_set))
            service = describe(client, cluster, name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update service {name}")
    module.exit_json(
        changed=changed,
        service=service_result(service),
        updated_fields=sorted(updated),
        **(diff_result(module, before, after) if changed else {}),
    )


if __name__ == "__main__":
    main()
