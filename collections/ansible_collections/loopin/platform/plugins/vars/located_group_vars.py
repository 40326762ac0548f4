# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's host_group_vars, with invalid YAML reported at its file, line and column.

ansible-core 2.19's host_group_vars reports a syntax error in an inventory's group_vars as
"YAML parsing failed: While parsing a flow sequence did not find expected ',' or ']'", without
the file: an operator with seven files in group_vars/all has to bisect them. This plugin loads
the same files the same way and, when one does not parse, says which file and where.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: located_group_vars
short_description: host_group_vars that names the file, line and column of invalid YAML
description:
  - Loads an inventory's C(group_vars/) and C(host_vars/) exactly as ansible.builtin.host_group_vars
    does (same files, same precedence, same caching).
  - When a file is not valid YAML, fails with its path, line and column and the parser's reason,
    before any task runs.
  - Enabled in ansible.cfg in place of host_group_vars
    (C(vars_plugins_enabled = loopin.platform.located_group_vars)).
author:
  - Loopin platform team
options:
  stage:
    ini:
      - key: stage
        section: vars_host_group_vars
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
  _valid_extensions:
    default: [".yml", ".yaml", ".json"]
    description: The file extensions considered vars files.
    type: list
    elements: string
    ini:
      - key: vars_extension
        section: defaults
    env:
      - name: ANSIBLE_YAML_FILENAME_EXT
"""

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars

_CHECKED: set[str] = set()  # files already found to parse (vars plugins run for every host)


def located_error(path: str, text: str) -> str | None:
    """None when `text` is valid YAML, else `path:line:column: reason` (1-based, as editors count)."""
    try:
        # compose, not load: only the syntax is checked (Ansible's own tags such as !vault compose)
        for _ in yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            pass
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        reason = exc.problem or exc.context or "not valid"
        if exc.context and context and context is not mark:
            reason += f" ({exc.context} started at line {context.line + 1}, column {context.column + 1})"
        return f"{where}: invalid YAML: {reason}"
    except yaml.YAMLError as exc:
        return f"{path}: invalid YAML: {exc}"
    return None


class VarsModule(HostGroupVars):
    def load_found_files(self, loader, data, found_files):
        for found in found_files:
            if found in _CHECKED:
                continue
            with open(found, encoding="utf-8", errors="replace") as handle:
                error = located_error(found, handle.read())
            if error:
                raise AnsibleParserError(error)
            _CHECKED.add(found)
        return super().load_found_files(loader, data, found_files)
