#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: elasticache_replication_group_info
short_description: Describe ElastiCache replication groups
version_added: 0.1.0
description:
  - Returns one replication group, or all of them, with endpoints and tags.
author:
  - Loopin platform team (@loopin-platform)
options:
  replication_group_id:
    description: Only this group. An unknown ID returns an empty list.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the Redis group
  loopin.platform.elasticache_replication_group_info:
    replication_group_id: loopin-production
  register: redis_info

- name: Assert encryption
  ansible.builtin.assert:
    that:
      - redis_info.replication_groups[0].transit_encryption_enabled
      - redis_info.replication_groups[0].at_rest_encryption_enabled
"""

RETURN = r"""
replication_groups:
  description:
    - The groups, shaped like
      RV(loopin.platform.elasticache_replication_group#module:replication_group).
  returned: always
  type: list
  elements: dict
  contains:
    replication_group_id:
      description: The identifier.
      type: str
    status:
      description: creating, available, modifying, deleting...
      type: str
    primary_endpoint:
      description: Address and port of the primary.
      type: dict
    reader_endpoint:
      description: Address and port of the replicas.
      type: dict
    replicas:
      description: The number of read replicas.
      type: int
    auth_token_enabled:
      description: Whether an AUTH token is set.
      type: bool
    transit_encryption_enabled:
      description: TLS in transit.
      type: bool
    at_rest_encryption_enabled:
      description: Encryption at rest.
      type: bool
    tags:
      description: The group's tags.
      type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.elasticache import (
    group_result,
    list_tags,
)


def main():
    argument_spec = dict(replication_group_id=dict(type="str"))
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff())
    params = {}
    if module.params["replication_group_id"]:
        params["ReplicationGroupId"] = module.params["replication_group_id"]
    try:
        paginator = client.get_paginator("describe_replication_groups")
        groups = AWSRetry.jittered_backoff()(paginator.paginate(**params).build_full_result)()[
            "ReplicationGroups"
        ]
        result = [group_result(group, list_tags(client, group["ARN"])) for group in groups]
    except is_boto3_error_code("ReplicationGroupNotFoundFault"):
        result = []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Failed to describe replication groups")
    module.exit_json(changed=False, replication_groups=result)


if __name__ == "__main__":
    main()
