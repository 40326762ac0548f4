#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Manage a CloudWatch dashboard
version_added: 0.1.0
description:
  - Puts a dashboard when its body differs by value from the one CloudWatch holds (key order
    and whitespace do not count); deletes it on O(state=absent). The collections have no module
    for dashboards.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the dashboard should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The dashboard's name.
    type: str
    required: true
  body:
    description: The dashboard body (C(widgets)...), a dictionary or a JSON string; required to create it.
    type: raw
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: Service dashboard
  loopin.platform.cloudwatch_dashboard:
    name: loopin-dev
    body:
      widgets:
        - type: metric
          x: 0
          y: 0
          width: 12
          height: 6
          properties:
            title: Requests
            region: ap-south-1
            metrics: [[AWS/ApplicationELB, RequestCount, LoadBalancer, app/loopin-dev/0123]]
"""

RETURN = r"""
dashboard_arn:
  description: The dashboard's ARN.
  returned: when it exists
  type: str
"""

import json

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            name=dict(type="str", required=True),
            body=dict(type="raw"),
        ),
        supports_check_mode=True,
        required_if=[["state", "present", ["body"]]],
    )
    params = module.params
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    try:
        found = client.get_dashboard(aws_retry=True, DashboardName=name)
        current, arn = json.loads(found["DashboardBody"]), found.get("DashboardArn")
    except is_boto3_error_code("ResourceNotFound"):
        current, arn = None, None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read dashboard {name}")

    if params["state"] == "absent":
        if current is not None and not module.check_mode:
            try:
                client.delete_dashboards(aws_retry=True, DashboardNames=[name])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete dashboard {name}")
        module.exit_json(changed=current is not None, **diff_result(module, current or {}, {}))

    body = params["body"]
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as e:
            module.fail_json(msg=f"body is not JSON: {e}")
    changed = current != body
    if changed and not module.check_mode:
        try:
            answer = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=json.dumps(body))
            problems = answer.get("DashboardValidationMessages") or []
            if problems:
                module.fail_json(msg=f"CloudWatch refused parts of dashboard {name}: {problems}")
            arn = client.get_dashboard(aws_retry=True, DashboardName=name).get("DashboardArn")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to put dashboard {name}")
    module.exit_json(
        changed=changed, dashboard_arn=arn, **(diff_result(module, current or {}, body) if changed else {})
    )


if __name__ == "__main__":
    main()
