#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: wafv2_logging_configuration
short_description: Send a WAFv2 web ACL's logs to CloudWatch Logs, S3 or Firehose
version_added: 0.1.0
description:
  - Puts or deletes the logging configuration of a web ACL.
  - AWS only accepts destinations whose name starts with C(aws-waf-logs-) (log group, bucket or
    delivery stream). The module checks this before any call, so the rule also holds against
    emulators that do not enforce it.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the web ACL should log.
    type: str
    choices: [present, absent]
    default: present
  web_acl_arn:
    description: The web ACL.
    type: str
    required: true
  log_destination_configs:
    description:
      - The destination ARN (AWS accepts exactly one), for example
        V(arn:aws:logs:ap-south-1:123456789012:log-group:aws-waf-logs-loopin-production).
      - A trailing V(:*) on a log group ARN is ignored when comparing.
    type: list
    elements: str
  redacted_fields:
    description:
      - Request parts kept out of the logs, in the API's shape, for example a list with one
        C(SingleHeader) dictionary whose C(Name) is V(authorization).
      - Compared as given; V([]) removes every redaction.
    type: list
    elements: dict
  logging_filter:
    description:
      - Which requests are logged, in the API's C(LoggingFilter) shape (C(Filters), C(DefaultBehavior)).
      - Omit to leave the current filter alone; V({}) removes it (log everything).
    type: dict
notes:
  - Supports C(check_mode) and C(diff).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log the web ACL to CloudWatch Logs, without the Authorization header
  loopin.platform.wafv2_logging_configuration:
    web_acl_arn: "{{ web_acl.arn }}"
    log_destination_configs:
      - "{{ waf_log_group.log_groups[0].arn | regex_replace(':\\*$', '') }}"
    redacted_fields:
      - SingleHeader:
          Name: authorization

- name: Log only blocked and counted requests
  loopin.platform.wafv2_logging_configuration:
    web_acl_arn: "{{ web_acl.arn }}"
    log_destination_configs:
      - arn:aws:logs:ap-south-1:123456789012:log-group:aws-waf-logs-loopin-staging
    logging_filter:
      DefaultBehavior: DROP
      Filters:
        - Behavior: KEEP
          Requirement: MEETS_ANY
          Conditions:
            - ActionCondition:
                Action: BLOCK
            - ActionCondition:
                Action: COUNT
"""

RETURN = r"""
logging_configuration:
  description:
    - The logging configuration after the call (its desired shape in check mode; empty when absent),
      snake_cased. The diff uses the API's shape, like the options.
  returned: always
  type: dict
  contains:
    resource_arn:
      description: The web ACL.
      type: str
    log_destination_configs:
      description: The destination ARNs.
      type: list
      elements: str
    redacted_fields:
      description: The redacted request parts.
      type: list
      elements: dict
    logging_filter:
      description: The filter.
      type: dict
"""

import re

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result, snake_result

PREFIX = "aws-waf-logs-"
# The resource name of each accepted destination type, taken from its ARN.
DESTINATION_NAME = (
    re.compile(r"^arn:aws[a-z-]*:logs:[^:]*:[^:]*:log-group:(?P<name>[^:]+)(:\*)?$"),
    re.compile(r"^arn:aws[a-z-]*:s3:::(?P<name>[^/]+)(/.*)?$"),
    re.compile(r"^arn:aws[a-z-]*:firehose:[^:]*:[^:]*:deliverystream/(?P<name>.+)$"),
)


def normalize_destination(arn):
    return arn[:-2] if arn.endswith(":*") else arn


def check_destinations(module, destinations):
    if len(destinations) != 1:
        module.fail_json(
            msg=f"log_destination_configs takes exactly one ARN (AWS limit), got {len(destinations)}"
        )
    for arn in destinations:
        for pattern in DESTINATION_NAME:
            match = pattern.match(arn)
            if match:
                break
        else:
            module.fail_json(
                msg=f"log_destination_configs: {arn} is not the ARN of a CloudWatch Logs log group, "
                "an S3 bucket or a Firehose delivery stream"
            )
        if not match.group("name").startswith(PREFIX):
            module.fail_json(
                msg=f"log_destination_configs: {match.group('name')} must start with {PREFIX} "
                f"(AWS WAF only logs to destinations named {PREFIX}...)"
            )


def comparable(config):
    if not config:
        return {}
    return {
        "LogDestinationConfigs": [
            normalize_destination(arn) for arn in config.get("LogDestinationConfigs") or []
        ],
        "RedactedFields": config.get("RedactedFields") or [],
        "LoggingFilter": config.get("LoggingFilter") or {},
    }


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        web_acl_arn=dict(type="str", required=True),
        log_destination_configs=dict(type="list", elements="str"),
        redacted_fields=dict(type="list", elements="dict"),
        logging_filter=dict(type="dict"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["log_destination_configs"]]],
    )
    params = module.params
    web_acl_arn = params["web_acl_arn"]
    if not re.match(r"^arn:aws[a-z-]*:wafv2:[^:]*:[^:]*:(regional|global)/webacl/", web_acl_arn):
        module.fail_json(msg=f"web_acl_arn must be a WAFv2 web ACL ARN, got {web_acl_arn!r}")
    if params["state"] == "present":
        check_destinations(module, params["log_destination_configs"])

    client = module.client("wafv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        current = client.get_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)[
            "LoggingConfiguration"
        ]
    except is_boto3_error_code("WAFNonexistentItemException"):
        current = None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read the logging configuration of {web_acl_arn}")
    before = comparable(current)

    if params["state"] == "absent":
        result = {
            "changed": current is not None,
            "logging_configuration": {},
            **diff_result(module, before, {}),
        }
        if current is not None and not module.check_mode:
            try:
                client.delete_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)
            except is_boto3_error_code("WAFNonexistentItemException"):
                pass
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Failed to delete the logging configuration of {web_acl_arn}")
        module.exit_json(**result)

    after = {
        "LogDestinationConfigs": [normalize_destination(arn) for arn in params["log_destination_configs"]],
        "RedactedFields": params["redacted_fields"]
        if params["redacted_fields"] is not None
        else before.get("RedactedFields", []),
        "LoggingFilter": params["logging_filter"]
        if params["logging_filter"] is not None
        else before.get("LoggingFilter", {}),
    }
    changed = after != before
    result = {"changed": changed, **diff_result(module, before, after)}
    if module.check_mode or not changed:
        shown = dict(after, ResourceArn=web_acl_arn) if changed else dict(current, ResourceArn=web_acl_arn)
        module.exit_json(logging_configuration=snake_result(shown), **result)

    request = {"ResourceArn": web_acl_arn, "LogDestinationConfigs": params["log_destination_configs"]}
    if after["RedactedFields"]:
        request["RedactedFields"] = after["RedactedFields"]
    if after["LoggingFilter"]:
        request["LoggingFilter"] = after["LoggingFilter"]
    try:
        response = client.put_logging_configuration(aws_retry=True, LoggingConfiguration=request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to put the logging configuration of {web_acl_arn}")
    module.exit_json(logging_configuration=snake_result(response["LoggingConfiguration"]), **result)


if __name__ == "__main__":
    main()
