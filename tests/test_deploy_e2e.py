"""End to end: playbooks/deploy.yml against the emulator, on a minimal stack built under the
conventions' names (tools/deploy_stack.py). One deploy succeeds; in the other an alarm fires at
the 50% step and the weights must be back at 100/0 within one poll interval."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import deploy_stack
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCAL = yaml.safe_load((ROOT / "inventories/local/group_vars/all/deploy.yml").read_text())
BLUE = "loopin-local-web-blue"
GREEN = "loopin-local-web-green"
NEW_WEB = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/web@sha256:" + "a" * 64
NEW_WORKER = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/worker@sha256:" + "b" * 64


@pytest.fixture
def boto(aws_env: dict[str, str]) -> Any:
    return lambda service: boto3.client(service, region_name="ap-south-1")


@pytest.fixture
def stack(boto: Any) -> deploy_stack.Stack:
    return deploy_stack.build(boto)


def playbook(aws_env: dict[str, str], name: str, *extra: str) -> subprocess.Popen[str]:
    command = [
        str(ROOT / ".venv/bin/ansible-playbook"),
        "-i",
        "inventories/local",
        f"playbooks/{name}",
        "-e",
        f"aws_endpoint_url={aws_env['AWS_ENDPOINT_URL']}",
        *extra,
    ]
    env = {**aws_env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
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
    for line in ("step 2/3 (50% to green): shift", "loopin-local-green-5xx=OK", "worker rollout: promote"):
        assert line in output


def test_alarm_at_50_percent_rolls_back_within_one_poll(
    aws_env: dict[str, str], boto: Any, stack: deploy_stack.Stack
) -> None:
    before = stack.service(boto, stack.web_service)
    worker_before = stack.service(boto, stack.worker_service)
    timeline: dict[str, float] = {}

    def fire_at_50() -> None:
        watcher = boto3.client("elbv2", region_name="ap-south-1")
        cloudwatch = boto3.client("cloudwatch", region_name="ap-south-1")
        lookup = lambda: deploy_stack.Stack.weights(stack, lambda _s: watcher)  # noqa: E731
        deadline = time.monotonic() + 90
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
    output, _ = process.communicate(timeout=180)
    thread.join(timeout=10)

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
    out, _ = rollback.communicate(timeout=120)
    assert rollback.returncode == 0, out
    assert "100% on blue" in out and stack.weights(boto) == {BLUE: 100, GREEN: 0}


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
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    if emergency:
        assert "EMERGENCY CHANGE outside the deployment window (tue/wed/thu 14:00-16:00 IST)" in output
        assert "INC-7" in output and "Find the live side" in output
    else:
        assert "Fri 2026-11-27 14:30 IST is outside the deployment window" in output, output
        assert "emergency_change=true" in output and "Find the live side" not in output
