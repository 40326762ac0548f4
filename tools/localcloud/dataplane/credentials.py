"""Role credentials as ECS hands them to a task, and the endpoint the task reads them from.

ECS assumes a task's roles as the service principal ``ecs-tasks.amazonaws.com`` (the role's
trust policy decides, with ``aws:SourceAccount`` / ``aws:SourceArn``) and serves the task role's
credentials at ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with ``AWS_CONTAINER_AUTHORIZATION_TOKEN``,
which botocore and every AWS SDK read by themselves. The execution role's credentials stay with
the agent: it pulls the image, injects the secrets and writes the logs with them.

Here the emulator assumes the role (``POST /_localcloud/sts/service-credentials``); until IAM is
enforced (an emulator started without a bootstrap) any key is accepted and the agent falls back
to the service principal's own keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import urllib.error
from dataclasses import dataclass
from typing import Any

import boto3
from aiohttp import web
from botocore.config import Config

from localcloud.dataplane.context import _FALLBACK_KEYS, SERVICE_PRINCIPAL, Context

log = logging.getLogger("localcloud.dataplane.credentials")
ECS_TASKS = "ecs-tasks.amazonaws.com"
REFRESH_BEFORE = dt.timedelta(minutes=5)


@dataclass
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expiration: dt.datetime
    role_arn: str

    def client(self, ctx: Context, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=ctx.endpoint,
            region_name=ctx.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def as_container_response(self) -> dict[str, Any]:
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token or "",
            "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": self.role_arn,
        }


class RoleCredentialCache:
    """Credentials per (role, task), refreshed before they expire."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cache: dict[tuple[str, str], RoleCredentials] = {}
        self._lock = asyncio.Lock()

    async def get(self, role_arn: str, source_arn: str) -> RoleCredentials:
        key = (role_arn, source_arn)
        async with self._lock:
            found = self._cache.get(key)
            if found and found.expiration - dt.datetime.now(dt.UTC) > REFRESH_BEFORE:
                return found
            found = await self._assume(role_arn, source_arn)
            self._cache[key] = found
            return found

    def forget(self, source_arn: str) -> None:
        for key in [k for k in self._cache if k[1] == source_arn]:
            del self._cache[key]

    async def _assume(self, role_arn: str, source_arn: str) -> RoleCredentials:
        account = role_arn.split(":")[4]
        try:
            answer = await self.ctx.control(
                "sts/service-credentials",
                {
                    "roleArn": role_arn,
                    "service": ECS_TASKS,
                    "sourceAccount": account,
                    "sourceArn": source_arn,
                },
            )
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or self.ctx.state.credentials(SERVICE_PRINCIPAL) is not None:
                raise PermissionError(
                    f"ECS could not assume {role_arn}: {exc.read().decode(errors='replace')}"
                ) from exc
            # An emulator without IAM enforcement and without the route: any key is accepted.
            return RoleCredentials(
                _FALLBACK_KEYS["AccessKeyId"],
                _FALLBACK_KEYS["SecretAccessKey"],
                None,
                dt.datetime.now(dt.UTC) + dt.timedelta(hours=6),
                role_arn,
            )
        expiration = answer["Expiration"]
        if isinstance(expiration, str):
            expiration = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=dt.UTC)
        return RoleCredentials(
            answer["AccessKeyId"], answer["SecretAccessKey"], answer.get("SessionToken"), expiration, role_arn
        )


class ContainerCredentialsEndpoint:
    """``GET /v2/credentials/<task id>`` with the task's token, as ECS's 169.254.170.2 answers."""

    def __init__(self, ctx: Context, cache: RoleCredentialCache) -> None:
        self.ctx = ctx
        self.cache = cache
        self.port = 0
        self._tasks: dict[str, tuple[str, str, str]] = {}  # task id -> (token, role arn, task arn)
        self._runner: web.AppRunner | None = None

    def register(self, task_id: str, role_arn: str, task_arn: str) -> tuple[str, str]:
        """Serve `role_arn` to task `task_id`; returns (full URI, authorization token)."""
        token = secrets.token_urlsafe(32)
        self._tasks[task_id] = (token, role_arn, task_arn)
        return f"http://127.0.0.1:{self.port}/v2/credentials/{task_id}", token

    def unregister(self, task_id: str) -> None:
        entry = self._tasks.pop(task_id, None)
        if entry:
            self.cache.forget(entry[2])

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v2/credentials/{task_id}", self._serve)
        # Stopped after every task it serves has exited: nothing is left to wait for (aiohttp's
        # default would wait up to 60 s for idle keep-alive connections).
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        entry = self._tasks.get(request.match_info["task_id"])
        if entry is None or not secrets.compare_digest(request.headers.get("Authorization", ""), entry[0]):
            return web.json_response({"code": "AccessDenied", "message": "unknown task or token"}, status=403)
        try:
            creds = await self.cache.get(entry[1], entry[2])
        except PermissionError as exc:
            log.error("%s", exc)
            return web.json_response({"code": "AccessDenied", "message": str(exc)}, status=403)
        return web.json_response(creds.as_container_response())
