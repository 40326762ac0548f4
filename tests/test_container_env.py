"""The task definitions' environment and secrets mirror the services' own declaration.

roles/ecs and roles/iam fall back to lists in their defaults when services/<svc>/container-env.yml
is absent (a role used outside this repository); here both services publish the file, and the
fallback must say the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ECS = yaml.safe_load((ROOT / "roles/ecs/defaults/main.yml").read_text())["ecs_container_env_fallback"]
IAM = yaml.safe_load((ROOT / "roles/iam/defaults/main.yml").read_text())["iam_container_secrets_fallback"]


@pytest.mark.parametrize("service", ["web", "worker"])
def test_iam_and_ecs_fallbacks_agree(service: str) -> None:
    assert ECS[service]["secrets"] == IAM[service]


@pytest.mark.parametrize("service", ["web", "worker"])
def test_fallback_mirrors_the_services_file(service: str) -> None:
    published = ROOT / "services" / service / "container-env.yml"
    declared = yaml.safe_load(published.read_text())
    assert sorted(declared["environment"]) == sorted(ECS[service]["environment"])
    assert declared["secrets"] == ECS[service]["secrets"]


@pytest.mark.parametrize("service", ["web", "worker"])
def test_no_name_is_both_plain_and_secret(service: str) -> None:
    assert not set(ECS[service]["environment"]) & set(ECS[service]["secrets"])


def test_the_push_failure_kinds_agree() -> None:
    """The inventory schema, the ecs role's argument spec and the worker name the same kinds."""
    from ansible_collections.loopin.platform.plugins.module_utils.inventory_schema import PUSH_FAILURE_KINDS
    from loopin_worker.settings import FAILURE_KINDS

    spec = yaml.safe_load((ROOT / "roles/ecs/meta/argument_specs.yml").read_text())
    choices = spec["argument_specs"]["main"]["options"]["ecs_worker_push_fallback_on"]["choices"]
    assert PUSH_FAILURE_KINDS == FAILURE_KINDS == tuple(choices)
