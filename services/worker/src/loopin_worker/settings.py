"""The worker's one settings object: everything it reads from the environment, typed and checked.

The ECS task definition injects these (plain values as environment, the OneSignal key from
Secrets Manager). Database, Redis and Django settings come from the web package, which the worker
shares its models with.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"", "changeme", "change-me", "placeholder", "dev-onesignal-key", "xxx"}
DEFAULT_QUEUES = ("push-notifications", "webhook-events", "background-jobs")


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

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
    push_provider: Literal["onesignal", "fcm"] = Field("onesignal", alias="PUSH_PROVIDER")
    push_fallback: Literal["", "onesignal", "fcm"] = Field("", alias="PUSH_FALLBACK")
    onesignal_app_id: str = Field("00000000-0000-0000-0000-000000000000", alias="ONESIGNAL_APP_ID")
    onesignal_api_key: SecretStr = Field(SecretStr("dev-onesignal-key"), alias="ONESIGNAL_API_KEY")
    onesignal_api_url: str = Field("https://api.onesignal.com", alias="ONESIGNAL_API_URL")
    push_timeout_seconds: float = Field(10.0, gt=0, le=60, alias="PUSH_TIMEOUT_SECONDS")
    fcm_project_id: str = Field("", alias="FCM_PROJECT_ID")
    fcm_access_token: SecretStr = Field(SecretStr(""), alias="FCM_ACCESS_TOKEN")
    fcm_api_url: str = Field("https://fcm.googleapis.com", alias="FCM_API_URL")

    @property
    def queue_names(self) -> list[str]:
        return [f"{self.queue_prefix}{name.strip()}" for name in self.queues.split(",") if name.strip()]

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> WorkerSettings:
        if self.environment in ("staging", "production"):
            uses_onesignal = "onesignal" in (self.push_provider, self.push_fallback)
            if uses_onesignal and self.onesignal_api_key.get_secret_value().lower() in PLACEHOLDERS:
                raise ValueError("ONESIGNAL_API_KEY is a placeholder outside development")
            if uses_onesignal and set(self.onesignal_app_id) <= {"0", "-"}:
                raise ValueError("ONESIGNAL_APP_ID is a placeholder outside development")
            uses_fcm = "fcm" in (self.push_provider, self.push_fallback)
            if uses_fcm and not (self.fcm_project_id and self.fcm_access_token.get_secret_value()):
                raise ValueError("FCM_PROJECT_ID and FCM_ACCESS_TOKEN are required when FCM is used")
        if not self.queue_names:
            raise ValueError("WORKER_QUEUES names no queue")
        return self


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    return WorkerSettings()
