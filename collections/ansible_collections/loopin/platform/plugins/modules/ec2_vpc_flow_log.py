#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ec2_vpc_flow_log
short_description: Create, replace or delete a VPC flow log
version_added: 0.1.0
description:
  - Manages one flow log of a VPC, subnet, network interface or transit gateway.
  - A flow log is identified by O(resource_id) and its destination (O(log_group_name) or
    O(log_destination)). The module manages at most one flow log per resource and destination.
  - AWS cannot modify a flow log. When O(traffic_type), O(log_destination_type),
    O(deliver_logs_permission_arn), O(log_format) or O(max_aggregation_interval) differ from
    the existing flow log, the module replaces it (delete, then create) and returns RV(replaced=true).
    Tags are updated in place.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the flow log should exist.
    type: str
    choices: [present, absent]
    default: present
  resource_id:
    description: The ID of the VPC, subnet, network interface or transit gateway to log.
    type: str
    required: true
  resource_type:
    description: The type of O(resource_id).
    type: str
    choices: [VPC, Subnet, NetworkInterface, TransitGateway, TransitGatewayAttachment]
    default: VPC
  traffic_type:
    description: Which traffic to log.
    type: str
    choices: [ALL, ACCEPT, REJECT]
    default: ALL
  log_destination_type:
    description: Where the records go.
    type: str
    choices: [cloud-watch-logs, s3, kinesis-data-firehose]
    default: cloud-watch-logs
  log_group_name:
    description:
      - The CloudWatch Logs log group that receives the records.
      - Only with O(log_destination_type=cloud-watch-logs). One of O(log_group_name) and
        O(log_destination) is required.
    type: str
  log_destination:
    description:
      - The ARN of the destination (log group, S3 bucket or prefix, Firehose delivery stream).
    type: str
  deliver_logs_permission_arn:
    description:
      - The IAM role that lets the flow logs service publish to CloudWatch Logs.
      - Required when O(state=present) and O(log_destination_type=cloud-watch-logs).
    type: str
  log_format:
    description:
      - The fields of a flow log record, for example V(${version} ${srcaddr} ${dstaddr} ${action}).
      - When omitted, AWS uses its default format and the module does not compare it.
    type: str
  max_aggregation_interval:
    description: Seconds over which a flow is captured into a record.
    type: int
    choices: [60, 600]
    default: 600
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log rejected traffic of the VPC to CloudWatch Logs
  loopin.platform.ec2_vpc_flow_log:
    resource_id: "{{ vpc.vpc.id }}"
    traffic_type: REJECT
    log_group_name: /vpc/loopin-production/flow-logs
    deliver_logs_permission_arn: "{{ flow_logs_role.iam_role.arn }}"
    max_aggregation_interval: 60
    tags:
      Project: loopin
      Environment: production
      ManagedBy: ansible

- name: Log all traffic of a subnet to S3
  loopin.platform.ec2_vpc_flow_log:
    resource_type: Subnet
    resource_id: subnet-0123456789abcdef0
    log_destination_type: s3
    log_destination: arn:aws:s3:::loopin-flow-logs/production/

- name: Remove the flow log
  loopin.platform.ec2_vpc_flow_log:
    resource_id: "{{ vpc.vpc.id }}"
    log_group_name: /vpc/loopin-production/flow-logs
    state: absent
"""

RETURN = r"""
flow_log:
  description: The flow log after the call (its desired shape in check mode; empty when absent).
  returned: always
  type: dict
  contains:
    flow_log_id:
      description: The flow log ID (absent in check mode before creation).
      type: str
      sample: fl-0123456789abcdef0
    resource_id:
      description: The logged resource.
      type: str
      sample: vpc-0123456789abcdef0
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
replaced_because:
  description: The options whose difference forced the replacement.
  returned: when replaced
  type: list
  elements: str
  sample: [traffic_type]
