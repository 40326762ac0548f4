"""Monthly cost estimate of one environment, from its inventory and a dated price table.

    make cost ENV=production        (tools/cost.py inventories/production)

Sizing comes from the inventory (the same effective values `make validate` checks): task sizes
and counts, capacity providers, NAT gateways, ElastiCache nodes, CloudTrail. Usage that no
inventory states (requests, log volume, NAT traffic) is an explicit assumption below, printed
with the estimate. Prices: tools/prices/<region>.yml, with its date and source.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema  # noqa: E402

# The strategy's budget: "$150-250/month (lean startup)".
STRATEGY_CEILING_USD = 250.0

# Usage no inventory states: a mobile API at the strategy's Year-1 scale, per environment size.
ASSUMPTIONS: dict[str, Any] = {
    "api_million_requests_month": {"production": 30.0, "staging": 1.0, "dev": 0.5, "local": 0.0},
    "alb_average_lcu": {"production": 1.0, "staging": 0.2, "dev": 0.1, "local": 0.0},
    "nat_gb_month": {"production": 50.0, "staging": 5.0, "dev": 5.0, "local": 0.0},
    "log_gb_month": {"production": 10.0, "staging": 2.0, "dev": 1.0, "local": 0.0},
    "sqs_million_requests_month": {"production": 5.0, "staging": 1.0, "dev": 1.0, "local": 0.0},
    "cloudtrail_archive_gb": {"production": 5.0, "staging": 1.0, "dev": 1.0, "local": 0.0},
    # Alarms roles monitoring and autoscaling create (25), plus target tracking's own (2 per policy).
    "alarms": 25 + 2 * 3,
    "secrets": 8,
    "waf_rules": 5,
    # Container Insights publishes about 10 metrics per service and 8 per cluster.
    "container_insights_metrics": 28,
}


@dataclass
class Estimate:
    environment: str
    prices: dict[str, Any]
    lines: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, item: str, usd: float, basis: str) -> None:
        self.lines.append((item, round(usd, 2), basis))

    @property
    def total(self) -> float:
        return round(sum(usd for _, usd, _ in self.lines), 2)


def load_prices(region: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "tools/prices" / f"{region}.yml").read_text())


def load_values(inventory: Path) -> dict[str, Any]:
    config = inventory_schema.load(inventory, ROOT / "roles", ROOT)
    if not config.ok:
        raise SystemExit(config.report())
    return config.values


def _usage(name: str, environment: str) -> float:
    return float(ASSUMPTIONS[name].get(environment, 0.0))


def _spot_share(strategy: list[dict[str, Any]], tasks: int) -> float:
    """Share of `tasks` placed on FARGATE_SPOT by a capacity-provider strategy."""
    base = {s["capacity_provider"]: s.get("base", 0) for s in strategy}
    weights = {s["capacity_provider"]: s.get("weight", 1) for s in strategy}
    placed_base = min(tasks, sum(base.values()))
    spot = min(base.get("FARGATE_SPOT", 0), placed_base)
    rest = tasks - placed_base
    total_weight = sum(weights.values()) or 1
    spot += rest * weights.get("FARGATE_SPOT", 0) / total_weight
    return spot / tasks if tasks else 0.0


def estimate(values: dict[str, Any], prices: dict[str, Any]) -> Estimate:
    env = values["loopin_environment"]
    result = Estimate(env, prices)
    hours = prices["hours_per_month"]
    fargate = prices["fargate"]
    for service in ("web", "worker"):
        tasks = max(values[f"ecs_{service}_initial_count"], values[f"autoscaling_{service}_min"])
        vcpu = values[f"ecs_{service}_cpu"] / 1024
        gb = values[f"ecs_{service}_memory"] / 1024
        per_task = (vcpu * fargate["vcpu_hour"] + gb * fargate["gb_hour"]) * hours
        spot = _spot_share(values[f"ecs_{service}_capacity_provider_strategy"], tasks)
        usd = tasks * per_task * (1 - spot * fargate["spot_discount"])
        result.add(
            f"Fargate {service}",
            usd,
            f"{tasks} x {vcpu:g} vCPU / {gb:g} GB, {spot:.0%} Spot",
        )
    alb = prices["alb"]
    lcu = _usage("alb_average_lcu", env)
    result.add("ALB", (alb["hour"] + lcu * alb["lcu_hour"]) * hours, f"1 ALB, {lcu:g} LCU on average")
    nats = 1 if values["network_nat_gateways"] == "single" else len(values["network_zones"])
    nat = prices["nat_gateway"]
    nat_gb = _usage("nat_gb_month", env)
    result.add(
        "NAT gateways",
        nats * nat["hour"] * hours + nat_gb * nat["gb_processed"],
        f"{nats} x 730 h, {nat_gb:g} GB",
    )
    node_type = values.get("elasticache_node_type", "cache.t4g.micro")
    nodes = int(values.get("elasticache_num_cache_clusters", 2 if nats > 1 else 1))
    node_price = prices["elasticache"]["node_hour"][node_type]
    result.add("ElastiCache", nodes * node_price * hours, f"{nodes} x {node_type}")
    waf = prices["waf"]
    requests = _usage("api_million_requests_month", env)
    rules = ASSUMPTIONS["waf_rules"]
    result.add(
        "WAF",
        waf["web_acl_month"] + rules * waf["rule_month"] + requests * waf["million_requests"],
        f"1 web ACL, {rules} rules, {requests:g} M requests",
    )
    secrets = ASSUMPTIONS["secrets"]
    result.add("Secrets Manager", secrets * prices["secrets_manager"]["secret_month"], f"{secrets} secrets")
    sqs = prices["sqs"]
    sqs_requests = _usage("sqs_million_requests_month", env)
    result.add(
        "SQS",
        max(0.0, sqs_requests - sqs["free_million_requests"]) * sqs["million_requests"],
        f"{sqs_requests:g} M requests (1 M free)",
    )
    cw = prices["cloudwatch"]
    alarms = ASSUMPTIONS["alarms"]
    logs = _usage("log_gb_month", env)
    insights = (
        ASSUMPTIONS["container_insights_metrics"] if values["ecs_container_insights"] != "disabled" else 0
    )
    cloudwatch = (
        max(0, alarms - cw["free_alarms"]) * cw["alarm_month"]
        + max(0, 1 - cw["free_dashboards"]) * cw["dashboard_month"]
        + max(0.0, logs - cw["free_log_gb"]) * cw["log_ingest_gb"]
        + logs * cw["log_storage_gb_month"]
        + insights * cw["container_insights_metric_month"]
    )
    result.add("CloudWatch", cloudwatch, f"{alarms} alarms, {logs:g} GB logs, {insights} Insights metrics")
    result.add("Route 53", prices["route53"]["hosted_zone_month"], "1 hosted zone")
    if values["audit_cloudtrail_enabled"]:
        archive = _usage("cloudtrail_archive_gb", env)
        result.add(
            "CloudTrail archive", archive * prices["cloudtrail"]["s3_gb_month"], f"{archive:g} GB in S3"
        )
    return result


def render(result: Estimate, budget: float) -> str:
    prices = result.prices
    lines = [
        f"Monthly estimate for {result.environment} ({prices['region']}, prices of {prices['date']})",
        *(f"  {item:<20} {usd:>8.2f} USD   {basis}" for item, usd, basis in result.lines),
        f"  {'total':<20} {result.total:>8.2f} USD",
        f"  budget (inventory)   {budget:>8.2f} USD   strategy ceiling {STRATEGY_CEILING_USD:.0f} USD",
        "  "
        + ("within budget" if result.total <= budget else f"OVER BUDGET by {result.total - budget:.2f} USD"),
        f"  prices: {prices['source']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory", type=Path, help="inventories/<env>")
    args = parser.parse_args(argv)
    values = load_values(args.inventory)
    prices = load_prices(values["aws_region"])
    result = estimate(values, prices)
    budget = float(values["budget_monthly_limit_usd"])
    print(render(result, budget))
    return 0 if result.total <= min(budget, STRATEGY_CEILING_USD) else 1


if __name__ == "__main__":
    sys.exit(main())
