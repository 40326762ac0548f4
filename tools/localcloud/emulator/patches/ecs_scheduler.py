"""The ECS service scheduler and the task lifecycle, which moto does not have.

moto records services and tasks but runs nothing: a service's tasks never exist, a task made by
RunTask is RUNNING at once and walks to STOPPED each time it is described, and a service's
deployment never progresses. On AWS the ECS control plane keeps every service at its desired
count, rolls a new task definition in within the deployment's minimum/maximum percent, registers
each task with its target groups once it runs, drains and stops tasks, replaces the ones that
die or fail their health checks, and trips the deployment circuit breaker. This module does that
here, while a data plane (the agent that runs the containers, ``localcloud.dataplane.agent``) is
connected; without one, moto's behaviour is left as it was, so tests that only provision see no
change.

The agent's protocol stands for what the real ECS agent speaks to its control plane:

* ``POST /_localcloud/ecs/agent {"agent": id}`` - heartbeat; answers the tasks this agent runs
  or must start (with their task definition and overrides) and which of them to stop now.
* ``POST /_localcloud/ecs/task-state {...}`` - a task's container started, became (un)healthy,
  or exited.
"""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs import models as ecs_models
from moto.ecs.models import ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.models import elbv2_backends
from moto.moto_api._internal import mock_random

from localcloud.emulator import control

# A data plane that has not heartbeated for this long is gone, and its tasks with it.
AGENT_TTL_SECONDS = float(os.environ.get("LOCALCLOUD_AGENT_TTL_SECONDS", "15"))
# A service whose tasks keep failing to start is throttled, as ECS throttles it: the wait before
# the next launch doubles with each failure, up to this.
MAX_LAUNCH_BACKOFF_SECONDS = 30.0
STOPPED_TASK_RETENTION_SECONDS = 3600.0
SCHEDULER_INTERVAL_SECONDS = 1.0

_agents: dict[str, float] = {}


def agent_active() -> bool:
    now = time.monotonic()
    return any(now - seen < AGENT_TTL_SECONDS for seen in _agents.values())


def _alive(agent: str | None) -> bool:
    return agent is not None and time.monotonic() - _agents.get(agent, -1e9) < AGENT_TTL_SECONDS


# --- tasks: a state machine driven by the scheduler and the agent, not by describe calls ---------

_original_task_init = ecs_models.Task.__init__


def _task_init(self: ecs_models.Task, *args: Any, **kwargs: Any) -> None:
    _original_task_init(self, *args, **kwargs)
    self._lc_managed = agent_active()
    if not self._lc_managed:
        return
    self.last_status = "PROVISIONING"
    self.health_status = "UNKNOWN"
    self.created_at = utcnow()
    self._lc_agent: str | None = None
    self._lc_stop_at: float | None = None
    self._lc_stopped_mono: float | None = None
    self._lc_registered: list[tuple[str, str, int]] = []
    self._lc_deployment: str | None = None
    self._lc_ever_healthy = False
    self._lc_running_since: float | None = None
    self._lc_definition_health_check: dict[str, Any] | None = None
    container = self.containers[0]
    container.last_status = "PENDING"
    container.exitCode = None
    container.health_status = "UNKNOWN"


def _task_advance(self: ecs_models.Task) -> None:
    if not getattr(self, "_lc_managed", False):
        ecs_models.ManagedState.advance(self)


ecs_models.Task.__init__ = _task_init  # type: ignore[method-assign]


# moto's awsvpc RunTask reads the new interface's private DNS name, which its NetworkInterface
# lacks (AttributeError: every awsvpc RunTask fails). AWS names it after the address.
def _get_private_dns_name(self: NetworkInterface) -> str:
    if "_lc_private_dns_name" in self.__dict__:
        return str(self.__dict__["_lc_private_dns_name"])
    address = str(self.private_ip_address).replace(".", "-")
    return f"ip-{address}.{self.ec2_backend.region_name}.compute.internal"


def _set_private_dns_name(self: NetworkInterface, value: str) -> None:
    self.__dict__["_lc_private_dns_name"] = value


