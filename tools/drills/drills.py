"""The release drills, one function each. A drill acts only through the documented commands
(`make deploy`, `make rollback`, `make drift`, site.yml), with the pipeline's roles where the
pipeline acts, and judges the outcome by what the stack holds afterwards and by what a client
saw meanwhile. Each returns an Outcome: its figures and, when it failed, why.

The deploys run with the local inventory's gate (seconds, not minutes) except where a drill needs
the gate to see a CloudWatch evaluation: a bad release is caught by an alarm on the load
balancer's metrics, which AWS and the local evaluator compute once per period (60 s), so those
deploys bake one period and a margin at each step.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud import __main__ as localcloud
from localcloud.mobile_client import BackgroundLoad, MobileClient
from localcloud.state import ROOT

from drills import releases
from drills.stack import LocalStack, Run, run


@dataclass
class Outcome:
    figures: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def check(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return condition


@dataclass
class Drills:
    stack: LocalStack
    # Seconds each traffic step bakes when the gate must see an alarm evaluation (see above).
    alarm_bake_seconds: int = 75
    released: dict[str, releases.Release] = field(default_factory=dict)

    # --- helpers --------------------------------------------------------------------------------

    def release(self, label: str, *defects: releases.Defect) -> releases.Release:
        """A release built from the tree (with `defects`), pushed with the deploy role."""
        made = releases.build(
            f"{label}-{uuid.uuid4().hex[:8]}", self.stack.client("ecr", "deploy"), self.stack.env, defects
        )
        self.released[label] = made
        return made

    def deploy(self, log: str, web: str, worker: str = "", *extra: str) -> Run:
        # The gate alarms must not be in ALARM, or the deploy stops at its first check: after a
        # rolled-back release (the idle side's) or a bad worker (app errors) they stay so until
        # the evaluation range (3 periods) holds no bad datapoint, as on AWS.
        idle = "green" if self.stack.live_side() == "blue" else "blue"
        for gate in (f"{idle}-5xx", f"{idle}-p99", f"{idle}-unhealthy", "app-errors"):
            self.wait_alarm_not_in_alarm(f"{self.stack.prefix}-{gate}")
        variables = [f"IMAGE={web}"] + ([f"WORKER_IMAGE={worker}"] if worker else [])
        if extra:
            variables.append("ARGS=" + " ".join(extra))
        return self.stack.make(log, "deploy", *variables)

    def client(self) -> MobileClient:
        client = MobileClient(self.stack.api, self.stack.ca)
        client.sign_up()
        return client

    def wait_alarm_not_in_alarm(self, name: str, seconds: float = 300) -> str:
        """The alarm's state once it is not ALARM, or ALARM after `seconds`."""
        deadline = time.monotonic() + seconds
        state = self.stack.alarm_state(name)
        while state == "ALARM" and time.monotonic() < deadline:
            time.sleep(3)
            state = self.stack.alarm_state(name)
        return state

    def expect_progress(self, outcome: Outcome, result: Run, live: str, new: str, steps: list[int]) -> None:
        """Every step's progress line names the sides and weights as they are (the line of a
        step's last sample says shift, wait or promote; the weights are what matters)."""
        for number, weight in enumerate(steps, start=1):
            pattern = (
                rf"step {number}/{len(steps)} \({weight}% to {new}\): [^|]*\| "
                rf"weights {live} {100 - weight} / {new} {weight} "
            )
            outcome.check(
                re.search(pattern, result.flat) is not None,
                f"no progress line 'step {number}/{len(steps)} ({weight}% to {new}) ... weights "
                f"{live} {100 - weight} / {new} {weight}' ({result.log})",
            )

    def live_side_consumers(self, outcome: Outcome, live: str) -> None:
        """The scalable target, its policies and every paging alarm follow the live side."""
        stack = self.stack
        live_service, idle_service = (
            stack.sides[live]["service"],
            stack.sides["green" if live == "blue" else "blue"]["service"],
        )
        scaling = stack.client("application-autoscaling")
        targets = {
            t["ResourceId"]
            for t in scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
            if "-web" in t["ResourceId"]
        }
        expected = f"service/{stack.cluster}/{live_service}"
        outcome.check(
            targets == {expected}, f"web scalable targets {sorted(targets)}, expected {expected} alone"
        )
        policies = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=expected)[
            "ScalingPolicies"
        ]
        outcome.check(len(policies) >= 3, f"{expected} has {len(policies)} scaling policies, expected 3")
        for policy in policies:
            spec = policy.get("TargetTrackingScalingPolicyConfiguration", {}).get(
                "PredefinedMetricSpecification", {}
            )
            label = spec.get("ResourceLabel")
            if label:
                group = stack.client("elbv2").describe_target_groups(
                    Names=[stack.sides[live]["target_group"]]
                )
                suffix = group["TargetGroups"][0]["TargetGroupArn"].split(":", 5)[5]
                outcome.check(
                    label.endswith(suffix),
                    f"{policy['PolicyName']} counts requests of {label}, not of {live}",
                )
        idle_policies = scaling.describe_scaling_policies(
            ServiceNamespace="ecs", ResourceId=f"service/{stack.cluster}/{idle_service}"
        )["ScalingPolicies"]
        outcome.check(not idle_policies, f"the idle side {idle_service} still has scaling policies")
        live_dims = {live_service, stack.sides[live]["target_group"]}
        for alarm in _paging_web_alarms(stack):
            values = _dimension_values(alarm)
            outcome.check(
                any(v == live_service or stack.sides[live]["target_group"] in v for v in values),
                f"paging alarm {alarm['AlarmName']} does not watch {sorted(live_dims)}: {sorted(values)}",
            )

    # --- the drills -----------------------------------------------------------------------------

    def production_window(self) -> Outcome:
        """A production deploy outside the window is refused before any AWS call; an emergency
        passes the window (and is recorded). No AWS here: the endpoint is a dead loopback port,
        so a run that got past the window fails on its first call."""
        outcome = Outcome()
        image = "123456789012.dkr.ecr.ap-south-1.amazonaws.com/loopin/production/web@sha256:" + "a" * 64
        dead = {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "none",
            "AWS_SECRET_ACCESS_KEY": "none",
        }
        deploy = (
            str(ROOT / ".venv/bin/ansible-playbook"),
            *("-i", "inventories/production", "playbooks/deploy.yml"),
            *("-e", f"image={image}", "-e", "deploy_window_now=2026-11-27T09:00:00+00:00"),  # a Friday
        )
        refused = run("production-window-refused", deploy, env=dead)
        outcome.check(refused.returncode != 0, "a production deploy outside the window was not refused")
        outcome.check(
            "is outside the deployment window" in refused.flat, f"no window refusal in {refused.log}"
        )
        outcome.check(
            "Find the live side" not in refused.flat, f"the refused deploy went on to AWS ({refused.log})"
        )
        emergency = run(
            "production-window-emergency",
            (*deploy, "-e", "emergency_change=true", "-e", "emergency_reason=DRILL-1"),
            env=dead,
        )
        outcome.check(
            "EMERGENCY CHANGE outside the deployment window" in emergency.flat,
            f"no emergency record in {emergency.log}",
        )
        outcome.check(
            "Find the live side" in emergency.flat, f"the emergency did not pass the window ({emergency.log})"
        )
        outcome.figures["refused in"] = f"{refused.seconds:.0f}s"
        return outcome

    def failing_migration(self) -> Outcome:
        """A release whose migration fails stops before any weight changes."""
        outcome = Outcome()
        before = self.stack.web_rule()["weights"]
        release = self.release("bad-migration", releases.migration_fails)
        with WeightWatch(self.stack) as weights:
            result = self.deploy("failing-migration", release.web)
        seen = weights.samples
        outcome.check(result.returncode != 0, f"the deploy of a failing migration succeeded ({result.log})")
        outcome.check(
            "shift |" not in result.flat,
            f"the deploy shifted traffic after a failed migration ({result.log})",
        )
        outcome.check(all(w == before for w in seen), f"weights moved during the deploy: {before} -> {seen}")
        outcome.check(self.stack.web_rule()["weights"] == before, "the weights differ after the deploy")
        outcome.figures["stopped after"] = f"{result.seconds:.0f}s"
        outcome.figures["weight samples"] = str(len(seen))
        return outcome

    def successive_deploys(self, count: int = 3, between: bool = True) -> Outcome:
        """Good releases A, B, C one after the other; after each, site.yml (as the operator)
        changes nothing and reverts nothing, drift (the read-only role) reports nothing, and the
        scalable target, its policies and every paging alarm follow the live side."""
        outcome = Outcome()
        took, applied = [], []
        for label in "ABC"[:count]:
            live = self.stack.live_side()
            new = "green" if live == "blue" else "blue"
            release = self.release(f"good-{label}")
            with WeightWatch(self.stack) as weights:
                result = self.deploy(f"deploy-{label}", release.web, release.worker)
            took.append(f"{result.seconds:.0f}s")
            if not outcome.check(result.returncode == 0, f"deploy {label} failed ({result.log})"):
                return outcome
            self.expect_progress(outcome, result, live, new, [10, 50, 100])
            taken = [w[new] for w in weights.changes()]
            outcome.check(taken == [0, 10, 50, 100], f"deploy {label}: {new} took the weights {taken}")
            worker = self.stack.image_of(f"{self.stack.prefix}-worker")
            outcome.check(worker == release.worker, f"after deploy {label} the worker runs {worker}")
            outcome.check(self.stack.live_side() == new, f"after deploy {label} {new} is not live")
            outcome.check(
                self.stack.image_of(self.stack.sides[new]["service"]) == release.web,
                f"after deploy {label} the live side does not run {release.web}",
            )
            self.live_side_consumers(outcome, new)
            if between:
                site = self.site(f"site-after-{label}")
                applied.append(str(site.changed))
                outcome.check(
                    site.returncode == 0 and site.changed == 0,
                    f"site.yml after {label}: changed={site.changed} ({site.log})",
                )
                outcome.check(
                    self.stack.image_of(self.stack.sides[new]["service"]) == release.web
                    and self.stack.live_side() == new,
                    f"site.yml after {label} reverted the release",
                )
                drift = self.stack.make(f"drift-after-{label}", "drift")
                outcome.check(
                    drift.returncode == 0 and "no drift in" in drift.output,
                    f"drift after {label} ({drift.log})",
                )
        outcome.figures["deploys"] = "/".join(took)
        if applied:
            outcome.figures["site.yml changed"] = "/".join(applied)
        return outcome

    def site(self, log: str) -> Run:
        """site.yml applied as the operator (an administrator's run; `make up` runs it as the
        provisioner once the iam role has made that role)."""
        return run(
            log,
            (
                str(ROOT / ".venv/bin/python"),
                "-m",
                "localcloud.identities",
                "exec",
                "operator",
                "--env",
                self.stack.env,
                "--endpoint",
                self.stack.endpoint,
                "--",
                str(ROOT / ".venv/bin/ansible-playbook"),
                "-i",
                f"inventories/{self.stack.env}",
                "-e",
                f"aws_endpoint_url={self.stack.endpoint}",
                "playbooks/site.yml",
            ),
            env={"PYTHONPATH": str(ROOT / "tools")},
        )

    def fast_rollback(self) -> Outcome:
        """The fast rollback of a finished deploy returns the previous release (the revision the
        promotion recorded on the rule, not whatever a later rolled-back deploy left on that
        side) within the RTO."""
        outcome = Outcome()
        rule = self.stack.web_rule()
        live = self.stack.live_side()
        previous = "green" if live == "blue" else "blue"
        revision = rule["tags"].get("loopin:previous-release", "")
        if not outcome.check(bool(revision), "the rule records no previous release: deploy first"):
            return outcome
        result = self.stack.make("fast-rollback", "rollback", "MODE=previous")
        outcome.check(result.returncode == 0, f"the fast rollback failed ({result.log})")
        outcome.check(self.stack.live_side() == previous, f"after the rollback {previous} is not live")
        running = self.stack.service(self.stack.sides[previous]["service"])["taskDefinition"]
        outcome.check(running == revision, f"{previous} runs {running}, not the previous release {revision}")
        outcome.check("Fast rollback done in" in result.flat, f"no 'Fast rollback done' line ({result.log})")
        self.expect_progress(outcome, result, live, previous, [50, 100])
        rto = 900
        outcome.check(result.seconds < rto, f"the fast rollback took {result.seconds:.0f}s, RTO {rto}s")
        outcome.figures["rollback"] = f"{result.seconds:.0f}s (RTO {rto}s)"
        outcome.figures["back to"] = revision.rsplit("/", 1)[-1]
        return outcome

    def bad_web(self) -> Outcome:
        """A release whose GET /v1/me answers 500 is rolled back by the 5xx gate from the load
        balancer's own metrics while a client keeps using the API; the client's failed requests
        are counted and bounded by the weight the bad side had."""
        outcome = Outcome()
        live = self.stack.live_side()
        new = "green" if live == "blue" else "blue"
        live_image = self.stack.image_of(self.stack.sides[live]["service"])
        release = self.release("bad-web", releases.web_answers_500_on_me)
        with BackgroundLoad(self.client(), per_second=2) as load:
            result = self.deploy(
                "bad-web", release.web, "", f"-e deploy_bake_seconds={self.alarm_bake_seconds}"
            )
            time.sleep(2)
        counts = load.counts()
        outcome.check(result.returncode != 0, f"the bad web release was promoted ({result.log})")
        outcome.check(f"rolled back: 100% on {live}" in result.flat, f"no rollback line in {result.log}")
        gate = f"{self.stack.prefix}-{new}-5xx"
        outcome.check(
            f"alarm {gate} is ALARM" in result.flat, f"the gate did not stop on {gate} ({result.log})"
        )
        outcome.check(self.stack.live_side() == live, f"{live} is not live after the rollback")
        outcome.check(
            self.stack.image_of(self.stack.sides[live]["service"]) == live_image, "the live side changed"
        )
        weight = _last_weight(result.flat, new)
        bound = math.ceil(counts["total"] * weight / 100)
        outcome.check(
            counts["failed"] <= bound,
            f"{counts['failed']} failed requests, more than {weight}% of {counts['total']}",
        )
        outcome.check(
            counts["failed"] > 0, "the client saw no failed request: the bad release took no traffic"
        )
        outcome.figures["failed requests"] = (
            f"{counts['failed']} of {counts['total']} (bound {bound}: {weight}% step)"
        )
        outcome.figures["rolled back after"] = f"{result.seconds:.0f}s"
        outcome.figures[gate] = self.stack.alarm_state(gate)
        return outcome

    def bad_worker(self) -> Outcome:
        """A worker release that takes every push message for poison is rolled back on the
        dead-letter queue's inflow; redriven afterwards, every notification is delivered once."""
        outcome = Outcome()
        live = self.stack.live_side()
        live_web = self.stack.by_digest(self.stack.image_of(self.stack.sides[live]["service"]))
        good_worker = self.stack.image_of(f"{self.stack.prefix}-worker")
        release = self.release("bad-worker", releases.worker_misreads_push_messages)
        client = self.client()
        sent: list[tuple[str, str]] = []
        stop = threading.Event()

        def keep_pushing() -> None:
            while not stop.is_set():
                body = f"drill {uuid.uuid4().hex[:10]}"
                try:
                    sent.append((client.push(body), body))
                except RuntimeError:
                    pass  # counted below: every accepted notification must arrive
                stop.wait(1.0)

        pusher = threading.Thread(target=keep_pushing, daemon=True)
        pusher.start()
        try:
            result = self.deploy(
                "bad-worker",
                live_web,
                release.worker,
                "-e deploy_worker_bake_seconds=40",
                "-e deploy_worker_timeout_seconds=120",
            )
        finally:
            stop.set()
            pusher.join(timeout=35)
        outcome.check(result.returncode != 0, f"the bad worker release was not rolled back ({result.log})")
        outcome.check(
            "Worker rollout of" in result.flat and "rolled back" in result.flat,
            f"no worker rollback line ({result.log})",
        )
        outcome.check(
            self.stack.image_of(f"{self.stack.prefix}-worker") == good_worker,
            "the worker does not run its previous image",
        )
        in_dlq = self.stack.visible("push-notifications-dlq")
        outcome.figures["in the DLQ"] = str(in_dlq)
        code = localcloud.run_one_off(
            self.stack.endpoint,
            self.stack.cluster,
            f"{self.stack.prefix}-worker",
            ["dlq", "redrive", "--queue", "push-notifications"],  # the image's entry point is loopin-worker
        )
        outcome.check(code == 0, f"the DLQ redrive task exited {code}")
        delivered = _until(lambda: _all_final(client, sent), 180)
        statuses = {n: (client.notification(n) or {}).get("status") for n, _ in sent}
        outcome.check(delivered, f"not every notification was delivered: {statuses}")
        bodies = [
            m["contents"]["en"]
            for m in _stand_in(self.stack)
            if m["include_subscription_ids"] == [client.subscription_id]
        ]
        twice = sorted({b for b in bodies if bodies.count(b) > 1})
        missing = sorted({b for _, b in sent} - set(bodies))
        outcome.check(not twice and not missing, f"delivered twice {twice}, missing {missing}")
        outcome.figures["notifications"] = f"{len(sent)} sent, {len(set(bodies))} delivered once"
        return outcome


