"""Rules the repository keeps: documented role variables, satisfiable collection pins, no env branches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ansible_collections
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def test_every_role_has_an_argument_spec() -> None:
    assert sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_agrees_with_defaults(role: str) -> None:
    """Every public default is documented with the same value, and every documented default exists."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    public = {name: value for name, value in defaults.items() if not name.startswith(f"{role}__")}
    undocumented = sorted(set(public) - set(options))
    assert not undocumented, f"{role}: defaults without an argument spec: {undocumented}"
    for name, option in options.items():
        assert option.get("description"), f"{role}: {name} has no description"
        if not name.startswith(f"{role}_"):
            continue  # shared inputs (loopin_*, aws_*) come from the inventory, not the role's defaults
        if "default" in option:
            assert name in public, f"{role}: {name} has a spec default but no defaults/main.yml entry"
            assert option["default"] == public[name], (
                f"{role}: {name} default differs between spec and defaults"
            )
        elif name in public and not (isinstance(public[name], str) and "{{" in public[name]):
            # A default computed from another role's fact cannot be a literal spec default;
            # any other default must be stated in the spec too.
            pytest.fail(f"{role}: {name} is in defaults/main.yml but its spec has no default")


@pytest.mark.parametrize("role", ROLES)
def test_roles_hold_no_environment_branches(role: str) -> None:
    """Environments differ only in inventories/: no `loopin_environment == ...` inside a role."""
    pattern = re.compile(r"loopin_environment\s*(==|!=|in)\s")
    for path in (ROOT / "roles" / role).rglob("*.yml"):
        assert not pattern.search(path.read_text()), f"{path}: branch on the environment name"


def _installed_version(fqcn: str) -> str:
    namespace, name = fqcn.split(".")
    for base in ansible_collections.__path__:
        manifest = Path(base) / namespace / name / "MANIFEST.json"
        if manifest.exists():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    raise AssertionError(f"{fqcn} is not installed")


def _satisfies(version: str, spec: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(part) for part in v.split("."))

    for clause in spec.split(","):
        op, bound = re.match(r"\s*(>=|<=|==|!=|<|>)\s*(\S+)", clause).groups()  # type: ignore[union-attr]
        ok = {
            ">=": key(version) >= key(bound),
            "<=": key(version) <= key(bound),
            ">": key(version) > key(bound),
            "<": key(version) < key(bound),
            "==": key(version) == key(bound),
            "!=": key(version) != key(bound),
        }[op]
        if not ok:
            return False
    return True


def test_installed_collections_satisfy_requirements() -> None:
    """Operators install from collections/requirements.yml; we run on the ansible bundle."""
    requirements = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]
    for requirement in requirements:
        installed = _installed_version(requirement["name"])
        assert _satisfies(installed, requirement["version"]), (requirement, installed)


def test_version_check_itself() -> None:
    assert _satisfies("10.1.2", ">=10.1.0,<11.0.0")
    assert not _satisfies("11.0.0", ">=10.1.0,<11.0.0")
    assert not _satisfies("10.0.9", ">=10.1.0,<11.0.0")


def test_project_collection_modules_join_the_aws_group() -> None:
    runtime = yaml.safe_load(
        (ROOT / "collections/ansible_collections/loopin/platform/meta/runtime.yml").read_text()
    )
    group = runtime["action_groups"]["aws"]
    members = {entry for entry in group if isinstance(entry, str)}
    folder = ROOT / "collections/ansible_collections/loopin/platform/plugins/modules"
    modules = {p.stem for p in folder.glob("*.py") if "AnsibleAWSModule" in p.read_text()}
    assert modules, "no AWS module found"
    assert modules <= members, f"modules missing from the aws group: {sorted(modules - members)}"


def test_roles_use_the_project_group_for_module_defaults() -> None:
    """`group/aws` does not reach loopin.platform modules; roles must use group/loopin.platform.aws."""
    for path in list((ROOT / "roles").rglob("*.yml")) + list((ROOT / "playbooks").rglob("*.yml")):
        assert "group/aws:" not in path.read_text(), path
