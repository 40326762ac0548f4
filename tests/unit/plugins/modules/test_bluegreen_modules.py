"""The deploy's modules against a real moto server: weights, gate, service deploy, worker gate, window."""

from __future__ import annotations

import time
from typing import Any

import deploy_stack
import pytest

BLUE = "loopin-local-web-blue"
GREEN = "loopin-local-web-green"


@pytest.fixture
def stack(boto: Any) -> deploy_stack.Stack:
    return deploy_stack.build(boto)


def gate_args(stack: deploy_stack.Stack, **changes: Any) -> dict[str, Any]:
    args = {
        "phase": -1,
        "phase_started_at": time.time(),
        "steps": [10, 50, 100],
        "bake_seconds": 0,
        "health_seconds": 0,
        "health_timeout_seconds": 5,
        "grace_seconds": 5,
        "poll_seconds": 0.2,
        "watch_seconds": 2,
        "alarm_names": stack.alarms,
        "target_group_name": GREEN,
        "wanted_healthy": 2,
    }
    args.update(changes)
    return args


def test_weights_read_set_idempotent_check_and_diff(
    run_module: Any, boto: Any, stack: deploy_stack.Stack
) -> None:
    read = run_module(
        "elb_listener_rule_weights", {"load_balancer_name": "loopin-local", "target_groups": [BLUE, GREEN]}
    )
    assert read["changed"] is False and read["weights"] == {BLUE: 100, GREEN: 0}
    assert (read["live_side"], read["idle_side"]) == ("blue", "green")
    assert read["rule_arn"] == stack.rule_arn and read["listener_arn"] in stack.rule_arn.replace(
        "listener-rule", "listener"
    )

    shift = {"rule_arn": stack.rule_arn, "weights": {BLUE: 90, GREEN: 10}}
    result = run_module("elb_listener_rule_weights", shift, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"]["weights"] == {BLUE: 90, GREEN: 10}
    assert stack.weights(boto) == {BLUE: 100, GREEN: 0}
    assert run_module("elb_listener_rule_weights", shift)["changed"] is True
    assert stack.weights(boto) == {BLUE: 90, GREEN: 10}
    assert run_module("elb_listener_rule_weights", shift)["changed"] is False
    rule = boto("elbv2").describe_rules(RuleArns=[stack.rule_arn])["Rules"][0]
    assert rule["Conditions"][0]["Values"] == ["/*"]
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"]["Enabled"] is False

    tagged = run_module("elb_listener_rule_weights", {**shift, "tags": {"loopin:live": "blue"}})
    assert tagged["changed"] is True and tagged["tags"]["loopin:live"] == "blue"
    assert (
        run_module("elb_listener_rule_weights", {**shift, "tags": {"loopin:live": "blue"}})["changed"]
        is False
    )
    # weights given green first leave the rule's order (blue first, as the alb role declares it)
    green_first = {"rule_arn": stack.rule_arn, "weights": {GREEN: 100, BLUE: 0}}
    assert run_module("elb_listener_rule_weights", green_first)["changed"] is True
    groups = boto("elbv2").describe_rules(RuleArns=[stack.rule_arn])["Rules"][0]["Actions"][0]
    assert [g["TargetGroupArn"] for g in groups["ForwardConfig"]["TargetGroups"]] == [
        stack.target_groups[BLUE],
        stack.target_groups[GREEN],
    ]
    assert stack.weights(boto) == {BLUE: 0, GREEN: 100}
    # the promotion's tag names the live side, whatever the weights say
    promoted = run_module("elb_listener_rule_weights", {**shift, "tags": {"loopin:live-side": "green"}})
    assert (promoted["live_side"], promoted["idle_side"]) == ("green", "blue")


@pytest.mark.parametrize(
    "weights, message",
    [
        ({BLUE: 100}, "but the rule forwards to"),
        ({BLUE: 0, GREEN: 0}, "at least one above 0"),
        ({BLUE: 1000, GREEN: 0}, "0..999"),
    ],
)
def test_weights_refuse_bad_input(
    run_module: Any, stack: deploy_stack.Stack, weights: Any, message: str
) -> None:
    result = run_module("elb_listener_rule_weights", {"rule_arn": stack.rule_arn, "weights": weights})
    assert result["failed"] and message in result["msg"]


def test_weights_name_the_missing_rule(run_module: Any, stack: deploy_stack.Stack) -> None:
    result = run_module(
        "elb_listener_rule_weights", {"load_balancer_name": "loopin-local", "target_groups": ["nope"]}
    )
    assert result["failed"] and "no rule of" in result["msg"]


def test_gate_passes_health_then_steps(run_module: Any, stack: deploy_stack.Stack) -> None:
    result = run_module("bluegreen_gate", gate_args(stack))
    assert result["decision"]["action"] == "shift" and result["decision"]["next_weight"] == 10
    assert result["healthy"] == 2 and set(result["alarms"].values()) == {"OK"}
    assert "health check before the first shift: shift" in result["msg"]
    last = run_module("bluegreen_gate", gate_args(stack, phase=2))
    assert last["decision"]["action"] == "promote" and last["changed"] is False


def test_gate_waits_and_reports_time_left(run_module: Any, stack: deploy_stack.Stack) -> None:
    result = run_module("bluegreen_gate", gate_args(stack, phase=1, bake_seconds=60, watch_seconds=0.5))
    assert result["decision"]["action"] == "wait" and result["samples"] >= 1
    assert "step 2/3 (50% to green): wait" in result["msg"] and "s left in the bake" in result["msg"]
    assert "weights blue 50 / green 50" in result["msg"] and "loopin-local-green-5xx=OK" in result["msg"]


def test_gate_names_blue_as_the_new_side_when_green_is_live(
    run_module: Any, stack: deploy_stack.Stack
) -> None:
    args = gate_args(
        stack, phase=0, bake_seconds=60, watch_seconds=0.5, target_group_name=BLUE, new_side="blue"
    )
    result = run_module("bluegreen_gate", args)
    assert "step 1/3 (10% to blue): wait" in result["msg"] and "weights green 90 / blue 10" in result["msg"]


def test_gate_rolls_back_on_alarm_and_restores_weights(
    run_module: Any, boto: Any, stack: deploy_stack.Stack
) -> None:
    boto("elbv2")  # weights as at the 50% step
    run_module("elb_listener_rule_weights", {"rule_arn": stack.rule_arn, "weights": {BLUE: 50, GREEN: 50}})
    boto("cloudwatch").set_alarm_state(
        AlarmName="loopin-local-green-5xx", StateValue="ALARM", StateReason="test"
    )
    args = gate_args(
        stack, phase=1, bake_seconds=60, rule_arn=stack.rule_arn, rollback_weights={BLUE: 100, GREEN: 0}
    )
    checked = run_module("bluegreen_gate", args, check=True)
    assert checked["decision"]["action"] == "rollback" and checked["weights_restored"] is False
    assert stack.weights(boto) == {BLUE: 50, GREEN: 50}
    result = run_module("bluegreen_gate", args)
    assert result["decision"]["action"] == "rollback" and result["changed"] is True
    assert (
        "alarm loopin-local-green-5xx is ALARM during step 2/3 (50% to green)" in result["decision"]["reason"]
    )
    assert stack.weights(boto) == {BLUE: 100, GREEN: 0}


def test_gate_rolls_back_on_missing_alarm_errors_and_health(
    run_module: Any, boto: Any, stack: deploy_stack.Stack
) -> None:
    missing = run_module("bluegreen_gate", gate_args(stack, alarm_names=[*stack.alarms, "loopin-local-nope"]))
    assert (
        missing["decision"]["action"] == "rollback" and "loopin-local-nope does not exist" in missing["msg"]
    )

    boto("cloudwatch").put_metric_data(Namespace="Loopin", MetricData=[{"MetricName": "Errors", "Value": 3}])
    metric = {"namespace": "Loopin", "metric_name": "Errors"}
    errors = run_module("bluegreen_gate", gate_args(stack, phase=0, bake_seconds=60, error_metric=metric))
    assert errors["decision"]["action"] == "rollback" and errors["app_errors"] == 3

    short = run_module("bluegreen_gate", gate_args(stack, phase=0, bake_seconds=60, wanted_healthy=3))
    assert short["decision"]["action"] == "rollback" and "only 2/3 green targets healthy" in short["msg"]
    timeout = run_module(
        "bluegreen_gate",
        gate_args(stack, wanted_healthy=3, health_timeout_seconds=0.5, grace_seconds=0, watch_seconds=5),
    )
    assert timeout["decision"]["action"] == "rollback" and "timed out" in timeout["decision"]["reason"]


def test_gate_refuses_a_bad_plan(run_module: Any, stack: deploy_stack.Stack) -> None:
    result = run_module("bluegreen_gate", gate_args(stack, steps=[50, 10]))
    assert result["failed"] and "steps must rise" in result["msg"]


def test_service_deploy_creates_green_then_is_idempotent(
    run_module: Any, boto: Any, stack: deploy_stack.Stack
) -> None:
    image = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/local/web@sha256:" + "3" * 64
    args = {
        "cluster": stack.cluster,
        "service": "loopin-local-web-green",
        "template_service": stack.web_service,
        "image": image,
        "container_name": "web",
        "target_group_arn": stack.target_groups[GREEN],
    }
    checked = run_module("ecs_service_deploy", args, check=True, diff=True)
    assert checked["changed"] and checked["registered"] and checked["created"]
    assert stack.service(boto, "loopin-local-web-green") is None
    result = run_module("ecs_service_deploy", args)
    assert result["changed"] and result["task_definition_arn"].endswith("loopin-local-web:2")
    green = stack.service(boto, "loopin-local-web-green")
    assert green is not None and green["desiredCount"] == 2
    assert green["loadBalancers"][0]["targetGroupArn"] == stack.target_groups[GREEN]
    assert stack.image_of(boto, "loopin-local-web-green") == image
    assert stack.image_of(boto, stack.web_service).endswith("1" * 64)
    assert run_module("ecs_service_deploy", args)["changed"] is False

    stop = {"cluster": stack.cluster, "service": "loopin-local-web-green", "desired_count": 0}
    assert run_module("ecs_service_deploy", stop)["changed"] is True
    assert stack.service(boto, "loopin-local-web-green")["desiredCount"] == 0  # type: ignore[index]
    assert run_module("ecs_service_deploy", stop)["changed"] is False


def test_worker_gate(run_module: Any, boto: Any, stack: deploy_stack.Stack) -> None:
    dlqs = [f"loopin-local-{q}-dlq" for q in deploy_stack.QUEUES]
    base = {"cluster": stack.cluster, "service": stack.worker_service, "dlq_names": dlqs}
    baseline = run_module("worker_rollout_gate", {**base, "baseline": True})
    assert baseline["dlq_depths"] == dict.fromkeys(dlqs, 0)
    task_definition = stack.service(boto, stack.worker_service)["taskDefinition"]  # type: ignore[index]
    watch = {
        **base,
        "task_definition": task_definition,
        "started_at": time.time(),
        "dlq_baseline": baseline["dlq_depths"],
        "bake_seconds": 0,
        "poll_seconds": 0.2,
        "watch_seconds": 1,
        "timeout_seconds": 5,
    }
    # moto's deployments never complete (it runs no tasks)
    stuck = run_module("worker_rollout_gate", watch)
    assert stuck["decision"]["action"] == "wait" and stuck["rollout_state"] == "IN_PROGRESS"
    clean = run_module("worker_rollout_gate", {**watch, "require_rollout_completed": False})
    assert clean["decision"]["action"] == "promote"
    url = boto("sqs").get_queue_url(QueueName=dlqs[1])["QueueUrl"]
    boto("sqs").send_message(QueueUrl=url, MessageBody="{}")
    dirty = run_module("worker_rollout_gate", {**watch, "require_rollout_completed": False})
    assert dirty["decision"]["action"] == "rollback" and "1 new message(s)" in dirty["msg"]


@pytest.mark.parametrize(
    "args, failed, emergency",
    [
        ({"now": "2026-11-25T09:00:00+00:00"}, False, False),  # Wed 14:30 IST
        ({"now": "2026-11-24T19:40:00+00:00"}, True, False),  # Wed 01:10 IST
        ({"now": "2026-11-24T19:40:00+00:00", "emergency": True, "reason": "INC-42"}, False, True),
        ({"now": "2026-11-24T19:40:00+00:00", "enforce": False}, False, False),
        ({"days": ["someday"]}, True, False),
    ],
)
def test_change_window(run_module: Any, args: dict[str, Any], failed: bool, emergency: bool) -> None:
    result = run_module("change_window", args)
    assert bool(result.get("failed")) is failed
    if failed and "days" not in args:
        assert "outside the deployment window" in result["msg"] and "emergency_change=true" in result["msg"]
    assert result.get("emergency", False) is emergency
    if emergency:
        assert "EMERGENCY CHANGE" in result["msg"] and "INC-42" in result["msg"]
        # (the warning itself is asserted on a real run: test_deploy_e2e; ansible-core dedups
        # warnings process-wide, so an in-process run may not carry it again)


def test_summary_shows_the_live_side(run_module: Any, stack: deploy_stack.Stack) -> None:
    result = run_module("stack_info", {"project": "loopin", "environment": "local"})
    found = result["outputs"]["deploy"]
    assert found["live_side"] == "blue" and found["weights"] == {"blue": 100, "green": 0}
    assert found["services"]["blue"] == {
        "name": "loopin-local-web",
        "task_definition": "loopin-local-web:1",
        "desired_count": 2,
    }
    assert "Web traffic     live side blue  (blue 100 / green 0)" in result["lines"]
