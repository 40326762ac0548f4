#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: elasticache_replication_group
short_description: Manage an ElastiCache (Redis OSS / Valkey) replication group, cluster mode disabled
version_added: 0.1.0
description:
  - Creates, modifies or deletes a replication group of one primary and O(replicas) read replicas,
    with encryption in transit and at rest, an AUTH token, automatic failover and Multi-AZ.
  - Options left unset (V(null)) are neither sent nor compared.
  - Changed in place through C(ModifyReplicationGroup) (applied immediately unless
    O(apply_immediately=false)) - O(description), O(cache_node_type), O(engine_version),
    O(automatic_failover_enabled), O(multi_az_enabled), O(snapshot_retention_limit),
    O(snapshot_window), O(preferred_maintenance_window), O(security_group_ids),
    O(cache_parameter_group_name), O(notification_topic_arn), O(auto_minor_version_upgrade), and the
    AUTH token when O(rotate_auth_token=true). O(replicas) changes through
    C(IncreaseReplicaCount) / C(DecreaseReplicaCount).
  - Not changeable by this module - O(engine), O(port), O(cache_subnet_group_name),
    O(transit_encryption_enabled), O(at_rest_encryption_enabled), O(kms_key_id). A difference
    fails with a message naming the field; create a new group and migrate.
  - Settings stored on the member cache clusters (engine version, subnet group, security groups,
    maintenance window, parameter group, notification topic) are read from the primary's cache
    cluster; when it cannot be read (the moto emulator creates none) they are not compared.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the replication group should exist.
    type: str
    choices: [present, absent]
    default: present
  replication_group_id:
    description: The replication group identifier (lowercase, up to 40 characters).
    type: str
    required: true
  description:
    description: The group's description. Defaults to O(replication_group_id) on creation.
    type: str
  engine:
    description: The engine.
    type: str
    choices: [redis, valkey]
  engine_version:
    description: The engine version, for example V(7.1). Compared as a prefix of the running version.
    type: str
  cache_node_type:
    description: The node type, for example V(cache.t4g.small). Required to create the group.
    type: str
  replicas:
    description: The number of read replicas besides the primary (0 to 5).
    type: int
  automatic_failover_enabled:
    description: Promote a replica when the primary fails. Needs O(replicas) of 1 or more.
    type: bool
  multi_az_enabled:
    description: Keep the replicas in other Availability Zones than the primary. Needs automatic failover.
    type: bool
  cache_subnet_group_name:
    description: The subnet group (private subnets) the nodes live in.
    type: str
  security_group_ids:
    description: The VPC security groups of the nodes.
    type: list
    elements: str
  port:
    description: The port the nodes listen on (AWS default 6379).
    type: int
  cache_parameter_group_name:
    description: The parameter group.
    type: str
  transit_encryption_enabled:
    description: TLS between clients and nodes. Required for an AUTH token.
    type: bool
  at_rest_encryption_enabled:
    description: Encrypt data on disk and in snapshots.
    type: bool
  kms_key_id:
    description: The KMS key for encryption at rest (AWS-managed key when omitted).
    type: str
  auth_token:
    description:
      - The AUTH token (16 to 128 printable characters, none of V(@), double quote, V(/)).
        Never logged or returned.
      - Set on creation. An existing group's token is only changed when O(rotate_auth_token=true),
        because AWS cannot tell whether a token matches.
    type: str
  rotate_auth_token:
    description:
      - Send O(auth_token) to an existing group with the C(ROTATE) strategy (old and new token are
        both accepted until the next rotation). Always reports a change.
    type: bool
    default: false
  snapshot_retention_limit:
    description: Days automatic snapshots are kept (0 disables them).
    type: int
  snapshot_window:
    description: Daily UTC time range for snapshots, for example V(03:00-04:00).
    type: str
  preferred_maintenance_window:
    description: Weekly UTC maintenance range, for example V(sun:05:00-sun:06:00).
    type: str
  notification_topic_arn:
    description: SNS topic for ElastiCache events.
    type: str
  auto_minor_version_upgrade:
    description: Apply minor engine upgrades automatically.
    type: bool
  apply_immediately:
    description: Apply modifications now instead of in the next maintenance window.
    type: bool
    default: true
  final_snapshot_identifier:
    description: With O(state=absent), take a final snapshot under this name before deleting.
    type: str
  wait:
    description: Wait until the group is available after creating or modifying it.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
