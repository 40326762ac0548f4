"""The worker's one settings object: everything it reads from the environment, typed and checked.

The ECS task definition injects these (plain values as environment, the OneSignal key and the
FCM service account from Secrets Manager). Database, Redis and Django settings come from the web
package, which the worker shares its models with.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# "changethis" is what the secrets role writes into the secrets an operator must fill.
PLACEHOLDERS = {"", "changethis", "changeme", "change-me", "placeholder", "dev-onesignal-key", "xxx"}
DEFAULT_QUEUES = ("push-notifications", "webhook-events", "background-jobs")
# What a provider failure was, as the fallback policy (PUSH_FALLBACK_ON) names it. Everything
# else a provider answers (4xx validation errors, invalid recipients) is a PermanentError and
# never falls back: FCM would refuse the same request, or the recipient is gone.
FAILURE_KINDS = ("unreachable", "timeout", "server_error", "rate_limited", "auth")
SERVICE_ACCOUNT_KEYS = ("type", "project_id", "private_key", "client_email", "token_uri")


def parse_service_account(raw: str) -> dict[str, Any]:
    """The service-account JSON as a dict; ValueError naming what is wrong, never a value."""
    try:
        info = json.loads(raw)
    except ValueError:
        raise ValueError("FCM_SERVICE_ACCOUNT is not JSON") from None
    if not isinstance(info, dict):
        raise ValueError("FCM_SERVICE_ACCOUNT is not a JSON object")
    missing = [key for key in SERVICE_ACCOUNT_KEYS if not info.get(key)]
    if missing:
        raise ValueError(f"FCM_SERVICE_ACCOUNT lacks {', '.join(missing)}")
    if info["type"] != "service_account":
        raise ValueError("FCM_SERVICE_ACCOUNT is not a service account key (its type)")
    return info


class WorkerSettings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the environment (secrets included)
    # into the task's log, which pydantic's error message otherwise does.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Literal["development", "test", "staging", "production"] = Field(
        "development", alias="APP_ENV"
    )

    # The web service's database (Supabase PostgreSQL in AWS): the worker shares its models.
    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/loopin"), alias="DATABASE_URL"
    )
    # Processed-message records are kept longer than a message can live in a queue and its DLQ
    # (14 + 14 days) and than OneSignal honours an idempotency key (30 days).
    processed_retention_days: int = Field(35, ge=29, alias="WORKER_PROCESSED_RETENTION_DAYS")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    # Where errors are reported (empty: nowhere). A DSN only lets its holder send events.
    sentry_dsn: str = Field("", alias="SENTRY_DSN")

    # Queues: names as provisioned; the prefix lets one account hold several environments.
    queues: str = Field(",".join(DEFAULT_QUEUES), alias="WORKER_QUEUES")
    queue_prefix: str = Field("", alias="SQS_QUEUE_PREFIX")
    batch_size: int = Field(10, ge=1, le=10, alias="WORKER_BATCH_SIZE")
    wait_time_seconds: int = Field(20, ge=0, le=20, alias="WORKER_WAIT_TIME_SECONDS")
    concurrency: int = Field(10, ge=1, le=64, alias="WORKER_CONCURRENCY")
    # Receive loops per queue, and how many received messages (running or waiting for a handler
    # thread) the worker holds at most: concurrency + one batch keeps the next batch at hand.
    pollers_per_queue: int = Field(1, ge=1, le=8, alias="WORKER_POLLERS_PER_QUEUE")
    max_in_flight: int = Field(20, ge=1, le=200, alias="WORKER_MAX_IN_FLIGHT")
    # Fargate sends SIGKILL 30 s after SIGTERM by default: drain well inside that.
    stop_timeout_seconds: float = Field(25.0, gt=0, le=120, alias="WORKER_STOP_TIMEOUT_SECONDS")

    # Retry policy knobs (the policy itself is loopin_worker/policy.py).
    backoff_base_seconds: int = Field(5, ge=0, alias="WORKER_BACKOFF_BASE_SECONDS")
    backoff_max_seconds: int = Field(900, ge=0, le=43200, alias="WORKER_BACKOFF_MAX_SECONDS")
    poison_delay_seconds: int = Field(1, ge=0, le=43200, alias="WORKER_POISON_DELAY_SECONDS")

    # Outbox relay (web's transactional outbox -> push-notifications).
    outbox_enabled: bool = Field(True, alias="WORKER_OUTBOX_ENABLED")
    outbox_interval_seconds: float = Field(1.0, gt=0, alias="WORKER_OUTBOX_INTERVAL_SECONDS")
    outbox_batch_size: int = Field(100, ge=1, le=1000, alias="WORKER_OUTBOX_BATCH_SIZE")

    # Health endpoint for the ALB target group (strategy: port 8000 from the ALB security group).
    health_host: str = Field("0.0.0.0", alias="WORKER_HEALTH_HOST")  # noqa: S104 - the ALB must reach it
    health_port: int = Field(8000, ge=0, le=65535, alias="WORKER_HEALTH_PORT")
    # A poller that has not completed a receive for this long is reported dead.
    liveness_seconds: float = Field(90.0, gt=0, alias="WORKER_LIVENESS_SECONDS")

    # Push providers: OneSignal by default, FCM as the fallback of the strategy's risk register.
    # PUSH_PROVIDER=fcm is the operator's switch by hand; the fallback policy is
    # loopin_worker/push/fallback.py. Deployed values come from the ecs role (the inventory).
    push_provider: Literal["onesignal", "fcm"] = Field("onesignal", alias="PUSH_PROVIDER")
    push_fallback: Literal["", "fcm"] = Field("", alias="PUSH_FALLBACK")
    push_fallback_after_seconds: float = Field(60.0, ge=0, le=3600, alias="PUSH_FALLBACK_AFTER_SECONDS")
    push_fallback_on: str = Field("unreachable,timeout,server_error", alias="PUSH_FALLBACK_ON")
    push_fallback_probe_seconds: float = Field(30.0, gt=0, le=3600, alias="PUSH_FALLBACK_PROBE_SECONDS")
    onesignal_app_id: str = Field("00000000-0000-0000-0000-000000000000", alias="ONESIGNAL_APP_ID")
    onesignal_api_key: SecretStr = Field(SecretStr("dev-onesignal-key"), alias="ONESIGNAL_API_KEY")
    onesignal_api_url: str = Field("https://api.onesignal.com", alias="ONESIGNAL_API_URL")
    push_timeout_seconds: float = Field(10.0, gt=0, le=60, alias="PUSH_TIMEOUT_SECONDS")
    # The Firebase service-account JSON (secret loopin/<env>/fcm); a placeholder means "not set".
    fcm_service_account: SecretStr = Field(SecretStr(""), alias="FCM_SERVICE_ACCOUNT")
    fcm_api_url: str = Field("https://fcm.googleapis.com", alias="FCM_API_URL")

    @property
    def queue_names(self) -> list[str]:
        return [f"{self.queue_prefix}{name.strip()}" for name in self.queues.split(",") if name.strip()]

    @property
    def push_fallback_kinds(self) -> tuple[str, ...]:
        return tuple(kind.strip() for kind in self.push_fallback_on.split(",") if kind.strip())

    @property
    def fcm_service_account_info(self) -> dict[str, Any] | None:
        """The parsed service account, or None while the secret holds its placeholder."""
        raw = self.fcm_service_account.get_secret_value().strip()
        if raw.lower() in PLACEHOLDERS:
            return None
        return parse_service_account(raw)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> WorkerSettings:
        if self.environment in ("staging", "production") and self.push_provider == "onesignal":
            if self.onesignal_api_key.get_secret_value().lower() in PLACEHOLDERS:
                raise ValueError("ONESIGNAL_API_KEY is a placeholder outside development")
            if set(self.onesignal_app_id) <= {"0", "-"} or self.onesignal_app_id.lower() in PLACEHOLDERS:
                raise ValueError("ONESIGNAL_APP_ID is a placeholder outside development")
        # A malformed secret fails the task at start (and the deploy), not during an outage.
        fcm = self.fcm_service_account_info
        if self.push_provider == "fcm" and fcm is None:
            raise ValueError("PUSH_PROVIDER=fcm needs FCM_SERVICE_ACCOUNT (the fcm secret is not set)")
        unknown = sorted(set(self.push_fallback_kinds) - set(FAILURE_KINDS))
        if unknown:
            raise ValueError(
                f"PUSH_FALLBACK_ON names unknown failure kinds {unknown}; known: {list(FAILURE_KINDS)}"
            )
        if self.push_fallback and not self.push_fallback_kinds:
            raise ValueError("PUSH_FALLBACK_ON is empty: no failure would ever fall back")
        if not self.queue_names:
            raise ValueError("WORKER_QUEUES names no queue")
        return self


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    return WorkerSettings()
