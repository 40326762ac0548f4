"""The inventory schema refuses broken environments, naming the file, the variable and the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ["local", "dev", "staging", "production"]


def load(inventory: Path):
    return inventory_schema.load(inventory, ROOT / "roles", base=inventory.parent.parent)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_shipped_inventory_is_valid(env: str) -> None:
    config = load(ROOT / "inventories" / env)
    assert config.ok, config.report()
    assert config.values["loopin_environment"] == env


@pytest.fixture
def broken(tmp_path: Path) -> Callable[..., Path]:
    """Copy inventories/dev and let a test edit one of its files."""

    def make(file: str, edit: Callable[[dict], None], env: str = "dev") -> Path:
        inventory = tmp_path / "inventories" / env
        shutil.copytree(ROOT / "inventories" / env, inventory)
        path = inventory / "group_vars" / "all" / file
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data))
        return inventory

    return make


def problems_of(inventory: Path) -> list[str]:
    config = load(inventory)
    assert not config.ok, "the broken inventory was accepted"
    return [str(p) for p in config.problems]


def only(problems: list[str], *needles: str) -> str:
    matching = [p for p in problems if all(n in p for n in needles)]
    assert len(matching) == 1, f"expected one problem with {needles}, got {problems}"
    return matching[0]


def test_subnet_outside_the_vpc_names_file_variable_and_reason(broken) -> None:
    def edit(d):
        d["network_zones"][1]["public_cidr"] = "10.99.4.0/24"

    problem = only(problems_of(broken("network.yml", edit)), "network_zones[1].public_cidr")
    assert problem.startswith("inventories/dev/group_vars/all/network.yml: ")
    assert "10.99.4.0/24 is not inside network_vpc_cidr 10.10.0.0/16" in problem


def test_overlapping_subnets_are_refused(broken) -> None:
    def edit(d):
        d["network_zones"][1]["private_cidr"] = "10.10.2.128/25"  # inside zone 0's private /24

    problem = only(problems_of(broken("network.yml", edit)), "network_zones[1].private_cidr")
    assert "overlaps 10.10.2.0/24 (network_zones[0].private_cidr)" in problem


def test_a_fast_rollback_over_the_rto_is_refused(broken) -> None:
    def edit(d):
        d["deploy_rollback_steps"] = [10, 50, 100]
        d["deploy_rollback_bake_seconds"] = 300  # 300 + 3 x (300 + 60) = 1380 s

    problem = only(problems_of(broken("deploy.yml", edit, env="production")), "deploy_rollback_steps")
    assert "the fast rollback's worst case is 1380s, over deploy_rollback_rto_seconds (900s)" in problem


def test_vpc_prefix_out_of_range(broken) -> None:
    def edit(d):
        d["network_vpc_cidr"] = "10.0.0.0/8"

    problems = problems_of(broken("network.yml", edit))
    assert "prefix /8" in only(problems, "network_vpc_cidr:")


def test_wrong_type_is_named(broken) -> None:
    def edit(d):
        d["network_flow_logs_enabled"] = "yes"

    problem = only(problems_of(broken("network.yml", edit)), "network_flow_logs_enabled")
    assert "network.yml" in problem and "'yes'" in problem and "boolean" in problem


def test_enum_value_outside_choices(broken) -> None:
    def edit(d):
        d["network_nat_gateways"] = "two"

    problem = only(problems_of(broken("network.yml", edit)), "network_nat_gateways")
    assert "'single'" in problem and "'per_az'" in problem


def test_retention_must_be_a_cloudwatch_value(broken) -> None:
    def edit(d):
        d["network_flow_logs_retention_days"] = 31

    assert "31" in only(problems_of(broken("network.yml", edit)), "network_flow_logs_retention_days")


def test_one_zone_is_not_enough(broken) -> None:
    def edit(d):
        d["network_zones"] = d["network_zones"][:1]

    assert "at least 2" in only(problems_of(broken("network.yml", edit)), "network_zones")


def test_typo_in_a_variable_name(broken) -> None:
    def edit(d):
        d["network_vpc_cdir"] = d.pop("network_vpc_cidr")

    problem = only(problems_of(broken("network.yml", edit)), "network_vpc_cdir")
    assert "not a known variable" in problem


def test_missing_required_variable(broken) -> None:
    def edit(d):
        del d["loopin_domain"]

    assert "is required" in only(problems_of(broken("environment.yml", edit)), "loopin_domain")


def test_real_environment_cannot_point_at_a_remote_endpoint(broken) -> None:
    def edit(d):
        d["aws_endpoint_url"] = "http://10.1.2.3:4566"

    assert "not a loopback address" in only(problems_of(broken("environment.yml", edit)), "aws_endpoint_url")


def test_static_credentials_only_with_the_emulator(broken) -> None:
    def edit(d):
        d["aws_access_key"] = "AKIAEXAMPLE"

    assert "local emulator only" in only(problems_of(broken("environment.yml", edit)), "aws_access_key")


def test_environment_must_match_the_inventory_folder(broken) -> None:
    def edit(d):
        d["loopin_environment"] = "production"

    problem = only(problems_of(broken("environment.yml", edit)), "loopin_environment")
    assert "inventory folder is 'dev'" in problem


def test_a_variable_set_in_two_files(broken) -> None:
    def edit(d):
        d["network_nat_gateways"] = "single"

    assert "also set in" in only(problems_of(broken("environment.yml", edit)), "network_nat_gateways")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    inventory = tmp_path / "inventories" / "dev"
    shutil.copytree(ROOT / "inventories" / "dev", inventory)
    (inventory / "group_vars" / "all" / "network.yml").write_text("network_zones: [\n")
    problem = only(problems_of(inventory), "network.yml")
    assert "not valid YAML" in problem


def test_every_problem_is_reported_at_once(broken) -> None:
    def edit(d):
        d["network_vpc_cidr"] = "10.0.0.0/33"
        d["network_nat_gateways"] = "many"

    problems = problems_of(broken("network.yml", edit))
    assert {p.split(": ")[1] for p in problems} >= {"network_vpc_cidr", "network_nat_gateways"}


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "config.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_config_diff_shows_only_what_differs() -> None:
    result = run_tool("diff", "inventories/staging", "inventories/production")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:] if line.strip()}
    assert rows["network_nat_gateways"] == ["single", "per_az"]
    assert rows["network_vpc_cidr"] == ["10.20.0.0/16", "10.0.0.0/16"]
    assert rows["network_flow_logs_enabled"] == ["false", "true"]
    assert rows["network_zones[0].public_cidr"] == ["10.20.1.0/24", "10.0.1.0/24"]
    # Equal settings are not shown.
    assert "aws_region" not in rows
    assert "network_zones[0].name" not in rows
    assert "security_groups_app_port" not in rows


def test_config_diff_of_an_environment_with_itself() -> None:
    result = run_tool("diff", "inventories/dev", "inventories/dev")
    assert result.returncode == 0
    assert "same effective configuration" in result.stdout


def test_validate_cli_exit_codes(broken) -> None:
    def edit(d):
        d["network_nat_gateways"] = "many"

    assert run_tool("validate", "inventories/dev").returncode == 0
    bad = run_tool("validate", str(broken("network.yml", edit)))
    assert bad.returncode == 2
    assert "network_nat_gateways" in bad.stderr
