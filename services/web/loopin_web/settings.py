"""The one typed settings object of the web service.

It reads exactly what the ECS task definition injects (services/web/container-env.yml lists the
plain `environment` names and the `secrets` taken from Secrets Manager; a test keeps the two
equal). Secrets have development placeholders so `make dev` works out of the box, and any other
environment refuses to start with a placeholder or a short secret.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER = "changethis"
MIN_SECRET_LENGTH = 32

# Names of the fields that come from Secrets Manager (the `secrets:` part of container-env.yml).
SECRET_FIELDS = ("DJANGO_SECRET_KEY", "JWT_SIGNING_KEY", "DATABASE_URL", "REDIS_URL", "WEBHOOK_SECRETS")


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not print the secrets it was given.
    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # --- plain environment ---
    APP_ENV: Literal["development", "test", "staging", "production"] = "development"
    AWS_REGION: str = "ap-south-1"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["localhost", "127.0.0.1"])
    CSRF_TRUSTED_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    JWT_ISSUER: str = "https://api.loopin.local"
    JWT_AUDIENCE: str = "loopin-mobile"
    SQS_PUSH_QUEUE_URL: str = ""
    SQS_WEBHOOK_QUEUE_URL: str = ""
    # Proxies whose X-Forwarded-For entry we believe: 1 = the ALB. Entries further left are the
    # client's own claims and never used for rate limiting.
    TRUSTED_PROXY_HOPS: int = Field(default=1, ge=0, le=5)
    RATE_LIMIT_PER_IP_PER_MINUTE: int = Field(default=300, ge=1)
    RATE_LIMIT_PER_USER_PER_MINUTE: int = Field(default=120, ge=1)
    SENTRY_DSN: str = ""  # a DSN only lets its holder send events; it is not a credential

    # --- secrets (Secrets Manager, loopin/<env>/...) ---
    DJANGO_SECRET_KEY: SecretStr = SecretStr(PLACEHOLDER)
    JWT_SIGNING_KEY: SecretStr = SecretStr(PLACEHOLDER)
    DATABASE_URL: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/loopin")
    REDIS_URL: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # JSON object {provider: shared secret}, e.g. {"onesignal": "..."}
    WEBHOOK_SECRETS: SecretStr = SecretStr(json.dumps({"onesignal": PLACEHOLDER}))

    @field_validator("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("WEBHOOK_SECRETS")
    @classmethod
    def _webhook_secrets_are_a_json_object(cls, value: SecretStr) -> SecretStr:
        parsed = json.loads(value.get_secret_value())
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise ValueError("WEBHOOK_SECRETS must be a JSON object of provider -> secret strings")
        return value

    @model_validator(mode="after")
    def _no_placeholders_outside_development(self) -> Settings:
        if self.APP_ENV == "development":
            return self
        weak = [
            name
            for name in ("DJANGO_SECRET_KEY", "JWT_SIGNING_KEY")
            if PLACEHOLDER in getattr(self, name).get_secret_value()
            or len(getattr(self, name).get_secret_value()) < MIN_SECRET_LENGTH
        ]
        weak += [
            f"WEBHOOK_SECRETS[{provider}]"
            for provider, secret in self.webhook_secrets.items()
            if PLACEHOLDER in secret or len(secret) < MIN_SECRET_LENGTH
        ]
        if weak:
            raise ValueError(
                f"placeholder or short (<{MIN_SECRET_LENGTH} chars) secrets in {self.APP_ENV}: "
                + ", ".join(weak)
            )
        return self

    @cached_property
    def webhook_secrets(self) -> dict[str, str]:
        parsed: dict[str, str] = json.loads(self.WEBHOOK_SECRETS.get_secret_value())
        return parsed

    @property
    def queue_urls(self) -> dict[str, str]:
        """Queue name -> URL, the mapping relay_outbox takes."""
        return {"push-notifications": self.SQS_PUSH_QUEUE_URL, "webhook-events": self.SQS_WEBHOOK_QUEUE_URL}

    @property
    def is_development(self) -> bool:
        return self.APP_ENV == "development"