if not hasattr(NetworkInterface, "private_dns_name"):
    NetworkInterface.private_dns_name = property(_get_private_dns_name, _set_private_dns_name)  # type: ignore[attr-defined]
ecs_models.Task.advance = _task_advance  # type: ignore[method-assign]


def _managed(task: ecs_models.Task) -> bool:
    return bool(getattr(task, "_lc_managed", False))


def _backends() -> list[ecs_models.EC2ContainerServiceBackend]:
    found = []
    for account in ecs_backends.values():
        for backend in account.values():
            found.append(backend)
    return found


def _all_tasks(backend: ecs_models.EC2ContainerServiceBackend) -> list[ecs_models.Task]:
    return [t for tasks in list(backend.tasks.values()) for t in list(tasks.values())]


def _find_task(backend: ecs_models.EC2ContainerServiceBackend, cluster: str, task: str) -> ecs_models.Task:
    task_id = task.rsplit("/", 1)[-1]
    for arn, candidate in backend.tasks.get(cluster.rsplit("/", 1)[-1], {}).items():
        if arn.endswith(task_id):
            return candidate
    raise control.ControlError(404, f"no task {task} in cluster {cluster}")


def begin_stop(task: ecs_models.Task, reason: str, stop_code: str = "ServiceSchedulerInitiated") -> None:
    """Stop a task as ECS does: deregister it from its target groups, let them drain, then stop."""
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stopped_reason = task.stopped_reason or reason
    task.stop_code = stop_code
    task.stopping_at = utcnow()
    delay = _deregister(task)
    if task.last_status in ("PROVISIONING", "PENDING") and task._lc_agent is None:
        _mark_stopped(task, None, "the task never started")
        return
    task._lc_stop_at = time.monotonic() + delay
    task.last_status = "DEACTIVATING" if delay > 0 else "STOPPING"


def _mark_stopped(task: ecs_models.Task, exit_code: int | None, reason: str | None) -> None:
    _deregister(task)
    was_running = task.last_status == "RUNNING"
    task.last_status = "STOPPED"
    if task.desired_status != "STOPPED":
        # It stopped by itself: a failed task of its service's deployment.
        service = _service_of(task)
        if service is not None:
            _count_failure(_deployments(service), task)
        task.desired_status = "STOPPED"
        task.stop_code = "EssentialContainerExited" if was_running else "TaskFailedToStart"
        task.stopped_reason = reason or (
            f"Essential container in task exited (exit code {exit_code})"
            if exit_code is not None
            else "Task stopped"
        )
    elif reason and not task.stopped_reason:
        task.stopped_reason = reason
    task.stopped_at = utcnow()
    task._lc_stopped_mono = time.monotonic()
    container = task.containers[0]
    container.last_status = "STOPPED"
    container.exitCode = exit_code
    if reason:
        container.reason = reason
    _release_eni(task)


def _release_eni(task: ecs_models.Task) -> None:
    """Fargate releases a task's network interface when it stops."""
    for attachment in getattr(task, "attachments", []):
        details = {d["name"]: d["value"] for d in attachment.get("details", [])}
        eni = details.get("networkInterfaceId")
        if eni and attachment.get("status") != "DELETED":
            ec2 = ec2_backends[task._account_id][task.region_name]
            if eni in ec2.enis:
                ec2.delete_network_interface(eni)
            attachment["status"] = "DELETED"


# --- target groups: ECS registers a task's address once it runs, and deregisters it to stop it ---


def _elbv2(task_or_service: Any) -> Any:
    return elbv2_backends[task_or_service._account_id][task_or_service.region_name]


def _service_of(task: ecs_models.Task) -> ecs_models.Service | None:
    if not str(task.group).startswith("service:"):
        return None
    backend = task._backend
    return backend.services.get(f"{task.cluster_name}:{task.group.split(':', 1)[1]}")


