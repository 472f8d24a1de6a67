"""What one acceptance run costs, from the estimate of ``python -m generator cost SPEC --env ENV``.

The run keeps the platform up for its duration at its desired counts, so its cost is the
estimate's *low* monthly total (desired task counts, minimum ACUs) per hour times the run's
hours. Load balancers, NAT gateways and interface endpoints are billed per hour or partial
hour (the AWS Price List: "per LoadBalancer-hour (or partial hour)"), so the bill for a run
shorter than an hour can reach one full hour of the hourly figure: the upper bound printed.
The estimate's own assumptions (traffic and log volume per task-month) are prorated too,
though a run with only the probes' traffic uses far less. Not included: what survives the
delete (retained log groups, repositories, buckets, snapshots, keys, secrets) goes on
costing until it is deleted; the retained KMS keys and secrets are priced per month here
from the same price file, storage is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from generator.cost import estimate, usage_from
from generator.prices import load_prices, price_path
from generator.spec import SpecError, load_spec


@dataclass(frozen=True)
class RunCost:
    monthly_low: float
    monthly_high: float
    hours_per_month: float
    currency: str
    prices: str  # which price file, and its date
    command: str  # the equivalent `.venv/bin/stackgen cost` command
    key_month: float
    secret_month: float

    @property
    def hourly(self) -> float:
        return self.monthly_low / self.hours_per_month

    def for_run(self, seconds: float) -> tuple[float, float]:
        """(prorated, billed at most): hourly x hours, and hourly x whole started hours."""
        hours = seconds / 3600
        return self.hourly * hours, self.hourly * max(1, math.ceil(hours))

    def lines(self, seconds: float) -> list[str]:
        prorated, bound = self.for_run(seconds)
        c = self.currency
        return [
            f"Cost ({self.command}):",
            f"  {self.monthly_low:,.2f}-{self.monthly_high:,.2f} {c}/month, {self.hourly:,.4f} {c}/hour at desired "
            f"counts ({self.prices})",
            f"  this run: {seconds / 60:.1f} min = {prorated:,.4f} {c}; billed at most {bound:,.4f} {c} "
            "(hourly-billed resources round up to whole hours)",
        ]

    def survivors_line(self, survivors: list[dict]) -> str | None:
        """The monthly cost of the retained KMS keys and secrets in ``survivors``."""
        kept = [s for s in survivors if s.get("policy") in ("Retain", "RetainExceptOnCreate")]
        if not kept:
            return None
        keys = sum(1 for s in kept if s.get("type") == "AWS::KMS::Key")
        secrets = sum(1 for s in kept if s.get("type") == "AWS::SecretsManager::Secret")
        monthly = keys * self.key_month + secrets * self.secret_month
        return (
            f"  after the run: {keys} KMS key(s) and {secrets} secret(s) retained = {monthly:,.2f} "
            f"{self.currency}/month until deleted, plus retained storage"
        )


def run_cost(spec_path: Path, env: str, region: str, root: Path = Path()) -> RunCost | str:
    """The platform's estimate (``spec_path`` relative to ``root``, as the command shows it),
    or why there is none (a line for the summary)."""
    try:
        spec = load_spec(root / spec_path)
    except SpecError as exc:
        return f"Cost: no estimate: {'; '.join(exc.lines)[:200]}"
    price_region = region if price_path(region).exists() else "us-east-1"
    try:
        prices = load_prices(price_region)
        e = estimate(spec, prices, env, None, usage_from(prices))
    except (OSError, ValueError) as exc:
        return f"Cost: no estimate: {exc}"
    low, high = e.total
    where = f"data/prices-{price_region}.yaml, recorded {prices['recorded']}"
    if price_region != region:
        where += f"; no price file for {region}: us-east-1 list prices"
    return RunCost(
        low,
        high,
        float(prices["hours_per_month"]),
        prices.get("currency", "USD"),
        where,
        f".venv/bin/stackgen cost {spec_path} --env {env}",
        float(prices["kms"]["key_month"]),
        float(prices["secrets_manager"]["secret_month"]),
    )
