"""What every data-plane component is given: the emulator, AWS clients, the CA, a status board."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from localcloud.pki import LocalCA
from localcloud.state import REGION, LocalCloudState

T = TypeVar("T")
# The principal AWS's own services act as; made at bootstrap. Without a bootstrap (IAM not
# enforced) the emulator takes any key.
SERVICE_PRINCIPAL = "localcloud-aws"
_FALLBACK_KEYS = {"AccessKeyId": "testing", "SecretAccessKey": "testing"}


@dataclass
class Context:
    endpoint: str
    region: str = REGION
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    status: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = LocalCloudState(self.endpoint)
        self.ca = LocalCA(self.state.directory / "pki").ensure()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """A boto3 client for the emulator, as the service principal (cached per service)."""
        if service not in self._clients:
            keys = self.state.credentials(SERVICE_PRINCIPAL) or _FALLBACK_KEYS
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=keys["AccessKeyId"],
                aws_secret_access_key=keys["SecretAccessKey"],
                config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
            )
        return self._clients[service]

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (boto3) off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def aws(self, service: str, operation: str, **params: Any) -> Any:
        return await self.call(getattr(self.client(service), operation), **params)

    def control_sync(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(  # noqa: S310 - the emulator on loopback
            f"{self.endpoint}/_localcloud/{path.lstrip('/')}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"null")

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.call(self.control_sync, path, body)

    def control_get_sync(self, path: str) -> Any:
        url = f"{self.endpoint}/_localcloud/{path.lstrip('/')}"
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the emulator on loopback
            return json.loads(resp.read() or b"null")

    async def aws_control_get(self, path: str) -> Any:
        return await self.call(self.control_get_sync, path)

    def publish_status(self) -> None:
        self.state.write_json("dataplane/status.json", {"pid": os.getpid(), **self.status})
