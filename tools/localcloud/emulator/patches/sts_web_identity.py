"""AssumeRoleWithWebIdentity checks the token and the role's trust, as STS does.

moto 5.2.5 hands out credentials for any string as a token. AWS verifies that the token is a JWT
signed by a key of its issuer, that the issuer is an OIDC provider registered in the account,
that ``aud`` is one of the provider's client ids and ``exp`` is in the future, and then
evaluates the role's trust policy: the principal is the provider's ARN and the token's claims
are the condition keys ``<provider host>:<claim>`` (``...:aud``, ``...:sub``). Here the same,
with the trust policy evaluated by ``localcloud.policy_eval``.

The emulator cannot fetch an issuer's JWKS from the internet: it trusts the local issuer's key
(``localcloud.oidc``, in this emulator's state directory) for GitHub's issuer, which is the only
one the stack registers. Tokens of any other issuer are refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
from moto.core.exceptions import _RESTError
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

from localcloud import oidc, policy_eval

ACTION = "sts:AssumeRoleWithWebIdentity"


class WebIdentityAccessDenied(_RESTError):
    code = 403

    def __init__(self, reason: str) -> None:
        super().__init__("AccessDenied", f"Not authorized to perform {ACTION}: {reason}")


def _invalid(message: str) -> STSClientError:
    return STSClientError("InvalidIdentityTokenException", message)


def trusted_keys(issuer: str) -> dict[str, Any]:
    """The JWKS the emulator trusts for `issuer`: the local issuer's, for GitHub's issuer only."""
    if issuer != oidc.GITHUB_ISSUER:
        return {"keys": []}
    port = os.environ.get("MOTO_PORT", "5000")
    return oidc.LocalIssuer.of(f"http://127.0.0.1:{port}").jwks()


def verify(token: str, account: str, partition: str) -> tuple[dict[str, Any], Any]:
    """The token's claims and the IAM OIDC provider that vouches for them, or an STS error."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _invalid(f"The web identity token is not a valid JWT: {exc}") from exc
    issuer = str(unverified.get("iss", ""))
    host = issuer.removeprefix("https://").rstrip("/")
    providers = iam_backends[account][partition].open_id_providers.values()
    provider = next((p for p in providers if p.url.rstrip("/") == host), None)
    if provider is None:
        raise _invalid(f"No OpenIDConnect provider found in your account for {issuer}")
    key = next((k for k in trusted_keys(issuer)["keys"] if k.get("kid") == header.get("kid")), None)
    if key is None:
        raise _invalid(f"The token's key id {header.get('kid')!r} is not a key of {issuer}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt.PyJWK(key).key,
            algorithms=["RS256"],
            audience=list(provider.client_id_list),
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise STSClientError(
            "ExpiredTokenException", "Token expired: the token's exp is in the past"
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise _invalid("Incorrect token audience") from exc
    except jwt.PyJWTError as exc:
        raise _invalid(f"Couldn't verify the web identity token: {exc}") from exc
    return claims, provider


def _context(host: str, claims: dict[str, Any]) -> dict[str, str | list[str]]:
    context: dict[str, str | list[str]] = {}
    for claim, value in claims.items():
        if isinstance(value, str):
            context[f"{host}:{claim}"] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            context[f"{host}:{claim}"] = value
    return context


def assume_role_with_web_identity(self: TokenResponse) -> ActionResult:
    token = self._get_param("WebIdentityToken") or ""
    role_arn = self._get_param("RoleArn")
    claims, provider = verify(token, self.current_account, self.partition)
    try:
        role = iam_backends[self.current_account][self.partition].get_role_by_arn(role_arn)
    except Exception as exc:
        raise WebIdentityAccessDenied(f"no role {role_arn}") from exc
    decision = policy_eval.evaluate_one(
        policy_eval.Request(
            principal=provider.arn,
            action=ACTION,
            resource=role.arn,
            account=self.current_account,
            context=_context(provider.url.rstrip("/"), claims),
            trust=json.loads(role.assume_role_policy_document),
        )
    )
    if not decision.allowed:
        raise WebIdentityAccessDenied(f"the trust policy of {role.arn} does not admit sub {claims['sub']!r}")
    duration = self._get_int_param("DurationSeconds", 3600)
    if duration > int(role.max_session_duration or 3600):
        raise STSClientError(
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
            f"({role.max_session_duration})",
        )
    assumed = self.backend.assume_role_with_web_identity(
        region_name=self.region,
        role_session_name=self._get_param("RoleSessionName"),
        role_arn=role.arn,
        policy=self._get_param("Policy"),
        duration=duration,
        external_id=None,
    )
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    return ActionResult(
        {
            "Credentials": assumed,
            "SubjectFromWebIdentityToken": claims["sub"],
            "AssumedRoleUser": {"AssumedRoleId": f"{role.id}:{assumed.session_name}", "Arn": assumed.arn},
            "PackedPolicySize": 0,
            "Provider": claims["iss"],
            "Audience": audience,
        }
    )


TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]
