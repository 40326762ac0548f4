"""Typed schema of one environment's configuration, checked before any AWS call.

An environment is `inventories/<env>/group_vars/all/*.yml` laid over the literal values in
`roles/*/defaults/main.yml`. Each role family owns one `Section` below; every field is named
exactly as the Ansible variable, so an error can name the variable and the file it came from.

Used by the `loopin.platform.validate_inventory` action (first play of site.yml), by
`tools/config.py` (make validate / make config-diff) and by the tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

ENVIRONMENTS = ("local", "dev", "staging", "production")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

Cidr = Annotated[ipaddress.IPv4Network, Field(description="IPv4 CIDR block, host bits zero")]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
RetentionDays = Literal[LOG_RETENTION_DAYS]  # type: ignore[valid-type]


@dataclass(frozen=True)
class Problem:
    """One reason the configuration is refused: which variable, where it was set, and why."""

    variable: str
    reason: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.variable}: {self.reason}"


class Section(BaseModel):
    """Variables of one role family. `checks()` holds the rules that relate several fields."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    title: ClassVar[str] = ""

    def checks(self) -> Iterable[tuple[str, str]]:
        return ()


# --- environment -------------------------------------------------------------------------------


class EnvironmentSection(Section):
    title: ClassVar[str] = "environment"

    loopin_project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
    loopin_environment: Literal[ENVIRONMENTS]  # type: ignore[valid-type]
    aws_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    aws_endpoint_url: Annotated[str, Field(pattern=r"^https?://[^/]+/?$")] | None = None
    # Throw-away credentials of the emulator; real environments use the operator's or OIDC's.
    aws_access_key: str | None = None
    aws_secret_key: str | None = None
    loopin_domain: Annotated[
        str,
        Field(min_length=4, max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"),
    ]
    loopin_tags: dict[str, str] = {}

    def checks(self) -> Iterable[tuple[str, str]]:
        if self.aws_endpoint_url is not None:
            host = self.aws_endpoint_url.split("://", 1)[1].rstrip("/").rsplit(":", 1)[0]
            if host not in LOOPBACK_HOSTS:
                yield (
                    "aws_endpoint_url",
                    f"{self.aws_endpoint_url} is not a loopback address; only the local emulator may be "
                    "set here, real environments use AWS's own endpoints",
                )
        if (self.aws_access_key or self.aws_secret_key) and self.aws_endpoint_url is None:
            yield (
                "aws_access_key",
                "static credentials are for the local emulator only (set aws_endpoint_url); real "
                "environments take credentials from the operator's profile or the pipeline's OIDC role",
            )
        reserved = {"Project", "Environment", "ManagedBy"} & set(self.loopin_tags)
        if reserved:
            yield "loopin_tags", f"{sorted(reserved)} are set by the roles and cannot be overridden"


# --- network -----------------------------------------------------------------------------------


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")]
    public_cidr: Cidr
    private_cidr: Cidr


class NetworkSection(Section):
    title: ClassVar[str] = "network"

    network_vpc_cidr: Cidr
    network_zones: Annotated[list[Zone], Field(min_length=2, max_length=3)]
    network_nat_gateways: Literal["single", "per_az"]
    network_flow_logs_enabled: StrictBool
    network_flow_logs_retention_days: RetentionDays
    network_flow_logs_traffic_type: Literal["ALL", "ACCEPT", "REJECT"]

    def checks(self) -> Iterable[tuple[str, str]]:
        vpc = self.network_vpc_cidr
        if not 16 <= vpc.prefixlen <= 24:
            yield "network_vpc_cidr", f"{vpc} has prefix /{vpc.prefixlen}; AWS allows /16 to /24 here"
        seen: dict[ipaddress.IPv4Network, str] = {}
        names: set[str] = set()
        for index, zone in enumerate(self.network_zones):
            where = f"network_zones[{index}]"
            if zone.name in names:
                yield f"{where}.name", f"{zone.name} is listed twice; each zone needs its own subnets"
            names.add(zone.name)
            for tier in ("public_cidr", "private_cidr"):
                cidr: ipaddress.IPv4Network = getattr(zone, tier)
                if not cidr.subnet_of(vpc):
                    yield f"{where}.{tier}", f"{cidr} is not inside network_vpc_cidr {vpc}"
                if not 16 <= cidr.prefixlen <= 28:
                    yield f"{where}.{tier}", f"{cidr} has prefix /{cidr.prefixlen}; subnets are /16 to /28"
                for other, other_where in seen.items():
                    if cidr.overlaps(other):
                        yield f"{where}.{tier}", f"{cidr} overlaps {other} ({other_where})"
                seen[cidr] = f"{where}.{tier}"


# --- security groups ---------------------------------------------------------------------------


class SecurityGroupsSection(Section):
    title: ClassVar[str] = "security groups"

    security_groups_alb_ingress_cidrs: Annotated[list[Cidr], Field(min_length=1)]
    security_groups_app_port: Port
    security_groups_redis_port: Port
    security_groups_supabase_cidrs: Annotated[list[Cidr], Field(min_length=1)]
    security_groups_supabase_port: Port

    def checks(self) -> Iterable[tuple[str, str]]:
        if self.security_groups_app_port == self.security_groups_redis_port:
            yield "security_groups_redis_port", "must differ from security_groups_app_port"


# --- deploy (blue/green, issue 7) --------------------------------------------------------------

Seconds = Annotated[StrictInt, Field(ge=0, le=7200)]
HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class DeploySection(Section):
    title: ClassVar[str] = "deploy"

    deploy_steps: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=100)]], Field(min_length=1, max_length=10)
    ]
    deploy_bake_seconds: Seconds
    deploy_health_seconds: Seconds
    deploy_health_timeout_seconds: Seconds
    deploy_poll_seconds: Annotated[StrictInt, Field(ge=1, le=300)]
    deploy_watch_seconds: Annotated[StrictInt, Field(ge=1, le=600)]
    deploy_grace_seconds: Seconds
    deploy_max_app_errors: Annotated[StrictInt, Field(ge=0)]
    deploy_app_error_metric: dict[str, Any] = {}
    deploy_worker_bake_seconds: Seconds
    deploy_worker_timeout_seconds: Seconds
    deploy_worker_max_dlq_inflow: Annotated[StrictInt, Field(ge=0)]
    deploy_worker_max_oldest_message_age_seconds: Seconds
    deploy_worker_require_rollout_completed: StrictBool
    deploy_window_enforced: StrictBool
    deploy_window_days: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], Field(min_length=1, max_length=7)
    ]
    deploy_window_start: HourMinute
    deploy_window_end: HourMinute

    def checks(self) -> Iterable[tuple[str, str]]:
        steps = self.deploy_steps
        if steps != sorted(set(steps)) or steps[-1] != 100:
            yield "deploy_steps", f"{steps} must rise strictly and end at 100 (all traffic on the new side)"
        if self.deploy_health_timeout_seconds < self.deploy_health_seconds:
            yield "deploy_health_timeout_seconds", "must be at least deploy_health_seconds"
        if self.deploy_poll_seconds > max(self.deploy_bake_seconds, 1):
            yield (
                "deploy_poll_seconds",
                "longer than deploy_bake_seconds: a step would end before its first sample",
            )
        if self.deploy_worker_timeout_seconds < self.deploy_worker_bake_seconds:
            yield "deploy_worker_timeout_seconds", "must be at least deploy_worker_bake_seconds"
        if self.deploy_window_end <= self.deploy_window_start:
            yield "deploy_window_end", f"must be after deploy_window_start ({self.deploy_window_start})"
        unknown = set(self.deploy_app_error_metric) - {"namespace", "metric_name", "dimensions"}
        if unknown or (
            self.deploy_app_error_metric
            and not {"namespace", "metric_name"} <= set(self.deploy_app_error_metric)
        ):
            yield (
                "deploy_app_error_metric",
                "needs namespace and metric_name (and optional dimensions), or {}",
            )


