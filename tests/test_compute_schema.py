"""The compute and operations sections of the inventory schema refuse broken sizing before any AWS call."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema  # noqa: E402


def _load_with(tmp_path: Path, **overrides: object) -> list[str]:
    inventory = tmp_path / "production"
    shutil.copytree(ROOT / "inventories/production", inventory)
    (inventory / "group_vars/all/zz_test.yml").write_text(yaml.safe_dump(overrides))
    for path in (inventory / "group_vars/all").glob("*.yml"):
        if path.name == "zz_test.yml":
            continue
        data = yaml.safe_load(path.read_text()) or {}
        kept = {k: v for k, v in data.items() if k not in overrides}
        path.write_text(yaml.safe_dump(kept) if kept else "---\n{}\n")
    config = inventory_schema.load(inventory, ROOT / "roles", ROOT)
    return [str(problem) for problem in config.problems]


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "production"])
def test_inventories_are_valid(environment: str) -> None:
    config = inventory_schema.load(ROOT / "inventories" / environment, ROOT / "roles", ROOT)
    assert config.ok, config.report()


@pytest.mark.parametrize(
    ("overrides", "variable", "reason"),
    [
        ({"ecs_web_cpu": 256, "ecs_web_memory": 4096}, "ecs_web_memory", "not valid with 256 cpu"),
        ({"ecs_worker_cpu": 300}, "ecs_worker_cpu", "not a Fargate cpu size"),
        ({"ecs_worker_stop_timeout": 180}, "ecs_worker_stop_timeout", "at most 120"),
        ({"ecs_worker_stop_timeout": 10}, "ecs_worker_stop_timeout", "drain"),
        ({"autoscaling_web_min": 5, "autoscaling_web_max": 3}, "autoscaling_web_min", "above"),
        ({"ecs_web_initial_count": 20}, "ecs_web_initial_count", "outside autoscaling bounds"),
        ({"autoscaling_worker_scale_in_backlog": 200}, "autoscaling_worker_scale_in_backlog", "flaps"),
        ({"budget_monthly_limit_usd": 400}, "budget_monthly_limit_usd", "ceiling"),
        ({"audit_expire_days": 365}, "audit_glacier_days", "Glacier"),
        ({"iam_github_repository": "not a repo"}, "iam_github_repository", "pattern"),
        (
            {"ecs_worker_push_fallback_on": ["server_error", "timeouts"]},
            "ecs_worker_push_fallback_on[1]",
            "'timeout'",
        ),
        ({"ecs_worker_push_fallback_on": []}, "ecs_worker_push_fallback_on", "no OneSignal failure"),
        ({"ecs_worker_push_provider": "apns"}, "ecs_worker_push_provider", "'onesignal' or 'fcm'"),
        ({"ecs_worker_push_fallback_after_seconds": 7200}, "ecs_worker_push_fallback_after_seconds", "3600"),
    ],
)
def test_broken_sizing_names_the_variable(
    tmp_path: Path, overrides: dict[str, object], variable: str, reason: str
) -> None:
    problems = _load_with(tmp_path, **overrides)
    assert any(variable in p and reason in p for p in problems), problems
