"""The ECS agent: runs the tasks the control plane places here, as Fargate runs them.

Every second it tells the emulator it is alive and gets the tasks to run or stop
(``tools/localcloud/emulator/patches/ecs_scheduler.py`` decides which: services' desired counts,
deployments, replacements, and RunTask's one-off tasks). For each task it does what Fargate does:

1. pull the image with the execution role (the local ECR, ``localcloud.images``);
2. resolve the container's ``secrets`` (``valueFrom`` a Secrets Manager ARN, with an optional
   JSON key) with the execution role;
3. open the awslogs stream with the execution role;
4. start the container's process: the image's entry point and command (or the task definition's,
   or the RunTask override), its environment, the task definition's environment and secrets, and
   the task role's credentials through a container credentials endpoint;
5. report RUNNING with its address, so ECS registers it with the service's target groups;
6. run the container health check (interval, timeout, retries, start period) and report it;
7. on a stop: SIGTERM, then SIGKILL after the container's ``stopTimeout``; report the exit code.

Without a Docker engine a container is processes of this repository's virtualenv running the
image's code (``PYTHONPATH`` = the image's packages). Every task shares 127.0.0.1, so each gets
a loopback port of its own: the image's port variable (label ``org.loopin.port-variable``) is set
to it and the health check's ``127.0.0.1:<containerPort>`` points at it. The task's AWS calls go
to the emulator (``AWS_ENDPOINT_URL``, standing for the VPC's route to AWS) and it trusts the
local CA (``SSL_CERT_FILE``), as tasks on AWS trust Amazon's. The container's user and read-only
root filesystem are not applied to processes (the interpreter lives in the operator's home).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from localcloud import images
from localcloud.dataplane.awslogs import AwsLogsDriver
from localcloud.dataplane.context import Context
from localcloud.dataplane.credentials import (
    ContainerCredentialsEndpoint,
    RoleCredentialCache,
    RoleCredentials,
)

log = logging.getLogger("localcloud.dataplane.agent")
HEARTBEAT_SECONDS = 1.0
# CloudWatch gets the services' CPU and memory every this many seconds.
METRICS_SECONDS = float(os.environ.get("LOCALCLOUD_METRICS_SECONDS", "10"))
DEFAULT_STOP_TIMEOUT = 30
# The image's virtualenv; here the one this process runs from (the repository's .venv).
IMAGE_VENV = "/opt/venv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exit_code(returncode: int) -> int:
    """Docker's convention: a process killed by signal N exited 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class RunningTask:
    item: dict[str, Any]
    directory: Path
    port: int | None = None
    process: asyncio.subprocess.Process | None = None
    health: str = "UNKNOWN"
    started_at: float = field(default_factory=time.monotonic)
    stopping: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None
    cpu_seen: tuple[float, float] | None = None  # (monotonic, cpu seconds)
    logs: AwsLogsDriver | None = None
    env: dict[str, str] = field(default_factory=dict)
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        return str(self.item["taskId"])

    @property
    def container(self) -> dict[str, Any]:
        return dict(self.item["taskDefinition"]["containerDefinitions"][0])


class TaskStartError(Exception):
    """What ECS reports as the stopped reason of a task that could not start."""


