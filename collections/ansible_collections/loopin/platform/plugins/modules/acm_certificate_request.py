#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: acm_certificate_request
short_description: Request (or delete) a public ACM certificate validated through DNS
version_added: 0.1.0
description:
  - Requests an Amazon-issued certificate with DNS validation and returns the CNAME records that
    prove control of each domain, so that a later task can create them in Route 53.
  - A certificate is identified by O(domain_name) together with its C(Name) tag (O(name)). A
    second run finds the same certificate instead of requesting another one.
  - ACM cannot change the names or key algorithm of a certificate. When O(subject_alternative_names)
    or O(key_algorithm) differ from the existing certificate, the module fails and names the field;
    request a new certificate under another O(name) and delete the old one once nothing uses it.
  - Tags are updated in place.
  - Certificates whose status is C(FAILED), C(VALIDATION_TIMED_OUT), C(REVOKED) or C(EXPIRED) are
    ignored when looking for the existing one, so a new request replaces them; O(state=absent)
    deletes them too.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the certificate should exist.
    type: str
    choices: [present, absent]
    default: present
  domain_name:
    description: The certificate's primary domain name, for example V(api.example.com).
    type: str
    required: true
  name:
    description:
      - The value of the C(Name) tag that identifies the certificate together with O(domain_name).
      - Defaults to O(domain_name).
    type: str
  subject_alternative_names:
    description:
      - Further names the certificate covers, for example V(*.example.com).
      - O(domain_name) is always covered; listing it here changes nothing.
    type: list
    elements: str
    default: []
  key_algorithm:
    description:
      - The key algorithm. AWS uses V(RSA_2048) when omitted; the module then does not compare it.
    type: str
    choices: [RSA_2048, EC_prime256v1, EC_secp384r1]
  wait_for_validation_records:
    description:
      - ACM publishes the validation records a few seconds after the request. Wait for them so
        that RV(validation_records) is complete.
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait for the validation records.
    type: int
    default: 120
notes:
  - Supports C(check_mode) and C(diff). In check mode a new request returns no validation records.
  - Only DNS validation is supported.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Request the API certificate
  loopin.platform.acm_certificate_request:
    domain_name: api.loopin.example
    subject_alternative_names:
      - "*.api.loopin.example"
    tags:
      Project: loopin
      Environment: production
      ManagedBy: ansible
  register: api_certificate

- name: Publish the validation records
  amazon.aws.route53:
    zone: loopin.example
    record: "{{ item.name }}"
    type: "{{ item.type }}"
    value: "{{ item.value }}"
    ttl: 300
    overwrite: true
  loop: "{{ api_certificate.validation_records }}"

- name: Delete the certificate
  loopin.platform.acm_certificate_request:
    domain_name: api.loopin.example
    state: absent
"""

RETURN = r"""
certificate_arn:
  description: The certificate's ARN (absent in check mode before the request).
  returned: when state=present
  type: str
  sample: arn:aws:acm:ap-south-1:123456789012:certificate/0f9c3c0e-0000-0000-0000-000000000000
certificate:
  description: The certificate (its desired shape in check mode; empty after deletion).
  returned: always
  type: dict
  contains:
    certificate_arn:
      description: The ARN.
      type: str
    domain_name:
      description: The primary domain name.
      type: str
    subject_alternative_names:
      description: Every name the certificate covers, sorted, including the primary one.
      type: list
      elements: str
    status:
      description: PENDING_VALIDATION, ISSUED, ...
      type: str
    key_algorithm:
      description: The key algorithm.
      type: str
    in_use_by:
      description: ARNs of the resources (load balancers...) that use the certificate.
      type: list
      elements: str
    domain_validation_options:
      description: ACM's DomainValidationOptions, snake_cased.
      type: list
      elements: dict
    tags:
      description: The certificate's tags.
      type: dict
validation_records:
  description:
    - The DNS records to create for validation, one per distinct record (a domain and its
      wildcard share one).
  returned: always
  type: list
  elements: dict
  contains:
    domain_name:
      description: The domain this record validates.
      type: str
      sample: api.loopin.example
    name:
      description: The record name.
      type: str
      sample: _d930b28be6c5927595552b219965053e.api.loopin.example.
    type:
      description: The record type (CNAME).
      type: str
      sample: CNAME
    value:
      description: The record value.
      type: str
      sample: _c9edd76ee4a0e2a74388032f3861cc50.ykybfrwcxw.acm-validations.aws.
