"""loopin.platform.acm_certificate_request against a real moto server."""

from __future__ import annotations

from typing import Any

DOMAIN = "api.loopin.example"
TAGS = {"Project": "loopin", "Environment": "test", "ManagedBy": "ansible"}


def certificates(boto: Any) -> list[dict[str, Any]]:
    acm = boto("acm")
    return [
        acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
        for c in acm.list_certificates()["CertificateSummaryList"]
    ]


def tags_of(boto: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in boto("acm").list_tags_for_certificate(CertificateArn=arn)["Tags"]}


def test_lifecycle(run_module: Any, boto: Any) -> None:
    args = {"domain_name": DOMAIN, "subject_alternative_names": [f"*.{DOMAIN}"], "tags": TAGS}

    result = run_module("acm_certificate_request", args, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {
        "before": {},
        "after": {
            "domain_name": DOMAIN,
            "subject_alternative_names": [f"*.{DOMAIN}", DOMAIN],
            "tags": {**TAGS, "Name": DOMAIN},
        },
    }
    assert certificates(boto) == []

    result = run_module("acm_certificate_request", args, diff=True)
    assert result["changed"] is True
    arn = result["certificate_arn"]
    # tools/emulator.py starts moto with MOTO_ACM_VALIDATION_WAIT=0, so a DNS-validated request is
    # issued at once (real ACM: once the validation records resolve).
    assert result["certificate"]["status"] == "ISSUED"
    assert result["certificate"]["subject_alternative_names"] == [f"*.{DOMAIN}", DOMAIN]
    # the domain and its wildcard share one CNAME
    [record] = result["validation_records"]
    assert record["type"] == "CNAME"
    assert record["name"].endswith(f".{DOMAIN}.")
    assert record["value"].endswith(".acm-validations.aws.")
    assert tags_of(boto, arn) == {**TAGS, "Name": DOMAIN}

    for check in (False, True):
        again = run_module("acm_certificate_request", args, check=check, diff=True)
        assert again["changed"] is False
        assert again["certificate_arn"] == arn
        assert again["validation_records"] == result["validation_records"]
        assert again["diff"]["before"] == again["diff"]["after"]
    assert len(certificates(boto)) == 1

    # another name for the same domain is another certificate
    other = run_module("acm_certificate_request", {"domain_name": DOMAIN, "name": "api-blue"})
    assert other["changed"] is True and other["certificate_arn"] != arn

    # tag update in place
    new_tags = {"Project": "loopin", "Environment": "staging"}
    result = run_module("acm_certificate_request", {**args, "tags": new_tags}, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"]["tags"] == {**new_tags, "Name": DOMAIN}
    assert tags_of(boto, arn) == {**TAGS, "Name": DOMAIN}
    result = run_module("acm_certificate_request", {**args, "tags": new_tags})
    assert result["changed"] is True and result["certificate_arn"] == arn
    assert tags_of(boto, arn) == {**new_tags, "Name": DOMAIN}
    # tags omitted: left alone
    assert run_module("acm_certificate_request", {**args, "tags": None})["changed"] is False

    # names cannot change: a clear failure that names the field, nothing requested
    result = run_module(
        "acm_certificate_request", {**args, "subject_alternative_names": ["www.loopin.example"]}
    )
    assert result["failed"] is True
    assert "subject_alternative_names cannot change" in result["msg"]
    assert len(certificates(boto)) == 2

    absent = {"domain_name": DOMAIN, "state": "absent"}
    result = run_module("acm_certificate_request", absent, check=True, diff=True)
    assert result["changed"] is True and result["deleted_arns"] == [arn]
    assert result["diff"]["after"] == {}
    assert len(certificates(boto)) == 2
    result = run_module("acm_certificate_request", absent)
    assert result["changed"] is True
    assert [c["CertificateArn"] for c in certificates(boto)] == [other["certificate_arn"]]
    assert run_module("acm_certificate_request", absent)["changed"] is False


def test_bad_input(run_module: Any, boto: Any) -> None:
    result = run_module("acm_certificate_request", {"domain_name": DOMAIN, "tags": {"Name": "x"}})
    assert result["failed"] is True
    assert "tags must not contain Name" in result["msg"]
    result = run_module("acm_certificate_request", {"domain_name": DOMAIN, "key_algorithm": "DSA"})
    assert result["failed"] is True
    assert "key_algorithm" in result["msg"]
    assert certificates(boto) == []