# Each role family that adds variables adds its Section here.
SECTIONS: tuple[type[Section], ...] = (
    EnvironmentSection,
    NetworkSection,
    SecurityGroupsSection,
    DeploySection,
)


def known_variables() -> dict[str, type[Section]]:
    return {name: section for section in SECTIONS for name in section.model_fields}


# --- loading -----------------------------------------------------------------------------------


@dataclass
class EnvironmentConfig:
    """Effective values of the schema's variables and, for each, the file that set it."""

    inventory_dir: Path
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    sections: dict[str, Section] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        lines = [f"{len(self.problems)} problem(s) in {self.inventory_dir}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _read_yaml(path: Path, config: EnvironmentConfig) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        config.problems.append(Problem("(file)", f"is not valid YAML: {exc}", str(path)))
        return {}
    if not isinstance(data, dict):
        config.problems.append(Problem("(file)", "must be a mapping of variable names to values", str(path)))
        return {}
    return data


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def load(
    inventory_dir: Path | str, roles_dir: Path | str, base: Path | str | None = None
) -> EnvironmentConfig:
    """Read role defaults then the inventory's group_vars, and validate the result."""
    inventory_dir, roles_dir = Path(inventory_dir), Path(roles_dir)
    base = Path(base) if base else roles_dir.parent
    config = EnvironmentConfig(inventory_dir=inventory_dir)
    known = known_variables()

    if not (inventory_dir / "hosts.yml").is_file():
        config.problems.append(Problem("(inventory)", "has no hosts.yml", _display(inventory_dir, base)))
        return config

    for defaults in sorted(roles_dir.glob("*/defaults/main.yml")):
        for name, value in _read_yaml(defaults, config).items():
            if name in known:
                config.values[name] = value
                config.origins[name] = _display(defaults, base)

    group_vars = inventory_dir / "group_vars"
    files = sorted(group_vars.glob("all.yml")) + sorted(group_vars.glob("all/*.yml"))
    set_in: dict[str, str] = {}
    for path in files:
        source = _display(path, base)
        for name, value in _read_yaml(path, config).items():
            if name not in known and not name.startswith("ansible_"):
                config.problems.append(Problem(name, "is not a known variable (typo?)", source))
                continue
            if name in set_in:
                config.problems.append(Problem(name, f"is also set in {set_in[name]}; set it once", source))
            set_in[name] = source
            config.values[name] = value
            config.origins[name] = source

    expected_env = inventory_dir.name
    if config.values.get("loopin_environment") not in (None, expected_env):
        config.problems.append(
            Problem(
                "loopin_environment",
                f"is {config.values['loopin_environment']!r} but the inventory folder is {expected_env!r}",
                config.origins.get("loopin_environment", ""),
            )
        )

    for section in SECTIONS:
        subset = {name: config.values[name] for name in section.model_fields if name in config.values}
        try:
            model = section.model_validate(subset)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0])
                path = name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"][1:])
                reason = error["msg"]
                if error["type"] == "missing":
                    reason = f"is required ({section.title}): set it in the inventory or a role default"
                elif "input" in error and not isinstance(error["input"], dict):
                    reason = f"{error['input']!r}: {reason}"
                config.problems.append(
                    Problem(path, reason, config.origins.get(name, _display(group_vars, base)))
                )
            continue
        config.sections[section.__name__] = model
        for variable, reason in model.checks():
            name = variable.split("[", 1)[0].split(".", 1)[0]
            config.problems.append(Problem(variable, reason, config.origins.get(name, "")))
    return config
