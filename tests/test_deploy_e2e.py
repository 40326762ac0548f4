"""End to end: playbooks/deploy.yml against the emulator, on a minimal stack built under the
conventions' names (tools/deploy_stack.py). One deploy succeeds; in the other an alarm fires at
the 50% step and the weights must be back at 100/0 within one poll interval.

The emulator enforces IAM: the stack is built as the operator and the playbooks run as the
deploy role, obtained through web identity as GitHub Actions obtains it (`make deploy` does the
same). The calls of both runs must pass the resource-level least-privilege check."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import budget
import deploy_stack
import emulator
import iam_stack
import pytest
import yaml
from iam_stack import Enforced
from localcloud import least_privilege
from stack import environ

ROOT = Path(__file__).resolve().parent.parent
LOCAL = yaml.safe_load((ROOT / "inventories/local/group_vars/all/deploy.yml").read_text())
COMPUTE = yaml.safe_load((ROOT / "inventories/local/group_vars/all/compute.yml").read_text())
BLUE = "loopin-local-web-blue"
GREEN = "loopin-local-web-green"
NEW_WEB = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/web@sha256:" + "a" * 64
NEW_WORKER = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/worker@sha256:" + "b" * 64


# The deploy role's calls of every run in this module, for the least-privilege check at the end.
DEPLOY_CALLS: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture
def aws_env(enforced: Enforced) -> dict[str, str]:
    """boto3 in the test is the operator; the playbooks are the deploy role (`playbook`)."""
    return {**os.environ, "AWS_ENDPOINT_URL": enforced.endpoint}


@pytest.fixture
def boto(enforced: Enforced) -> Any:
    # Explicit keys: boto3's default session keeps the first credentials it read, and every
    # test bootstraps a new operator.
    return enforced.client


@pytest.fixture
def stack(boto: Any) -> deploy_stack.Stack:
    return deploy_stack.build(boto)


def playbook(aws_env: dict[str, str], name: str, *extra: str, session: str = "e2e") -> subprocess.Popen[str]:
    command = [
        str(ROOT / ".venv/bin/python"),
        *("-m", "localcloud.identities", "exec", "deploy", "--endpoint", aws_env["AWS_ENDPOINT_URL"]),
        *("--session", session, "--"),
        str(ROOT / ".venv/bin/ansible-playbook"),
        "-i",
        "inventories/local",
        f"playbooks/{name}",
        "-e",
        f"aws_endpoint_url={aws_env['AWS_ENDPOINT_URL']}",
        # deploy_stack's minimal stack has no data plane: no task runs, so ECS never reports the
        # worker's rollout COMPLETED; the gate watches the queues alone here.
        "-e",
        "deploy_worker_require_rollout_completed=false",
        # Nor can the migrations' one-off task run there: the migration tests below run them with
        # an ECS agent of their own.
        "-e",
        "deploy_migrate=false",
        *extra,
    ]
    env = {
        **aws_env,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONPATH": str(ROOT / "tools"),
    }
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_deploy_succeeds_and_promotes_green(
    aws_env: dict[str, str], boto: Any, stack: deploy_stack.Stack
) -> None:
    old_web = boto("ecs").describe_services(cluster=stack.cluster, services=[stack.web_service])["services"][
        0
    ]
    seen: list[dict[str, int]] = []
    process = playbook(aws_env, "deploy.yml", "-e", f"image={NEW_WEB}", "-e", f"worker_image={NEW_WORKER}")
    while process.poll() is None:
        weights = stack.weights(boto)
        if not seen or seen[-1] != weights:
            seen.append(weights)
        time.sleep(0.1)
    output, _ = process.communicate()
    (ROOT / ".state").mkdir(exist_ok=True)
    (ROOT / ".state/deploy-e2e-success.log").write_text(output)
    assert process.returncode == 0, output

    # every step of the plan was taken, in order, and green ends with all the traffic
    assert [w[GREEN] for w in seen] == [0, 10, 50, 100]
    assert stack.weights(boto) == {BLUE: 0, GREEN: 100}
    rule_tags = boto("elbv2").describe_tags(ResourceArns=[stack.rule_arn])["TagDescriptions"][0]["Tags"]
    assert {"Key": "loopin:live-side", "Value": "green"} in rule_tags
    green = stack.service(boto, "loopin-local-web-green")
    assert green is not None and green["desiredCount"] == 2
    assert green["loadBalancers"][0]["targetGroupArn"] == stack.target_groups[GREEN]
    assert stack.image_of(boto, "loopin-local-web-green") == NEW_WEB
    # the old side keeps its revision but runs nothing
    blue = stack.service(boto, stack.web_service)
    assert (
        blue is not None and blue["desiredCount"] == 0 and blue["taskDefinition"] == old_web["taskDefinition"]
    )
    assert stack.image_of(boto, stack.worker_service) == NEW_WORKER
    # scaling moved with the traffic: green scales, blue (stopped) has no scalable target
    assert_scaling_on(boto, stack, "loopin-local-web-green")
    for line in ("step 2/3 (50% to green): shift", "loopin-local-green-5xx=OK", "worker rollout: promote"):
        assert line in output
    DEPLOY_CALLS["success"] = least_privilege.recorded_calls(
        aws_env["AWS_ENDPOINT_URL"], "loopin-local-deploy/"
    )


def test_alarm_at_50_percent_rolls_back_within_one_poll(
    aws_env: dict[str, str], boto: Any, stack: deploy_stack.Stack
) -> None:
    before = stack.service(boto, stack.web_service)
    worker_before = stack.service(boto, stack.worker_service)
    timeline: dict[str, float] = {}

    def fire_at_50() -> None:
        watcher = boto("elbv2")
        cloudwatch = boto("cloudwatch")
        lookup = lambda: deploy_stack.Stack.weights(stack, lambda _s: watcher)  # noqa: E731
        deadline = time.monotonic() + budget.timeout("tier")
        while time.monotonic() < deadline and "alarm" not in timeline:
            if lookup()[GREEN] == 50:
                cloudwatch.set_alarm_state(
                    AlarmName="loopin-local-green-5xx", StateValue="ALARM", StateReason="test"
                )
                timeline["alarm"] = time.monotonic()
            time.sleep(0.05)
        while time.monotonic() < deadline and "alarm" in timeline:
            if lookup() == {BLUE: 100, GREEN: 0}:
                timeline["restored"] = time.monotonic()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=fire_at_50)
    thread.start()
    process = playbook(aws_env, "deploy.yml", "-e", f"image={NEW_WEB}", "-e", f"worker_image={NEW_WORKER}")
    output, _ = process.communicate(timeout=budget.timeout("tier"))
    thread.join(timeout=budget.timeout("playbook"))

    assert process.returncode != 0, output
    assert "alarm" in timeline and "restored" in timeline, output
    assert timeline["restored"] - timeline["alarm"] <= LOCAL["deploy_poll_seconds"] + 0.5
    assert "Deploy of " + NEW_WEB + " rolled back: 100% on blue, green stopped." in output
    assert "alarm loopin-local-green-5xx is ALARM during step 2/3 (50% to green)" in output
    # blue untouched, green stopped, the worker never started its rollout
    assert stack.weights(boto) == {BLUE: 100, GREEN: 0}
    after = stack.service(boto, stack.web_service)
    assert after is not None and before is not None
    assert (after["taskDefinition"], after["desiredCount"]) == (
        before["taskDefinition"],
        before["desiredCount"],
    )
    assert stack.service(boto, "loopin-local-web-green")["desiredCount"] == 0  # type: ignore[index]
    assert stack.service(boto, stack.worker_service)["taskDefinition"] == worker_before["taskDefinition"]  # type: ignore[index]

    # rollback.yml on the rolled-back stack changes nothing and says where the traffic is
    rollback = playbook(aws_env, "rollback.yml")
    out, _ = rollback.communicate(timeout=budget.timeout("playbook"))
    assert rollback.returncode == 0, out
    assert "100% on blue" in out and stack.weights(boto) == {BLUE: 100, GREEN: 0}
    DEPLOY_CALLS["rollback"] = least_privilege.recorded_calls(
        aws_env["AWS_ENDPOINT_URL"], "loopin-local-deploy/"
    )


NEXT_WEB = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/web@sha256:" + "c" * 64


def web_scaling(boto: Any, stack: deploy_stack.Stack) -> dict[str, tuple[int, int, list[str]]]:
    """Service -> (min, max, policy names) of every web side that has a scalable target."""
    scaling = boto("application-autoscaling")
    found = {}
    for service in (stack.web_service, f"{stack.web_service}-green"):
        resource = f"service/{stack.cluster}/{service}"
        targets = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])
        for target in targets["ScalableTargets"]:
            policies = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)
            names = sorted(
                p["PolicyName"] for p in policies["ScalingPolicies"] if p["ResourceId"] == resource
            )
            found[service] = (target["MinCapacity"], target["MaxCapacity"], names)
    return found


def assert_scaling_on(boto: Any, stack: deploy_stack.Stack, service: str) -> None:
    """Only the live side scales, with the inventory's bounds and the three web policies."""
    policies = sorted(f"{stack.cluster}-web-{kind}" for kind in ("cpu", "memory", "requests"))
    bounds = (COMPUTE["autoscaling_web_min"], COMPUTE["autoscaling_web_max"])
    assert web_scaling(boto, stack) == {service: (*bounds, policies)}