deleted_arns:
  description: The certificates deleted by O(state=absent).
  returned: when state=absent
  type: list
  elements: str
"""

import time

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
    snake_result,
    tag_changes,
    tags_from_list,
    tags_to_list,
)

DEAD_STATUSES = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED")
# ListCertificates returns only RSA_1024/RSA_2048 certificates unless asked for other key types.
ALL_KEY_TYPES = [
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
]


def list_matching(module, client):
    """Certificates with our domain name and Name tag: [(summary, tags)]."""
    params = module.params
    paginator = client.get_paginator("list_certificates")
    summaries = AWSRetry.jittered_backoff()(
        paginator.paginate(Includes={"keyTypes": ALL_KEY_TYPES}).build_full_result
    )()["CertificateSummaryList"]
    found = []
    for summary in summaries:
        if summary.get("DomainName") != params["domain_name"]:
            continue
        try:
            tags = tags_from_list(
                client.list_tags_for_certificate(aws_retry=True, CertificateArn=summary["CertificateArn"])[
                    "Tags"
                ]
            )
        except is_boto3_error_code("ResourceNotFoundException"):
            continue  # deleted meanwhile
        if tags.get("Name") == params["name"]:
            found.append((summary, tags))
    return found


def describe(client, arn):
    return client.describe_certificate(aws_retry=True, CertificateArn=arn)["Certificate"]


def sans_of(domain_name, names):
    return sorted(set(names or []) | {domain_name})


def comparable(certificate, tags):
    if not certificate:
        return {}
    result = {
        "domain_name": certificate["DomainName"],
        "subject_alternative_names": sans_of(
            certificate["DomainName"], certificate.get("SubjectAlternativeNames")
        ),
        "tags": tags,
    }
    if certificate.get("KeyAlgorithm"):
        result["key_algorithm"] = certificate["KeyAlgorithm"]
    return result


def certificate_result(certificate, tags):
    result = snake_result(certificate)
    result["subject_alternative_names"] = sans_of(
        certificate["DomainName"], certificate.get("SubjectAlternativeNames")
    )
    result["tags"] = tags
    return result


def validation_records(certificate):
    records = []
    seen = set()
    for option in certificate.get("DomainValidationOptions") or []:
        record = option.get("ResourceRecord")
        if not record or record["Name"] in seen:
            continue
        seen.add(record["Name"])
        records.append(
            {
                "domain_name": option["DomainName"],
                "name": record["Name"],
                "type": record["Type"],
                "value": record["Value"],
            }
        )
    return records


def records_complete(certificate):
    options = certificate.get("DomainValidationOptions") or []
    return bool(options) and all(option.get("ResourceRecord") for option in options)


def wait_for_records(module, client, arn):
    certificate = describe(client, arn)
    if not module.params["wait_for_validation_records"]:
        return certificate
    deadline = time.monotonic() + module.params["wait_timeout"]
    while certificate["Status"] == "PENDING_VALIDATION" and not records_complete(certificate):
        if time.monotonic() > deadline:
            timeout = module.params["wait_timeout"]
            module.warn(f"ACM had not published every validation record of {arn} after {timeout}s")
            break
        time.sleep(2)
        certificate = describe(client, arn)
    return certificate


def ensure_present(module, client, matches):
    params = module.params
    live = [(summary, tags) for summary, tags in matches if summary.get("Status") not in DEAD_STATUSES]
    if len(live) > 1:
        module.fail_json(
            msg=f"{len(live)} certificates for {params['domain_name']} carry Name={params['name']}; "
            "delete the extra ones so that this module manages exactly one",
            certificate_arns=[summary["CertificateArn"] for summary, _ in live],
        )
    wanted_sans = sans_of(params["domain_name"], params["subject_alternative_names"])
    desired_tags = dict(params["tags"] or {}, Name=params["name"])

    if not live:
        after = {
            "domain_name": params["domain_name"],
            "subject_alternative_names": wanted_sans,
            "tags": desired_tags,
        }
        if params["key_algorithm"]:
            after["key_algorithm"] = params["key_algorithm"]
        result = {"changed": True, **diff_result(module, {}, after)}
        if module.check_mode:
            module.exit_json(
                certificate=dict(after, status="PENDING_VALIDATION"), validation_records=[], **result
            )
        request = {
            "DomainName": params["domain_name"],
            "ValidationMethod": "DNS",
            "SubjectAlternativeNames": wanted_sans,
            "Tags": tags_to_list(desired_tags),
        }
        if params["key_algorithm"]:
            request["KeyAlgorithm"] = params["key_algorithm"]
        try:
            arn = client.request_certificate(aws_retry=True, **request)["CertificateArn"]
            certificate = wait_for_records(module, client, arn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to request a certificate for {params['domain_name']}")
        module.exit_json(
            certificate_arn=arn,
            certificate=certificate_result(certificate, desired_tags),
            validation_records=validation_records(certificate),
            **result,
        )

    summary, current_tags = live[0]
    arn = summary["CertificateArn"]
    try:
        certificate = describe(client, arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe certificate {arn}")

    current_sans = sans_of(certificate["DomainName"], certificate.get("SubjectAlternativeNames"))
    if current_sans != wanted_sans:
        module.fail_json(
            msg=f"subject_alternative_names cannot change on certificate {arn}: it covers {current_sans}, "
            f"wanted {wanted_sans}. Request a new certificate under another name and delete this one.",
            certificate_arn=arn,
        )
    if params["key_algorithm"] and certificate.get("KeyAlgorithm") != params["key_algorithm"]:
        module.fail_json(
            msg=f"key_algorithm cannot change on certificate {arn}: it is {certificate.get('KeyAlgorithm')}, "
            f"wanted {params['key_algorithm']}. Request a new certificate under another name.",
            certificate_arn=arn,
        )

    wanted = dict(params["tags"], Name=params["name"]) if params["tags"] is not None else None
    to_set, to_remove = tag_changes(current_tags, wanted, params["purge_tags"])
    after_tags = merged_tags(current_tags, wanted, params["purge_tags"])
    changed = bool(to_set or to_remove)
    result = {
        "changed": changed,
        **diff_result(module, comparable(certificate, current_tags), comparable(certificate, after_tags)),
    }
    if changed and not module.check_mode:
        try:
            if to_remove:
                client.remove_tags_from_certificate(
                    aws_retry=True,
                    CertificateArn=arn,
                    Tags=[{"Key": key, "Value": current_tags[key]} for key in to_remove],
                )
            if to_set:
                client.add_tags_to_certificate(aws_retry=True, CertificateArn=arn, Tags=tags_to_list(to_set))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update the tags of certificate {arn}")
    if certificate["Status"] == "PENDING_VALIDATION" and not records_complete(certificate):
        try:
            certificate = wait_for_records(module, client, arn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to describe certificate {arn}")
    module.exit_json(
        certificate_arn=arn,
        certificate=certificate_result(certificate, after_tags),
        validation_records=validation_records(certificate),
        **result,
    )


def ensure_absent(module, client, matches):
    if not matches:
        module.exit_json(changed=False, certificate={}, validation_records=[], deleted_arns=[])
    arns = [summary["CertificateArn"] for summary, _ in matches]
    before = {}
    try:
        for summary, tags in matches:
            if summary.get("Status") not in DEAD_STATUSES:
                before = comparable(describe(client, summary["CertificateArn"]), tags)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe the certificates to delete")
    result = {
        "changed": True,
        "certificate": {},
        "validation_records": [],
        "deleted_arns": arns,
        **diff_result(module, before, {}),
    }
    if module.check_mode:
        module.exit_json(**result)
    for arn in arns:
        try:
            client.delete_certificate(aws_retry=True, CertificateArn=arn)
        except is_boto3_error_code("ResourceNotFoundException"):
            continue
        except is_boto3_error_code("ResourceInUseException") as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(
                e, msg=f"Certificate {arn} is still in use; detach it from its listeners first"
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Failed to delete certificate {arn}")
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        domain_name=dict(type="str", required=True),
        name=dict(type="str"),
        subject_alternative_names=dict(type="list", elements="str", default=[]),
        key_algorithm=dict(type="str", choices=["RSA_2048", "EC_prime256v1", "EC_secp384r1"]),
        wait_for_validation_records=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params["name"] is None:
        module.params["name"] = module.params["domain_name"]
    if module.params["tags"] and "Name" in module.params["tags"]:
        module.fail_json(msg="tags must not contain Name: the module sets it from the name option")

    client = module.client("acm", retry_decorator=AWSRetry.jittered_backoff())
    try:
        matches = list_matching(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to list certificates")

    if module.params["state"] == "present":
        ensure_present(module, client, matches)
    else:
        ensure_absent(module, client, matches)


if __name__ == "__main__":
    main()
