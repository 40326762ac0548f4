#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: secretsmanager_secret_info
short_description: Look up Secrets Manager secrets by name, never their values
version_added: 0.1.0
description:
  - Returns the full ARN (with the suffix AWS appends) of each named secret and the names that do
    not exist. It calls C(DescribeSecret) only, so no secret value is ever read.
author:
  - Loopin platform team (@loopin-platform)
options:
  names:
    description: Secret names.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: ARNs of the web's secrets
  loopin.platform.secretsmanager_secret_info:
    names: [loopin/dev/django-secret-key, loopin/dev/jwt-signing-key]
  register: secrets
"""

RETURN = r"""
secrets:
  description: Found secrets by name.
  returned: always
  type: dict
  sample: {"loopin/dev/jwt-signing-key": {"arn": "arn:aws:secretsmanager:...-AbCdEf"}}
missing:
  description: Names with no secret (or one scheduled for deletion).
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(names=dict(type="list", elements="str", required=True)), supports_check_mode=True
    )
    client = module.client("secretsmanager", retry_decorator=AWSRetry.jittered_backoff())
    secrets, missing = {}, []
    for name in module.params["names"]:
        try:
            secret = client.describe_secret(aws_retry=True, SecretId=name)
        except is_boto3_error_code("ResourceNotFoundException"):
            missing.append(name)
            continue
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Failed to look up secret {name}")
        if secret.get("DeletedDate"):
            missing.append(name)
            continue
        secrets[name] = {"arn": secret["ARN"], "name": secret["Name"]}
    module.exit_json(changed=False, secrets=secrets, missing=missing)


if __name__ == "__main__":
    main()
