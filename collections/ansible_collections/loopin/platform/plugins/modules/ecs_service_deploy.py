#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service_deploy
short_description: Run an image on an ECS service - new task definition revision, created or updated service
version_added: 0.1.0
description:
  - What a deploy owns and site.yml does not (the ownership rule in the README) - the image, the task
    definition revision, and for blue/green the second (green) web service.
  - With O(image), registers a revision of the task definition that O(template_service) (default
    O(service)) runs, identical but for the image of O(container_name); the latest revision of the
    family is reused when it is already exactly that, so a re-run changes nothing.
  - With O(task_definition), runs that revision instead (a worker rollback).
  - A missing O(service) is created as a copy of O(template_service) (network configuration,
    launch type or capacity provider strategy, platform version, tags) attached to
    O(target_group_arn); an existing one is updated (task definition and desired count only, so the
    rest stays site.yml's). Updates carry the deployment circuit breaker with rollback.
  - community.aws.ecs_service would rewrite the whole service from its arguments (and needs every
    one of them) and community.aws.ecs_taskdefinition cannot derive a revision from another.
author:
  - Loopin platform team (@loopin-platform)
options:
  cluster:
    description: The ECS cluster.
    type: str
    required: true
  service:
    description: The service to run the image on.
    type: str
    required: true
  template_service:
    description: The service copied when O(service) does not exist, and whose task definition is the base.
    type: str
  image:
    description: The image (by digest) for O(container_name).
    type: str
  task_definition:
    description: A task definition ARN to run as it is (instead of O(image)).
    type: str
  container_name:
    description:
      - The container whose image changes and which the target group targets (default the container
        of the template's load balancer, else the first one).
    type: str
  container_port:
    description: The container port registered in O(target_group_arn) (default the template's, else 8000).
    type: int
  target_group_arn:
    description: The target group of a service created here.
    type: str
  desired_count:
    description:
      - Tasks wanted. Default - the template's count (at least 1) when O(template_service) is another
        service (the new side runs as many tasks as the live one), else the current count.
    type: int
  circuit_breaker:
    description: Turn on the ECS deployment circuit breaker with rollback on update.
    type: bool
    default: true
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start green on the new image, as many tasks as blue
  loopin.platform.ecs_service_deploy:
    cluster: loopin-production
    service: loopin-production-web-green
    template_service: loopin-production-web
    image: 123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/production/web@sha256:0123...
    container_name: web
    target_group_arn: "{{ green_tg_arn }}"

- name: Stop the old side
  loopin.platform.ecs_service_deploy:
    cluster: loopin-production
    service: loopin-production-web
    desired_count: 0
"""

RETURN = r"""
task_definition_arn:
  description: The revision the service runs after the call.
  returned: always
  type: str
previous_task_definition_arn:
  description: The revision it ran before (null for a new service).
  returned: always
  type: str
desired_count:
  description: The desired count after the call.
  returned: always
  type: int
created:
  description: Whether the service was created.
  returned: always
  type: bool
registered:
  description: Whether a task definition revision was registered.
  returned: always
  type: bool
"""

import copy

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# describe_task_definition fields that register_task_definition accepts.
REGISTER_KEYS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
    "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
    "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
)  # fmt: skip


def describe_service(client, cluster, name):
    found = client.describe_services(aws_retry=True, cluster=cluster, services=[name], include=["TAGS"])
    for service in found["services"]:
        if service.get("status") == "ACTIVE":
            return service
    return None


def describe_task_definition(client, name):
    found = client.describe_task_definition(aws_retry=True, taskDefinition=name, include=["TAGS"])
    return found["taskDefinition"], found.get("tags", [])


def registrable(task_definition):
    return {
        k: copy.deepcopy(task_definition[k])
        for k in REGISTER_KEYS
        if task_definition.get(k) not in (None, [], {})
    }


def with_image(module, task_definition, container_name, image):
    spec = registrable(task_definition)
    containers = spec["containerDefinitions"]
    target = (
        next((c for c in containers if c["name"] == container_name), None)
        if container_name
        else containers[0]
    )
    if target is None:
        module.fail_json(msg=f"{task_definition['taskDefinitionArn']} has no container {container_name}")
    target["image"] = image
    return spec


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        template_service=dict(type="str"),
        image=dict(type="str"),
        task_definition=dict(type="str"),
        container_name=dict(type="str"),
        container_port=dict(type="int"),
        target_group_arn=dict(type="str"),
        desired_count=dict(type="int"),
        circuit_breaker=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["image", "task_definition"]],
    )
    params = module.params
    cluster = params["cluster"]
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    try:
        service = describe_service(client, cluster, params["service"])
        template_name = params["template_service"] or params["service"]
        template = (
            service
            if template_name == params["service"]
            else describe_service(client, cluster, template_name)
        )
        if template is None and (service is None or params["image"]):
            module.fail_json(msg=f"service {template_name} not found in {cluster}")

        balancer = ((template or service).get("loadBalancers") or [{}])[0]
        container_name = params["container_name"] or balancer.get("containerName")
        container_port = params["container_port"] or balancer.get("containerPort") or 8000
        wanted_td = (service or template)["taskDefinition"]
        registered = False
        spec = None
        if params["task_definition"]:
            wanted_td = params["task_definition"]
        elif params["image"]:
            base, tags = describe_task_definition(client, template["taskDefinition"])
            spec = with_image(module, base, container_name, params["image"])
            latest, _ = describe_task_definition(client, spec["family"])
            if registrable(latest) == spec:
                wanted_td = latest["taskDefinitionArn"]
            else:
                registered = True
                wanted_td = None
                if not module.check_mode:
                    if tags:
                        spec["tags"] = tags
                    wanted_td = client.register_task_definition(aws_retry=True, **spec)["taskDefinition"][
                        "taskDefinitionArn"
                    ]

        desired = params["desired_count"]
        if desired is None and template_name != params["service"]:
            desired = max(template["desiredCount"], 1)
        elif desired is None:
            desired = service["desiredCount"]
        before = {"task_definition": service["taskDefinition"] if service else None,
                  "desired_count": service["desiredCount"] if service else None}  # fmt: skip
        after = {"task_definition": wanted_td or f"{spec['family']}:(new revision)", "desired_count": desired}
        created = service is None
        changed = registered or before != after
        deployment = {"minimumHealthyPercent": 100, "maximumPercent": 200}
        if params["circuit_breaker"]:
            deployment["deploymentCircuitBreaker"] = {"enable": True, "rollback": True}

        if changed and not module.check_mode:
            if created:
                if not params["target_group_arn"]:
                    module.fail_json(
                        msg=f"{params['service']} does not exist; target_group_arn is needed to create it"
                    )
                container = (
                    params["container_name"]
                    or describe_task_definition(client, wanted_td)[0]["containerDefinitions"][0]["name"]
                )
                create = {
                    "cluster": cluster,
                    "serviceName": params["service"],
                    "taskDefinition": wanted_td,
                    "desiredCount": desired,
                    "loadBalancers": [
                        {
                            "targetGroupArn": params["target_group_arn"],
                            "containerName": container,
                            "containerPort": container_port,
                        }
                    ],
                    "networkConfiguration": template["networkConfiguration"],
                    "deploymentConfiguration": deployment,
                    "propagateTags": "SERVICE",
                }
                if template.get("capacityProviderStrategy"):
                    create["capacityProviderStrategy"] = template["capacityProviderStrategy"]
                else:
                    create["launchType"] = template.get("launchType", "FARGATE")
                for key in ("platformVersion", "healthCheckGracePeriodSeconds"):
                    if template.get(key):
                        create[key] = template[key]
                if template.get("tags"):
                    create["tags"] = template["tags"]
                client.create_service(aws_retry=True, **create)
            else:
                client.update_service(
                    aws_retry=True,
                    cluster=cluster,
                    service=params["service"],
                    taskDefinition=wanted_td,
                    desiredCount=desired,
                    deploymentConfiguration=deployment,
                )
    except errors as e:
        module.fail_json_aws(e, msg=f"Failed to deploy {params['service']} in {cluster}")

    result = {
        "changed": changed,
        "task_definition_arn": after["task_definition"],
        "previous_task_definition_arn": before["task_definition"],
        "desired_count": desired,
        "created": created,
        "registered": registered,
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
