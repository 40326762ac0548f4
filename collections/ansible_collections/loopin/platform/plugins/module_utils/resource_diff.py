# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What would change in a resource: the attributes the desired state names, old and new value.

    changes({"limit": 1000, "window": 300}, {"limit": 2000})
    -> [Change(path="limit", old=1000, new=2000)]

The desired state is a subset: attributes AWS holds that the desired state does not name (ARNs,
lock tokens, defaults the role leaves alone) are not compared. Lists of dicts that carry a `name`
(WAF rules, alarms) are matched by name, so a rule's path reads `rules[rate-limit-per-ip].action`
rather than an index that shifts when a rule is added. Other lists compare as a whole.

Scalars compare after normalisation: AWS answers `8000` where an inventory wrote `'8000'`, and
`True` where a template rendered `'true'`; neither is a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ABSENT = "(absent)"


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    return value


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def changes(before: Any, after: Any, path: str = "", purge: bool = True) -> list[Change]:
    """Every attribute of `after` that `before` does not already hold, in `after`'s order.

    purge: a named list item that `before` has and `after` lacks is a change (it would be removed).
    """
    if isinstance(after, dict):
        if not isinstance(before, dict):
            return (
                [] if before == after else [Change(path or ".", ABSENT if before is None else before, after)]
            )
        found: list[Change] = []
        for key, value in after.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in before:
                if value not in (None, {}, []):
                    found.append(Change(child, ABSENT, value))
                continue
            found.extend(changes(before[key], value, child, purge))
        return found
    if (
        isinstance(after, list)
        and _named(after)
        and isinstance(before, list)
        and (not before or _named(before))
    ):
        old = {item["name"]: item for item in before}
        found = []
        for item in after:
            child = f"{path}[{item['name']}]"
            if item["name"] in old:
                found.extend(changes(old[item["name"]], item, child, purge))
            else:
                found.append(Change(child, ABSENT, item))
        if purge:
            wanted = {item["name"] for item in after}
            found.extend(
                Change(f"{path}[{name}]", item, ABSENT) for name, item in old.items() if name not in wanted
            )
        return found
    if isinstance(after, list):
        if not isinstance(before, list) or len(before) != len(after):
            return [Change(path, ABSENT if before is None else before, after)]
        if any(changes(b, a, path, purge) for b, a in zip(before, after, strict=True)):
            return [Change(path, before, after)]
        return []
    if _scalar(before) == _scalar(after):
        return []
    return [Change(path, ABSENT if before is None else before, after)]


def diff(resource: str, found: list[Change]) -> dict[str, str]:
    """Ansible's `diff` result: one line per changed attribute, old value above, new below."""

    def lines(side: str) -> str:
        return "".join(f"{c.path}: {_show(getattr(c, side))}\n" for c in found)

    return {
        "before_header": f"{resource} (now)",
        "after_header": f"{resource} (desired)",
        "before": lines("old"),
        "after": lines("new"),
    }


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
