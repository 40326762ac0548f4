# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible_collections.loopin.platform.plugins.module_utils import resource_diff

DOCUMENTATION = r"""
---
name: plan_summary
type: aggregate
short_description: End a run with each resource that changed (or would, in check mode) and its attributes
description:
  - Collects every task that reported C(changed), in the order they ran (the order a real run
    applies them), with the attributes that change where the result tells them - the C(changes)
    of a preceding loopin.platform.resource_diff task, or the keys that differ between a module's
    own C(diff) before/after dicts - and prints them after the recap, one resource per line.
  - A task whose module reports neither is listed by its name with "attributes not reported".
  - With C(--diff) it also prints the diff of each loopin.platform.resource_diff task, since those never
    report C(changed) (the module task after them does, so the recap counts a change once), and
    the default callback shows diffs of changed results only.
  - Enabled for every run in ansible.cfg (callbacks_enabled).
author:
  - Loopin platform team (@loopin-platform)
requirements:
  - enable in callbacks_enabled
"""


# Per-attribute lines kept for one resource; a created resource lists all of its attributes.
MAX_ATTRIBUTES = 6


def _attributes(result: dict) -> list[str] | None:
    """`path: old -> new` of a result's dict diff, or None when the module gave no such diff."""
    diffs = result.get("diff")
    for diff in diffs if isinstance(diffs, list) else [diffs]:
        if (
            isinstance(diff, dict)
            and isinstance(diff.get("before"), dict)
            and isinstance(diff.get("after"), dict)
        ):
            found = resource_diff.changes(diff["before"], diff["after"])
            return [f"{c.path}: {_short(c.old)} -> {_short(c.new)}" for c in found]
    return None


def _short(value: object, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "loopin.platform.plan_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[tuple[str, str, list[str] | None]] = []  # host, resource, attributes
        # host -> what the last resource_diff task found, waiting for the task that applies it
        self._pending: dict[str, list[tuple[str, list[str]]]] = {}
        # host -> the changed items of the loop task running now
        self._items: dict[str, list[tuple[str, str, list[str] | None]]] = {}

    @staticmethod
    def _is_diff(result) -> bool:
        return result._task.action.endswith("resource_diff")

    @staticmethod
    def _found(data: dict) -> list[str]:
        return [f"{c['path']}: {_short(c['old'])} -> {_short(c['new'])}" for c in data.get("changes") or []]

    def v2_on_file_diff(self, result) -> None:
        if not self._is_diff(result):
            return
        data = result._result
        for res in data["results"] if "results" in data else [data]:
            if res.get("diff") and not res.get("changed"):
                self._display.display(self._get_diff(res["diff"]))

    def v2_runner_item_on_ok(self, result) -> None:
        host, data = result._host.get_name(), result._result
        if self._is_diff(result):
            found = self._found(data)
            self._pending.setdefault(host, []).append((data.get("resource", ""), found) if found else None)
            return
        label = data.get("_ansible_item_label", data.get("item", ""))
        name = result._task.get_name().strip()
        if label and not isinstance(label, dict):
            name += f" ({_short(label, 40)})"
        entry = (host, name, _attributes(data)) if data.get("changed") else None
        self._items.setdefault(host, []).append(entry)

    def v2_runner_on_ok(self, result) -> None:
        host, data = result._host.get_name(), result._result
        if self._is_diff(result):
            if "results" not in data:
                found = self._found(data)
                self._pending[host] = [(data.get("resource", ""), found) if found else None]
            return
        pending, items = self._pending.pop(host, []), self._items.pop(host, [])
        if not data.get("changed"):
            return
        if "results" not in data:
            items = [(host, result._task.get_name().strip(), _attributes(data))]
        if len(pending) != len(items):  # not a diff of this task's items: report the items alone
            pending = [None] * len(items)
        for shown, entry in zip(pending, items, strict=True):
            if entry is None:  # this item changed nothing
                continue
            # what resource_diff showed for the item is what it applies
            self._entries.append((host, shown[0], shown[1]) if shown else entry)

    def v2_runner_on_skipped(self, result) -> None:
        self._pending.pop(result._host.get_name(), None)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._pending.pop(result._host.get_name(), None)
        self._items.pop(result._host.get_name(), None)

    def v2_playbook_on_stats(self, stats) -> None:
        check = bool(context.CLIARGS.get("check"))
        verb = "would change" if check else "changed"
        if not self._entries:
            self._display.display(f"\nSUMMARY: nothing {verb}")
            return
        self._display.display(f"\nSUMMARY: {len(self._entries)} resource(s) {verb}, in the order applied:")
        for host, resource, attributes in self._entries:
            self._display.display(f"  {host}  {resource}")
            if attributes is None:
                self._display.display("      attributes not reported by the module (see the task's output)")
                continue
            for line in attributes[:MAX_ATTRIBUTES]:
                self._display.display(f"      {line}")
            if len(attributes) > MAX_ATTRIBUTES:
                self._display.display(f"      ... and {len(attributes) - MAX_ATTRIBUTES} more")