replaced:
  description: Whether the flow log was deleted and created again because an immutable attribute changed.
  returned: always
  type: bool
  sample: false
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.transformation import (
    ansible_dict_to_boto3_filter_list,
)
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import (
    diff_result,
    merged_tags,
    snake_result,
    tag_changes,
    tags_from_list,
    tags_to_list,
)

# Attributes AWS cannot modify on an existing flow log: a difference means replacement.
IMMUTABLE = (
    ("TrafficType", "traffic_type"),
    ("LogDestinationType", "log_destination_type"),
    ("DeliverLogsPermissionArn", "deliver_logs_permission_arn"),
    ("LogFormat", "log_format"),
    ("MaxAggregationInterval", "max_aggregation_interval"),
)


def describe_flow_logs(client, **params):
    paginator = client.get_paginator("describe_flow_logs")
    return AWSRetry.jittered_backoff()(paginator.paginate(**params).build_full_result)()["FlowLogs"]


def find_flow_log(module, client):
    params = module.params
    found = describe_flow_logs(
        client, Filters=ansible_dict_to_boto3_filter_list({"resource-id": params["resource_id"]})
    )
    matches = []
    for flow_log in found:
        if params["log_group_name"] and flow_log.get("LogGroupName") == params["log_group_name"]:
            matches.append(flow_log)
        elif params["log_destination"] and flow_log.get("LogDestination") == params["log_destination"]:
            matches.append(flow_log)
    if len(matches) > 1:
        module.fail_json(
            msg=f"{len(matches)} flow logs of {params['resource_id']} write to the same destination; "
            "remove the extra ones by hand so that this module manages exactly one",
            flow_log_ids=[m["FlowLogId"] for m in matches],
        )
    return matches[0] if matches else None


def desired_state(params):
    state = {
        "ResourceId": params["resource_id"],
        "TrafficType": params["traffic_type"],
        "LogDestinationType": params["log_destination_type"],
        "MaxAggregationInterval": params["max_aggregation_interval"],
    }
    for key, option in (
        ("LogGroupName", "log_group_name"),
        ("LogDestination", "log_destination"),
        ("DeliverLogsPermissionArn", "deliver_logs_permission_arn"),
        ("LogFormat", "log_format"),
    ):
        if params[option] is not None:
            state[key] = params[option]
    return state


def comparable(flow_log):
    """The attributes the module manages, as shown in diff output."""
    if not flow_log:
        return {}
    keys = ["ResourceId", "LogGroupName", "LogDestination"] + [key for key, _ in IMMUTABLE]
    result = {key: flow_log[key] for key in keys if flow_log.get(key) is not None}
    result["Tags"] = flow_log.get("Tags") or []
    return snake_result(result)


def immutable_differences(existing, params):
    changed = []
    for key, option in IMMUTABLE:
        wanted = params[option]
        if wanted is None:
            continue  # not managed (AWS default)
        if existing.get(key) != wanted:
            changed.append(option)
    return changed