notes:
  - Supports C(check_mode) and C(diff). The AUTH token appears in neither; only C(auth_token_enabled) does.
  - Deletion does not wait; a group in status C(deleting) counts as absent.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Production Redis, Multi-AZ with one replica, encrypted, with AUTH
  loopin.platform.elasticache_replication_group:
    replication_group_id: loopin-production
    description: Loopin cache and Celery results
    engine: redis
    engine_version: "7.1"
    cache_node_type: cache.t4g.small
    replicas: 1
    automatic_failover_enabled: true
    multi_az_enabled: true
    cache_subnet_group_name: loopin-production-private
    security_group_ids:
      - "{{ redis_sg.group_id }}"
    transit_encryption_enabled: true
    at_rest_encryption_enabled: true
    auth_token: "{{ redis_auth_token }}"
    snapshot_retention_limit: 7
    snapshot_window: "03:00-04:00"
    tags:
      Project: loopin
      Environment: production
      ManagedBy: ansible
  no_log: true
  register: redis

- name: Delete it, keeping a final snapshot
  loopin.platform.elasticache_replication_group:
    replication_group_id: loopin-production
    final_snapshot_identifier: loopin-production-final
    state: absent
"""

RETURN = r"""
replication_group:
  description: The replication group (its desired shape in check mode; empty when absent).
  returned: always
  type: dict
  contains:
    replication_group_id:
      description: The identifier.
      type: str
    arn:
      description: The ARN.
      type: str
    status:
      description: creating, available, modifying...
      type: str
    description:
      description: The description.
      type: str
    cache_node_type:
      description: The node type.
      type: str
    member_clusters:
      description: The cache clusters (nodes) of the group.
      type: list
      elements: str
    primary_endpoint:
      description: Address and port of the primary (writes).
      type: dict
      sample: {"address": "master.loopin-production.abc123.aps1.cache.amazonaws.com", "port": 6379}
    reader_endpoint:
      description: Address and port balancing over the replicas.
      type: dict
    replicas:
      description: The number of read replicas.
      type: int
    automatic_failover:
      description: enabled or disabled.
      type: str
    multi_az:
      description: enabled or disabled.
      type: str
    transit_encryption_enabled:
      description: TLS in transit.
      type: bool
    at_rest_encryption_enabled:
      description: Encryption at rest.
      type: bool
    auth_token_enabled:
      description: Whether an AUTH token is set (the token itself is never returned).
      type: bool
    snapshot_retention_limit:
      description: Days snapshots are kept.
      type: int
    snapshot_window:
      description: The daily snapshot window.
      type: str
    tags:
      description: The group's tags.
      type: dict
changes:
  description: The options that differed and were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
  sample: [cache_node_type, snapshot_retention_limit]
"""

import re

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import (
    diff_result,
    merged_tags,
    tag_changes,
    tags_to_list,
)
from ansible_collections.loopin.platform.plugins.module_utils.elasticache import (
    group_result,
    list_tags,
    replica_count,
)

AUTH_TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{16,128}$")
GONE_STATUSES = ("deleting",)


def describe_group(client, group_id):
    try:
        groups = client.describe_replication_groups(aws_retry=True, ReplicationGroupId=group_id)[
            "ReplicationGroups"
        ]
    except is_boto3_error_code("ReplicationGroupNotFoundFault"):
        return None
    if not groups or groups[0].get("Status") in GONE_STATUSES:
        return None
    return groups[0]


def describe_primary_cluster(client, group):
    """The primary's cache cluster carries version, subnet group, SGs, windows; None if unreadable."""
    members = []
    for node_group in group.get("NodeGroups") or []:
        for member in node_group.get("NodeGroupMembers") or []:
            if member.get("CurrentRole") == "primary":
                members.insert(0, member["CacheClusterId"])
    members += [m for m in group.get("MemberClusters") or [] if m not in members]
    for cluster_id in members[:1]:
        try:
            clusters = client.describe_cache_clusters(aws_retry=True, CacheClusterId=cluster_id)[
                "CacheClusters"
            ]
        except is_boto3_error_code("CacheClusterNotFound"):
            return None
        return clusters[0] if clusters else None
    return None


