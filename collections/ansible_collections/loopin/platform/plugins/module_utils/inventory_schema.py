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
from ansible_collections.loopin.platform.plugins.module_utils.bluegreen import Plan
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


# --- compute (iam, ecs, autoscaling) -----------------------------------------------------------

# Fargate's task sizes: cpu units -> the memory (MiB) each allows.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
Count = Annotated[StrictInt, Field(ge=0, le=100)]
Percent = Annotated[StrictInt, Field(ge=1, le=100)]


class CapacityProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_provider: Literal["FARGATE", "FARGATE_SPOT"]
    base: Annotated[StrictInt, Field(ge=0, le=100000)] = 0
    weight: Annotated[StrictInt, Field(ge=0, le=1000)] = 1


# The worker's names for OneSignal failures (services/worker settings.FAILURE_KINDS; a test keeps
# the two, and the ecs role's argument spec, in agreement).
PUSH_FAILURE_KINDS = ("unreachable", "timeout", "server_error", "rate_limited", "auth")


class ComputeSection(Section):
    title: ClassVar[str] = "compute"

    iam_github_repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    iam_web_send_queues: list[Literal["push-notifications", "webhook-events", "background-jobs"]]
    iam_worker_redrive_enabled: StrictBool
    iam_promote_from: Literal["", "dev", "staging"]
    ecs_container_insights: Literal["enabled", "enhanced", "disabled"]
    ecs_web_capacity_provider_strategy: Annotated[list[CapacityProvider], Field(min_length=1, max_length=2)]
    ecs_worker_capacity_provider_strategy: Annotated[
        list[CapacityProvider], Field(min_length=1, max_length=2)
    ]
    ecs_web_cpu: StrictInt
    ecs_web_memory: StrictInt
    ecs_worker_cpu: StrictInt
    ecs_worker_memory: StrictInt
    ecs_web_initial_count: Count
    ecs_worker_initial_count: Count
    ecs_web_stop_timeout: Annotated[StrictInt, Field(ge=2)]
    ecs_worker_stop_timeout: Annotated[StrictInt, Field(ge=2)]
    ecs_log_retention_days: RetentionDays
    ecs_app_env: Literal["development", "test", "staging", "production"]
    ecs_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    ecs_rate_limit_per_ip_per_minute: Annotated[StrictInt, Field(ge=1)]
    ecs_rate_limit_per_user_per_minute: Annotated[StrictInt, Field(ge=1)]
    ecs_worker_push_provider: Literal["onesignal", "fcm"]
    ecs_worker_push_fallback: Literal["", "fcm"]
    ecs_worker_push_fallback_after_seconds: Annotated[StrictInt, Field(ge=0, le=3600)]
    ecs_worker_push_fallback_on: Annotated[list[Literal[PUSH_FAILURE_KINDS]], Field(max_length=5)]  # type: ignore[valid-type]
    ecs_worker_push_fallback_probe_seconds: Annotated[StrictInt, Field(ge=1, le=3600)]
    ecs_worker_onesignal_api_url: Annotated[str, Field(pattern=r"^https://[^/\s]+(/\S*)?$")]
    ecs_worker_fcm_api_url: Annotated[str, Field(pattern=r"^https://[^/\s]+(/\S*)?$")]
    ecs_worker_vendor_stand_ins: StrictBool
    aws_endpoint_url: str | None = None  # read here for the stand-ins' check (environment section)
    autoscaling_web_min: Count
    autoscaling_web_max: Annotated[StrictInt, Field(ge=1, le=100)]
    autoscaling_web_cpu_target: Percent
    autoscaling_web_memory_target: Percent
    autoscaling_web_requests_per_target: Annotated[StrictInt, Field(ge=1)]
    autoscaling_web_scale_out_cooldown: Annotated[StrictInt, Field(ge=0, le=3600)]
    autoscaling_web_scale_in_cooldown: Annotated[StrictInt, Field(ge=0, le=3600)]
    autoscaling_worker_min: Count
    autoscaling_worker_max: Annotated[StrictInt, Field(ge=1, le=100)]
    autoscaling_worker_scale_out_backlog: Annotated[StrictInt, Field(ge=1)]
    autoscaling_worker_scale_in_backlog: Annotated[StrictInt, Field(ge=0)]
    autoscaling_worker_scale_out_minutes: Annotated[StrictInt, Field(ge=1, le=60)]
    autoscaling_worker_scale_in_minutes: Annotated[StrictInt, Field(ge=1, le=60)]

    def checks(self) -> Iterable[tuple[str, str]]:
        if self.ecs_worker_vendor_stand_ins and self.aws_endpoint_url is None:
            yield (
                "ecs_worker_vendor_stand_ins",
                "the vendors' stand-ins are served by the local emulator: set aws_endpoint_url, or "
                "leave this false so the worker calls the vendors themselves",
            )
        for service in ("web", "worker"):
            cpu, memory = getattr(self, f"ecs_{service}_cpu"), getattr(self, f"ecs_{service}_memory")
            if cpu not in FARGATE_MEMORY:
                yield f"ecs_{service}_cpu", f"{cpu} is not a Fargate cpu size ({sorted(FARGATE_MEMORY)})"
            elif memory not in FARGATE_MEMORY[cpu]:
                allowed = FARGATE_MEMORY[cpu]
                yield (
                    f"ecs_{service}_memory",
                    f"{memory} MiB is not valid with {cpu} cpu on Fargate ({allowed[0]}..{allowed[-1]})",
                )
            timeout = getattr(self, f"ecs_{service}_stop_timeout")
            if timeout > 120:
                yield f"ecs_{service}_stop_timeout", f"{timeout} s: Fargate allows at most 120"
            low, high = (
                getattr(self, f"autoscaling_{service}_min"),
                getattr(self, f"autoscaling_{service}_max"),
            )
            if low > high:
                yield f"autoscaling_{service}_min", f"{low} is above autoscaling_{service}_max {high}"
            initial = getattr(self, f"ecs_{service}_initial_count")
            if not low <= initial <= high:
                yield f"ecs_{service}_initial_count", f"{initial} is outside autoscaling bounds {low}..{high}"
            providers = [
                p.capacity_provider for p in getattr(self, f"ecs_{service}_capacity_provider_strategy")
            ]
            if len(set(providers)) != len(providers):
                yield f"ecs_{service}_capacity_provider_strategy", "names a capacity provider twice"
        if self.ecs_worker_stop_timeout < 30:
            yield (
                "ecs_worker_stop_timeout",
                "the worker needs at least 30 s to drain (it returns unstarted messages)",
            )
        if self.ecs_worker_push_fallback and not self.ecs_worker_push_fallback_on:
            yield (
                "ecs_worker_push_fallback_on",
                "is empty: with a fallback set, no OneSignal failure would ever use it",
            )
        if len(set(self.ecs_worker_push_fallback_on)) != len(self.ecs_worker_push_fallback_on):
            yield "ecs_worker_push_fallback_on", "names a failure kind twice"
        if self.autoscaling_worker_scale_in_backlog >= self.autoscaling_worker_scale_out_backlog:
            yield (
                "autoscaling_worker_scale_in_backlog",
                "must be below autoscaling_worker_scale_out_backlog, or the worker flaps",
            )


