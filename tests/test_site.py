"""playbooks/site.yml and destroy.yml end to end, with ansible-playbook against a real moto server."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
import yaml
from stack import Stack, ansible_playbook, operator_env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from config import load

ROOT = Path(__file__).resolve().parent.parent


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

    result = ansible_playbook("site.yml", endpoint, inventory=inventory)

    assert result.returncode != 0
    assert "network_zones[0].private_cidr" in result.stdout
    assert "192.168.2.0/24 is not inside network_vpc_cidr 10.0.0.0/16" in result.stdout
    assert "group_vars/all/network.yml" in result.stdout
    assert calls == [], "an AWS call was made before validation stopped the run"


def test_destroy_refuses_production_without_confirmation(recorder) -> None:
    endpoint, calls = recorder
    result = ansible_playbook("destroy.yml", endpoint, inventory=ROOT / "inventories" / "production")
    assert result.returncode != 0
    assert "Refusing to destroy production" in result.stdout
    assert "confirm_destroy=production" in result.stdout
    assert calls == []


FRIDAY = "deploy_window_now=2026-11-27T09:00:00+00:00"  # 14:30 IST, outside Tue-Thu 14:00-16:00
TUESDAY = "deploy_window_now=2026-11-24T09:00:00+00:00"  # 14:30 IST, inside


@pytest.mark.parametrize(
    "case", ["outside", "outside, emergency", "outside, plan", "inside", "staging, outside"]
)
def test_production_changes_outside_the_window_need_an_emergency(case: str, recorder) -> None:
    # The recorder fails every AWS call: a run that got past the window stops at its first call.
    endpoint, calls = recorder
    env = "staging" if case.startswith("staging") else "production"
    args = ["-e", TUESDAY if case == "inside" else FRIDAY]
    if case.endswith("emergency"):
        args += ["-e", "emergency_change=true", "-e", "emergency_reason=INC-7"]
    if case.endswith("plan"):
        args += ["--check", "--diff"]
    result = ansible_playbook("site.yml", endpoint, *args, inventory=ROOT / "inventories" / env)
    assert result.returncode != 0
    output = " ".join(result.output.split())
    if case == "outside":
        assert (
            "Fri 2026-11-27 14:30 IST is outside the deployment window (tue/wed/thu 14:00-16:00 IST)"
            in output
        )
        assert "emergency_change=true" in output
        assert calls == [], "an AWS call was made before the window refused the change"
        assert "Network tier" not in output
        return
    # past the window: the emergency is announced, then the run reaches AWS (here, the recorder)
    if case.endswith("emergency"):
        assert "EMERGENCY CHANGE outside the deployment window (tue/wed/thu 14:00-16:00 IST)" in output
        assert "INC-7" in output and "The web rule (a new environment has none yet" in output
    else:
        assert "outside the deployment window" not in output and "EMERGENCY" not in output
    assert calls, output[-2000:]


def test_plan_on_an_empty_account_changes_nothing(aws_env: dict[str, str]) -> None:
    result = ansible_playbook("site.yml", aws_env["AWS_ENDPOINT_URL"], "--check", "--diff", work="site_plan")
    assert result.returncode == 0, result.tail()
    assert "loopin-local does not exist yet" in result.stdout
    ec2 = boto3.client("ec2")
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["loopin"]}])["Vpcs"] == []


# The strategy's security-group table ("Network Architecture"), written out independently of the
# role: (group, direction) -> {(port, peer)}. Peers are other groups or CIDRs.
# Redis's port is the one setting of the table an inventory may change (the local cloud moves it
# off the machine's own Redis port): read it like the role does, from the inventory over the default.
LOCAL = load(str(ROOT / "inventories" / "local")).values  # the local inventory laid on the role defaults
REDIS_PORT = LOCAL["security_groups_redis_port"]
STRATEGY_TABLE = {
    ("alb", "in"): {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")},  # 80: the redirect listener
    ("alb", "out"): {(8000, "web"), (8000, "worker")},
    ("web", "in"): {(8000, "alb")},
    ("web", "out"): {(5432, "0.0.0.0/0"), (REDIS_PORT, "redis"), (443, "0.0.0.0/0")},
    ("worker", "in"): {(8000, "alb")},
    ("worker", "out"): {(5432, "0.0.0.0/0"), (REDIS_PORT, "redis"), (443, "0.0.0.0/0")},
    ("redis", "in"): {(REDIS_PORT, "web"), (REDIS_PORT, "worker")},
    ("redis", "out"): set(),
}


def test_converge_builds_the_stack_and_its_plan_changes_nothing(stack: Stack) -> None:
    assert stack.up.recap()["changed"] > 0
    assert stack.up.recap()["failed"] == 0
    assert stack.plan.recap()["changed"] == 0, stack.plan.tail()


def test_a_plan_shows_each_changed_setting_old_and_new_and_nothing_else(stack: Stack, tmp_path: Path) -> None:
    """An operator pins Supabase's address, raises the WAF limit and a queue's processing time:
    the plan says exactly that."""
    overrides = tmp_path / "overrides.yml"
    processing = LOCAL["sqs_expected_processing_seconds"] | {"push-notifications": 15}
    supabase = [*LOCAL["security_groups_supabase_cidrs"], "203.0.113.0/24"]
    overrides.write_text(
        yaml.safe_dump(
            {
                "waf_rate_limit": 2000,
                "sqs_expected_processing_seconds": processing,
                "security_groups_supabase_cidrs": supabase,
            }
        )
    )
    factor = LOCAL["sqs_visibility_timeout_factor"]
    as_operator = operator_env(stack.credentials("operator"))  # the session stack enforces IAM
    summaries = []
    for playbook in ("network.yml", "edge.yml", "data.yml"):
        run = ansible_playbook(
            playbook, stack.endpoint, "--check", "--diff", "-e", f"@{overrides}", work="tier", env=as_operator
        )
        assert run.returncode == 0, run.tail()
        summaries.append(run.stdout[run.stdout.index("\nSUMMARY:") :].strip().splitlines())
        if playbook == "edge.yml":
            assert "-rules[rate-limit-per-ip].statement.rate_based_statement.limit: 1000" in run.stdout
            assert "+rules[rate-limit-per-ip].statement.rate_based_statement.limit: 2000" in run.stdout
    old, new = 10 * factor, 15 * factor
    # the one rule each task group gains, and no rule of those it keeps (the module's own diff
    # would show them all, with ports as text and the group's description in place of the rules')
    added = "{'name': 'tcp 5432 203.0.113.0/24', 'description': 'Supab..."  # shortened at 60
    rule = f"egress[tcp 5432 203.0.113.0/24]: (absent) -> {added}"
    assert summaries.pop(0) == [
        "SUMMARY: 2 resource(s) would change, in the order applied:",
        "  loopin-local  security group loopin-local-web",
        f"      {rule}",
        "  loopin-local  security group loopin-local-worker",
        f"      {rule}",
    ]
    assert summaries == [
        [
            "SUMMARY: 1 resource(s) would change, in the order applied:",
            "  loopin-local  web ACL loopin-local",
            "      rules[rate-limit-per-ip].statement.rate_based_statement.limit: 1000 -> 2000",
        ],
        [
            "SUMMARY: 2 resource(s) would change, in the order applied:",
            "  loopin-local  queue loopin-local-push-notifications-dlq",
            f"      VisibilityTimeout: {old} -> {new}",
            "  loopin-local  queue loopin-local-push-notifications",
            f"      VisibilityTimeout: {old} -> {new}",
        ],
    ]


def test_security_groups_are_exactly_the_strategy_table(stack: Stack) -> None:
    ec2 = stack.client("ec2")
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


def test_the_vpcs_default_security_group_has_no_rules(stack: Stack) -> None:
    ec2 = stack.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["loopin-local"]}])["Vpcs"][0]
    (default,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == []


def test_the_flow_log_role_trusts_only_this_accounts_flow_logs(stack: Stack) -> None:
    role = stack.client("iam").get_role(RoleName="loopin-local-vpc-flow-logs")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:ap-south-1:123456789012:vpc-flow-log/*"},
    }


def test_subnets_follow_the_inventory(stack: Stack) -> None:
    inventory = yaml.safe_load((ROOT / "inventories/local/group_vars/all/network.yml").read_text())
    ec2 = stack.client("ec2")
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