def rule_tags(boto: Any, stack: deploy_stack.Stack) -> dict[str, str]:
    found = boto("elbv2").describe_tags(ResourceArns=[stack.rule_arn])["TagDescriptions"][0]["Tags"]
    return {tag["Key"]: tag["Value"] for tag in found}


def test_second_deploy_gates_on_blue_then_fast_rollback_returns_the_previous_release(
    aws_env: dict[str, str], boto: Any, stack: deploy_stack.Stack
) -> None:
    """Green live after a first deploy; the second deploy takes blue, watches blue's gate alarms
    and names the weights as they are; blue's p99 alarm at 50% rolls it back to green. The fast
    rollback of the first (finished) deploy then returns traffic and revision to blue's original
    release - not to the failed build the rolled-back deploy left on blue."""
    original = stack.service(boto, stack.web_service)["taskDefinition"]  # type: ignore[index]
    first = playbook(aws_env, "deploy.yml", "-e", f"image={NEW_WEB}")
    output, _ = first.communicate(timeout=budget.timeout("tier"))
    assert first.returncode == 0, output
    assert stack.weights(boto) == {BLUE: 0, GREEN: 100}
    assert rule_tags(boto, stack)["loopin:previous-release"] == original

    timeline: dict[str, float] = {}

    def fire_blue_at_50() -> None:
        watcher = boto("elbv2")
        cloudwatch = boto("cloudwatch")
        lookup = lambda: deploy_stack.Stack.weights(stack, lambda _s: watcher)  # noqa: E731
        deadline = time.monotonic() + budget.timeout("tier")
        while time.monotonic() < deadline:
            if lookup()[BLUE] == 50:
                cloudwatch.set_alarm_state(
                    AlarmName="loopin-local-blue-p99", StateValue="ALARM", StateReason="test"
                )
                timeline["alarm"] = time.monotonic()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=fire_blue_at_50)
    thread.start()
    second = playbook(aws_env, "deploy.yml", "-e", f"image={NEXT_WEB}")
    output, _ = second.communicate(timeout=budget.timeout("tier"))
    thread.join(timeout=budget.timeout("playbook"))
    (ROOT / ".state").mkdir(exist_ok=True)
    (ROOT / ".state/deploy-e2e-second.log").write_text(output)
    assert second.returncode != 0 and "alarm" in timeline, output
    # the gate watched blue's alarms, and every line names the sides as they were
    # (the emulator may have evaluated the fixture alarms to INSUFFICIENT_DATA: any state but ALARM passes)
    lines = " ".join(output.split())
    assert "loopin-local-blue-p99=" in lines and "loopin-local-green-p99" not in lines
    assert "step 1/3 (10% to blue): shift | weights green 90 / blue 10" in lines
    assert "alarm loopin-local-blue-p99 is ALARM during step 2/3 (50% to blue)" in lines
    assert "Deploy of " + NEXT_WEB + " rolled back: 100% on green, blue stopped." in lines
    assert stack.weights(boto) == {BLUE: 0, GREEN: 100}
    assert stack.image_of(boto, "loopin-local-web-green") == NEW_WEB
    assert rule_tags(boto, stack)["loopin:live-side"] == "green"
    assert_scaling_on(boto, stack, "loopin-local-web-green")  # a rolled-back deploy moves nothing
    boto("cloudwatch").set_alarm_state(AlarmName="loopin-local-blue-p99", StateValue="OK", StateReason="test")

    started = time.monotonic()
    fast = playbook(aws_env, "rollback.yml", "-e", "rollback_mode=previous")
    output, _ = fast.communicate(timeout=budget.timeout("tier"))
    took = time.monotonic() - started
    (ROOT / ".state/deploy-e2e-fast-rollback.log").write_text(output)
    assert fast.returncode == 0, output
    assert stack.weights(boto) == {BLUE: 100, GREEN: 0}
    blue = stack.service(boto, stack.web_service)
    assert blue is not None and blue["taskDefinition"] == original and blue["desiredCount"] == 2
    assert stack.service(boto, "loopin-local-web-green")["desiredCount"] == 0  # type: ignore[index]
    assert_scaling_on(boto, stack, stack.web_service)
    tags = rule_tags(boto, stack)
    assert tags["loopin:live-side"] == "blue" and tags["loopin:previous-release"].endswith(
        stack.service(boto, "loopin-local-web-green")["taskDefinition"].rsplit("/", 1)[-1]  # type: ignore[index]
    )
    # the plan's worst case, 20 + 2 x (3 + 10) s on the local inventory, and the time it took
    lines = " ".join(output.split())
    assert "worst case 46s within the RTO of 900s" in lines
    assert "step 1/2 (50% to blue): shift | weights green 50 / blue 50" in lines
    assert "Fast rollback done in " in lines and took < 900
    DEPLOY_CALLS["fast-rollback"] = least_privilege.recorded_calls(
        aws_env["AWS_ENDPOINT_URL"], "loopin-local-deploy/"
    )