# --- operations (monitoring, schedules, audit, budget) ----------------------------------------

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]


class ScheduledJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")]
    expression: Annotated[str, Field(pattern=r"^(rate|cron|at)\(.+\)$")]
    job: Annotated[str, Field(pattern=r"^job\.[a-z_]+$")]
    description: str = ""


class OperationsSection(Section):
    title: ClassVar[str] = "operations"

    monitoring_alert_emails: list[Email]
    monitoring_alb_5xx_rate_percent: Annotated[float, Field(gt=0, le=100)]
    monitoring_p99_latency_seconds: Annotated[float, Field(gt=0, le=60)]
    monitoring_cpu_percent: Percent
    monitoring_memory_percent: Percent
    monitoring_queue_depth: Annotated[StrictInt, Field(ge=1)]
    monitoring_oldest_message_seconds: Annotated[StrictInt, Field(ge=60)]
    monitoring_onesignal_failures_per_minute: Annotated[StrictInt, Field(ge=1)]
    monitoring_onesignal_outage_minutes: Annotated[StrictInt, Field(ge=1, le=60)]
    monitoring_waf_rate_limited_requests: Annotated[StrictInt, Field(ge=0)]
    monitoring_waf_sqli_requests: Annotated[StrictInt, Field(ge=0)]
    monitoring_slo_availability_percent: Annotated[float, Field(ge=90, lt=100)]
    monitoring_slo_fast_burn_rate: Annotated[float, Field(gt=1)]
    monitoring_slo_slow_burn_rate: Annotated[float, Field(gt=1)]
    schedules_timezone: str
    schedules_jobs: list[ScheduledJob]
    audit_cloudtrail_enabled: StrictBool
    audit_hot_days: Annotated[StrictInt, Field(ge=30)]
    audit_glacier_days: Annotated[StrictInt, Field(ge=1)]
    audit_expire_days: Annotated[StrictInt, Field(ge=1)]
    audit_keep_archive_on_destroy: StrictBool
    budget_monthly_limit_usd: Annotated[float, Field(gt=0, le=10000)]
    budget_actual_alert_percents: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=1000)]], Field(min_length=1)
    ]
    budget_forecast_alert_percent: Annotated[StrictInt, Field(ge=1, le=1000)]
    budget_alert_emails: list[Email]

    def checks(self) -> Iterable[tuple[str, str]]:
        if self.monitoring_slo_slow_burn_rate >= self.monitoring_slo_fast_burn_rate:
            yield "monitoring_slo_slow_burn_rate", "must be below monitoring_slo_fast_burn_rate"
        if not self.audit_hot_days < self.audit_glacier_days < self.audit_expire_days:
            yield "audit_glacier_days", "the archive must go hot -> Glacier -> deleted, in that order"
        if self.audit_expire_days < 7 * 365:
            yield "audit_expire_days", f"{self.audit_expire_days} days is shorter than the strategy's 7 years"
        names = [job.name for job in self.schedules_jobs]
        if len(set(names)) != len(names):
            yield "schedules_jobs", "two jobs share a name"
        if self.budget_monthly_limit_usd > 250:
            yield "budget_monthly_limit_usd", "above the strategy's ceiling of 250 USD a month"


