"""playbooks/site.yml and destroy.yml end to end, with ansible-playbook against a real moto server."""

from __future__ import annotations

import http.server
import ipaddress
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def playbook(
    name: str, endpoint: str, *extra: str, inventory: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env['PATH']}")
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(inventory or ROOT / "inventories" / "local"),
        "-e",
        f"aws_endpoint_url={endpoint}",
        str(ROOT / "playbooks" / name),
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=900)


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = RECAP.search(result.stdout)
    assert match, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


class _Recorder(http.server.BaseHTTPRequestHandler):
    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        type(self).calls.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint that counts every AWS call made to it (and fails them)."""
    _Recorder.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.calls
    server.shutdown()
    server.server_close()


def test_broken_inventory_fails_before_any_aws_call(tmp_path: Path, recorder) -> None:
    endpoint, calls = recorder
    inventory = tmp_path / "inventories" / "local"
    shutil.copytree(ROOT / "inventories" / "local", inventory)
    network = inventory / "group_vars" / "all" / "network.yml"
    data = yaml.safe_load(network.read_text())
    data["network_zones"][0]["private_cidr"] = "192.168.2.0/24"
    network.write_text(yaml.safe_dump(data))

    result = playbook("site.yml", endpoint, inventory=inventory)

    assert result.returncode != 0
    assert "network_zones[0].private_cidr" in result.stdout
    assert "192.168.2.0/24 is not inside network_vpc_cidr 10.0.0.0/16" in result.stdout
    assert "group_vars/all/network.yml" in result.stdout
    assert calls == [], "an AWS call was made before validation stopped the run"


def test_destroy_refuses_production_without_confirmation(recorder) -> None:
    endpoint, calls = recorder
    result = playbook("destroy.yml", endpoint, inventory=ROOT / "inventories" / "production")
    assert result.returncode != 0
    assert "Refusing to destroy production" in result.stdout
    assert "confirm_destroy=production" in result.stdout
    assert calls == []


def test_plan_on_an_empty_account_changes_nothing(aws_env: dict[str, str]) -> None:
    result = playbook("site.yml", aws_env["AWS_ENDPOINT_URL"], "--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "loopin-local does not exist yet" in result.stdout
    ec2 = boto3.client("ec2")
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["loopin"]}])["Vpcs"] == []


# The strategy's security-group table ("Network Architecture"), written out independently of the
# role: (group, direction) -> {(port, peer)}. Peers are other groups or CIDRs.
STRATEGY_TABLE = {
    ("alb", "in"): {(443, "0.0.0.0/0")},
    ("alb", "out"): {(8000, "web"), (8000, "worker")},
    ("web", "in"): {(8000, "alb")},
    ("web", "out"): {(5432, "0.0.0.0/0"), (6379, "redis"), (443, "0.0.0.0/0")},
    ("worker", "in"): {(8000, "alb")},
    ("worker", "out"): {(5432, "0.0.0.0/0"), (6379, "redis"), (443, "0.0.0.0/0")},
    ("redis", "in"): {(6379, "web"), (6379, "worker")},
    ("redis", "out"): set(),
}


@pytest.fixture(scope="module")
def converged_network(moto_endpoint: str) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """One cold converge of the network tier on an emptied emulator, shared by the tests below."""
    import emulator

    emulator.reset(int(moto_endpoint.rsplit(":", 1)[1]))
    result = playbook("network.yml", moto_endpoint)
    assert result.returncode == 0, result.stdout[-3000:]
    yield moto_endpoint, result


def test_security_groups_are_exactly_the_strategy_table(converged_network, emulator_env) -> None:
    ec2 = boto3.client("ec2")
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:Project", "Values": ["loopin"]}])[
        "SecurityGroups"
    ]
    component = {g["GroupId"]: next(t["Value"] for t in g["Tags"] if t["Key"] == "Component") for g in groups}
    actual: dict[tuple[str, str], set[tuple[int, str]]] = {}
    for group in groups:
        name = component[group["GroupId"]]
        for direction, key in (("in", "IpPermissions"), ("out", "IpPermissionsEgress")):
            rules = actual.setdefault((name, direction), set())
            for permission in group[key]:
                assert permission["IpProtocol"] == "tcp", permission
                assert permission["FromPort"] == permission["ToPort"], "port ranges are not in the table"
                for peer in permission.get("UserIdGroupPairs", []):
                    assert peer.get("Description"), f"undescribed rule in {name}"
                    rules.add((permission["FromPort"], component[peer["GroupId"]]))
                for cidr in permission.get("IpRanges", []):
                    assert cidr.get("Description"), f"undescribed rule in {name}"
                    rules.add((permission["FromPort"], cidr["CidrIp"]))
                assert not permission.get("Ipv6Ranges") and not permission.get("PrefixListIds")
    assert actual == STRATEGY_TABLE


def test_subnets_follow_the_inventory(converged_network, emulator_env) -> None:
    inventory = yaml.safe_load((ROOT / "inventories/local/group_vars/all/network.yml").read_text())
    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["loopin-local"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    by_tier = {
        (next(t["Value"] for t in s["Tags"] if t["Key"] == "Tier"), s["AvailabilityZone"]): s["CidrBlock"]
        for s in subnets
    }
    expected = {}
    for zone in inventory["network_zones"]:
        expected[("public", zone["name"])] = zone["public_cidr"]
        expected[("private", zone["name"])] = zone["private_cidr"]
    assert by_tier == expected
    for subnet in subnets:
        tags = {t["Key"]: t["Value"] for t in subnet["Tags"]}
        assert (tags["Project"], tags["Environment"], tags["ManagedBy"]) == ("loopin", "local", "ansible")
        assert ipaddress.ip_network(subnet["CidrBlock"]).subnet_of(ipaddress.ip_network(vpc["CidrBlock"]))


def test_second_run_and_plan_report_no_change(converged_network) -> None:
    endpoint, first = converged_network
    assert recap(first)["changed"] > 0
    second = playbook("network.yml", endpoint)
    assert recap(second) == {**recap(second), "changed": 0, "failed": 0}, second.stdout[-3000:]
    plan = playbook("network.yml", endpoint, "--check", "--diff")
    assert recap(plan)["changed"] == 0, plan.stdout[-3000:]
