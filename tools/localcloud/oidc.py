"""The local OIDC issuer: GitHub's token service, played on one machine.

GitHub Actions gives a job a JWT signed with GitHub's key (RS256, a ``kid`` from its JWKS) whose
``iss`` is ``https://token.actions.githubusercontent.com`` and whose ``sub`` names the repository
and the GitHub environment; STS exchanges it for a role's credentials. Here an RSA key pair in
the state directory signs the same tokens, and the emulator trusts that key for GitHub's issuer
(it cannot fetch GitHub's JWKS), so the trust policies are exercised unchanged.

    from localcloud import oidc
    token = oidc.mint("repo:loopin-app/loopin-backend:environment:local", endpoint=url)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localcloud.state import LocalCloudState

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
# GitHub's tokens live 5 minutes past issue (10 at most); long enough for one exchange.
TOKEN_SECONDS = 300


@dataclass(frozen=True)
class LocalIssuer:
    directory: Path

    @classmethod
    def of(cls, endpoint: str) -> LocalIssuer:
        return cls(LocalCloudState(endpoint).directory / "oidc")

    @property
    def key_path(self) -> Path:
        return self.directory / "issuer-key.pem"

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    def ensure(self) -> LocalIssuer:
        """Make the key pair once; later calls (and concurrent ones) keep the first."""
        if self.jwks_path.exists():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            self._wait_for_jwks()
            return self
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        kid = hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:16]
        jwks = {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}
        tmp = self.jwks_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(jwks, indent=2))
        tmp.replace(self.jwks_path)
        return self

    def _wait_for_jwks(self, seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while not self.jwks_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def jwks(self) -> dict[str, Any]:
        """The public keys (empty when no issuer was made in this state directory)."""
        with contextlib.suppress(FileNotFoundError):
            keys: dict[str, Any] = json.loads(self.jwks_path.read_text())
            return keys
        return {"keys": []}

    def mint(
        self,
        sub: str,
        aud: str = STS_AUDIENCE,
        *,
        issuer: str = GITHUB_ISSUER,
        lifetime: int = TOKEN_SECONDS,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        self.ensure()
        issued = int(now if now is not None else time.time())
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        kid = self.jwks()["keys"][0]["kid"]
        payload = {
            "iss": issuer,
            "sub": sub,
            "aud": aud,
            "iat": issued,
            "nbf": issued - 5,
            "exp": issued + lifetime,
            "jti": str(uuid.uuid4()),
            **_github_claims(sub),
            **claims,
        }
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]


def _github_claims(sub: str) -> dict[str, str]:
    """The claims GitHub derives from the subject (repository, environment), for realism."""
    parts = sub.split(":")
    claims: dict[str, str] = {}
    if len(parts) >= 2 and parts[0] == "repo":
        claims["repository"] = parts[1]
        claims["repository_owner"] = parts[1].split("/")[0]
    if len(parts) >= 4 and parts[2] == "environment":
        claims["environment"] = parts[3]
    return claims


def mint(sub: str, aud: str = STS_AUDIENCE, *, endpoint: str, **kwargs: Any) -> str:
    """A token for `sub`, signed by the issuer of the emulator at `endpoint`."""
    return LocalIssuer.of(endpoint).mint(sub, aud, **kwargs)
