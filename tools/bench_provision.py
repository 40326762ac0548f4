"""Provisioning benchmark of the whole stack (make bench-provision): prints figures, asserts nothing.

On a fresh emulator (moto on a free loopback port) it measures, in one run:
  1. the cold converge of playbooks/site.yml (empty account -> whole stack),
  2. its no-op re-run (the same account, nothing to change),
  3. the floor: one boto3 process making every Describe/Get/List a plan of this stack needs,
     each resource's state read once, on the same converged stack,
with wall and CPU time, tasks, and the API requests each made (counted in the emulator's log),
then the ratios `no-op/cold` (target: at most 0.40) and `no-op/floor` on lines of their own.

    make bench-provision ARGS=--levers   # also the no-op re-run under the plain linear strategy,
                                         # without and with pipelining, beside mitogen's
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import emulator  # noqa: E402

RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)")
REQUEST = re.compile(rb'werkzeug INFO .* "(GET|POST|PUT|DELETE|HEAD|PATCH) ')
PROFILE_LINE = re.compile(r" -{3,} +\d+\.\d+s$")
REGION = "ap-south-1"
TARGET = 0.40
# Each playbook run's output, for reading what the figures came from.
LOGS = emulator.STATE_DIR / "bench-provision"


@dataclass(frozen=True)
class Measurement:
    name: str
    wall: float
    cpu: float
    tasks: int | None
    changed: int | None
    requests: int
    slowest: list[str] = field(default_factory=list)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class RequestLog:
    """Counts the API requests the emulator logged since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def since_last(self) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        return len(REQUEST.findall(chunk))


def run_playbook(
    label: str, name: str, endpoint: str, requests: RequestLog, env: dict[str, str] | None = None
) -> Measurement:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # The benchmark's emulator does not enforce IAM: throw-away keys (the inventory has none).
    base.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106
    base["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(ROOT / "inventories" / "local"),
        "-e",
        f"aws_endpoint_url={endpoint}",
        str(ROOT / "playbooks" / name),
    ]
    requests.since_last()
    start, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env={**base, **(env or {})}, check=False
    )
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    match = RECAP.search(result.stdout)
    if result.returncode != 0 or not match:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit(f"{label}: {name} failed (exit {result.returncode})")
    ok, changed, failed, skipped = map(int, match.groups())
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.log").write_text(result.stdout)
    return Measurement(
        label,
        elapsed,
        cpu,
        ok + failed + skipped,
        changed,
        requests.since_last(),
        slowest_tasks(result.stdout),
    )