def test_a_deploy_policy_missing_one_action_fails_the_deploy(
    aws_env: dict[str, str], enforced: Enforced, stack: deploy_stack.Stack
) -> None:
    policy = enforced.policy("deploy")
    for statement in policy["Statement"]:
        if "elasticloadbalancing:DescribeTargetHealth" in statement["Action"]:
            statement["Action"].remove("elasticloadbalancing:DescribeTargetHealth")
    enforced.put_policy("deploy", policy)
    process = playbook(aws_env, "deploy.yml", "-e", f"image={NEW_WEB}", session="missing")
    output, _ = process.communicate(timeout=budget.timeout("tier"))
    assert process.returncode != 0
    assert "is not authorized to perform: elasticloadbalancing:DescribeTargetHealth" in output, output[-3000:]


# --- the migrations: a one-off task of the new revision, run by an ECS agent -----------------------


class MigrationAgent:
    """Speaks the data plane's agent protocol to the emulator's ECS scheduler (as
    tests/localcloud/test_ecs_scheduler.py's agent does): every service task starts and is healthy;
    the deploy's migration task (its command override) exits with `migration_exit`."""

    def __init__(self, url: str, migration_exit: int) -> None:
        self.url, self.migration_exit = url, migration_exit
        self.migrations: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.port = 41000
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the test's emulator on loopback
            f"{self.url}/_localcloud/{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def report(self, item: dict[str, Any], status: str, **fields: Any) -> None:
        self.post(
            "ecs/task-state",
            {"cluster": item["cluster"], "task": item["taskArn"], "lastStatus": status, **fields},
        )

    def loop(self) -> None:
        while not self.stop.is_set():
            for item in self.post("ecs/agent", {"agent": "migration-test"})["tasks"]:
                overrides = (item.get("overrides") or {}).get("containerOverrides") or [{}]
                if item["lastStatus"] == "PENDING" and item["service"] is None:
                    self.migrations.append({**item, "command": overrides[0].get("command")})
                    self.report(item, "RUNNING", privateIPv4Address="127.0.0.1")
                    self.report(
                        item,
                        "STOPPED",
                        exitCode=self.migration_exit,
                        stoppedReason="Essential container in task exited",
                    )
                elif item["lastStatus"] == "PENDING":
                    self.port += 1
                    self.report(item, "RUNNING", privateIPv4Address="127.0.0.1", hostPort=self.port)
                    self.report(item, "RUNNING", healthStatus="HEALTHY")
                elif item["stop"]:
                    self.report(item, "STOPPED", exitCode=143)
            self.stop.wait(0.3)