# --- deploy (blue/green) -----------------------------------------------------------------------

Seconds = Annotated[StrictInt, Field(ge=0, le=7200)]
HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


def fast_rollback_plan(section: DeploySection) -> Plan:
    return Plan(
        steps=tuple(section.deploy_rollback_steps),
        bake_seconds=section.deploy_rollback_bake_seconds,
        health_seconds=section.deploy_rollback_health_seconds,
        health_timeout_seconds=section.deploy_rollback_health_timeout_seconds,
        poll_seconds=section.deploy_poll_seconds,
        grace_seconds=section.deploy_grace_seconds,
    )


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
    deploy_migration_timeout_seconds: Seconds
    deploy_worker_bake_seconds: Seconds
    deploy_worker_timeout_seconds: Seconds
    deploy_worker_max_dlq_inflow: Annotated[StrictInt, Field(ge=0)]
    deploy_worker_max_oldest_message_age_seconds: Seconds
    deploy_worker_require_rollout_completed: StrictBool
    # The fast rollback of a finished deploy (roles/deploy/defaults/main.yml says what each does).
    deploy_rollback_steps: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=100)]], Field(min_length=1, max_length=10)
    ]
    deploy_rollback_bake_seconds: Seconds
    deploy_rollback_health_seconds: Seconds
    deploy_rollback_health_timeout_seconds: Seconds
    deploy_rollback_rto_seconds: Seconds
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
        fast = self.deploy_rollback_steps
        if fast != sorted(set(fast)) or fast[-1] != 100:
            yield "deploy_rollback_steps", f"{fast} must rise strictly and end at 100"
        elif self.deploy_rollback_health_timeout_seconds < self.deploy_rollback_health_seconds:
            yield "deploy_rollback_health_timeout_seconds", "must be at least deploy_rollback_health_seconds"
        else:
            worst = fast_rollback_plan(self).worst_case_seconds()
            if worst > self.deploy_rollback_rto_seconds:
                yield (
                    "deploy_rollback_steps",
                    f"the fast rollback's worst case is {worst:.0f}s, over deploy_rollback_rto_seconds "
                    f"({self.deploy_rollback_rto_seconds}s): fewer steps or shorter bakes",
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


# --- data tier: secrets, sqs, ecr, elasticache ---------------------------------------------------

# Names fixed by the contract between helpers (roles, IAM policies, services read them).
SECRET_NAMES = ("django-secret-key", "jwt-signing-key", "onesignal", "database-url", "redis-auth-token",
                "webhook-secrets", "fcm")  # fmt: skip
QUEUE_NAMES = ("push-notifications", "webhook-events", "background-jobs")
SQS_MAX_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's ceiling
SQS_MAX_VISIBILITY_SECONDS = 43_200  # 12 hours, SQS's ceiling
LambdaArn = Annotated[
    str,
    Field(pattern=r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$"),
]
Window = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")]
WeeklyWindow = Annotated[
    str,
    Field(
        pattern=r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
    ),
]


class DataSection(Section):
    """Secrets Manager, SQS, ECR and ElastiCache (playbooks/data.yml)."""

    title: ClassVar[str] = "data"

    secrets_recovery_window_days: StrictInt
    secrets_rotation_days: Annotated[StrictInt, Field(ge=1, le=1000)]
    secrets_rotation_lambda_arns: dict[str, LambdaArn] = {}
    secrets_generated_length: Annotated[StrictInt, Field(ge=32, le=128)]

    sqs_expected_processing_seconds: dict[
        str, Annotated[StrictInt, Field(ge=1, le=SQS_MAX_VISIBILITY_SECONDS)]
    ]
    sqs_visibility_timeout_factor: Annotated[StrictInt, Field(ge=1, le=12)]
    sqs_max_receive_count: Annotated[StrictInt, Field(ge=1, le=1000)]
    sqs_message_retention_seconds: Annotated[StrictInt, Field(ge=60, le=SQS_MAX_RETENTION_SECONDS)]
    sqs_dlq_message_retention_seconds: Annotated[StrictInt, Field(ge=60, le=SQS_MAX_RETENTION_SECONDS)]
    sqs_receive_wait_seconds: Annotated[StrictInt, Field(ge=1, le=20)]

    ecr_untagged_image_expiry_days: Annotated[StrictInt, Field(ge=1, le=365)]
    ecr_max_image_count: Annotated[StrictInt, Field(ge=1, le=10000)]
    ecr_force_delete: StrictBool
    ecr_pull_environments: list[Literal["dev", "staging", "production"]]

    elasticache_node_type: Annotated[str, Field(pattern=r"^cache\.[a-z][a-z0-9]*\.[a-z0-9]+$")]
    elasticache_engine_version: Annotated[str, Field(pattern=r"^\d+\.\d+$")]
    elasticache_replicas: Annotated[StrictInt, Field(ge=0, le=5)]
    elasticache_automatic_failover: StrictBool
    elasticache_multi_az: StrictBool
    elasticache_snapshot_retention_days: Annotated[StrictInt, Field(ge=1, le=35)]
    elasticache_snapshot_window: Window
    elasticache_maintenance_window: WeeklyWindow
    elasticache_final_snapshot_on_destroy: StrictBool

    def checks(self) -> Iterable[tuple[str, str]]:
        window = self.secrets_recovery_window_days
        if window != 0 and not 7 <= window <= 30:
            yield (
                "secrets_recovery_window_days",
                f"{window}: Secrets Manager takes 7 to 30 days, or 0 to delete at once",
            )
        for name in self.secrets_rotation_lambda_arns:
            if name not in SECRET_NAMES:
                yield (
                    f"secrets_rotation_lambda_arns.{name}",
                    f"is not one of the secrets {list(SECRET_NAMES)}",
                )
        if set(self.sqs_expected_processing_seconds) != set(QUEUE_NAMES):
            yield (
                "sqs_expected_processing_seconds",
                f"must give exactly the queues {list(QUEUE_NAMES)}, "
                f"got {sorted(self.sqs_expected_processing_seconds)}",
            )
        for name, seconds in self.sqs_expected_processing_seconds.items():
            visibility = seconds * self.sqs_visibility_timeout_factor
            if visibility > SQS_MAX_VISIBILITY_SECONDS:
                yield (
                    f"sqs_expected_processing_seconds.{name}",
                    f"{seconds} s x sqs_visibility_timeout_factor {self.sqs_visibility_timeout_factor} "
                    f"= {visibility} s exceeds SQS's {SQS_MAX_VISIBILITY_SECONDS} s visibility timeout",
                )
        if self.sqs_dlq_message_retention_seconds <= self.sqs_message_retention_seconds:
            yield (
                "sqs_dlq_message_retention_seconds",
                f"{self.sqs_dlq_message_retention_seconds} must be longer than sqs_message_retention_seconds "
                f"{self.sqs_message_retention_seconds}: a message's age carries over into the DLQ",
            )
        if self.elasticache_automatic_failover and self.elasticache_replicas < 1:
            yield "elasticache_automatic_failover", "needs elasticache_replicas >= 1 (a replica to promote)"
        if self.elasticache_multi_az and not self.elasticache_automatic_failover:
            yield "elasticache_multi_az", "needs elasticache_automatic_failover"


# --- edge tier: certificates, alb, waf ---------------------------------------------------------

WAF_RULES = ("rate_limit", "common", "known_bad_inputs", "sqli", "ip_reputation")
TLS13_POLICIES = ("ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                  "ELBSecurityPolicy-TLS13-1-3-2021-06")  # fmt: skip


class EdgeSection(Section):
    """ACM and Route 53, the ALB, and WAF (playbooks/edge.yml)."""

    title: ClassVar[str] = "edge"

    certificates_zone_managed: StrictBool
    certificates_wait_for_issue_seconds: Annotated[StrictInt, Field(ge=0, le=3600)]

    alb_deletion_protection: StrictBool
    alb_ssl_policy: Literal[TLS13_POLICIES]  # type: ignore[valid-type]
    alb_idle_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=4000)]
    alb_health_check_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_.-]*$")]
    alb_deregistration_delay_seconds: Annotated[StrictInt, Field(ge=0, le=3600)]
    alb_access_logs_enabled: StrictBool
    alb_access_logs_tiering_after_days: Annotated[StrictInt, Field(ge=1)]
    alb_access_logs_glacier_after_days: Annotated[StrictInt, Field(ge=1)]
    alb_access_logs_expire_after_days: Annotated[StrictInt, Field(ge=1)]

    waf_rate_limit: Annotated[StrictInt, Field(ge=100, le=2_000_000_000)]
    waf_rule_actions: dict[str, Literal["COUNT", "BLOCK"]]
    waf_log_retention_days: RetentionDays

    def checks(self) -> Iterable[tuple[str, str]]:
        if set(self.waf_rule_actions) != set(WAF_RULES):
            yield (
                "waf_rule_actions",
                f"must give exactly the rules {list(WAF_RULES)}, got {sorted(self.waf_rule_actions)}",
            )
        tiering, glacier, expire = (
            self.alb_access_logs_tiering_after_days,
            self.alb_access_logs_glacier_after_days,
            self.alb_access_logs_expire_after_days,
        )
        if not tiering < glacier < expire:
            yield (
                "alb_access_logs_glacier_after_days",
                f"access logs must move to Intelligent-Tiering ({tiering} d), then Glacier ({glacier} d), "
                f"then expire ({expire} d), in that order",
            )


# Each role family that adds variables adds its Section here.
SECTIONS: tuple[type[Section], ...] = (
    EnvironmentSection,
    NetworkSection,
    SecurityGroupsSection,
    DataSection,
    EdgeSection,
    ComputeSection,
    OperationsSection,
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
