"""Action plugin: validate the environment's configuration on the controller, before any AWS call.

Runs the schema in module_utils/inventory_schema.py over the inventory's group_vars laid on the
roles' defaults, and fails with one line per problem: file, variable and reason.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_inventory
short_description: Validate an environment's inventory against the typed schema
description:
  - Reads C(group_vars/all/*.yml) of the inventory and the literal values of C(roles/*/defaults/main.yml),
    validates them with the project's schema, and fails naming the file, variable and reason of each problem.
  - Makes no AWS call; runs on the controller. Supports check mode.
options:
  inventory_dir:
    description: The environment's inventory folder. Defaults to the host's C(inventory_dir).
    type: path
  roles_dir:
    description: Folder holding the roles whose defaults are laid under the inventory.
    type: path
author:
  - Loopin platform team
"""

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        inventory_dir = self._task.args.get("inventory_dir") or task_vars.get("inventory_dir")
        if not inventory_dir:
            raise AnsibleActionFail("inventory_dir is unknown: run with -i inventories/<env>")
        roles_dir = self._task.args.get("roles_dir") or str(Path(task_vars["playbook_dir"]).parent / "roles")
        config = inventory_schema.load(Path(inventory_dir), Path(roles_dir), base=Path(roles_dir).parent)
        result["changed"] = False
        result["checked_variables"] = sorted(config.values)
        if not config.ok:
            result["failed"] = True
            result["problems"] = [str(problem) for problem in config.problems]
            result["msg"] = config.report()
            return result
        result["msg"] = f"{inventory_dir}: {len(config.values)} variables valid"
        return result