@pytest.fixture(scope="module")
def agent_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An enforcing emulator of this module's own: an agent's heartbeat changes how every ECS call
    behaves, which the session's emulator must not see. A lost agent counts as gone after 3 s."""
    state = str(tmp_path_factory.mktemp("localcloud-agent-state"))
    with environ(LOOPIN_STATE_DIR=state, LOCALCLOUD_AGENT_TTL_SECONDS="3"), emulator.running() as url:
        yield url


def _migration_run(
    agent_endpoint: str, migration_exit: int
) -> tuple[Any, Any, list[dict[str, int]], str, MigrationAgent]:
    emulator.reset(int(agent_endpoint.rsplit(":", 1)[1]))
    enforced = iam_stack.bootstrap(agent_endpoint)
    boto = enforced.client
    stack = deploy_stack.build(boto)
    agent = MigrationAgent(agent_endpoint, migration_exit)
    agent.thread.start()
    try:
        env = {**os.environ, **enforced.operator_env(), "AWS_ENDPOINT_URL": agent_endpoint}
        env.pop("AWS_SESSION_TOKEN", None)
        seen: list[dict[str, int]] = []
        process = playbook(
            env, "deploy.yml", "-e", f"image={NEW_WEB}", "-e", "deploy_migrate=true", session="migrate"
        )
        deadline = time.monotonic() + budget.timeout("tier")
        while process.poll() is None and time.monotonic() < deadline:
            weights = stack.weights(boto)
            if not seen or seen[-1] != weights:
                seen.append(weights)
            time.sleep(0.1)
        output, _ = process.communicate(timeout=budget.timeout("playbook"))
    finally:
        agent.stop.set()
        agent.thread.join(timeout=10)
    return boto, stack, seen, output, agent


