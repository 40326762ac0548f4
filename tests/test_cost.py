"""make cost: the estimate follows the inventory, and production stays inside the strategy's budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import cost  # noqa: E402


def _estimate(environment: str, **overrides: object) -> cost.Estimate:
    values = cost.load_values(ROOT / "inventories" / environment)
    values.update(overrides)
    return cost.estimate(values, cost.load_prices(values["aws_region"]))


def _line(result: cost.Estimate, item: str) -> float:
    return next(usd for name, usd, _ in result.lines if name == item)


def test_price_table_is_dated_and_sourced() -> None:
    prices = cost.load_prices("ap-south-1")
    assert prices["region"] == "ap-south-1"
    assert str(prices["date"]) >= "2026-01-01"
    assert prices["source"].startswith("https://")


def test_production_stays_inside_the_strategy_budget() -> None:
    result = _estimate("production")
    values = cost.load_values(ROOT / "inventories/production")
    assert result.total <= cost.STRATEGY_CEILING_USD, cost.render(result, cost.STRATEGY_CEILING_USD)
    assert result.total <= float(values["budget_monthly_limit_usd"])


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "production"])
def test_every_environment_fits_its_own_budget(environment: str) -> None:
    values = cost.load_values(ROOT / "inventories" / environment)
    assert _estimate(environment).total <= float(values["budget_monthly_limit_usd"])


def test_doubling_the_web_task_doubles_its_fargate_cost() -> None:
    base = _estimate("production")
    bigger = _estimate("production", ecs_web_cpu=1024, ecs_web_memory=2048)
    assert _line(bigger, "Fargate web") == pytest.approx(2 * _line(base, "Fargate web"), abs=0.02)
    assert bigger.total - base.total == pytest.approx(_line(base, "Fargate web"), abs=0.02)


def test_one_more_web_task_costs_one_task() -> None:
    base = _estimate("staging")
    more = _estimate("staging", ecs_web_initial_count=2, autoscaling_web_min=2)
    assert _line(more, "Fargate web") == pytest.approx(2 * _line(base, "Fargate web"), abs=0.02)


def test_spot_and_nat_choices_show_in_the_estimate() -> None:
    on_demand = _estimate("dev")
    all_spot = _estimate(
        "dev",
        ecs_worker_capacity_provider_strategy=[{"capacity_provider": "FARGATE_SPOT", "weight": 1}],
    )
    assert _line(all_spot, "Fargate worker") == pytest.approx(
        0.3 * _line(on_demand, "Fargate worker"), abs=0.02
    )
    per_az = _estimate("dev", network_nat_gateways="per_az")
    assert _line(per_az, "NAT gateways") > 1.9 * _line(on_demand, "NAT gateways") - 1


def test_the_command_fails_when_over_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main([str(ROOT / "inventories/production")]) == 0
    assert "within budget" in capsys.readouterr().out
