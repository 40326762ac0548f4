"""IAM enforcement as AWS applies it, and a record of every authenticated call.

moto authenticates and authorizes a request once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have
passed (``POST /moto-api/reset-auth`` with ``0`` turns it on at once; ``localcloud.identities``
does that after the bootstrap). Its authorization has gaps this module closes:

* It compares a statement's ``Resource`` with ``"*"`` as a string, so a statement scoped to an
  ARN never allows anything outside the few services that pass their own ARN. Here a request
  is authorized on its action (any Resource matches), and the resource the call acts on is
  recorded for the resource-level check (``localcloud.least_privilege``), which evaluates it
  with a real evaluator.
* Actions are named after the SigV4 signing name, which is not always IAM's prefix
  (CloudWatch signs as ``monitoring``).
* Implied permissions are not checked: ``iam:PassRole`` for the roles a task definition or a
  service names (AWS checks it on RegisterTaskDefinition, CreateService, RunTask).
* ``sts:AssumeRole`` trust is evaluated with moto's own matcher (StringEquals only); here with
  the role's trust policy and the caller's identity policies (``localcloud.policy_eval``).
* Unsigned requests crash it (KeyError: 'Authorization'); AWS answers MissingAuthenticationToken,
  except for the operations that are unsigned by design (AssumeRoleWithWebIdentity/SAML).
* A gzip-compressed body (botocore compresses PutMetricData bodies of 10 KiB and more) is
  decompressed before the signature is checked, and the signature of the decompressed body never
  matches: every large PutMetricData failed with SignatureDoesNotMatch, which AWS accepts. The
  body is checked as it was sent.
* ``/moto-api/reset`` wipes IAM but leaves enforcement on, locking everyone out: an emptied
  emulator is a new one here, not enforcing until it is bootstrapped again.

Private routes: ``GET /_localcloud/iam/status``, ``GET /_localcloud/iam/calls`` and
``POST /_localcloud/sts/service-credentials`` (what ECS does to hand a task its role).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError, _RESTError
from moto.core.responses import BaseResponse
from moto.iam import access_control
from moto.iam.models import iam_backends
from moto.moto_api._internal.models import MotoAPIBackend
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from localcloud import policy_eval
from localcloud.emulator import control
from localcloud.emulator.patches._iam_resources import Access, Call, accesses

# SigV4 signing names that differ from the IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# Operations AWS serves without a signature: the token in the body is the credential.
UNSIGNED_OPERATIONS = {"sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"}
ANY_RESOURCE = "localcloud:any-resource"
# REST services whose requests moto cannot re-sign as botocore signed them (its canonical request
# differs: a valid ListHostedZones fails with SignatureDoesNotMatch). Their key must still be
# known and the action allowed; only the signature itself goes unchecked.
UNVERIFIED_SIGNATURE_SERVICES = {"route53", "scheduler"}
SERVICE_CREDENTIAL_SECONDS = 3600


class MissingAuthenticationTokenError(_RESTError):
    code = 403

    def __init__(self) -> None:
        super().__init__("MissingAuthenticationToken", "Request is missing Authentication Token")


def enforcing() -> bool:
    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


# --- the record of calls ---------------------------------------------------------------------


class CallLog:
    """Every authenticated call, folded by (principal, action, resource, context, allowed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str | None, str, bool], dict[str, Any]] = {}

    def add(self, principal: str, access: Access, allowed: bool) -> None:
        context = json.dumps(access.context, sort_keys=True)
        key = (principal, access.action, access.resource, context, allowed)
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._entries[key] = {
                    "principal": principal,
                    "action": access.action,
                    "resource": access.resource,
                    "context": access.context,
                    "allowed": allowed,
                    "count": 1,
                    "first": now,
                    "last": now,
                }
            else:
                entry["count"] += 1
                entry["last"] = now

    def entries(self, principal: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = [dict(e) for e in self._entries.values()]
        if principal:
            found = [e for e in found if principal in e["principal"]]
        return sorted(found, key=lambda e: (e["principal"], e["action"], e["resource"] or ""))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CALLS = CallLog()


# --- authorization ---------------------------------------------------------------------------


def _statement_matches(
    original: Callable[[access_control.IAMPolicyStatement, Any, str], bool],
) -> Callable[[access_control.IAMPolicyStatement, Any, str], bool]:
    def matches(self: access_control.IAMPolicyStatement, element: Any, value: str) -> bool:
        if value == ANY_RESOURCE and element == "Resource":
            return True
        return original(self, element, value)

    return matches


access_control.IAMPolicyStatement._check_element_matches = _statement_matches(  # type: ignore[method-assign]
    access_control.IAMPolicyStatement._check_element_matches
)


def _params(response: Any) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        try:
            return response._get_param(name)
        except Exception:  # noqa: BLE001 - a parameter moto cannot parse is one the table cannot use
            return None

    return get


def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    if not enforcing():
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    operation = self._get_action()
    if "Authorization" not in self.headers:
        if f"{self.service_name}:{operation}" in UNSIGNED_OPERATIONS:
            return
        raise MissingAuthenticationTokenError()
    query = urlparse(self.uri).query
    try:
        iam_request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=f"{self.raw_path}?{query}" if query else self.raw_path,
            data=self.data,
            body=getattr(self, "wire_body", None) or self.raw_body,
            headers=self.headers,
            action=operation,
        )
        service, _, name = iam_request._action.partition(":")
        if service not in UNVERIFIED_SIGNATURE_SERVICES:
            iam_request.check_signature()
    except _RESTError as error:
        raise _in_protocol(self, error) from None
    action = f"{IAM_PREFIX.get(service, service)}:{name}"
    iam_request._action = action
    principal: str = iam_request._access_key.arn
    call = Call(action, _params(self), self.region, self.current_account, get_partition(self.region))
    for access in accesses(call):
        iam_request._action = access.action
        try:
            iam_request.check_action_permitted(ANY_RESOURCE)
            if access.action == "sts:AssumeRole" and access.resource:
                _check_trust(iam_request, principal, access.resource)
        except _RESTError as error:
            CALLS.add(principal, access, allowed=False)
            raise _in_protocol(self, error) from None
        CALLS.add(principal, access, allowed=True)
    iam_request._action = action


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action  # type: ignore[method-assign]