def test_a_failing_migration_stops_the_deploy_before_any_weight_changes(agent_endpoint: str) -> None:
    boto, stack, seen, output, agent = _migration_run(agent_endpoint, migration_exit=3)
    assert "migrate" in output and "rolled back" in output, output[-3000:]
    # the migrations ran once, as a one-off task of the new revision with the migrate command
    assert len(agent.migrations) == 1, output[-4000:]
    task = agent.migrations[0]
    assert task["command"] == ["loopin-web-manage", "migrate", "--noinput"]
    assert task["taskDefinition"]["containerDefinitions"][0]["image"] == NEW_WEB
    assert task["startedBy"] == "loopin-deploy-migrate"
    # the deploy stopped with the reason, the task ARN, before the health check and any shift
    assert f"loopin-web-manage migrate --noinput exited 3: task {task['taskArn']}" in output, output[-3000:]
    assert "Health check" not in output.split("exited 3")[0].rsplit("Migrations of the new release", 1)[1]
    assert seen == [{BLUE: 100, GREEN: 0}], seen
    calls = least_privilege.recorded_calls(agent_endpoint, "loopin-local-deploy/")
    assert not [c for c in calls if c["action"] == "elasticloadbalancing:ModifyRule"], "weights were written"
    assert stack.service(boto, "loopin-local-web-green")["desiredCount"] == 0  # type: ignore[index]
    assert stack.weights(boto) == {BLUE: 100, GREEN: 0}


