"""What the drills read and run on the local stack: the web rule and its sides, the services,
the alarms, and the documented commands (`make deploy`, `make rollback`, `make drift`) run as
an operator or the pipeline would run them, each one's output kept under .state/drills/logs/."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud import __main__ as localcloud
from localcloud import identities
from localcloud.state import ROOT, LocalCloudState, state_root

RECAP = re.compile(
    r"^\S+\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)", re.M
)


@dataclass(frozen=True)
class Run:
    command: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    log: Path

    @property
    def flat(self) -> str:
        """The output with every run of whitespace made one space (wrapped lines joined)."""
        return " ".join(self.output.split())

    @property
    def changed(self) -> int | None:
        found = list(RECAP.finditer(self.output))
        return int(found[-1]["changed"]) if found else None


@dataclass
class LocalStack:
    """The environment `make up` built on the emulator at `endpoint`."""

    endpoint: str
    env: str = "local"
    project: str = "loopin"
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

    @property
    def cluster(self) -> str:
        return self.prefix

    @property
    def sides(self) -> dict[str, dict[str, str]]:
        """Each side of the web service: its ECS service and its target group (roles/deploy)."""
        return {
            "blue": {"service": f"{self.prefix}-web", "target_group": f"{self.prefix}-web-blue"},
            "green": {"service": f"{self.prefix}-web-green", "target_group": f"{self.prefix}-web-green"},
        }

    @property
    def state(self) -> LocalCloudState:
        return LocalCloudState(self.endpoint)

    @property
    def ca(self) -> Path:
        return self.state.directory / "pki" / "ca.pem"

    @property
    def api(self) -> str:
        address = localcloud.api_address(self.endpoint)
        if not address:
            raise RuntimeError(f"no local load balancer for {self.endpoint}: run `make up` first")
        return address

    def client(self, service: str, role: str = "operator") -> Any:
        """boto3 on the emulator as `role` (the operator reads; the pipeline's roles act)."""
        key = f"{role}/{service}"
        if key not in self._clients:
            keys = identities.credentials(role, self.endpoint, identities.Environment.load(self.env), "drill")
            self._clients[key] = identities.client(service, self.endpoint, keys)
        return self._clients[key]

    # --- the web rule and its two sides ---------------------------------------------------------

    def web_rule(self) -> dict[str, Any]:
        """{"arn", "weights": {side: weight}, "tags": {...}} of the listener rule the deploy shifts."""
        elbv2 = self.client("elbv2")
        lb = elbv2.describe_load_balancers(Names=[self.prefix])["LoadBalancers"][0]
        names = {
            g["TargetGroupArn"]: g["TargetGroupName"]
            for g in elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
        }
        side_of = {sides["target_group"]: side for side, sides in self.sides.items()}
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                for action in rule["Actions"]:
                    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
                    weights = {
                        side_of.get(names.get(g["TargetGroupArn"], "")): g.get("Weight", 1) for g in groups
                    }
                    if set(weights) == {"blue", "green"}:
                        tags = elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0][
                            "Tags"
                        ]
                        return {
                            "arn": rule["RuleArn"],
                            "weights": weights,
                            "tags": {t["Key"]: t["Value"] for t in tags},
                        }
        raise RuntimeError(f"no listener rule of {self.prefix} forwards to both web target groups")

    def live_side(self) -> str:
        weights = self.web_rule()["weights"]
        live = [side for side, weight in weights.items() if weight == 100]
        if not live:
            raise RuntimeError(f"the web rule is half shifted: {weights}")
        return live[0]

    def service(self, name: str) -> dict[str, Any]:
        return self.client("ecs").describe_services(cluster=self.cluster, services=[name])["services"][0]

    def image_of(self, service: str) -> str:
        ecs = self.client("ecs")
        definition = ecs.describe_task_definition(taskDefinition=self.service(service)["taskDefinition"])
        return definition["taskDefinition"]["containerDefinitions"][0]["image"]

    def by_digest(self, image: str) -> str:
        """`image` as repository@sha256:... (`make up`'s services name their first image by tag)."""
        if "@sha256:" in image:
            return image
        repository, tag = image.rsplit(":", 1)
        found = self.client("ecr", "deploy").batch_get_image(
            repositoryName=repository.split("/", 1)[1], imageIds=[{"imageTag": tag}]
        )["images"]
        if not found:
            raise RuntimeError(f"{image} is not in the local ECR")
        return f"{repository}@{found[0]['imageId']['imageDigest']}"

    def alarm_state(self, name: str) -> str:
        alarms = self.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return alarms[0]["StateValue"] if alarms else "MISSING"

    def queue_url(self, queue: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=f"{self.prefix}-{queue}")["QueueUrl"]

    def visible(self, queue: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # --- commands -------------------------------------------------------------------------------

    def make(
        self, log: str, target: str, *variables: str, env: dict[str, str] | None = None, timeout: float = 1800
    ) -> Run:
        """`make <target> ENV=<env> <variables>` from the repository, as a person types it."""
        return run(
            log,
            ("make", "--no-print-directory", target, f"ENV={self.env}", *variables),
            env={"AWS_ENDPOINT_URL": self.endpoint, **(env or {})},
            timeout=timeout,
        )


def logs() -> Path:
    path = state_root() / "drills" / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(log: str, command: tuple[str, ...], env: dict[str, str] | None = None, timeout: float = 1800) -> Run:
    """Run `command` in the repository, keep its output in .state/drills/logs/<log>.log."""
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})}
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    path = logs() / f"{log}.log"
    path.write_text(f"$ {' '.join(command)}\n{output}")
    return Run(tuple(command), result.returncode, output, time.monotonic() - started, path)