def _register(task: ecs_models.Task) -> None:
    service = _service_of(task)
    if service is None or not getattr(task, "_lc_host_port", None):
        return
    elbv2 = _elbv2(task)
    for lb in service.load_balancers:
        arn = lb.get("targetGroupArn")
        if not arn or arn not in elbv2.target_groups:
            continue
        target = {"Id": task._lc_ip, "Port": int(task._lc_host_port)}
        elbv2.register_targets(arn, [target])
        task._lc_registered.append((arn, target["Id"], target["Port"]))


def _deregister(task: ecs_models.Task) -> float:
    """Deregister the task's targets; return how long they drain (the longest delay)."""
    if not getattr(task, "_lc_registered", None):
        return 0.0
    elbv2 = _elbv2(task)
    delay = 0.0
    for arn, target_id, port in task._lc_registered:
        group = elbv2.target_groups.get(arn)
        if group is None:
            continue
        try:
            elbv2.deregister_targets(arn, [{"Id": target_id, "Port": port}])
        except Exception:  # noqa: BLE001,S110 - already gone (the group changed under the task)
            pass
        delay = max(delay, float(group.attributes.get("deregistration_delay.timeout_seconds", 300)))
    task._lc_registered = []
    return delay


def _targets_healthy(task: ecs_models.Task) -> bool:
    """Every target group the task is registered with reports it healthy."""
    if not task._lc_registered:
        return _service_of(task) is None or not _service_of(task).load_balancers  # type: ignore[union-attr]
    elbv2 = _elbv2(task)
    for arn, target_id, port in task._lc_registered:
        states = elbv2.describe_target_health(arn, [{"Id": target_id, "Port": port}])
        if not states or states[0].status != "healthy":
            return False
    return True


def _target_unhealthy(task: ecs_models.Task) -> bool:
    elbv2 = _elbv2(task)
    for arn, target_id, port in task._lc_registered:
        states = elbv2.describe_target_health(arn, [{"Id": target_id, "Port": port}])
        if states and states[0].status == "unhealthy":
            return True
    return False


# --- services: deployments that progress -----------------------------------------------------------

_DEFAULT_DEPLOYMENT = {"maximumPercent": 200, "minimumHealthyPercent": 100}


def _deployment_record(service: ecs_models.Service, task_definition: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": f"ecs-svc/{mock_random.randint(0, 32**12)}",
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "Linux",
        "networkConfiguration": getattr(service, "network_configuration", None),
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": "ECS deployment in progress.",
    }


def _deployments(service: ecs_models.Service) -> list[dict[str, Any]]:
    records = getattr(service, "_lc_deployments", None)
    if records is None:
        records = service._lc_deployments = []
        if service.task_definition:
            first = _deployment_record(service, service.task_definition)
            if service.deployments:
                first["id"] = service.deployments[0].get("id", first["id"])
            records.append(first)
    return records


def _new_deployment(service: ecs_models.Service) -> dict[str, Any]:
    records = _deployments(service)
    for record in records:
        if record["status"] == "PRIMARY":
            record["status"] = "ACTIVE"
    record = _deployment_record(service, service.task_definition)
    records.insert(0, record)
    return record


def _event(service: ecs_models.Service, message: str) -> None:
    service.events.insert(
        0,
        {
            "id": str(mock_random.uuid4()),
            "createdAt": utcnow(),
            "message": f"(service {service.name}) {message}",
        },
    )
    del service.events[100:]


_original_update_service = ecs_models.EC2ContainerServiceBackend.update_service


def _update_service(self: ecs_models.EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Any:
    cluster = service_properties.get("cluster", "default")
    name = service_properties["service"].split("/")[-1]
    forced = bool(service_properties.get("force_new_deployment"))
    before = self._get_service(cluster, name)
    previous_definition = before.task_definition
    running, pending = before.running_count, before.pending_count
    service = _original_update_service(self, service_properties)
    if not _agent_managed(service):
        return service
    # moto pretends a new desired count is running at once; the scheduler owns the counts.
    service.running_count, service.pending_count = running, pending
    if service.task_definition != previous_definition or forced:
        record = _new_deployment(service)
        _publish_deployments(service, _deployments(service))
        _event(
            service, f"has started deployment {record['id']} of {service.task_definition.rsplit('/', 1)[-1]}."
        )
    return service


ecs_models.EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]