def test_a_good_migration_runs_then_the_deploy_proceeds(agent_endpoint: str) -> None:
    boto, stack, seen, output, agent = _migration_run(agent_endpoint, migration_exit=0)
    assert "loopin-web-manage migrate --noinput exited 0" in output, output[-3000:]
    assert len(agent.migrations) == 1
    assert [w[GREEN] for w in seen] == [0, 10, 50, 100], seen
    assert stack.image_of(boto, "loopin-local-web-green") == NEW_WEB
    DEPLOY_CALLS["migration"] = least_privilege.recorded_calls(agent_endpoint, "loopin-local-deploy/")


def _policy(calls_role: str = "loopin-local-deploy") -> list[dict[str, Any]]:
    from iam_policy_rules import context, render

    return [{"name": calls_role, "policy": render("deploy_policy.json.j2", context("local"))}]


def test_the_deploy_runs_are_least_privilege_at_resource_level() -> None:
    assert set(DEPLOY_CALLS) == {"success", "rollback", "fast-rollback", "migration"}, (
        "runs with the deploys above (the whole module)"
    )
    calls = [call for run in DEPLOY_CALLS.values() for call in run]
    report = least_privilege.check(calls, {"loopin-local-deploy": _policy()})
    assert report.ok, report.text()
    assert report.calls > 30 and report.exceptions_used  # the ECR push grants, with their reason

    # over-broad: a grant no run used, and a Resource "*" where IAM scopes the action
    broad = _policy()
    broad[0]["policy"]["Statement"].append(
        {"Sid": "Extra", "Effect": "Allow", "Action": ["ecs:DeleteService"], "Resource": "*"}
    )
    found = least_privilege.check(calls, {"loopin-local-deploy": broad}).problems
    assert any("ecs:DeleteService" in p and "never used" in p for p in found), found
    assert any("ecs:DeleteService" in p and 'Resource "*"' in p for p in found), found

    # under-scoped: the rule may be modified only on another load balancer
    narrow = _policy()
    for statement in narrow[0]["policy"]["Statement"]:
        if "elasticloadbalancing:ModifyRule" in statement["Action"]:
            statement["Resource"] = statement["Resource"].replace("loopin-local", "loopin-other")
    found = least_privilege.check(calls, {"loopin-local-deploy": narrow}).problems
    assert any("ModifyRule" in p and "not allowed" in p and "resource level" in p for p in found), found


@pytest.mark.parametrize("emergency", [False, True])
def test_production_outside_the_window_needs_an_emergency(emergency: bool) -> None:
    # No AWS here: a dead loopback endpoint, so a run that got past the window fails on its first call.
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    command = [
        str(ROOT / ".venv/bin/ansible-playbook"),
        *("-i", "inventories/production", "playbooks/deploy.yml"),
        *("-e", f"image={NEW_WEB}", "-e", "deploy_window_now=2026-11-27T09:00:00+00:00"),  # a Friday
        *(("-e", "emergency_change=true", "-e", "emergency_reason=INC-7") if emergency else ()),
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=budget.timeout("playbook"),
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    if emergency:
        assert "EMERGENCY CHANGE outside the deployment window (tue/wed/thu 14:00-16:00 IST)" in output
        assert "INC-7" in output and "Find the live side" in output
    else:
        assert "Fri 2026-11-27 14:30 IST is outside the deployment window" in output, output
        assert "emergency_change=true" in output and "Find the live side" not in output