class WeightWatch:
    """The web rule's weights sampled every half second while the block runs."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack, self.samples = stack, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WeightWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.stack.web_rule()["weights"])
            self._stop.wait(0.5)

    def changes(self) -> list[dict[str, int]]:
        """The samples with repeats dropped: each weight setting the rule went through."""
        return [w for i, w in enumerate(self.samples) if i == 0 or w != self.samples[i - 1]]


def _last_weight(flat: str, side: str) -> int:
    """The largest weight the deploy gave `side` (its progress lines)."""
    weights = [int(w) for w in re.findall(rf"\((\d+)% to {side}\): ", flat)]
    return max(weights) if weights else 0


def _paging_web_alarms(stack: LocalStack) -> list[dict[str, Any]]:
    """Alarms that notify someone and watch a web service or a web target group."""
    topic = f":{stack.prefix}-alerts"
    found = []
    for page in (
        stack.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
    ):
        for alarm in page["MetricAlarms"]:
            if not any(action.endswith(topic) for action in alarm.get("AlarmActions", [])):
                continue
            web = {side["service"] for side in stack.sides.values()}
            groups = {f"targetgroup/{side['target_group']}/" for side in stack.sides.values()}
            if any(v in web or any(g in v for g in groups) for v in _dimension_values(alarm)):
                found.append(alarm)
    return found


def _dimension_values(alarm: dict[str, Any]) -> set[str]:
    metrics = [alarm] + [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
    return {d["Value"] for m in metrics for d in m.get("Dimensions", [])}


def _stand_in(stack: LocalStack) -> list[dict[str, Any]]:
    secret = stack.client("secretsmanager").get_secret_value(
        SecretId=f"{stack.project}/{stack.env}/onesignal"
    )
    app_id = json.loads(secret["SecretString"])["app_id"]
    url = f"{stack.endpoint}/_localcloud/vendors/onesignal/_control/notifications?app_id={app_id}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the loopback emulator
        return json.loads(response.read())


def _all_final(client: MobileClient, sent: list[tuple[str, str]]) -> bool:
    return all((client.notification(n) or {}).get("status") == "sent" for n, _ in sent)


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(2)
    return condition()
