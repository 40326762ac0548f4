"""Action plugin: show, in --diff, what a resource would change when its module prints no diff.

Runs on the controller (no AWS call, no module process): it compares what a read returned with
the desired state and reports each attribute that differs with its old and new value. It never
reports `changed` itself - the module task that applies the change does - so a run's recap counts
each change once; the plan summary (callback loopin.platform.plan_summary) attaches these
attributes to the next task's change.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: resource_diff
short_description: Show the attributes a resource would change, old and new, in --diff
description:
  - Compares O(before), what a read of the resource returned, with O(after), the desired state
    the next task applies, and returns one line per differing attribute as Ansible's C(diff) (shown
    with C(--diff)) and as RV(changes).
  - Only the attributes O(after) names are compared; lists of named items (C(name) key) are matched
    by name; C(8000) and C('8000'), C(true) and C('true') are equal.
  - Makes no AWS call and never reports C(changed). Supports check mode.
options:
  resource:
    description: What the resource is, for the diff's header and the plan summary.
    type: str
    required: true
  before:
    description: The resource as it is now; null or an empty dict when it does not exist yet.
    type: raw
  after:
    description: The desired state (a subset of the resource's attributes).
    type: raw
    required: true
  purge:
    description: A named list item present now and absent from O(after) would be removed.
    type: bool
    default: true
author:
  - Loopin platform team
"""

RETURN = r"""
changes:
  description: The attributes that would change, in the order of O(after).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "rules[rate-limit-per-ip].action.block", "old": "(absent)", "new": {}}]
resource:
  description: O(resource), for the plan summary.
  returned: always
  type: str
"""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.loopin.platform.plugins.module_utils import resource_diff


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = set(args) - {"resource", "before", "after", "purge"}
        if unknown or "resource" not in args or "after" not in args:
            raise AnsibleActionFail(f"resource_diff takes resource, before, after, purge; got {sorted(args)}")
        found = resource_diff.changes(
            args.get("before") or {}, args["after"], purge=bool(args.get("purge", True))
        )
        result.update(
            changed=False,
            resource=args["resource"],
            changes=[c.as_dict() for c in found],
            msg=f"{args['resource']}: " + (", ".join(c.path for c in found) if found else "no change"),
        )
        if found:
            result["diff"] = resource_diff.diff(args["resource"], found)
        return result
