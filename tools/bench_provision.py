"""Provisioning benchmark: prints figures, asserts nothing (make bench-provision).

On a fresh emulator (moto on a free loopback port) it measures, in one run:
  1. the cold converge of playbooks/site.yml (empty account -> whole stack),
  2. the no-op re-run of site.yml (the same account, nothing to change),
  3. the cold converge of the network tier alone (playbooks/network.yml), and
  4. the floor: a bare boto3 script making only the API calls that tier needs.
and prints wall times, task counts and the ratios (target: no-op < 40% of cold).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import emulator  # noqa: E402

RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)")
REGION = "ap-south-1"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(name: str, endpoint: str) -> tuple[float, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(ROOT / "inventories" / "local"),
        "-e",
        f"aws_endpoint_url={endpoint}",
        str(ROOT / "playbooks" / name),
    ]
    start, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    match = RECAP.search(result.stdout)
    if result.returncode != 0 or not match:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit(f"{name} failed (exit {result.returncode})")
    ok, changed, failed, skipped = map(int, match.groups())
    return elapsed, {"tasks": ok + failed + skipped, "changed": changed, "cpu": cpu}


def network_floor(endpoint: str) -> tuple[float, int]:
    """The network tier with the fewest API calls: what any tool must at least do."""
    calls = 0
    fake = "testing"  # the emulator's throw-away credentials
    session = boto3.Session(aws_access_key_id=fake, aws_secret_access_key=fake, region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    logs = session.client("logs", endpoint_url=endpoint)
    iam = session.client("iam", endpoint_url=endpoint)

    def call(fn, **kwargs):
        nonlocal calls
        calls += 1
        return fn(**kwargs)

    def tags(name: str, **extra: str) -> list[dict]:
        base = {"Project": "loopin", "Environment": "local", "ManagedBy": "ansible", "Name": name, **extra}
        return [{"Key": k, "Value": v} for k, v in base.items()]

    def spec(kind: str, name: str, **extra: str) -> list[dict]:
        return [{"ResourceType": kind, "Tags": tags(name, **extra)}]

    start = time.perf_counter()
    vpc = call(ec2.create_vpc, CidrBlock="10.0.0.0/16", TagSpecifications=spec("vpc", "loopin-local"))["Vpc"]
    vpc_id = vpc["VpcId"]
    call(ec2.modify_vpc_attribute, VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    zones = [("ap-south-1a", "10.0.1.0/24", "10.0.2.0/24"), ("ap-south-1b", "10.0.4.0/24", "10.0.3.0/24")]
    subnets: dict[tuple[str, str], str] = {}
    for zone, public, private in zones:
        for tier, cidr in (("public", public), ("private", private)):
            subnets[(tier, zone)] = call(
                ec2.create_subnet,
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=zone,
                TagSpecifications=spec("subnet", f"loopin-local-{tier}-{zone}", Tier=tier),
            )["Subnet"]["SubnetId"]
    igw = call(ec2.create_internet_gateway, TagSpecifications=spec("internet-gateway", "loopin-local"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    call(ec2.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc_id)
    eip = call(ec2.allocate_address, Domain="vpc")["AllocationId"]
    nat = call(
        ec2.create_nat_gateway,
        SubnetId=subnets[("public", zones[0][0])],
        AllocationId=eip,
        TagSpecifications=spec("natgateway", "loopin-local-nat"),
    )["NatGateway"]["NatGatewayId"]
    public_rt = call(ec2.create_route_table, VpcId=vpc_id, TagSpecifications=spec("route-table", "public"))
    public_rt_id = public_rt["RouteTable"]["RouteTableId"]
    call(ec2.create_route, RouteTableId=public_rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    for zone, _, _ in zones:
        call(ec2.associate_route_table, RouteTableId=public_rt_id, SubnetId=subnets[("public", zone)])
        rt = call(ec2.create_route_table, VpcId=vpc_id, TagSpecifications=spec("route-table", zone))
        rt_id = rt["RouteTable"]["RouteTableId"]
        call(ec2.create_route, RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        call(ec2.associate_route_table, RouteTableId=rt_id, SubnetId=subnets[("private", zone)])
    call(logs.create_log_group, logGroupName="/vpc/loopin-local/flow-logs")
    call(logs.put_retention_policy, logGroupName="/vpc/loopin-local/flow-logs", retentionInDays=30)
    role = call(
        iam.create_role,
        RoleName="loopin-local-vpc-flow-logs",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    call(
        iam.put_role_policy,
        RoleName="loopin-local-vpc-flow-logs",
        PolicyName="write-flow-logs",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents",'
        '"Resource":"*"}]}',
    )
    call(
        ec2.create_flow_logs,
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName="/vpc/loopin-local/flow-logs",
        DeliverLogsPermissionArn=role,
    )
    groups = {}
    for name in ("alb", "web", "worker", "redis"):
        groups[name] = call(
            ec2.create_security_group,
            GroupName=f"loopin-local-{name}",
            Description=name,
            VpcId=vpc_id,
            TagSpecifications=spec("security-group", f"loopin-local-{name}"),
        )["GroupId"]

    def rule(port: int, peer: str) -> dict:
        target = (
            {"UserIdGroupPairs": [{"GroupId": groups[peer]}]}
            if peer in groups
            else {"IpRanges": [{"CidrIp": peer}]}
        )
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **target}

    ingress = {
        "alb": [rule(443, "0.0.0.0/0")],
        "web": [rule(8000, "alb")],
        "worker": [rule(8000, "alb")],
        "redis": [rule(6379, "web"), rule(6379, "worker")],
    }
    egress = {
        "alb": [rule(8000, "web"), rule(8000, "worker")],
        "web": [rule(5432, "0.0.0.0/0"), rule(6379, "redis"), rule(443, "0.0.0.0/0")],
        "worker": [rule(5432, "0.0.0.0/0"), rule(6379, "redis"), rule(443, "0.0.0.0/0")],
        "redis": [],
    }
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    for name, group_id in groups.items():
        call(ec2.authorize_security_group_ingress, GroupId=group_id, IpPermissions=ingress[name])
        call(ec2.revoke_security_group_egress, GroupId=group_id, IpPermissions=everything)
        if egress[name]:
            call(ec2.authorize_security_group_egress, GroupId=group_id, IpPermissions=egress[name])
    return time.perf_counter() - start, calls


def main() -> int:
    print("Provisioning benchmark: moto server on a free loopback port, fresh state per measurement\n")
    with emulator.running() as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])
        cold, cold_stats = run_playbook("site.yml", endpoint)
        noop, noop_stats = run_playbook("site.yml", endpoint)
        emulator.reset(port)
        tier, tier_stats = run_playbook("network.yml", endpoint)
        emulator.reset(port)
        floor, floor_calls = network_floor(endpoint)

    rows = [
        ("site.yml cold converge", cold, cold_stats),
        ("site.yml no-op re-run", noop, noop_stats),
        ("network tier cold (network.yml)", tier, tier_stats),
    ]
    print(f"{'measurement':<34}{'wall':>9}{'CPU':>9}{'tasks':>8}{'changed':>9}")
    for name, seconds, stats in rows:
        print(
            f"{name:<34}{seconds:>8.1f}s{stats['cpu']:>8.1f}s{stats['tasks']:>8.0f}{stats['changed']:>9.0f}"
        )
    print(f"{'network tier floor (bare boto3)':<34}{floor:>8.2f}s{'':>9}{floor_calls:>8} API calls")
    ratio = noop / cold
    print()
    verdict = "met" if ratio < 0.40 else "NOT met"
    print(f"no-op re-run / cold converge      {ratio:6.0%}   (target < 40%: {verdict})")
    print(f"network tier / boto3 floor        {tier / floor:6.0f}x")
    cpu_ratio = noop_stats["cpu"] / cold_stats["cpu"]
    print(f"no-op / cold, CPU time            {cpu_ratio:6.0%}   (less sensitive to load)")
    print(f"per task, no-op re-run            {noop / max(noop_stats['tasks'], 1):6.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
