"""Target groups know a target by its id *and* port, as AWS does.

moto keys a target group's targets by id alone, so registering 127.0.0.1:40001 after
127.0.0.1:40002 replaces the first. AWS keeps both: an ip target is the pair (address, port),
which is how ECS registers awsvpc tasks, and here every task listens on 127.0.0.1 with a port of
its own.
"""

from __future__ import annotations

from typing import Any

from moto.elbv2 import models
from moto.elbv2.exceptions import InvalidTargetError


def target_key(target_id: str, port: Any) -> str:
    return f"{target_id}:{port}"


def _port(group: models.FakeTargetGroup, target: dict[str, Any]) -> Any:
    return target.get("Port", group.port)


_original_register = models.FakeTargetGroup.register


def _register(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        # One at a time: in one call, moto's id-keyed entry for a second port would replace the first.
        _original_register(self, [target])  # moto's validation and its id-keyed entry
        entry = self.targets.pop(target["Id"])
        key = target_key(target["Id"], entry["Port"])
        self.targets[key] = entry
        self.deregistered_targets.pop(key, None)


def _deregister(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        key = target_key(target["Id"], _port(self, target))
        entry = self.targets.pop(key, None)
        if entry is None:
            # AWS accepts a target given without its port when exactly one port is registered.
            matches = [k for k, t in self.targets.items() if t["Id"] == target["Id"] and "Port" not in target]
            if len(matches) != 1:
                raise InvalidTargetError()
            key = matches[0]
            entry = self.targets.pop(key)
        self.deregistered_targets[key] = entry


_original_health_for = models.FakeTargetGroup.health_for


def _health_for(self: models.FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> Any:
    key = target_key(target["Id"], _port(self, target))
    entry = self.targets.get(key)
    if entry is None and "Port" not in target:
        entry = next((t for t in self.targets.values() if t["Id"] == target["Id"]), None)
    if entry is None:
        if key in self.deregistered_targets:
            return models.FakeHealthStatus(
                target["Id"],
                _port(self, target),
                self.health_check_port,
                "unused",
                "Target.NotRegistered",
                "Target is not registered to the target group",
            )
        return _original_health_for(self, target, ec2_backend)  # moto's "not registered" answers
    if not entry["Id"].startswith("i-"):
        return models.FakeHealthStatus(entry["Id"], entry["Port"], self.health_check_port, "healthy")
    # An EC2 instance: moto's answer depends on its state; hand it the one entry under its id.
    saved, self.targets = self.targets, {entry["Id"]: entry}
    try:
        return _original_health_for(self, {"Id": entry["Id"], "Port": entry["Port"]}, ec2_backend)
    finally:
        self.targets = saved


models.FakeTargetGroup.register = _register  # type: ignore[method-assign]
models.FakeTargetGroup.deregister = _deregister  # type: ignore[method-assign]
models.FakeTargetGroup.health_for = _health_for  # type: ignore[method-assign]
