# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What differs between the task definition a service runs and the one a role wants.

community.aws.ecs_taskdefinition reuses any ACTIVE revision of the family that "has the values"
of the requested containers, and its matcher lets a list entry that differs pass when the list
has the same length: a changed environment value (LOG_LEVEL DEBUG -> WARNING), secret reference
or mount point registers no revision, and the service keeps running the old settings. It also
ignores the task-level cpu and memory. This filter compares the revision the service runs with
the wanted one and lists every difference, so the role can force a new revision and show it:

    current | loopin.platform.task_definition_changes(wanted)
    -> ["containers[web].environment: [...] -> [...]", "cpu: '256' -> '512'"]

`current` is one ecs_taskdefinition_info result (snake_case keys); `wanted` is the task-level
fields and the containers as the role passes them to ecs_taskdefinition (camelCase, as the ECS
API names them). Only what `wanted` sets is compared: a field AWS fills in by default is no
change. Lists compare as multisets (ECS may reorder them); an empty value equals an absent one.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(held: Any, wanted: Any) -> bool:
    if _empty(wanted):
        return _empty(held)
    if isinstance(wanted, dict):
        return isinstance(held, dict) and all(_same(held.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(held, list) or len(held) != len(wanted):
            return False
        unmatched = list(held)
        for item in wanted:
            match = next((i for i, h in enumerate(unmatched) if _same(h, item)), None)
            if match is None:
                return False
            unmatched.pop(match)
        return True
    if isinstance(wanted, bool) or isinstance(held, bool):
        return held is wanted
    return held == wanted or str(held) == str(wanted)


def _named(items: Any) -> dict[str, Any] | None:
    """A list of {"name": ...} entries (environment, secrets) by name; None for any other list."""
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        return None
    by_name = {str(i["name"]): i for i in items}
    return by_name if len(by_name) == len(items) else None


def _changes(held: dict[str, Any], wanted: dict[str, Any], where: str) -> list[str]:
    found = []
    for key, value in sorted(wanted.items()):
        old = held.get(key)
        if _same(old, value):
            continue
        old_named, new_named = _named(old or []), _named(value)
        if old_named is not None and new_named is not None:
            # One line per entry that differs, with its old and new value (never the whole list).
            for name in sorted(set(old_named) | set(new_named)):
                before, after = old_named.get(name), new_named.get(name)
                if before is None or after is None or not _same(before, after):
                    show = [
                        {k: v for k, v in e.items() if k != "name"} if e else None for e in (before, after)
                    ]
                    found.append(f"{where}{key}[{name}]: {show[0]!r} -> {show[1]!r}")
            continue
        found.append(f"{where}{key}: {old!r} -> {value!r}")
    return found


def task_definition_changes(current: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    """Every wanted field that `current` does not hold; [] when `current` already runs it."""
    if not isinstance(wanted, dict):
        raise AnsibleFilterError(
            f"task_definition_changes: wanted must be a dict, not {type(wanted).__name__}"
        )
    if not current:
        return ["(no task definition yet)"]
    wanted = camel_dict_to_snake_dict(wanted)
    containers = wanted.pop("containers", None) or wanted.pop("container_definitions", None) or []
    found = _changes(current, wanted, "")
    held_containers = {c.get("name"): c for c in current.get("container_definitions") or []}
    for container in containers:
        name = container.get("name")
        if name not in held_containers:
            found.append(f"containers[{name}]: (none) -> new container")
            continue
        found += _changes(held_containers[name], container, f"containers[{name}].")
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"task_definition_changes": task_definition_changes}
