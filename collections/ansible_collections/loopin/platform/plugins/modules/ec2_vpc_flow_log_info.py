#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ec2_vpc_flow_log_info
short_description: List VPC flow logs
version_added: 0.1.0
description:
  - Lists flow logs by ID, by logged resource, or by any DescribeFlowLogs filter.
author:
  - Loopin platform team (@loopin-platform)
options:
  flow_log_ids:
    description: Only these flow logs.
    type: list
    elements: str
  resource_ids:
    description: Only the flow logs of these VPCs, subnets or network interfaces.
    type: list
    elements: str
  filters:
    description:
      - DescribeFlowLogs filters as a dictionary, for example C(log-group-name) or C(tag:Environment).
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeFlowLogs.html).
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Flow logs of the VPC
  loopin.platform.ec2_vpc_flow_log_info:
    resource_ids:
      - "{{ vpc.vpc.id }}"
  register: vpc_flow_logs
"""

RETURN = r"""
flow_logs:
  description: The matching flow logs, with snake_case keys and tags as a dictionary.
  returned: always
  type: list
  elements: dict
  contains:
    flow_log_id:
      description: The flow log ID.
      type: str
      sample: fl-0123456789abcdef0
    resource_id:
      description: The logged resource.
      type: str
    traffic_type:
      description: ALL, ACCEPT or REJECT.
      type: str
    log_destination_type:
      description: cloud-watch-logs, s3 or kinesis-data-firehose.
      type: str
    log_group_name:
      description: The log group (CloudWatch Logs destinations).
      type: str
    log_destination:
      description: The destination ARN.
      type: str
    deliver_logs_permission_arn:
      description: The IAM role used to publish.
      type: str
    log_format:
      description: The record format.
      type: str
    max_aggregation_interval:
      description: 60 or 600.
      type: int
    flow_log_status:
      description: ACTIVE once created.
      type: str
    deliver_logs_status:
      description: SUCCESS or FAILED.
      type: str
    tags:
      description: The flow log's tags.
      type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.transformation import (
    ansible_dict_to_boto3_filter_list,
)
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import snake_result


def main():
    argument_spec = dict(
        flow_log_ids=dict(type="list", elements="str"),
        resource_ids=dict(type="list", elements="str"),
        filters=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())

    filters = dict(module.params["filters"])
    if module.params["resource_ids"]:
        filters["resource-id"] = module.params["resource_ids"]
    params = {"Filters": ansible_dict_to_boto3_filter_list(filters)}
    if module.params["flow_log_ids"]:
        params["FlowLogIds"] = module.params["flow_log_ids"]
    try:
        paginator = client.get_paginator("describe_flow_logs")
        found = AWSRetry.jittered_backoff()(paginator.paginate(**params).build_full_result)()["FlowLogs"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe flow logs")
    module.exit_json(changed=False, flow_logs=[snake_result(flow_log) for flow_log in found])


if __name__ == "__main__":
    main()