def create_flow_log(module, client, tags):
    params = module.params
    request = {
        "ResourceType": params["resource_type"],
        "ResourceIds": [params["resource_id"]],
        "TrafficType": params["traffic_type"],
        "LogDestinationType": params["log_destination_type"],
        "MaxAggregationInterval": params["max_aggregation_interval"],
    }
    for key, option in (
        ("LogGroupName", "log_group_name"),
        ("LogDestination", "log_destination"),
        ("DeliverLogsPermissionArn", "deliver_logs_permission_arn"),
        ("LogFormat", "log_format"),
    ):
        if params[option] is not None:
            request[key] = params[option]
    if tags:
        request["TagSpecifications"] = [{"ResourceType": "vpc-flow-log", "Tags": tags_to_list(tags)}]
    try:
        response = client.create_flow_logs(aws_retry=True, **request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to create the flow log of {params['resource_id']}")
    if response.get("Unsuccessful"):
        error = response["Unsuccessful"][0].get("Error", {})
        module.fail_json(
            msg=f"Failed to create the flow log of {params['resource_id']}: {error.get('Message')}"
        )
    return response["FlowLogIds"][0]


def delete_flow_log(module, client, flow_log_id):
    try:
        client.delete_flow_logs(aws_retry=True, FlowLogIds=[flow_log_id])
    except is_boto3_error_code("InvalidFlowLogId.NotFound"):
        return
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to delete flow log {flow_log_id}")


def read_flow_log(client, flow_log_id):
    found = describe_flow_logs(client, FlowLogIds=[flow_log_id])
    return found[0] if found else None


def ensure_present(module, client, existing):
    params = module.params
    replace_fields = immutable_differences(existing, params) if existing else []
    current_tags = tags_from_list(existing.get("Tags")) if existing else {}

    if existing is None or replace_fields:
        # A replacement keeps the current tags unless new ones are given.
        wanted_tags = params["tags"] if params["tags"] is not None else current_tags
        after = dict(desired_state(params), Tags=tags_to_list(wanted_tags))
        changed = True
    else:
        to_set, to_remove = tag_changes(current_tags, params["tags"], params["purge_tags"])
        wanted_tags = merged_tags(current_tags, params["tags"], params["purge_tags"])
        after = dict(existing, Tags=tags_to_list(wanted_tags))
        changed = bool(to_set or to_remove)

    result = {"changed": changed, "replaced": bool(replace_fields)}
    if replace_fields:
        result["replaced_because"] = replace_fields
    result.update(diff_result(module, comparable(existing), comparable(after)))

    if module.check_mode or not changed:
        module.exit_json(flow_log=snake_result(after), **result)

    if existing is None or replace_fields:
        if existing:
            delete_flow_log(module, client, existing["FlowLogId"])
        flow_log_id = create_flow_log(module, client, wanted_tags)
    else:
        flow_log_id = existing["FlowLogId"]
        try:
            if to_remove:
                client.delete_tags(
                    aws_retry=True, Resources=[flow_log_id], Tags=[{"Key": k} for k in to_remove]
                )
            if to_set:
                client.create_tags(aws_retry=True, Resources=[flow_log_id], Tags=tags_to_list(to_set))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update the tags of flow log {flow_log_id}")

    module.exit_json(flow_log=snake_result(read_flow_log(client, flow_log_id)), **result)


def ensure_absent(module, client, existing):
    if existing is None:
        module.exit_json(changed=False, replaced=False, flow_log={})
    result = {
        "changed": True,
        "replaced": False,
        "flow_log": {},
        **diff_result(module, comparable(existing), {}),
    }
    if not module.check_mode:
        delete_flow_log(module, client, existing["FlowLogId"])
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        resource_id=dict(type="str", required=True),
        resource_type=dict(
            type="str",
            choices=["VPC", "Subnet", "NetworkInterface", "TransitGateway", "TransitGatewayAttachment"],
            default="VPC",
        ),
        traffic_type=dict(type="str", choices=["ALL", "ACCEPT", "REJECT"], default="ALL"),
        log_destination_type=dict(
            type="str",
            choices=["cloud-watch-logs", "s3", "kinesis-data-firehose"],
            default="cloud-watch-logs",
        ),
        log_group_name=dict(type="str"),
        log_destination=dict(type="str"),
        deliver_logs_permission_arn=dict(type="str"),
        log_format=dict(type="str"),
        max_aggregation_interval=dict(type="int", choices=[60, 600], default=600),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[["log_group_name", "log_destination"]],
    )
    params = module.params
    if params["log_group_name"] and params["log_destination_type"] != "cloud-watch-logs":
        module.fail_json(msg="log_group_name is only valid with log_destination_type=cloud-watch-logs")
    if (
        params["state"] == "present"
        and params["log_destination_type"] == "cloud-watch-logs"
        and not params["deliver_logs_permission_arn"]
    ):
        module.fail_json(
            msg="deliver_logs_permission_arn is required when log_destination_type=cloud-watch-logs"
        )

    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        existing = find_flow_log(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe the flow logs of {params['resource_id']}")

    if params["state"] == "present":
        ensure_present(module, client, existing)
    else:
        ensure_absent(module, client, existing)


if __name__ == "__main__":
    main()