def _agent_managed(service: ecs_models.Service) -> bool:
    return agent_active() or getattr(service, "_lc_deployments", None) is not None


# create_service/update_service drop deploymentConfiguration and healthCheckGracePeriodSeconds;
# the scheduler needs them (rolling percents, circuit breaker, grace period), so keep them aside.
_original_create_response = EC2ContainerServiceResponse.create_service
_original_update_response = EC2ContainerServiceResponse.update_service


def _keep_settings(response: EC2ContainerServiceResponse, name: str) -> None:
    cluster = response._get_param("cluster", "default")
    try:
        service = response.ecs_backend._get_service(cluster, name.split("/")[-1])
    except Exception:  # noqa: BLE001 - the call itself failed; nothing to keep
        return
    config = response._get_param("deploymentConfiguration")
    if config:
        service._lc_deployment_config = {**_DEFAULT_DEPLOYMENT, **config}
    grace = response._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service._lc_grace_seconds = int(grace)


def _create_service_response(self: EC2ContainerServiceResponse) -> Any:
    result = _original_create_response(self)
    _keep_settings(self, self._get_param("serviceName"))
    return result


def _update_service_response(self: EC2ContainerServiceResponse) -> Any:
    result = _original_update_response(self)
    _keep_settings(self, self._get_param("service"))
    return result


EC2ContainerServiceResponse.create_service = _create_service_response  # type: ignore[method-assign]
EC2ContainerServiceResponse.update_service = _update_service_response  # type: ignore[method-assign]

# StopTask from a caller (an operator, a chaos experiment): drain and stop through the agent.
_original_stop_task = ecs_models.EC2ContainerServiceBackend.stop_task


def _stop_task(
    self: ecs_models.EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str
) -> Any:
    try:
        task = _find_task(self, cluster_str, task_str)
    except control.ControlError:
        task = None
    if task is None or not _managed(task):
        return _original_stop_task(self, cluster_str, task_str, reason)
    begin_stop(task, reason or "Task stopped by user", stop_code="UserInitiated")
    return task


ecs_models.EC2ContainerServiceBackend.stop_task = _stop_task  # type: ignore[method-assign]

# ListTasks ignores serviceName in moto ("we can't filter until the backend launches tasks").
_original_list_tasks = ecs_models.EC2ContainerServiceBackend.list_tasks


def _list_tasks(self: ecs_models.EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[Any]:
    names = ["cluster_str", "container_instance", "family", "started_by", "service_name", "desiredStatus"]
    bound = dict(zip(names, args, strict=False)) | kwargs
    tasks = _original_list_tasks(self, **bound)
    service = bound.get("service_name")
    if service:
        tasks = [t for t in tasks if t.group == f"service:{service.split('/')[-1]}"]
    return tasks


ecs_models.EC2ContainerServiceBackend.list_tasks = _list_tasks  # type: ignore[method-assign]


# --- the scheduler loop ----------------------------------------------------------------------------


def _config(service: ecs_models.Service) -> dict[str, Any]:
    return getattr(service, "_lc_deployment_config", None) or dict(_DEFAULT_DEPLOYMENT)


def _healthy(task: ecs_models.Task) -> bool:
    if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    has_check = bool(task._lc_definition_health_check)
    if has_check and task.health_status != "HEALTHY":
        return False
    return _targets_healthy(task)


def _service_tasks(service: ecs_models.Service) -> list[ecs_models.Task]:
    backend = service._backend
    group = f"service:{service.name}"
    return [
        t
        for t in list(backend.tasks.get(service.cluster_name, {}).values())
        if _managed(t) and t.group == group
    ]


def _start_task(service: ecs_models.Service, deployment: dict[str, Any]) -> ecs_models.Task:
    backend = service._backend
    # Every task here is a Fargate task (the services' capacity providers are FARGATE and
    # FARGATE_SPOT; spot interruptions are not modelled).
    tasks = backend.run_task(
        cluster_str=service.cluster_name,
        task_definition_str=deployment["taskDefinition"],
        count=1,
        overrides=None,
        started_by=deployment["id"],
        tags=[],
        launch_type="FARGATE",
        networking_configuration=getattr(service, "network_configuration", None),
        group=f"service:{service.name}",
        platform_version=service.platform_version,
    )
    task = tasks[0]
    task._lc_deployment = deployment["id"]
    return task


def _circuit_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(desired * 0.5)))