def current_settings(group, cluster):
    """The group's settings keyed by option name; options that cannot be read are left out."""
    node_groups = group.get("NodeGroups") or [{}]
    endpoint = node_groups[0].get("PrimaryEndpoint") or {}
    settings = {
        "description": group.get("Description"),
        "engine": group.get("Engine"),
        "cache_node_type": group.get("CacheNodeType"),
        "replicas": replica_count(group),
        "automatic_failover_enabled": group.get("AutomaticFailover") in ("enabled", "enabling"),
        "multi_az_enabled": group.get("MultiAZ") == "enabled",
        "transit_encryption_enabled": bool(group.get("TransitEncryptionEnabled")),
        "at_rest_encryption_enabled": bool(group.get("AtRestEncryptionEnabled")),
        "kms_key_id": group.get("KmsKeyId"),
        "auth_token_enabled": bool(group.get("AuthTokenEnabled")),
        "snapshot_retention_limit": group.get("SnapshotRetentionLimit"),
        "snapshot_window": group.get("SnapshotWindow"),
        "port": endpoint.get("Port"),
        "auto_minor_version_upgrade": group.get("AutoMinorVersionUpgrade"),
    }
    if cluster:
        settings.update(
            {
                "engine_version": cluster.get("EngineVersion"),
                "cache_subnet_group_name": cluster.get("CacheSubnetGroupName"),
                "security_group_ids": sorted(
                    sg["SecurityGroupId"] for sg in cluster.get("SecurityGroups") or []
                ),
                "preferred_maintenance_window": cluster.get("PreferredMaintenanceWindow"),
                "cache_parameter_group_name": (cluster.get("CacheParameterGroup") or {}).get(
                    "CacheParameterGroupName"
                ),
                "notification_topic_arn": (cluster.get("NotificationConfiguration") or {}).get("TopicArn"),
            }
        )
        if settings["auto_minor_version_upgrade"] is None:
            settings["auto_minor_version_upgrade"] = cluster.get("AutoMinorVersionUpgrade")
    return {key: value for key, value in settings.items() if value is not None}


MUTABLE = {
    # option: ModifyReplicationGroup parameter
    "description": "ReplicationGroupDescription",
    "cache_node_type": "CacheNodeType",
    "engine_version": "EngineVersion",
    "automatic_failover_enabled": "AutomaticFailoverEnabled",
    "multi_az_enabled": "MultiAZEnabled",
    "snapshot_retention_limit": "SnapshotRetentionLimit",
    "snapshot_window": "SnapshotWindow",
    "preferred_maintenance_window": "PreferredMaintenanceWindow",
    "security_group_ids": "SecurityGroupIds",
    "cache_parameter_group_name": "CacheParameterGroupName",
    "notification_topic_arn": "NotificationTopicArn",
    "auto_minor_version_upgrade": "AutoMinorVersionUpgrade",
}
IMMUTABLE = (
    "engine",
    "port",
    "cache_subnet_group_name",
    "transit_encryption_enabled",
    "at_rest_encryption_enabled",
    "kms_key_id",
)


def wanted_settings(params):
    wanted = {option: params[option] for option in list(MUTABLE) + list(IMMUTABLE) + ["replicas"]}
    if wanted["security_group_ids"] is not None:
        wanted["security_group_ids"] = sorted(wanted["security_group_ids"])
    return {key: value for key, value in wanted.items() if value is not None}


def same(option, current, wanted):
    if option == "engine_version":
        return current == wanted or current.startswith(wanted + ".")
    if option == "preferred_maintenance_window":
        return current.lower() == wanted.lower()
    if option == "kms_key_id":
        return current == wanted or current.endswith("/" + wanted) or current.endswith(":" + wanted)
    return current == wanted


def differences(current, wanted):
    """Options (readable in `current`) whose wanted value differs."""
    return sorted(
        option
        for option, value in wanted.items()
        if option in current and not same(option, current[option], value)
    )


