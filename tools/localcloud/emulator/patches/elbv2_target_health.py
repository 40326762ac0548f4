"""Target health as an ALB's nodes report it.

moto answers every registered ip target ``healthy`` at once and forgets a deregistered one at once.
That stays the answer while no load balancer node runs (tests without a data plane rely on it).
Once a node has announced itself (``POST /_localcloud/elbv2/health-owner``, a heartbeat with a time
to live), DescribeTargetHealth answers as AWS does:

* a newly registered target is ``initial`` (``Elb.RegistrationInProgress``) until the node reports
  the result of its health checks (``POST /_localcloud/elbv2/target-health``);
* a reported state is answered as reported (AWS's states and reason codes only);
* a deregistered target is ``draining`` (``Target.DeregistrationInProgress``) for the target
  group's ``deregistration_delay.timeout_seconds``, then gone;
* a target group whose health checks are disabled answers ``unavailable``
  (``Target.HealthCheckDisabled``), as AWS does.

Built on ``elbv2_targets`` (targets keyed by address and port). The state lives on moto's target
group objects, so ``/moto-api/reset`` clears it with them. HealthCheckPort is the port the checks
use (AWS answers the number, never ``traffic-port``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from moto.elbv2 import models
from moto.elbv2.exceptions import TargetGroupNotFoundError

from localcloud.emulator import control
from localcloud.emulator.patches.elbv2_targets import target_key

# TargetHealth.Reason in the elbv2 API reference: every reason code, with the state it belongs to
# and the description AWS gives with it.
REASONS: dict[str, tuple[str, str]] = {
    "Elb.RegistrationInProgress": ("initial", "Target registration is in progress"),
    "Elb.InitialHealthChecking": ("initial", "Initial health checks in progress"),
    "Target.ResponseCodeMismatch": ("unhealthy", "Health checks failed"),
    "Target.Timeout": ("unhealthy", "Request timed out"),
    "Target.FailedHealthChecks": ("unhealthy", "Health checks failed"),
    "Elb.InternalError": ("unhealthy", "Health checks failed due to an internal error"),
    "Target.NotRegistered": ("unused", "Target is not registered to the target group"),
    "Target.NotInUse": ("unused", "Target group is not configured to receive traffic from the load balancer"),
    "Target.InvalidState": ("unused", "Target is in the stopped state"),
    "Target.IpUnusable": ("unused", "The target IP address is reserved for use by a load balancer"),
    "Target.DeregistrationInProgress": ("draining", "Target deregistration is in progress"),
    "Target.HealthCheckDisabled": ("unavailable", "Health checks disabled"),
}
STATES = ("initial", "healthy", "unhealthy", "unused", "draining", "unavailable")
# A node that stops heartbeating (killed, paused) hands health back to moto after this long.
DEFAULT_OWNER_TTL_SECONDS = 10.0
_ARN = re.compile(r"^arn:aws[\w-]*:elasticloadbalancing:(?P<region>[\w-]+):(?P<account>\d{12}):targetgroup/")


@dataclass(frozen=True)
class Health:
    state: str
    reason: str | None = None
    description: str | None = None


# Load balancer nodes that announced themselves: owner id -> monotonic expiry.
_owners: dict[str, float] = {}


def owner_active() -> bool:
    now = time.monotonic()
    with control.state_lock:
        for owner, expiry in list(_owners.items()):
            if expiry <= now:
                del _owners[owner]
        return bool(_owners)


def _state(
    target_group: models.FakeTargetGroup,
) -> tuple[dict[str, Health], dict[str, tuple[float, str, int]]]:
    """The reports (by target key) and the draining targets (key -> deadline, id, port) of a group."""
    reports = target_group.__dict__.setdefault("localcloud_reports", {})
    draining = target_group.__dict__.setdefault("localcloud_draining", {})
    return reports, draining


def _reason(reason: str) -> Health:
    state, description = REASONS[reason]
    return Health(state, reason, description)


_registered_register = models.FakeTargetGroup.register


def _register(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    with control.state_lock:
        before = set(self.targets)
        _registered_register(self, targets)
        reports, draining = _state(self)
        for key in set(self.targets) - before:
            # A registration (or a re-registration of a draining target) starts over.
            reports.pop(key, None)
            draining.pop(key, None)


_registered_deregister = models.FakeTargetGroup.deregister


def _deregister(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    with control.state_lock:
        before = dict(self.targets)
        _registered_deregister(self, targets)
        reports, draining = _state(self)
        delay = float(self.attributes.get("deregistration_delay.timeout_seconds", 300))
        draining_now = owner_active() and delay > 0
        for key in set(before) - set(self.targets):
            reports.pop(key, None)
            if draining_now:
                entry = before[key]
                draining[key] = (time.monotonic() + delay, entry["Id"], int(entry["Port"]))


_registered_health_for = models.FakeTargetGroup.health_for


def _health_for(
    self: models.FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
) -> models.FakeHealthStatus:
    with control.state_lock:
        status = _registered_health_for(self, target, ec2_backend)
        key = target_key(status.instance_id, status.port)
        if self.health_check_port in (None, "traffic-port"):
            status.health_check_port = str(status.port)
        if not owner_active():
            return status
        reports, draining = _state(self)
        health: Health | None = None
        if key in draining and key not in self.targets:
            if draining[key][0] > time.monotonic():
                health = _reason("Target.DeregistrationInProgress")
        elif status.status == "healthy":  # registered, and moto would call it healthy at once
            if not self.health_check_enabled:
                health = _reason("Target.HealthCheckDisabled")
            else:
                health = reports.get(key) or _reason("Elb.RegistrationInProgress")
        if health is not None:
            status.status, status.reason, status.description = health.state, health.reason, health.description
        return status


def _describe_target_health(
    self: models.ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
) -> list[models.FakeHealthStatus]:
    target_group = self.target_groups.get(target_group_arn)
    if target_group is None:
        raise TargetGroupNotFoundError()
    with control.state_lock:
        if not targets:
            _, draining = _state(target_group)
            now = time.monotonic()
            for key in [k for k, (deadline, _, _) in draining.items() if deadline <= now]:
                del draining[key]
            targets = list(target_group.targets.values())
            if owner_active():
                targets += [
                    {"Id": target_id, "Port": port}
                    for key, (_, target_id, port) in draining.items()
                    if key not in target_group.targets
                ]
        return [target_group.health_for(target, self.ec2_backend) for target in targets]


models.FakeTargetGroup.register = _register  # type: ignore[method-assign]
models.FakeTargetGroup.deregister = _deregister  # type: ignore[method-assign]
models.FakeTargetGroup.health_for = _health_for  # type: ignore[method-assign]
models.ELBv2Backend.describe_target_health = _describe_target_health  # type: ignore[method-assign]


def _target_group(arn: str) -> models.FakeTargetGroup:
    match = _ARN.match(arn)
    if match is None:
        raise control.ControlError(400, f"not a target group ARN: {arn}")
    backend = models.elbv2_backends[match["account"]][match["region"]]
    target_group = backend.target_groups.get(arn)
    if target_group is None:
        raise control.ControlError(404, f"no target group {arn}")
    return target_group


def _reported(entry: dict[str, Any]) -> Health:
    state, reason = str(entry["state"]), entry.get("reason")
    if state not in STATES:
        raise control.ControlError(400, f"state {state!r} is not one of AWS's: {', '.join(STATES)}")
    if state == "healthy":
        if reason is not None:
            raise control.ControlError(400, "a healthy target has no reason code")
        return Health("healthy")
    if reason not in REASONS or REASONS[reason][0] != state:
        codes = sorted(code for code, (s, _) in REASONS.items() if s == state)
        raise control.ControlError(400, f"reason {reason!r} is not AWS's for {state}: {', '.join(codes)}")
    return Health(state, reason, entry.get("description") or REASONS[reason][1])


@control.route("POST", "/_localcloud/elbv2/health-owner")
def health_owner(body: dict[str, Any]) -> dict[str, Any]:
    """A load balancer node's heartbeat ``{"owner", "ttlSeconds"?}``, or its goodbye (``"stopping"``)."""
    owner = str(body["owner"])
    if body.get("stopping"):
        _owners.pop(owner, None)
    else:
        ttl = float(body.get("ttlSeconds", DEFAULT_OWNER_TTL_SECONDS))
        if not 0 < ttl <= 300:
            raise control.ControlError(400, f"ttlSeconds must be in (0, 300], got {ttl}")
        _owners[owner] = time.monotonic() + ttl
    return {"owners": sorted(_owners) if owner_active() else []}


@control.route("POST", "/_localcloud/elbv2/target-health")
def target_health(body: dict[str, Any]) -> dict[str, Any]:
    """Health-check results: ``{"targetGroupArn", "targets": [{"id", "port", "state", "reason"?, ...}]}``.

    Results for targets that are no longer registered (a report racing a deregistration) are
    ignored and listed back."""
    target_group = _target_group(str(body["targetGroupArn"]))
    reports, _ = _state(target_group)
    stored, ignored = 0, []
    for entry in body["targets"]:
        key = target_key(str(entry["id"]), int(entry["port"]))
        health = _reported(entry)
        if key in target_group.targets:
            reports[key] = health
            stored += 1
        else:
            ignored.append(key)
    return {"stored": stored, "ignored": ignored}