def _decompress_request_body(self: BaseResponse, request: Any) -> None:
    """moto's decompression, keeping the compressed bytes the signature was computed over."""
    self.wire_body = None  # type: ignore[attr-defined]
    if request.content_encoding == "gzip" and self.allow_request_decompression:
        self.wire_body = request.stream.read()  # type: ignore[attr-defined]
        request.stream = gzip.GzipFile(fileobj=io.BytesIO(self.wire_body))  # type: ignore[attr-defined]
        request.get_data(parse_form_data=True)


BaseResponse.decompress_request_body = _decompress_request_body  # type: ignore[method-assign]


def _in_protocol(response: Any, error: _RESTError) -> _RESTError:
    """moto answers authorization errors in XML; JSON-protocol clients cannot read the code."""
    if response.headers.get("X-Amz-Target") and not isinstance(error, JsonRESTError):
        return error.to_json()
    return error


def _check_trust(iam_request: Any, principal: str, role_arn: str) -> None:
    account = role_arn.split(":")[4]
    partition = role_arn.split(":")[1]
    role = iam_backends[account][partition].get_role_by_arn(role_arn)
    policies = [
        json.loads(p) if isinstance(p, str) else _policy_document(p)
        for p in iam_request._access_key.collect_policies()
    ]
    result = policy_eval.evaluate_one(
        policy_eval.Request(
            principal=principal,
            action="sts:AssumeRole",
            resource=role_arn,
            account=account,
            policies=policies,
            trust=json.loads(role.assume_role_policy_document),
        )
    )
    if not result.allowed:
        raise AccessDeniedError(user_arn=principal, action="sts:AssumeRole")


def _policy_document(policy: Any) -> dict[str, Any]:
    if isinstance(policy, dict):
        return json.loads(policy["policy_document"])
    version = next(v for v in policy.versions if v.is_default)
    document: dict[str, Any] = (
        json.loads(version.document) if isinstance(version.document, str) else version.document
    )
    return document


# --- an emptied emulator is a new one --------------------------------------------------------

_original_reset = MotoAPIBackend.reset


def _reset(self: MotoAPIBackend) -> None:
    _original_reset(self)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    ActionAuthenticatorMixin.request_count = 0
    CALLS.clear()


MotoAPIBackend.reset = _reset  # type: ignore[method-assign]


# --- private routes --------------------------------------------------------------------------


@control.route("GET", "/_localcloud/iam/status")
def status(body: dict[str, Any]) -> dict[str, Any]:
    return {"enforcing": enforcing()}


@control.route("GET", "/_localcloud/iam/calls")
def calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every authenticated call since the start (or the last reset); ``?principal=`` filters."""
    return CALLS.entries(body.get("principal"))


@control.route("POST", "/_localcloud/sts/service-credentials")
def service_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """Credentials of ``roleArn`` assumed by an AWS service principal (ECS for a task's roles).

    The role's trust policy is evaluated for that principal with the confused-deputy keys ECS
    sets (``aws:SourceAccount``, ``aws:SourceArn``), as STS does when ECS assumes the role.
    """
    role_arn = str(body["roleArn"])
    service = str(body.get("service", "ecs-tasks.amazonaws.com"))
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise control.ControlError(400, f"roleArn is not a role ARN: {role_arn}")
    account, partition = parts[4], parts[1]
    try:
        role = iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception as exc:
        raise control.ControlError(404, f"no role {role_arn}") from exc
    context = {
        key: str(body[field])
        for key, field in (("aws:SourceAccount", "sourceAccount"), ("aws:SourceArn", "sourceArn"))
        if body.get(field)
    }
    result = policy_eval.evaluate_one(
        policy_eval.Request(
            principal=service,
            action="sts:AssumeRole",
            resource=role_arn,
            account=account,
            context=context,
            trust=json.loads(role.assume_role_policy_document),
        )
    )
    if not result.allowed:
        raise control.ControlError(
            403, f"{service} is not allowed to assume {role_arn} ({result.decision}, context {context})"
        )
    session = str(body.get("sessionName") or service.split(".")[0])[:64]
    region = str(body.get("region") or "ap-south-1")
    assumed = sts_backends[account][partition].assume_role(
        region_name=region,
        role_session_name=session,
        role_arn=role_arn,
        policy="",
        duration=int(body.get("durationSeconds") or SERVICE_CREDENTIAL_SECONDS),
        external_id="",
    )
    return {
        "AccessKeyId": assumed.access_key_id,
        "SecretAccessKey": assumed.secret_access_key,
        "SessionToken": assumed.session_token,
        "Expiration": assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RoleArn": role_arn,
        "AssumedRoleArn": assumed.arn,
    }