def slowest_tasks(output: str, count: int = 5) -> list[str]:
    """The first lines of profile_tasks' table (ansible.cfg sorts it slowest first)."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if PROFILE_LINE.search(line)]
    return [re.sub(r"\s*-{3,}\s*", "  ", lines[i]).strip() for i in starts[:count]]


def read_floor(
    client: Callable[[str], Any], project: str = "loopin", environment: str = "local"
) -> tuple[Counter[str], Counter[str]]:
    """Read the state of every resource of the stack once, as a plan must; the calls made, by name.

    Resources are found the way the roles find them (tags, names under the environment's prefix)
    and each is described once with what a comparison against the inventory needs: its
    attributes, tags and attached policies. Returns the calls and the seconds spent, by operation.
    """
    name = f"{project}-{environment}"
    calls: Counter[str] = Counter()
    seconds: Counter[str] = Counter()

    def call(service: str, operation: str, **params: Any) -> Any:
        method = getattr(client(service), operation)  # the client is built outside the timing
        start = time.perf_counter()
        try:
            return method(**params)
        finally:
            calls[f"{service}.{operation}"] += 1
            seconds[f"{service}.{operation}"] += time.perf_counter() - start

    tagged = [
        {"Name": "tag:Project", "Values": [project]},
        {"Name": "tag:Environment", "Values": [environment]},
    ]
    # network: VPC and its attributes, subnets, gateways, routes, flow logs, security groups
    vpc = call("ec2", "describe_vpcs", Filters=[*tagged, {"Name": "tag:Name", "Values": [name]}])["Vpcs"][0]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        call("ec2", "describe_vpc_attribute", VpcId=vpc["VpcId"], Attribute=attribute)
    call("ec2", "describe_subnets", Filters=in_vpc)
    call(
        "ec2", "describe_internet_gateways", Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )
    call("ec2", "describe_nat_gateways", Filters=in_vpc)
    call("ec2", "describe_addresses", Filters=tagged)
    call("ec2", "describe_route_tables", Filters=in_vpc)
    call("ec2", "describe_flow_logs", Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])
    call("ec2", "describe_security_groups", Filters=in_vpc)

    # IAM: every role of the environment with its inline policies, and the OIDC provider
    for role in call("iam", "list_roles")["Roles"]:
        if role["RoleName"].startswith(name):
            call("iam", "get_role", RoleName=role["RoleName"])
            for policy in call("iam", "list_role_policies", RoleName=role["RoleName"])["PolicyNames"]:
                call("iam", "get_role_policy", RoleName=role["RoleName"], PolicyName=policy)
    call("iam", "list_open_id_connect_providers")

    # logs: every log group of the environment (flow logs, WAF, ECS) with retention
    for prefix in (f"/vpc/{name}", f"aws-waf-logs-{name}", f"/ecs/{name}", f"/aws/cloudtrail/{name}"):
        call("logs", "describe_log_groups", logGroupNamePrefix=prefix)
    call("logs", "describe_metric_filters")

    # data: secrets, queues (attributes and tags), repositories (lifecycle, tags), Redis
    for secret in call(
        "secretsmanager", "list_secrets", Filters=[{"Key": "name", "Values": [f"{project}/{environment}/"]}]
    )["SecretList"]:
        call("secretsmanager", "describe_secret", SecretId=secret["ARN"])
    for url in call("sqs", "list_queues", QueueNamePrefix=name).get("QueueUrls", []):
        call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
        call("sqs", "list_queue_tags", QueueUrl=url)
    for repository in call("ecr", "describe_repositories")["repositories"]:
        if repository["repositoryName"].startswith(f"{project}/{environment}/"):
            call("ecr", "get_lifecycle_policy", repositoryName=repository["repositoryName"])
            call("ecr", "list_tags_for_resource", resourceArn=repository["repositoryArn"])
    call("elasticache", "describe_replication_groups", ReplicationGroupId=name)
    call("elasticache", "describe_cache_subnet_groups", CacheSubnetGroupName=name)

    # edge: certificate, DNS zone and records, load balancer (attributes, listeners, rules,
    # target groups, tags), its access-log bucket, the web ACL, its association and logging
    for certificate in call("acm", "list_certificates")["CertificateSummaryList"]:
        call("acm", "describe_certificate", CertificateArn=certificate["CertificateArn"])
    for zone in call("route53", "list_hosted_zones")["HostedZones"]:
        call("route53", "list_resource_record_sets", HostedZoneId=zone["Id"])
    alb = call("elbv2", "describe_load_balancers", Names=[name])["LoadBalancers"][0]
    call("elbv2", "describe_load_balancer_attributes", LoadBalancerArn=alb["LoadBalancerArn"])
    arns = [alb["LoadBalancerArn"]]
    for listener in call("elbv2", "describe_listeners", LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]:
        rules = call("elbv2", "describe_rules", ListenerArn=listener["ListenerArn"])["Rules"]
        arns += [listener["ListenerArn"]] + [rule["RuleArn"] for rule in rules if not rule["IsDefault"]]
    for group in call("elbv2", "describe_target_groups")["TargetGroups"]:
        if group["TargetGroupName"].startswith(name):
            call("elbv2", "describe_target_group_attributes", TargetGroupArn=group["TargetGroupArn"])
            arns.append(group["TargetGroupArn"])
    for start in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at most
        call("elbv2", "describe_tags", ResourceArns=arns[start : start + 20])
    for bucket in call("s3", "list_buckets")["Buckets"]:
        if bucket["Name"].startswith(name):
            for operation in (
                "get_bucket_lifecycle_configuration",
                "get_bucket_policy",
                "get_bucket_tagging",
            ):
                call("s3", operation, Bucket=bucket["Name"])
    for acl in call("wafv2", "list_web_acls", Scope="REGIONAL")["WebACLs"]:
        if acl["Name"] == name:
            call("wafv2", "get_web_acl", Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"])
            call("wafv2", "get_logging_configuration", ResourceArn=acl["ARN"])
    call("wafv2", "get_web_acl_for_resource", ResourceArn=alb["LoadBalancerArn"])

    # compute: cluster, services and their task definitions, scaling targets and policies
    call("ecs", "describe_clusters", clusters=[name], include=["SETTINGS", "TAGS"])
    services = call("ecs", "list_services", cluster=name)["serviceArns"]
    for service in call("ecs", "describe_services", cluster=name, services=services)["services"]:
        call("ecs", "describe_task_definition", taskDefinition=service["taskDefinition"], include=["TAGS"])
    call("application-autoscaling", "describe_scalable_targets", ServiceNamespace="ecs")
    call("application-autoscaling", "describe_scaling_policies", ServiceNamespace="ecs")

    # operations: alarms, dashboard, alerts topic, schedules, trail, budget
    call("cloudwatch", "describe_alarms", AlarmNamePrefix=f"{name}-")
    call("cloudwatch", "get_dashboard", DashboardName=name)
    for topic in call("sns", "list_topics")["Topics"]:
        if topic["TopicArn"].endswith(f":{name}-alerts"):
            call("sns", "get_topic_attributes", TopicArn=topic["TopicArn"])
    call("scheduler", "get_schedule_group", Name=name)
    for schedule in call("scheduler", "list_schedules", GroupName=name)["Schedules"]:
        call("scheduler", "get_schedule", Name=schedule["Name"], GroupName=name)
    for trail in call("cloudtrail", "describe_trails")["trailList"]:
        if trail["Name"].startswith(name):
            call("cloudtrail", "get_trail_status", Name=trail["TrailARN"])
    account = call("sts", "get_caller_identity")["Account"]
    call("budgets", "describe_budgets", AccountId=account)
    return calls, seconds


def floor(endpoint: str, requests: RequestLog) -> tuple[Measurement, Counter[str], Counter[str]]:
    """The floor on `endpoint`, its wall time including the boto3 clients it builds (any tool must)."""
    fake = "testing"  # the emulator's throw-away credentials
    session = boto3.Session(aws_access_key_id=fake, aws_secret_access_key=fake, region_name=REGION)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=endpoint)
        return clients[service]

    requests.since_last()
    start, cpu = time.perf_counter(), time.process_time()
    calls, seconds = read_floor(client)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    measured = Measurement("floor: boto3 reads of the stack", elapsed, cpu, None, None, requests.since_last())
    return measured, calls, seconds


def ratios(cold: Measurement, noop: Measurement, floor_run: Measurement) -> list[str]:
    """The two figures the target is stated in, each on a line of its own."""
    verdict = "met" if noop.wall / cold.wall <= TARGET else "NOT met"
    return [
        f"no-op/cold   {noop.wall / cold.wall:.2f}   (target <= {TARGET:.2f}: {verdict})",
        f"no-op/floor  {noop.wall / floor_run.wall:.0f}x",
    ]


def table(rows: list[Measurement]) -> list[str]:
    lines = [f"{'measurement':<44}{'wall':>9}{'CPU':>9}{'tasks':>7}{'changed':>9}{'API calls':>11}"]
    for row in rows:
        tasks = "" if row.tasks is None else str(row.tasks)
        changed = "" if row.changed is None else str(row.changed)
        lines.append(
            f"{row.name:<44}{row.wall:>8.1f}s{row.cpu:>8.1f}s{tasks:>7}{changed:>9}{row.requests:>11}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--levers", action="store_true", help="also the no-op under the plain strategy")
    args = parser.parse_args(argv)
    strategy = os.environ.get("ANSIBLE_STRATEGY", "mitogen_linear")
    print(
        f"Provisioning benchmark, whole stack (site.yml), strategy {strategy}: moto on a free loopback "
        f"port; load average {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    with emulator.running() as endpoint:
        requests = RequestLog(emulator.STATE_DIR / f"emulator-{endpoint.rsplit(':', 1)[1]}.log")
        cold = run_playbook("site.yml cold converge", "site.yml", endpoint, requests)
        noop = run_playbook("site.yml no-op re-run", "site.yml", endpoint, requests)
        rows = [cold, noop]
        if args.levers:
            for label, env in (
                (
                    "no-op, linear strategy, no pipelining",
                    {"ANSIBLE_STRATEGY": "linear", "ANSIBLE_PIPELINING": "false"},
                ),
                (
                    "no-op, linear strategy, pipelining",
                    {"ANSIBLE_STRATEGY": "linear", "ANSIBLE_PIPELINING": "true"},
                ),
            ):
                rows.append(run_playbook(label, "site.yml", endpoint, requests, env))
        floor_run, calls, seconds = floor(endpoint, requests)
        rows.append(floor_run)
    load = os.getloadavg()[0]

    print("\n".join(table(rows)))
    print(
        f"\nfloor: {sum(calls.values())} calls, {len(calls)} distinct operations; load average now {load:.1f}"
    )
    slowest = ", ".join(f"{name} {spent:.2f}s" for name, spent in seconds.most_common(5))
    print(f"floor's slowest reads: {slowest}")
    print(f"no-op re-run's slowest tasks (output in {LOGS.relative_to(ROOT)}):")
    print("\n".join(f"  {line}" for line in noop.slowest))
    print(f"per task, no-op re-run: {noop.wall / max(noop.tasks or 1, 1):.2f} s")
    print()
    print("\n".join(ratios(cold, noop, floor_run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