def schedule_service(service: ecs_models.Service) -> None:
    records = _deployments(service)
    tasks = _service_tasks(service)
    now = time.monotonic()
    grace = float(getattr(service, "_lc_grace_seconds", 0))

    # Tasks that died, or that their health checks condemn, are replaced.
    for task in tasks:
        if task.desired_status != "RUNNING":
            continue
        if task.health_status == "UNHEALTHY":
            _count_failure(records, task)
            begin_stop(task, "Task failed container health checks")
        elif (
            task.last_status == "RUNNING"
            and task._lc_running_since is not None
            and now - task._lc_running_since > grace
            and _target_unhealthy(task)
        ):
            _count_failure(records, task)
            begin_stop(task, "Task failed ELB health checks")

    if service.status != "ACTIVE":
        for task in tasks:
            begin_stop(task, "Service was deleted")
        return
    if not records:
        return

    primary = records[0]
    breaker = _config(service).get("deploymentCircuitBreaker") or {}
    if (
        breaker.get("enable")
        and primary["rolloutState"] == "IN_PROGRESS"
        and primary["failedTasks"] >= _circuit_threshold(service.desired_count)
    ):
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        _event(service, f"deployment {primary['id']} deployment failed: tasks failed to start.")
        previous = next((r for r in records[1:] if r.get("_completed")), None)
        if breaker.get("rollback") and previous is not None:
            service.task_definition = previous["taskDefinition"]
            record = _new_deployment(service)
            record["rolloutStateReason"] = (
                f"ECS deployment circuit breaker: rolling back to {previous['id']}."
            )
            _event(service, f"has started a rollback to {previous['taskDefinition'].rsplit('/', 1)[-1]}.")
            primary = record

    live = [t for t in tasks if t.desired_status == "RUNNING"]
    mine = [t for t in live if t._lc_deployment == primary["id"]]
    old = [t for t in live if t._lc_deployment != primary["id"]]
    desired = max(0, int(service.desired_count))
    config = _config(service)
    max_total = math.floor(desired * int(config.get("maximumPercent", 200)) / 100)
    min_healthy = math.ceil(desired * int(config.get("minimumHealthyPercent", 100)) / 100)

    for task in live:
        if not task._lc_ever_healthy and _healthy(task):
            task._lc_ever_healthy = True
            service._lc_launch_failures = 0

    # Scale the new deployment up; while old tasks run, within maximumPercent of the desired
    # count (old tasks make room below as new ones become healthy).
    room = max(0, max_total - len(live)) if old else desired - len(mine)
    started = 0
    throttled = now < getattr(service, "_lc_next_launch", 0.0)
    if (primary["rolloutState"] != "FAILED" or not old) and not throttled:
        for _ in range(max(0, min(desired - len(mine), room))):
            mine.append(_start_task(service, primary))
            started += 1
    if started:
        _event(service, f"has started {started} tasks.")

    # Scale in: the newest tasks that are not yet serving go first.
    excess = len(mine) - desired
    if excess > 0:
        order = sorted(mine, key=lambda t: (_healthy(t), t.created_at), reverse=False)
        for task in order[:excess]:
            begin_stop(task, "Scaling activity initiated by the service's desired count")
            mine.remove(task)

    # Old deployments' tasks stop as new ones become healthy, keeping minimumHealthyPercent.
    healthy_new = sum(1 for t in mine if _healthy(t))
    healthy_old = [t for t in old if _healthy(t)]
    for task in [t for t in old if not _healthy(t)]:
        begin_stop(task, f"Task of an old deployment replaced by {primary['id']}")
    can_stop = max(0, healthy_new + len(healthy_old) - min_healthy)
    for task in healthy_old[:can_stop]:
        begin_stop(task, f"Task of an old deployment replaced by {primary['id']}")

    # Counts and rollout state, as DescribeServices reports them.
    for record in records:
        belongs = [t for t in tasks if t._lc_deployment == record["id"] and t.desired_status == "RUNNING"]
        record["runningCount"] = sum(1 for t in belongs if t.last_status == "RUNNING")
        record["pendingCount"] = sum(1 for t in belongs if t.last_status in ("PROVISIONING", "PENDING"))
        record["desiredCount"] = desired if record is primary else len(belongs)
    remaining = [r for r in records if r is primary or r["runningCount"] + r["pendingCount"] > 0]
    steady = len(remaining) == 1 and healthy_new == desired and len(mine) == desired
    if primary["rolloutState"] == "IN_PROGRESS" and steady:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["_completed"] = True
        _event(service, "has reached a steady state.")
    for record in records:
        if record not in remaining and record.get("_completed"):
            record["status"] = "INACTIVE"
    service._lc_deployments = [r for r in records if r in remaining or r.get("_completed")][:5]
    _publish_deployments(service, remaining)
    service.running_count = sum(1 for t in live if t.last_status == "RUNNING")
    service.pending_count = sum(1 for t in live if t.last_status in ("PROVISIONING", "PENDING"))


