"""container-env.yml names only what WorkerSettings reads, and every secret the worker needs."""

from __future__ import annotations

from pathlib import Path

import yaml
from loopin_worker.settings import WorkerSettings

CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[1] / "container-env.yml").read_text())
READ_BY_BOTO3 = {"AWS_REGION"}


def _aliases() -> set[str]:
    return {field.alias for field in WorkerSettings.model_fields.values() if field.alias}


def test_every_injected_name_is_read() -> None:
    names = set(CONTRACT["environment"]) | set(CONTRACT["secrets"])
    assert names - READ_BY_BOTO3 <= _aliases(), sorted(names - READ_BY_BOTO3 - _aliases())


def test_secret_settings_come_from_secrets_manager() -> None:
    """Settings typed SecretStr are never plain environment values in the task definition."""
    secret_fields = {
        field.alias
        for field in WorkerSettings.model_fields.values()
        if field.annotation is not None and "SecretStr" in str(field.annotation)
    }
    injected_plain = set(CONTRACT["environment"])
    assert not secret_fields & injected_plain
    assert {"DATABASE_URL", "ONESIGNAL_API_KEY"} <= set(CONTRACT["secrets"])