def wait_available(module, client, group_id):
    if not module.params["wait"]:
        return
    try:
        waiter = client.get_waiter("replication_group_available")
        waiter.wait(
            ReplicationGroupId=group_id,
            WaiterConfig={"Delay": 15, "MaxAttempts": max(module.params["wait_timeout"] // 15, 1)},
        )
    except botocore.exceptions.WaiterError as e:
        module.fail_json_aws(e, msg=f"Timed out waiting for replication group {group_id} to be available")


def create_group(module, client, tags):
    params = module.params
    request = {
        "ReplicationGroupId": params["replication_group_id"],
        "ReplicationGroupDescription": params["description"] or params["replication_group_id"],
        "CacheNodeType": params["cache_node_type"],
        # NumNodeGroups=1 + ReplicasPerNodeGroup is the documented cluster-mode-disabled shape that
        # both AWS and moto honour (moto ignores NumCacheClusters).
        "NumNodeGroups": 1,
        "ReplicasPerNodeGroup": params["replicas"] or 0,
    }
    optional = {
        "Engine": "engine",
        "EngineVersion": "engine_version",
        "AutomaticFailoverEnabled": "automatic_failover_enabled",
        "MultiAZEnabled": "multi_az_enabled",
        "CacheSubnetGroupName": "cache_subnet_group_name",
        "SecurityGroupIds": "security_group_ids",
        "Port": "port",
        "CacheParameterGroupName": "cache_parameter_group_name",
        "TransitEncryptionEnabled": "transit_encryption_enabled",
        "AtRestEncryptionEnabled": "at_rest_encryption_enabled",
        "KmsKeyId": "kms_key_id",
        "AuthToken": "auth_token",
        "SnapshotRetentionLimit": "snapshot_retention_limit",
        "SnapshotWindow": "snapshot_window",
        "PreferredMaintenanceWindow": "preferred_maintenance_window",
        "NotificationTopicArn": "notification_topic_arn",
        "AutoMinorVersionUpgrade": "auto_minor_version_upgrade",
    }
    for key, option in optional.items():
        if params[option] is not None:
            request[key] = params[option]
    if tags:
        request["Tags"] = tags_to_list(tags)
    try:
        client.create_replication_group(aws_retry=True, **request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to create replication group {params['replication_group_id']}")


def modify_group(module, client, group, changes):
    params = module.params
    group_id = params["replication_group_id"]
    try:
        if "replicas" in changes:
            count_change = (
                client.increase_replica_count
                if params["replicas"] > replica_count(group)
                else client.decrease_replica_count
            )
            count_change(
                aws_retry=True,
                ReplicationGroupId=group_id,
                NewReplicaCount=params["replicas"],
                ApplyImmediately=True,
            )
            wait_available(module, client, group_id)
        request = {MUTABLE[option]: params[option] for option in changes if option in MUTABLE}
        if params["rotate_auth_token"]:
            request.update(AuthToken=params["auth_token"], AuthTokenUpdateStrategy="ROTATE")
        if request:
            client.modify_replication_group(
                aws_retry=True,
                ReplicationGroupId=group_id,
                ApplyImmediately=params["apply_immediately"],
                **request,
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to modify replication group {group_id} ({', '.join(changes)})")


def update_tags(module, client, arn, current, to_set, to_remove):
    try:
        if to_remove:
            client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=to_remove)
        if to_set:
            client.add_tags_to_resource(aws_retry=True, ResourceName=arn, Tags=tags_to_list(to_set))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to update the tags of {arn}")


def diff_view(settings, tags):
    if settings is None:
        return {}
    return dict(settings, tags=tags)


def ensure_present(module, client, group):
    params = module.params
    group_id = params["replication_group_id"]
    wanted = wanted_settings(params)

    if group is None:
        if not params["cache_node_type"]:
            module.fail_json(msg=f"cache_node_type is required to create replication group {group_id}")
        tags = params["tags"] or {}
        after = dict(
            wanted,
            description=params["description"] or group_id,
            replicas=params["replicas"] or 0,
            auth_token_enabled=bool(params["auth_token"]),
        )
        result = {"changed": True, "changes": ["created"], **diff_result(module, {}, diff_view(after, tags))}
        if module.check_mode:
            module.exit_json(
                replication_group=dict(after, replication_group_id=group_id, tags=tags), **result
            )
        create_group(module, client, tags)
        wait_available(module, client, group_id)
        group = describe_group(client, group_id)
        module.exit_json(replication_group=group_result(group, list_tags(client, group["ARN"])), **result)

    try:
        cluster = describe_primary_cluster(client, group)
        current_tags = list_tags(client, group["ARN"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read replication group {group_id}")
    current = current_settings(group, cluster)
    changes = differences(current, wanted)

    frozen = [option for option in changes if option in IMMUTABLE]
    if frozen:
        details = "; ".join(f"{option}: {current[option]!r} -> {wanted[option]!r}" for option in frozen)
        module.fail_json(
            msg=f"Replication group {group_id} cannot change {', '.join(frozen)} in place ({details}). "
            "Create a new replication group and migrate to it.",
            changes=frozen,
        )
    if params["auth_token"] and not current.get("auth_token_enabled") and not params["rotate_auth_token"]:
        module.fail_json(
            msg=f"Replication group {group_id} has no AUTH token; set rotate_auth_token=true to add one",
            changes=["auth_token"],
        )
    if params["rotate_auth_token"]:
        changes.append("auth_token")

    to_set, to_remove = tag_changes(current_tags, params["tags"], params["purge_tags"])
    after_tags = merged_tags(current_tags, params["tags"], params["purge_tags"])
    if to_set or to_remove:
        changes.append("tags")
    after = dict(current)
    after.update({option: wanted[option] for option in changes if option in wanted})
    if "auth_token" in changes:
        after["auth_token_enabled"] = True
    result = {
        "changed": bool(changes),
        "changes": changes,
        **diff_result(module, diff_view(current, current_tags), diff_view(after, after_tags)),
    }
    if module.check_mode or not changes:
        module.exit_json(replication_group=group_result(group, after_tags), **result)

    if set(changes) - {"tags"}:
        if group.get("Status") != "available":
            # A group that is still creating or modifying rejects ModifyReplicationGroup.
            wait_available(module, client, group_id)
        modify_group(module, client, group, [c for c in changes if c != "tags"])
        wait_available(module, client, group_id)
    update_tags(module, client, group["ARN"], current_tags, to_set, to_remove)
    group = describe_group(client, group_id)
    module.exit_json(replication_group=group_result(group, list_tags(client, group["ARN"])), **result)


def ensure_absent(module, client, group):
    if group is None:
        module.exit_json(changed=False, changes=[], replication_group={})
    try:
        current = current_settings(group, describe_primary_cluster(client, group))
        tags = list_tags(client, group["ARN"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read replication group {group['ReplicationGroupId']}")
    result = {
        "changed": True,
        "changes": ["deleted"],
        "replication_group": {},
        **diff_result(module, diff_view(current, tags), {}),
    }
    if module.check_mode:
        module.exit_json(**result)
    request = {"ReplicationGroupId": group["ReplicationGroupId"]}
    if module.params["final_snapshot_identifier"]:
        request["FinalSnapshotIdentifier"] = module.params["final_snapshot_identifier"]
    try:
        client.delete_replication_group(aws_retry=True, **request)
    except is_boto3_error_code("ReplicationGroupNotFoundFault"):
        pass
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to delete replication group {group['ReplicationGroupId']}")
    module.exit_json(**result)


def validate(module):
    params = module.params
    if params["state"] != "present":
        return
    if params["auth_token"] is not None:
        if not AUTH_TOKEN_PATTERN.match(params["auth_token"]) or any(
            c in params["auth_token"] for c in '@"/'
        ):
            # Never echo the token.
            module.fail_json(
                msg="auth_token must be 16 to 128 printable ASCII characters, "
                "without spaces, @, double quote or /"
            )
        if params["transit_encryption_enabled"] is not True:
            module.fail_json(msg="auth_token requires transit_encryption_enabled=true")
    if params["rotate_auth_token"] and not params["auth_token"]:
        module.fail_json(msg="rotate_auth_token=true requires auth_token")
    if params["replicas"] is not None and not 0 <= params["replicas"] <= 5:
        module.fail_json(msg=f"replicas must be between 0 and 5, got {params['replicas']}")
    if params["automatic_failover_enabled"] and params["replicas"] is not None and params["replicas"] < 1:
        module.fail_json(msg="automatic_failover_enabled=true requires replicas >= 1")
    if params["multi_az_enabled"] and params["automatic_failover_enabled"] is False:
        module.fail_json(msg="multi_az_enabled=true requires automatic_failover_enabled=true")


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        replication_group_id=dict(type="str", required=True),
        description=dict(type="str"),
        engine=dict(type="str", choices=["redis", "valkey"]),
        engine_version=dict(type="str"),
        cache_node_type=dict(type="str"),
        replicas=dict(type="int"),
        automatic_failover_enabled=dict(type="bool"),
        multi_az_enabled=dict(type="bool"),
        cache_subnet_group_name=dict(type="str"),
        security_group_ids=dict(type="list", elements="str"),
        port=dict(type="int"),
        cache_parameter_group_name=dict(type="str"),
        transit_encryption_enabled=dict(type="bool"),
        at_rest_encryption_enabled=dict(type="bool"),
        kms_key_id=dict(type="str"),
        auth_token=dict(type="str", no_log=True),
        rotate_auth_token=dict(type="bool", default=False),
        snapshot_retention_limit=dict(type="int"),
        snapshot_window=dict(type="str"),
        preferred_maintenance_window=dict(type="str"),
        notification_topic_arn=dict(type="str"),
        auto_minor_version_upgrade=dict(type="bool"),
        apply_immediately=dict(type="bool", default=True),
        final_snapshot_identifier=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    validate(module)
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff())
    try:
        group = describe_group(client, module.params["replication_group_id"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(
            e, msg=f"Failed to describe replication group {module.params['replication_group_id']}"
        )
    if module.params["state"] == "present":
        ensure_present(module, client, group)
    else:
        ensure_absent(module, client, group)


if __name__ == "__main__":
    main()