def _publish_deployments(service: ecs_models.Service, records: list[dict[str, Any]]) -> None:
    """What DescribeServices shows: the deployments still running tasks, without private keys."""
    shown = [r for r in records if r.get("status") != "INACTIVE"]
    service.deployments = [{k: v for k, v in r.items() if not k.startswith("_")} for r in shown]


def _count_failure(records: list[dict[str, Any]], task: ecs_models.Task) -> None:
    """A task that exited or failed its health checks: a failed task of its deployment while that
    deployment is rolling out (the circuit breaker's count), and a reason to launch more slowly."""
    if getattr(task, "_lc_failure_counted", False):
        return
    task._lc_failure_counted = True
    for record in records:
        if record["id"] == task._lc_deployment and record["rolloutState"] == "IN_PROGRESS":
            record["failedTasks"] += 1
    service = _service_of(task)
    if service is not None and not task._lc_ever_healthy:
        failures = getattr(service, "_lc_launch_failures", 0) + 1
        service._lc_launch_failures = failures
        service._lc_next_launch = time.monotonic() + min(MAX_LAUNCH_BACKOFF_SECONDS, 2.0 ** (failures - 1))


def _advance_stopping(task: ecs_models.Task, now: float) -> None:
    if (
        task.desired_status == "STOPPED"
        and task.last_status == "DEACTIVATING"
        and now >= (task._lc_stop_at or 0)
    ):
        task.last_status = "STOPPING"


@control.background("ecs-scheduler", SCHEDULER_INTERVAL_SECONDS)
def scheduler_round() -> None:
    if not agent_active():
        return
    with control.state_lock:
        now = time.monotonic()
        for backend in _backends():
            for task in _all_tasks(backend):
                if not _managed(task):
                    continue
                _advance_stopping(task, now)
                # A task whose agent went away is lost with it.
                if task.last_status not in ("STOPPED", "PROVISIONING") and not _alive(task._lc_agent):
                    _mark_stopped(task, None, "The data plane that ran this task stopped")
            for service in list(backend.services.values()):
                if service.deployment_controller.get("type", "ECS") == "ECS" and _agent_managed(service):
                    schedule_service(service)
            # Stopped tasks are listed for an hour, as on AWS.
            for tasks in backend.tasks.values():
                for arn in [
                    arn
                    for arn, t in tasks.items()
                    if _managed(t)
                    and t.last_status == "STOPPED"
                    and now - (t._lc_stopped_mono or now) > STOPPED_TASK_RETENTION_SECONDS
                ]:
                    del tasks[arn]


# --- the agent's protocol ----------------------------------------------------------------------------


