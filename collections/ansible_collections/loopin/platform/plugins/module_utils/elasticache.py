# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""ElastiCache replication group reading, shared by the module and its _info twin."""

from __future__ import annotations

from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import snake_result, tags_from_list


def list_tags(client, arn):
    return tags_from_list(client.list_tags_for_resource(aws_retry=True, ResourceName=arn).get("TagList"))


def replica_count(group):
    node_groups = group.get("NodeGroups") or []
    if node_groups:
        return max(len(node_groups[0].get("NodeGroupMembers") or []) - 1, 0)
    return max(len(group.get("MemberClusters") or []) - 1, 0)


def group_result(group, tags):
    result = snake_result(group)
    node_groups = group.get("NodeGroups") or [{}]
    for key, name in (("PrimaryEndpoint", "primary_endpoint"), ("ReaderEndpoint", "reader_endpoint")):
        if node_groups[0].get(key):
            result[name] = snake_result(node_groups[0][key])
    result["replicas"] = replica_count(group)
    result["tags"] = tags
    return result
