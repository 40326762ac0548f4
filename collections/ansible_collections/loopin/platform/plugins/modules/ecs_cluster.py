#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_cluster
short_description: Manage an ECS cluster with capacity providers, Container Insights and tags
version_added: 0.1.0
description:
  - M(community.aws.ecs_cluster) manages capacity providers but neither cluster settings (Container
    Insights) nor tags; this module manages all three, with check mode and diff.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the cluster should exist (it must have no services to be deleted).
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The cluster's name.
    type: str
    required: true
  capacity_providers:
    description: Capacity providers the cluster may use.
    type: list
    elements: str
    default: [FARGATE, FARGATE_SPOT]
  default_capacity_provider_strategy:
    description: Strategy for services that name none.
    type: list
    elements: dict
    default: []
    suboptions:
      capacity_provider:
        description: The provider.
        type: str
        required: true
      weight:
        description: Relative share.
        type: int
        default: 1
      base:
        description: Tasks placed here first.
        type: int
        default: 0
  container_insights:
    description: The C(containerInsights) setting.
    type: str
    choices: [enabled, disabled, enhanced]
    default: enabled
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: Fargate cluster with Container Insights
  loopin.platform.ecs_cluster:
    name: loopin-dev
    capacity_providers: [FARGATE, FARGATE_SPOT]
    default_capacity_provider_strategy:
      - capacity_provider: FARGATE
        base: 1
        weight: 1
    container_insights: enabled
    tags:
      Project: loopin
"""

RETURN = r"""
cluster:
  description: The cluster (snake_case, tags as a dictionary); empty when absent.
  returned: always
  type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result, snake_result


def describe(client, name):
    clusters = client.describe_clusters(aws_retry=True, clusters=[name], include=["SETTINGS", "TAGS"])[
        "clusters"
    ]
    return next((c for c in clusters if c.get("status") != "INACTIVE"), None)


def state_of(cluster):
    if not cluster:
        return {}
    settings = {s["name"]: s["value"] for s in cluster.get("settings", [])}
    return {
        "capacity_providers": sorted(cluster.get("capacityProviders", [])),
        "default_capacity_provider_strategy": [
            {
                "capacity_provider": s["capacityProvider"],
                "weight": s.get("weight", 0),
                "base": s.get("base", 0),
            }
            for s in cluster.get("defaultCapacityProviderStrategy", [])
        ],
        "container_insights": settings.get("containerInsights", "disabled"),
        "tags": {t["key"]: t["value"] for t in cluster.get("tags", [])},
    }


def result_of(cluster):
    if not cluster:
        return {}
    result = snake_result({k: v for k, v in cluster.items() if k != "tags"})
    result["tags"] = {t["key"]: t["value"] for t in cluster.get("tags", [])}
    return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        capacity_providers=dict(type="list", elements="str", default=["FARGATE", "FARGATE_SPOT"]),
        default_capacity_provider_strategy=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                capacity_provider=dict(type="str", required=True),
                weight=dict(type="int", default=1),
                base=dict(type="int", default=0),
            ),
        ),
        container_insights=dict(type="str", choices=["enabled", "disabled", "enhanced"], default="enabled"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    try:
        cluster = describe(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe cluster {name}")
    current = state_of(cluster)

    if params["state"] == "absent":
        if cluster and not module.check_mode:
            try:
                client.delete_cluster(aws_retry=True, cluster=name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete cluster {name}")
        module.exit_json(changed=bool(cluster), cluster={}, **diff_result(module, current, {}))

    strategy = [
        {"capacityProvider": s["capacity_provider"], "weight": s["weight"], "base": s["base"]}
        for s in params["default_capacity_provider_strategy"]
    ]
    wanted = {
        "capacity_providers": sorted(params["capacity_providers"]),
        "default_capacity_provider_strategy": params["default_capacity_provider_strategy"],
        "container_insights": params["container_insights"],
        "tags": current.get("tags", {}) if params["tags"] is None else dict(params["tags"]),
    }
    if params["tags"] is not None and not params["purge_tags"]:
        wanted["tags"] = {**current.get("tags", {}), **params["tags"]}
    settings = [{"name": "containerInsights", "value": params["container_insights"]}]

    if not cluster:
        if not module.check_mode:
            try:
                request = dict(
                    clusterName=name,
                    capacityProviders=params["capacity_providers"],
                    settings=settings,
                    tags=[{"key": k, "value": v} for k, v in sorted(wanted["tags"].items())],
                )
                if strategy:
                    request["defaultCapacityProviderStrategy"] = strategy
                client.create_cluster(aws_retry=True, **request)
                cluster = describe(client, name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to create cluster {name}")
        module.exit_json(changed=True, cluster=result_of(cluster), **diff_result(module, {}, wanted))

    changed = current != wanted
    if changed and not module.check_mode:
        try:
            if current["container_insights"] != wanted["container_insights"]:
                # UpdateCluster, not UpdateClusterSettings: same effect, and the emulator lacks the latter.
                client.update_cluster(aws_retry=True, cluster=name, settings=settings)
            if (
                current["capacity_providers"] != wanted["capacity_providers"]
                or current["default_capacity_provider_strategy"]
                != wanted["default_capacity_provider_strategy"]
            ):
                client.put_cluster_capacity_providers(
                    aws_retry=True,
                    cluster=name,
                    capacityProviders=params["capacity_providers"],
                    defaultCapacityProviderStrategy=strategy,
                )
            arn = cluster["clusterArn"]
            remove = [k for k in current["tags"] if k not in wanted["tags"] and not k.startswith("aws:")]
            add = {k: v for k, v in wanted["tags"].items() if current["tags"].get(k) != v}
            if remove:
                client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=remove)
            if add:
                client.tag_resource(
                    aws_retry=True, resourceArn=arn, tags=[{"key": k, "value": v} for k, v in add.items()]
                )
            cluster = describe(client, name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update cluster {name}")
    module.exit_json(
        changed=changed,
        cluster=result_of(cluster),
        **(diff_result(module, current, wanted) if changed else {}),
    )


if __name__ == "__main__":
    main()
