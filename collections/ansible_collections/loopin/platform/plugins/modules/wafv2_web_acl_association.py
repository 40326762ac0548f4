#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: wafv2_web_acl_association
short_description: Associate a regional WAFv2 web ACL with a load balancer (or API stage, ...)
version_added: 0.1.0
description:
  - Makes a regional resource (Application Load Balancer, API Gateway stage, AppSync API, Cognito
    user pool...) protected by exactly the given web ACL, or by none.
  - Reads the current association with C(GetWebACLForResource), so it works where
    C(ListResourcesForWebACL) is unavailable (community.aws.wafv2_resources needs it; the moto
    emulator lacks it).
  - Moving a resource to another web ACL disassociates it first and then associates it, so for
    a moment no web ACL filters its traffic.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description:
      - V(present) associates O(web_acl_arn) (or O(web_acl_name)) with the resource.
      - V(absent) removes the resource's association; when a web ACL is given, only if it is that one.
    type: str
    choices: [present, absent]
    default: present
  resource_arn:
    description: The ARN of the protected resource, for example an ALB.
    type: str
    required: true
  web_acl_arn:
    description: The regional web ACL. Mutually exclusive with O(web_acl_name).
    type: str
  web_acl_name:
    description: The name of a regional web ACL of this account and region, looked up with C(ListWebACLs).
    type: str
notes:
  - Supports C(check_mode) and C(diff).
  - Retries C(WAFUnavailableEntityException), which AWS answers while a new load balancer settles.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Protect the ALB with the web ACL
  loopin.platform.wafv2_web_acl_association:
    resource_arn: "{{ alb.load_balancer_arn }}"
    web_acl_arn: "{{ web_acl.arn }}"

- name: Remove the protection
  loopin.platform.wafv2_web_acl_association:
    resource_arn: "{{ alb.load_balancer_arn }}"
    state: absent
"""

RETURN = r"""
resource_arn:
  description: The resource.
  returned: always
  type: str
web_acl_arn:
  description: The web ACL associated with the resource after the call (null when none).
  returned: always
  type: str
  sample: arn:aws:wafv2:ap-south-1:123456789012:regional/webacl/loopin/0c5b7b4e-0000-0000-0000-000000000000
web_acl_name:
  description: Its name (null when none).
  returned: always
  type: str
previous_web_acl_arn:
  description: The web ACL associated before the call (null when none).
  returned: always
  type: str
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result


def current_web_acl(client, resource_arn):
    try:
        return client.get_web_acl_for_resource(aws_retry=True, ResourceArn=resource_arn).get("WebACL")
    except is_boto3_error_code("WAFNonexistentItemException"):
        return None


def find_web_acl_by_name(module, client, name):
    params = {"Scope": "REGIONAL"}
    while True:
        response = client.list_web_acls(aws_retry=True, **params)
        for acl in response.get("WebACLs") or []:
            if acl["Name"] == name:
                return acl
        if not response.get("NextMarker"):
            break
        params["NextMarker"] = response["NextMarker"]
    module.fail_json(msg=f"No regional web ACL named {name} in this account and region")


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        resource_arn=dict(type="str", required=True),
        web_acl_arn=dict(type="str"),
        web_acl_name=dict(type="str"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["web_acl_arn", "web_acl_name"]],
        required_if=[["state", "present", ["web_acl_arn", "web_acl_name"], True]],
    )
    params = module.params
    resource_arn = params["resource_arn"]
    if not resource_arn.startswith("arn:"):
        module.fail_json(msg=f"resource_arn must be an ARN, got {resource_arn!r}")
    client = module.client(
        "wafv2",
        retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["WAFUnavailableEntityException"]),
    )

    try:
        wanted_arn = params["web_acl_arn"]
        if params["web_acl_name"]:
            wanted_arn = find_web_acl_by_name(module, client, params["web_acl_name"])["ARN"]
        current = current_web_acl(client, resource_arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read the web ACL of {resource_arn}")
    current_arn = current["ARN"] if current else None

    if params["state"] == "present":
        after_arn = wanted_arn
    elif wanted_arn and current_arn != wanted_arn:
        after_arn = current_arn  # associated with another ACL (or none): not ours to remove
    else:
        after_arn = None
    changed = after_arn != current_arn
    result = {
        "changed": changed,
        "resource_arn": resource_arn,
        "previous_web_acl_arn": current_arn,
        **diff_result(module, {"web_acl_arn": current_arn}, {"web_acl_arn": after_arn}),
    }
    if module.check_mode or not changed:
        name = (current or {}).get("Name") if after_arn == current_arn else None
        if after_arn and not name:
            name = after_arn.split("/")[-2]
        module.exit_json(web_acl_arn=after_arn, web_acl_name=name, **result)

    try:
        if current_arn:
            client.disassociate_web_acl(aws_retry=True, ResourceArn=resource_arn)
        if after_arn:
            client.associate_web_acl(aws_retry=True, WebACLArn=after_arn, ResourceArn=resource_arn)
        final = current_web_acl(client, resource_arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to associate {resource_arn} with web ACL {after_arn}")
    module.exit_json(
        web_acl_arn=final["ARN"] if final else None,
        web_acl_name=final["Name"] if final else None,
        **result,
    )


if __name__ == "__main__":
    main()
