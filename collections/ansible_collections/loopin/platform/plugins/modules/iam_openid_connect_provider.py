#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: iam_openid_connect_provider
short_description: Manage an IAM OpenID Connect identity provider (for example GitHub Actions)
version_added: 0.1.0
description:
  - Creates, updates (audiences, thumbprints, tags) or deletes the account's OIDC provider for one
    issuer URL. There is one provider per URL in an account, so environments sharing an account
    share it.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the provider should exist.
    type: str
    choices: [present, absent]
    default: present
  url:
    description: The issuer, for example V(https://token.actions.githubusercontent.com).
    type: str
    required: true
  client_ids:
    description: Audiences allowed to use the provider (V(sts.amazonaws.com) for GitHub's AWS action).
    type: list
    elements: str
    default: [sts.amazonaws.com]
  thumbprints:
    description: Server certificate thumbprints (AWS ignores them for GitHub, but the API wants one).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: GitHub Actions may exchange its tokens for AWS credentials
  loopin.platform.iam_openid_connect_provider:
    url: https://token.actions.githubusercontent.com
    client_ids: [sts.amazonaws.com]
    thumbprints: [6938fd4d98bab03faadb97b34396831e3780aea1]
"""

RETURN = r"""
arn:
  description: The provider's ARN (what a role's trust policy names as Federated principal).
  returned: when the provider exists or would be created
  type: str
  sample: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import (
    diff_result,
    tag_changes,
    tags_from_list,
    tags_to_list,
)


def host_path(url):
    return url.split("://", 1)[-1].rstrip("/")


def find(client, url):
    for provider in client.list_open_id_connect_providers(aws_retry=True)["OpenIDConnectProviderList"]:
        arn = provider["Arn"]
        if arn.endswith(":oidc-provider/" + host_path(url)):
            found = client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            return arn, found
    return None, None


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        url=dict(type="str", required=True),
        client_ids=dict(type="list", elements="str", default=["sts.amazonaws.com"]),
        thumbprints=dict(type="list", elements="str", default=[]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff())
    try:
        arn, found = find(client, params["url"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to list OIDC providers")

    if params["state"] == "absent":
        if arn and not module.check_mode:
            try:
                client.delete_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete {arn}")
        module.exit_json(changed=bool(arn), **diff_result(module, {"url": params["url"]} if arn else {}, {}))

    wanted = {
        "url": host_path(params["url"]),
        "client_ids": sorted(params["client_ids"]),
        "thumbprints": sorted(params["thumbprints"]),
    }
    if not found:
        if not module.check_mode:
            try:
                arn = client.create_open_id_connect_provider(
                    aws_retry=True,
                    Url=params["url"],
                    ClientIDList=params["client_ids"],
                    ThumbprintList=params["thumbprints"],
                    Tags=tags_to_list(params["tags"]),
                )["OpenIDConnectProviderArn"]
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to create the OIDC provider for {params['url']}")
        module.exit_json(
            changed=True, arn=arn, **diff_result(module, {}, {**wanted, "tags": params["tags"] or {}})
        )

    current_tags = tags_from_list(found.get("Tags"))
    current = {
        "url": host_path(found.get("Url", wanted["url"])),
        "client_ids": sorted(found.get("ClientIDList", [])),
        "thumbprints": sorted(found.get("ThumbprintList", [])),
    }
    to_set, to_remove = tag_changes(current_tags, params["tags"], params["purge_tags"])
    add_ids = sorted(set(wanted["client_ids"]) - set(current["client_ids"]))
    drop_ids = sorted(set(current["client_ids"]) - set(wanted["client_ids"]))
    thumbs = current["thumbprints"] != wanted["thumbprints"]
    changed = bool(add_ids or drop_ids or thumbs or to_set or to_remove)
    if changed and not module.check_mode:
        try:
            for client_id in add_ids:
                client.add_client_id_to_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
            for client_id in drop_ids:
                client.remove_client_id_from_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
            if thumbs:
                client.update_open_id_connect_provider_thumbprint(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ThumbprintList=params["thumbprints"]
                )
            if to_remove:
                client.untag_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, TagKeys=to_remove
                )
            if to_set:
                client.tag_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, Tags=tags_to_list(to_set)
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update {arn}")
    after = {**wanted, "tags": {**{k: v for k, v in current_tags.items() if k not in to_remove}, **to_set}}
    module.exit_json(
        changed=changed,
        arn=arn,
        **(diff_result(module, {**current, "tags": current_tags}, after) if changed else {}),
    )


if __name__ == "__main__":
    main()