def _definition(backend: ecs_models.EC2ContainerServiceBackend, arn: str) -> dict[str, Any]:
    td = backend.describe_task_definition(arn)
    return {
        "taskDefinitionArn": td.arn,
        "family": td.family,
        "revision": td.revision,
        "cpu": td.cpu,
        "memory": td.memory,
        "taskRoleArn": getattr(td, "task_role_arn", None),
        "executionRoleArn": getattr(td, "execution_role_arn", None),
        "networkMode": td.network_mode,
        "containerDefinitions": td.container_definitions,
        "volumes": td.volumes,
    }


def _work_item(task: ecs_models.Task, now: float) -> dict[str, Any]:
    backend = task._backend
    service = _service_of(task)
    return {
        "cluster": task.cluster_name,
        "taskArn": task.task_arn,
        "taskId": task.task_arn.rsplit("/", 1)[-1],
        "group": task.group,
        "service": service.name if service else None,
        "startedBy": task.started_by,
        "desiredStatus": task.desired_status,
        "lastStatus": task.last_status,
        "stop": task.desired_status == "STOPPED" and task.last_status == "STOPPING",
        "overrides": task.overrides,
        "taskDefinition": _definition(backend, task.task_definition_arn),
    }


@control.route("POST", "/_localcloud/ecs/agent")
def agent_heartbeat(body: dict[str, Any]) -> dict[str, Any]:
    agent = str(body["agent"])
    _agents[agent] = time.monotonic()
    now = time.monotonic()
    work = []
    for backend in _backends():
        for task in _all_tasks(backend):
            if not _managed(task):
                continue
            _advance_stopping(task, now)
            if (
                task._lc_agent is None
                and task.last_status == "PROVISIONING"
                and task.desired_status == "RUNNING"
            ):
                task._lc_agent = agent
                task.last_status = "PENDING"
                task.pull_started_at = utcnow()
                definition = backend.describe_task_definition(task.task_definition_arn)
                task._lc_definition_health_check = (definition.container_definitions[0] or {}).get(
                    "healthCheck"
                )
            if task._lc_agent == agent and task.last_status != "STOPPED":
                work.append(_work_item(task, now))
    return {"tasks": work, "now": datetime.now(UTC).isoformat()}


@control.route("POST", "/_localcloud/ecs/task-state")
def task_state(body: dict[str, Any]) -> dict[str, Any]:
    backend = _backend_for(body["cluster"])
    task = _find_task(backend, body["cluster"], body["task"])
    status = body["lastStatus"]
    container = task.containers[0]
    if "healthStatus" in body:
        task.health_status = container.health_status = body["healthStatus"]
        if body["healthStatus"] == "HEALTHY":
            task._lc_ever_healthy = True
    if status == "RUNNING" and task.last_status in ("PENDING", "PROVISIONING"):
        task.last_status = container.last_status = "RUNNING"
        task.started_at = task.connectivity_at = utcnow()
        task._lc_running_since = time.monotonic()
        task._lc_ip = body.get("privateIPv4Address", "127.0.0.1")
        task._lc_host_port = body.get("hostPort")
        container.network_interfaces = [{"privateIpv4Address": task._lc_ip}]
        if task._lc_host_port:
            port_mappings = (_definition(backend, task.task_definition_arn)["containerDefinitions"][0]).get(
                "portMappings", []
            )
            container.network_bindings = [
                {
                    "bindIP": task._lc_ip,
                    "containerPort": pm.get("containerPort"),
                    "hostPort": int(task._lc_host_port),
                    "protocol": pm.get("protocol", "tcp"),
                }
                for pm in port_mappings[:1]
            ]
        if task.desired_status == "RUNNING":
            _register(task)
            if not task._lc_definition_health_check and _targets_healthy(task):
                task._lc_ever_healthy = True
    elif status == "STOPPED":
        _mark_stopped(task, body.get("exitCode"), body.get("stoppedReason"))
    return {"taskArn": task.task_arn, "lastStatus": task.last_status, "desiredStatus": task.desired_status}


def _backend_for(cluster: str) -> ecs_models.EC2ContainerServiceBackend:
    name = cluster.rsplit("/", 1)[-1]
    for backend in _backends():
        if name in backend.clusters:
            return backend
    raise control.ControlError(404, f"no cluster {cluster}")