class EcsAgent:
    name = "ecs-agent"

    def __init__(self) -> None:
        self.id = f"agent-{uuid.uuid4()}"
        self.tasks: dict[str, RunningTask] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def run(self, ctx: Context) -> None:
        self.ctx = ctx
        self.roles = RoleCredentialCache(ctx)
        self.endpoint = ContainerCredentialsEndpoint(ctx, self.roles)
        await self.endpoint.start()
        metrics = asyncio.create_task(self._metrics_loop())
        try:
            while not ctx.stopping.is_set():
                try:
                    await self._round()
                except Exception as exc:  # noqa: BLE001 - the emulator may be restarting; try again
                    log.warning("heartbeat failed: %s", exc)
                self._publish()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.stopping.wait(), HEARTBEAT_SECONDS)
        finally:
            metrics.cancel()
            await asyncio.gather(
                *(self._stop(t, "the data plane is stopping") for t in list(self.tasks.values()))
            )
            await self.endpoint.stop()

    async def _round(self) -> None:
        work = await self.ctx.control("ecs/agent", {"agent": self.id})
        listed = set()
        for item in work["tasks"]:
            arn = item["taskArn"]
            listed.add(arn)
            task = self.tasks.get(arn)
            if task is None and item["desiredStatus"] == "RUNNING" and item["lastStatus"] == "PENDING":
                directory = self.ctx.state.subdirectory("tasks", item["taskId"])
                task = self.tasks[arn] = RunningTask(item, directory)
                task.runner = asyncio.create_task(self._run(task))
            elif task is not None and item["stop"] and not task.stopping:
                self._spawn(self._stop(task, "stopped by ECS"))
        # Tasks the control plane no longer lists for us are not ours to run.
        for arn in [a for a in self.tasks if a not in listed]:
            task = self.tasks[arn]
            if not task.stopping and task.done.is_set() is False and task.process is not None:
                self._spawn(self._stop(task, "no longer placed on this agent"))

    def _spawn(self, coroutine: Any) -> None:
        background = asyncio.create_task(coroutine)
        self._background.add(background)
        background.add_done_callback(self._background.discard)

    # --- one task -------------------------------------------------------------------------------

    async def _run(self, task: RunningTask) -> None:
        try:
            await self._start(task)
        except TaskStartError as exc:
            log.warning("task %s did not start: %s", task.task_id, exc)
            await self._report(task, "STOPPED", stoppedReason=str(exc))
            self._forget(task)
            return
        except Exception as exc:
            log.exception("task %s failed to start", task.task_id)
            await self._report(task, "STOPPED", stoppedReason=f"TaskFailedToStart: {exc}")
            self._forget(task)
            return
        assert task.process is not None
        health = asyncio.create_task(self._health_loop(task))
        returncode = await task.process.wait()
        health.cancel()
        await asyncio.gather(*task.pumps, return_exceptions=True)
        assert task.logs is not None
        await task.logs.close()
        code = _exit_code(returncode)
        log.info("task %s exited with %d", task.task_id, code)
        await self._report(task, "STOPPED", exitCode=code)
        self._forget(task)

    def _forget(self, task: RunningTask) -> None:
        self.endpoint.unregister(task.task_id)
        task.done.set()
        self.tasks.pop(task.item["taskArn"], None)

    async def _start(self, task: RunningTask) -> None:
        definition = task.item["taskDefinition"]
        container = task.container
        execution = await self._role(definition.get("executionRoleArn"), task)
        ecr = execution.client(self.ctx, "ecr") if execution else self.ctx.client("ecr")
        try:
            image = await self.ctx.call(images.resolve, container["image"], ecr)
        except LookupError as exc:
            raise TaskStartError(str(exc)) from exc
        except Exception as exc:
            raise TaskStartError(f"CannotPullContainerError: {container['image']}: {exc}") from exc
        secrets_client = (
            execution.client(self.ctx, "secretsmanager") if execution else self.ctx.client("secretsmanager")
        )
        secret_env = await self._secrets(container, secrets_client)
        log_config = container.get("logConfiguration") or {}
        if log_config.get("logDriver") != "awslogs":
            raise TaskStartError(
                f"ResourceInitializationError: log driver {log_config.get('logDriver')} is not modelled"
            )
        logs_client = execution.client(self.ctx, "logs") if execution else self.ctx.client("logs")
        task.logs = AwsLogsDriver(
            self.ctx,
            logs_client,
            log_config["options"],
            container["name"],
            task.task_id,
            task.directory / "container.log",
        )
        try:
            await task.logs.open()
        except Exception as exc:
            raise TaskStartError(
                f"ResourceInitializationError: failed to validate logger args: {exc}"
            ) from exc

        volumes = self._volumes(task)
        task.port = free_port() if container.get("portMappings") else None
        env = self._environment(task, image, secret_env, volumes)
        argv = self._command(task, image)
        workdir = self._map_path(
            container.get("workingDirectory") or image.config.get("WorkingDir") or "/", volumes
        )
        if not Path(workdir).is_dir():
            workdir = str(task.directory)
        executable = shutil.which(argv[0], path=env["PATH"])
        if executable is None:
            raise TaskStartError(f"CannotStartContainerError: {argv[0]}: executable file not found in $PATH")
        task.process = await asyncio.create_subprocess_exec(
            executable,
            *argv[1:],
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert task.process.stdout is not None and task.process.stderr is not None
        task.pumps = [
            asyncio.create_task(task.logs.pump(task.process.stdout)),
            asyncio.create_task(task.logs.pump(task.process.stderr)),
        ]
        task.env = env
        log.info(
            "task %s (%s) running: pid %s port %s",
            task.task_id,
            task.item["group"],
            task.process.pid,
            task.port,
        )
        await self._report(task, "RUNNING", privateIPv4Address="127.0.0.1", hostPort=task.port)

    async def _role(self, role_arn: str | None, task: RunningTask) -> RoleCredentials | None:
        if not role_arn:
            return None
        try:
            return await self.roles.get(role_arn, task.item["taskArn"])
        except PermissionError as exc:
            raise TaskStartError(f"ResourceInitializationError: {exc}") from exc

    async def _secrets(self, container: dict[str, Any], client: Any) -> dict[str, str]:
        found: dict[str, str] = {}
        for secret in container.get("secrets") or []:
            # arn:aws:secretsmanager:region:account:secret:name-AbCdEf[:json-key:version-stage:version-id]
            parts = secret["valueFrom"].split(":")
            arn, key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
            stage = parts[8] if len(parts) > 8 and parts[8] else None
            try:
                params = {"SecretId": arn, **({"VersionStage": stage} if stage else {})}
                value = (await self.ctx.call(client.get_secret_value, **params))["SecretString"]
                found[secret["name"]] = str(json.loads(value)[key]) if key else value
            except Exception as exc:
                reason = f"unable to pull secrets or registry auth: {secret['valueFrom']}: {exc}"
                raise TaskStartError(f"ResourceInitializationError: {reason}") from exc
        return found

    def _volumes(self, task: RunningTask) -> dict[str, str]:
        """Container path -> host directory, for the task's (ephemeral) volumes."""
        mounts: dict[str, str] = {}
        for mount in task.container.get("mountPoints") or []:
            host = task.directory / "volumes" / mount["sourceVolume"]
            host.mkdir(parents=True, exist_ok=True)
            mounts[mount["containerPath"]] = str(host)
        return mounts

    @staticmethod
    def _map_path(value: str, volumes: dict[str, str]) -> str:
        for container_path, host in sorted(volumes.items(), key=lambda kv: -len(kv[0])):
            if value == container_path or value.startswith(container_path + "/"):
                return host + value[len(container_path) :]
        return value

    def _environment(
        self, task: RunningTask, image: images.LocalImage, secrets: dict[str, str], volumes: dict[str, str]
    ) -> dict[str, str]:
        container = task.container
        venv = sys.prefix
        env: dict[str, str] = {}
        for name, value in (image.config.get("Env") or {}).items():
            env[name] = self._map_path(str(value).replace(IMAGE_VENV, venv), volumes)
        env["PATH"] = ":".join(p for p in [env.get("PATH", "").rstrip(":"), os.environ.get("PATH", "")] if p)
        env.update({e["name"]: str(e["value"]) for e in container.get("environment") or []})
        env.update(secrets)
        for override in (task.item.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == container["name"]:
                env.update({e["name"]: str(e["value"]) for e in override.get("environment") or []})
        uri, token = self.endpoint.register(
            task.task_id, task.item["taskDefinition"].get("taskRoleArn") or "", task.item["taskArn"]
        )
        env.update(
            {
                "AWS_REGION": self.ctx.region,
                "AWS_DEFAULT_REGION": self.ctx.region,
                "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
                "ECS_AGENT_TASK_ARN": task.item["taskArn"],
                "AWS_ENDPOINT_URL": self.ctx.endpoint,
                "SSL_CERT_FILE": str(self.ctx.ca.ca_path),
                "PYTHONPATH": str(image.python_path),
            }
        )
        if task.item["taskDefinition"].get("taskRoleArn"):
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = uri
            env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
        if task.port and image.port_variable:
            env[image.port_variable] = str(task.port)
        return env

    def _command(self, task: RunningTask, image: images.LocalImage) -> list[str]:
        container = task.container
        command = container.get("command") or image.config.get("Cmd") or []
        for override in (task.item.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == container["name"] and override.get("command"):
                command = override["command"]
        entrypoint = container.get("entryPoint") or image.config.get("Entrypoint") or []
        argv = [*entrypoint, *command]
        if not argv:
            raise TaskStartError("CannotStartContainerError: no command specified")
        return [str(a) for a in argv]

    async def _health_loop(self, task: RunningTask) -> None:
        check = task.container.get("healthCheck")
        if not check:
            return
        interval = int(check.get("interval", 30))
        timeout = int(check.get("timeout", 5))
        retries = int(check.get("retries", 3))
        start_period = int(check.get("startPeriod", 0))
        failures = 0
        while True:
            healthy = await self._check_once(task, check["command"], timeout)
            in_start_period = time.monotonic() - task.started_at < start_period
            if healthy:
                failures = 0
                status = "HEALTHY"
            else:
                failures = failures if in_start_period and task.health != "HEALTHY" else failures + 1
                status = "UNHEALTHY" if failures >= retries else task.health
            if status != task.health:
                task.health = status
                log.info("task %s is %s", task.task_id, status)
                await self._report(task, "RUNNING", healthStatus=status)
            await asyncio.sleep(interval if task.health != "UNKNOWN" else min(interval, 2))

    async def _check_once(self, task: RunningTask, command: list[str], timeout: int) -> bool:
        kind, *rest = command
        container_port = (task.container.get("portMappings") or [{}])[0].get("containerPort")
        if kind == "CMD-SHELL":
            text = " ".join(rest)
            if container_port and task.port:
                text = re.sub(rf"(127\.0\.0\.1|localhost):{container_port}\b", rf"\g<1>:{task.port}", text)
            argv = ["/bin/sh", "-c", text]
        elif kind == "CMD":
            argv = list(rest)
        else:
            return True  # NONE
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=task.env,
                cwd=str(task.directory),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return False
        try:
            return await asyncio.wait_for(proc.wait(), timeout) == 0
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return False

    async def _stop(self, task: RunningTask, why: str) -> None:
        if task.stopping:
            await task.done.wait()
            return
        task.stopping = True
        process = task.process
        if process is None or process.returncode is not None:
            if task.runner is not None and not task.runner.done():
                task.runner.cancel()
                await self._report(task, "STOPPED", stoppedReason=f"stopped before it started ({why})")
                self._forget(task)
            return
        timeout = int(task.container.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
        log.info("task %s: SIGTERM (%s), SIGKILL after %d s", task.task_id, why, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(task.done.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await task.done.wait()

    async def _report(self, task: RunningTask, status: str, **fields: Any) -> None:
        body = {"cluster": task.item["cluster"], "task": task.item["taskArn"], "lastStatus": status, **fields}
        try:
            await self.ctx.control("ecs/task-state", body)
        except Exception as exc:  # noqa: BLE001 - the emulator is going away with the data plane
            log.warning("could not report task %s %s: %s", task.task_id, status, exc)

    # --- telemetry ------------------------------------------------------------------------------

    async def _metrics_loop(self) -> None:
        """Service CPU and memory utilization (AWS/ECS), from the tasks' processes."""
        while True:
            await asyncio.sleep(METRICS_SECONDS)
            try:
                await self._publish_metrics()
            except Exception as exc:  # noqa: BLE001
                log.warning("metrics not published: %s", exc)

    def _usage(self, task: RunningTask) -> tuple[float, float] | None:
        """(CPU %, memory %) of the task's reservation since the last sample."""
        if task.process is None or task.process.returncode is not None:
            return None
        try:
            root = psutil.Process(task.process.pid)
            procs = [root, *root.children(recursive=True)]
            cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
            rss = sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return None
        now = time.monotonic()
        previous, task.cpu_seen = task.cpu_seen, (now, cpu)
        if previous is None or now <= previous[0]:
            return None
        definition = task.item["taskDefinition"]
        vcpus = float(definition.get("cpu") or task.container.get("cpu") or 1024) / 1024
        memory = float(definition.get("memory") or task.container.get("memory") or 512) * 1024 * 1024
        return 100 * (cpu - previous[1]) / (now - previous[0]) / vcpus, 100 * rss / memory

    async def _publish_metrics(self) -> None:
        per_service: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for task in list(self.tasks.values()):
            service = task.item.get("service")
            usage = self._usage(task)
            if service and usage:
                per_service.setdefault((task.item["cluster"], service), []).append(usage)
        data = []
        for (cluster, service), usages in per_service.items():
            dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}]
            for index, name in ((0, "CPUUtilization"), (1, "MemoryUtilization")):
                data.append(
                    {
                        "MetricName": name,
                        "Dimensions": dims,
                        "Unit": "Percent",
                        "Values": [u[index] for u in usages],
                    }
                )
        for start in range(0, len(data), 20):
            await self.ctx.aws(
                "cloudwatch", "put_metric_data", Namespace="AWS/ECS", MetricData=data[start : start + 20]
            )

    def _publish(self) -> None:
        self.ctx.status["tasks"] = [
            {
                "task": t.task_id,
                "group": t.item["group"],
                "pid": t.process.pid if t.process else None,
                "port": t.port,
                "health": t.health,
                "stopping": t.stopping,
                "directory": str(t.directory),
            }
            for t in self.tasks.values()
        ]
