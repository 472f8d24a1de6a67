"""Monthly cost ESTIMATE of a platform spec, per stack and per egress mode, per environment and region.

``stackgen cost SPEC [--env ENV] [--params FILE] [--region R] [--egress MODE]`` prices what
the spec declares, as one environment deploys it, with the list prices of one region's data
file (``data/prices-<region>.yaml``, see ``generator.prices``) and a few usage assumptions
(traffic and log volume per task, storage sizes) that the options override.  Every figure
is an estimate: list prices, no free tier, no savings plans, no taxes.

The environment is the one deploy.sh would create: the values of the billing parameters
(``Environment``, which picks per-environment sizing and egress, ``DatabaseMinAcu`` /
``DatabaseMaxAcu``, and each service's ``<Service>ImageUri``, which decides whether its
image is pulled from a public registry) come from the environment's parameters file,
``parameters/<spec file stem>/<env>.json`` (read with deploy's own reader,
``generator.deploy.params.read_params_file``), and otherwise from the template defaults.
A price the region's file does not have is not guessed: the line says so and the totals
leave it out.

Two columns: *low* (each service at its desired count, Aurora at its minimum ACUs)
and *high* (each service at its autoscaling maximum, Aurora at its maximum ACUs).

Egress modes differ only in the network stack:

* ``nat-per-az`` / ``single-nat``: NAT hours, their public IPv4 addresses, NAT data
  processing of the tasks' AWS API, log and public-registry traffic (ECR image
  layers take the free S3 gateway endpoint), and for a single NAT the cross-AZ
  transfer of the other AZs' traffic;
* ``vpc-endpoints``: interface endpoint hours x AZs for the endpoint set the tasks
  need, plus endpoint data processing; public-registry images cannot be pulled;
* ``public-ip``: one public IPv4 address per running task.

The interface endpoints the spec lists (``network.interface_endpoints``) are counted
in every mode.  The NAT vs endpoints break-even is the AWS API + log traffic
(GB/month) above which the endpoints cost less.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.billing_params import Deployment, deployment, deployment_lines, params_path
from generator.cost_spec import (
    Usage,
    egress_of,
    endpoints_for,
    public_image,
    runs_per_month,
    size_of,
    task_counts,
    usage_from,
)
from generator.lb_placement import layout
from generator.prices import MissingPrice, load_prices, price_path, resolve_region, spot_split
from generator.spec import Platform, SpecError, load_spec

MODES = ("nat-per-az", "single-nat", "vpc-endpoints", "public-ip")
EXIT_USAGE = 2


# --------------------------------------------------------------------------- unit arithmetic


def monthly(hourly: float, prices: dict[str, Any], count: float = 1) -> float:
    return hourly * prices["hours_per_month"] * count


def nat_monthly(prices: dict[str, Any]) -> float:
    """One NAT gateway for a month: hours plus its Elastic IP (public IPv4), before data processing."""
    return monthly(prices["nat_gateway"]["hour"] + prices["public_ipv4"]["hour"], prices)


def endpoints_monthly(endpoints: int, azs: int, prices: dict[str, Any]) -> float:
    """Interface endpoints: each one has an ENI per AZ, billed per AZ-hour."""
    if not endpoints:
        return 0.0
    return monthly(prices["interface_endpoint"]["hour_per_az"], prices, endpoints * azs)


def fargate_task_monthly(vcpu: float, gb: float, prices: dict[str, Any], spot: bool = False) -> float:
    f = prices["fargate_spot" if spot else "fargate"]
    return monthly(vcpu * f["vcpu_hour"] + gb * f["gb_hour"], prices)


def breakeven_gb(fixed_nat: float, nat_per_gb: float, fixed_endpoints: float, endpoint_per_gb: float) -> float:
    """Traffic (GB/month) at which NAT and endpoints cost the same; <= 0 means endpoints always cost less."""
    if nat_per_gb <= endpoint_per_gb:
        return float("inf")
    return (fixed_endpoints - fixed_nat) / (nat_per_gb - endpoint_per_gb)


# --------------------------------------------------------------------------- the estimate


@dataclass
class Line:
    stack: str
    item: str
    low: float
    high: float
    missing: str = ""  # the price this region's file does not have; the line is then left out of totals


@dataclass
class ModeCost:
    mode: str
    low: float
    high: float
    notes: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)


@dataclass
class Estimate:
    spec: str
    env: str
    egress: str
    prices: dict[str, Any]
    usage: Usage
    tasks: tuple[float, float]
    lines: list[Line]
    modes: dict[str, ModeCost]
    traffic_gb: tuple[float, float]  # AWS API + log traffic per month (low, high)
    breakeven: dict[str, float | None]  # None: a price it needs is missing (breakeven_missing)
    deployment: Deployment | None = None
    breakeven_missing: str = ""

    @property
    def total(self) -> tuple[float, float]:
        return sum(x.low for x in self.lines), sum(x.high for x in self.lines)

    @property
    def unpriced(self) -> list[Line]:
        return [x for x in self.lines if x.missing]


def _between(cost: Callable[[float], float], low: float, high: float) -> Callable[[], tuple[float, float]]:
    """The (low, high) costs of ``cost`` at the low and high task counts, computed when priced."""
    return lambda: (cost(low), cost(high))


def _times_one(cost: Callable[[float], float]) -> Callable[[float], float]:
    """n runs of one task each (a scheduled task) rather than n tasks at once."""
    return lambda n: n * cost(1)


def priced(stack: str, item: str, cost: Callable[[], tuple[float, float]]) -> Line:
    """A line, or the line marked unpriced (0, left out of totals) when a price it needs is missing."""
    try:
        low, high = cost()
    except MissingPrice as exc:
        return Line(stack, item, 0.0, 0.0, exc.name)
    return Line(stack, item, low, high)


def network_lines(
    spec: Platform,
    prices: dict[str, Any],
    mode: str,
    usage: Usage,
    tasks: tuple[float, float],
    public_tasks: tuple[float, float],
) -> ModeCost:
    azs = spec.network.availability_zones
    api = [n * (usage.aws_api_gb_per_task + usage.log_gb_per_task) for n in tasks]
    pub = [n * usage.public_image_gb_per_task for n in public_tasks]
    mc = ModeCost(mode, 0, 0)

    def add(item: str, cost: Callable[[], tuple[float, float]]) -> None:
        mc.lines.append(priced("network", item, cost))

    eps = endpoints_for(spec, mode)
    if eps:
        add(
            f"interface endpoints {len(eps)} x {azs} AZs ({', '.join(eps)})",
            lambda: 2 * (endpoints_monthly(len(eps), azs, prices),),
        )
    if mode in ("nat-per-az", "single-nat") and spec.network.existing:
        mc.notes.append("the existing VPC's NAT gateways and flow logs are its owner's (not counted)")
    elif mode in ("nat-per-az", "single-nat"):
        n = azs if mode == "nat-per-az" else 1
        add(
            f"NAT gateways {n} x {prices['hours_per_month']} h, with their public IPv4",
            lambda: 2 * (n * nat_monthly(prices),),
        )
        add(
            f"NAT data processing ({api[0] + pub[0]:.3g}-{api[1] + pub[1]:.3g} GB: AWS APIs, logs, public images)",
            lambda: (
                prices["nat_gateway"]["gb_processed"] * (api[0] + pub[0]),
                prices["nat_gateway"]["gb_processed"] * (api[1] + pub[1]),
            ),
        )
        if mode == "single-nat" and azs > 1:
            share = (azs - 1) / azs
            add(
                f"cross-AZ transfer to the single NAT ({share:.0%} of the traffic)",
                lambda: (
                    2 * prices["cross_az"]["gb_each_way"] * share * (api[0] + pub[0]),
                    2 * prices["cross_az"]["gb_each_way"] * share * (api[1] + pub[1]),
                ),
            )
            mc.notes.append("one AZ's outage cuts every task's egress")
    elif mode == "vpc-endpoints":
        tiers = ", ".join(spec.network.nat_tiers)  # network.tiers[].nat: one NAT gateway in AZ 1
        if tiers:
            add(f"NAT gateway of the nat tiers ({tiers}) and its IPv4, no traffic", lambda: 2 * (nat_monthly(prices),))
        add(
            f"endpoint data processing ({api[0]:.3g}-{api[1]:.3g} GB: AWS APIs, logs)",
            lambda: (
                prices["interface_endpoint"]["gb_processed"] * api[0],
                prices["interface_endpoint"]["gb_processed"] * api[1],
            ),
        )
        if public_tasks[1]:
            mc.notes.append(
                f"{sum(1 for s in spec.services if public_image(s))} services pull public images, which "
                "need a NAT or a copy in ECR"
            )
    elif mode == "public-ip":
        add(
            f"task public IPv4 addresses ({tasks[0]:.3g}-{tasks[1]:.3g} tasks)",
            lambda: (
                monthly(prices["public_ipv4"]["hour"], prices, tasks[0]),
                monthly(prices["public_ipv4"]["hour"], prices, tasks[1]),
            ),
        )
        mc.notes.append("tasks are reachable from the internet; needs public_ip_reason")
    if mode != "vpc-endpoints" and spec.network.public_tier is None and not spec.network.existing:
        mc.notes.append("needs a public subnet tier")
    logs = prices["cloudwatch_logs"]
    days = spec.network.flow_log_retention_days
    if not spec.network.existing:  # an existing VPC's flow logs are its owner's
        add(
            f"VPC flow logs ({usage.flow_log_gb:g} GB/month ingested)",
            lambda: 2 * (usage.flow_log_gb * logs["ingest_gb"],),
        )
        add(
            f"VPC flow log storage ({days} d retention)",
            lambda: 2 * (usage.flow_log_gb * logs["storage_gb_month"] * usage.log_stored_ratio * days / 30.4,),
        )
    mc.low = sum(x.low for x in mc.lines)
    mc.high = sum(x.high for x in mc.lines)
    return mc


def service_lines(
    spec: Platform, prices: dict[str, Any], env: str, usage: Usage, counts: dict[str, tuple[float, float]]
) -> list[Line]:
    """Fargate per service (on-demand vs Spot from the cluster's default strategy), then its logs."""
    strategies = {c.name: [(x.provider, x.weight, x.base) for x in c.default_strategy] for c in spec.clusters}
    logs = prices["cloudwatch_logs"]
    lines: list[Line] = []
    for s in spec.services:
        vcpu, gb = size_of(s, env)
        strat = strategies[spec.cluster_of(s)]
        lo, hi = counts[s.name]

        def task_cost(
            n: float, vcpu: float = vcpu, gb: float = gb, strat: Sequence[tuple[str, int, int]] = strat
        ) -> float:
            od, sp = spot_split(n, strat)
            return od * fargate_task_monthly(vcpu, gb, prices) + (
                sp * fargate_task_monthly(vcpu, gb, prices, True) if sp else 0.0
            )

        schedule = getattr(s, "schedule", None)
        if schedule:
            # A scheduled task: one task per run, placed by the strategy's proportions.
            what = (
                f"Fargate {s.name}: {schedule}, ~{runs_per_month(schedule):,.0f} runs x "
                f"{usage.scheduled_run_minutes:g} min x {vcpu:g} vCPU / {gb:g} GB"
            )
            lines.append(priced("services", what, _between(_times_one(task_cost), lo, hi)))
        else:
            _od_hi, sp_hi = spot_split(hi, strat)
            spot_note = f", {sp_hi / hi:.0%} Spot" if hi and sp_hi else ""
            what = f"Fargate {s.name}: {lo:g}-{hi:g} x {vcpu:g} vCPU / {gb:g} GB{spot_note}"
            lines.append(priced("services", what, _between(task_cost, lo, hi)))
    for s in spec.services:
        lo, hi = counts[s.name]
        lines.append(
            priced(
                "services",
                f"logs {s.name} ({usage.log_gb_per_task:g} GB/task ingested)",
                _between(lambda n: n * usage.log_gb_per_task * logs["ingest_gb"], lo, hi),
            )
        )
    # Stored log GB-months: each service's ingestion x the stored ratio x its retention.
    stored = [
        sum(
            counts[s.name][i] * usage.log_gb_per_task * usage.log_stored_ratio * s.log_retention_days / 30.4
            for s in spec.services
        )
        for i in (0, 1)
    ]
    lines.append(
        priced(
            "services",
            f"log storage ({usage.log_stored_ratio:g} of ingested, each service's retention)",
            lambda: (stored[0] * logs["storage_gb_month"], stored[1] * logs["storage_gb_month"]),
        )
    )
    return lines


def platform_lines(spec: Platform, prices: dict[str, Any], usage: Usage, deployed: Deployment) -> list[Line]:
    """Load balancers, the database (at the deployed ACUs), EFS, secrets."""
    lines: list[Line] = []
    azs = spec.network.availability_zones

    def alb() -> tuple[float, float]:  # one ALB's hours and its public IPv4 addresses
        month = monthly(prices["alb"]["hour"], prices) + monthly(prices["public_ipv4"]["hour"], prices, azs)
        return month, month

    for lb in spec.load_balancers:
        for shard in layout(spec).of(lb.name):  # a load balancer past its quotas is several ALBs
            lines.append(priced("alb", f"ALB {shard.name} (with {azs} public IPv4)", alb))
        lines.append(
            priced(
                "alb",
                f"ALB {lb.name} capacity units ({usage.alb_lcu:g} LCU)",
                lambda: 2 * (monthly(usage.alb_lcu * prices["alb"]["lcu_hour"], prices),),
            )
        )
    if spec.database:
        db = spec.database
        lo_acu = db.min_acu if deployed.min_acu is None else deployed.min_acu
        hi_acu = db.max_acu if deployed.max_acu is None else deployed.max_acu
        a = prices["aurora_serverless_v2"]
        lines.append(
            priced(
                "database",
                f"Aurora Serverless v2 {lo_acu:g}-{hi_acu:g} ACU",
                lambda: (monthly(a["acu_hour"], prices, lo_acu), monthly(a["acu_hour"], prices, hi_acu)),
            )
        )
        lines.append(
            priced(
                "database",
                f"Aurora storage {usage.database_storage_gb:g} GB + {usage.database_io_million:g} M I/O",
                lambda: (
                    2
                    * (usage.database_storage_gb * a["storage_gb_month"] + usage.database_io_million * a["io_million"],)
                ),
            )
        )
        if db.proxy:
            p = prices["rds_proxy_serverless"]
            lines.append(
                priced(
                    "database",
                    f"RDS Proxy (billed on at least {p['min_acus']} ACUs)",
                    lambda: (
                        monthly(p["acu_hour"], prices, max(p["min_acus"], lo_acu)),
                        monthly(p["acu_hour"], prices, max(p["min_acus"], hi_acu)),
                    ),
                )
            )
    if spec.efs:
        note = " (+ elastic throughput per GB transferred)" if spec.efs.throughput_mode == "elastic" else ""
        lines.append(
            priced(
                "efs",
                f"EFS Standard {usage.efs_gb:g} GB{note}",
                lambda: 2 * (usage.efs_gb * prices["efs_standard"]["gb_month"],),
            )
        )
    n_secrets = len(spec.secrets) + (1 if spec.database else 0)
    if n_secrets:
        lines.append(
            priced(
                "secrets",
                f"Secrets Manager {n_secrets} secrets",
                lambda: 2 * (n_secrets * prices["secrets_manager"]["secret_month"],),
            )
        )
        lines.append(priced("secrets", "KMS key (1)", lambda: 2 * (prices["kms"]["key_month"],)))
    return lines


def breakevens(spec: Platform, prices: dict[str, Any]) -> tuple[dict[str, float | None], str]:
    """NAT vs endpoints break-even per NAT mode, and the missing price that prevents it ('' if none)."""
    azs = spec.network.availability_zones
    try:
        fixed_ep = endpoints_monthly(len(endpoints_for(spec, "vpc-endpoints")), azs, prices)
        fixed_base = endpoints_monthly(len(endpoints_for(spec, "nat-per-az")), azs, prices)
        nat_rate, ep_rate = prices["nat_gateway"]["gb_processed"], prices["interface_endpoint"]["gb_processed"]
        per_az = breakeven_gb(fixed_base + azs * nat_monthly(prices), nat_rate, fixed_ep, ep_rate)
    except MissingPrice as exc:
        return {"nat-per-az": None, "single-nat": None}, exc.name
    try:
        cross = 2 * prices["cross_az"]["gb_each_way"] * (azs - 1) / azs if azs > 1 else 0.0
        single: float | None = breakeven_gb(fixed_base + nat_monthly(prices), nat_rate + cross, fixed_ep, ep_rate)
        missing = ""
    except MissingPrice as exc:
        single, missing = None, exc.name
    return {"nat-per-az": per_az, "single-nat": single}, missing


def estimate(
    spec: Platform,
    prices: dict[str, Any],
    env: str | None = None,
    egress: str | None = None,
    usage: Usage | None = None,
    deployed: Deployment | None = None,
) -> Estimate:
    """The estimate of ``spec`` as ``deployed`` (default: the template defaults in ``env``)."""
    if deployed is None:
        env = env or spec.default_environment
        if env not in spec.environments:
            raise ValueError(f"environment {env!r} is not one of {spec.environments}")
        deployed = Deployment(env)
    env = deployed.environment
    egress = egress or egress_of(spec, env)
    usage = usage or usage_from(prices)
    counts = {s.name: task_counts(s, usage, env) for s in spec.services}
    tasks = (sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()))
    public = [s.name for s in spec.services if public_image(s, deployed)]
    public_tasks = (sum(counts[n][0] for n in public), sum(counts[n][1] for n in public))
    lines = service_lines(spec, prices, env, usage, counts)
    mode_costs = {m: network_lines(spec, prices, m, usage, tasks, public_tasks) for m in MODES}
    lines.extend(mode_costs[egress].lines)
    lines.extend(platform_lines(spec, prices, usage, deployed))
    traffic = (
        tasks[0] * (usage.aws_api_gb_per_task + usage.log_gb_per_task),
        tasks[1] * (usage.aws_api_gb_per_task + usage.log_gb_per_task),
    )
    breakeven, breakeven_missing = breakevens(spec, prices)
    return Estimate(
        spec.name, env, egress, prices, usage, tasks, lines, mode_costs, traffic, breakeven, deployed, breakeven_missing
    )


# --------------------------------------------------------------------------- output


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _cells(line: Line) -> str:
    return f"{'n/a':>12}{'n/a':>12}" if line.missing else f"{_money(line.low):>12}{_money(line.high):>12}"


def format_estimate(e: Estimate, region_from: str = "") -> str:  # noqa: C901
    p = e.prices
    where = f" ({region_from})" if region_from else ""
    out = [
        f"Monthly cost ESTIMATE: {e.spec}, environment {e.env}, egress {e.egress}, {p['region']} ({p['currency']})",
        f"Prices: {p['region']}{where}, {p['source']}, recorded {p['recorded']}. Estimates only: list prices, "
        "no free tier, discounts or taxes.",
    ]
    if e.deployment is not None:
        out += deployment_lines(e.deployment)
    out += [
        f"low = desired task counts ({e.tasks[0]:.3g} tasks) and minimum ACUs; high = autoscaling maximum "
        f"({e.tasks[1]:.3g} tasks) and maximum ACUs; scheduled tasks at "
        f"{e.usage.scheduled_run_minutes:g} min per run.",
        f"Assumed per task-month: {e.usage.aws_api_gb_per_task:g} GB AWS API, {e.usage.log_gb_per_task:g} GB logs, "
        f"{e.usage.public_image_gb_per_task:g} GB public-registry pulls (when the image is public).",
        "",
    ]
    width = max(len(x.item) for x in e.lines) + 4
    out.append(f"{'stack / item':<{width}}{'low':>12}{'high':>12}")
    stacks: dict[str, list[Line]] = {}
    for x in e.lines:
        stacks.setdefault(x.stack, []).append(x)
    for stack, items in stacks.items():
        out.append(f"{stack:<{width}}{_money(sum(i.low for i in items)):>12}{_money(sum(i.high for i in items)):>12}")
        for i in items:
            out.append(f"  {i.item:<{width - 2}}{_cells(i)}")
    lo, hi = e.total
    out.append(f"{'TOTAL (estimate)':<{width}}{_money(lo):>12}{_money(hi):>12}")
    if e.unpriced:
        out.append(
            f"not priced ({len(e.unpriced)} lines, left out of the totals): no {p['region']} price for "
            f"{', '.join(sorted({x.missing for x in e.unpriced}))} in {price_path(p['region']).name}"
        )
    for n in e.modes[e.egress].notes:
        out.append(f"note ({e.egress}): {n}")
    out.append("")
    out.append("Network stack per egress mode (the rest of the platform is the same in every mode):")
    out.append(f"  {'mode':<16}{'low':>12}{'high':>12}  notes")
    for m in MODES:
        mc = e.modes[m]
        mark = " *" if m == e.egress else ""
        notes = mc.notes + [f"not priced: {x.missing}" for x in mc.lines if x.missing]
        out.append(f"  {m + mark:<16}{_money(mc.low):>12}{_money(mc.high):>12}  {'; '.join(notes)}")
        for i in mc.lines:
            shown = f"n/a (no {i.missing} price)" if i.missing else f"{_money(i.low)} - {_money(i.high)}"
            out.append(f"      {i.item}: {shown}")
    out.append("  (* = this estimate's mode)")
    out.append("")
    out.append(
        f"NAT vs endpoints break-even (AWS API + log traffic; this spec: {e.traffic_gb[0]:.3g}-"
        f"{e.traffic_gb[1]:.3g} GB/month):"
    )
    for m, g in e.breakeven.items():
        if g is None:
            out.append(f"  vpc-endpoints vs {m}: not computed, no {p['region']} price for {e.breakeven_missing}")
        elif g <= 0:
            out.append(f"  vpc-endpoints cost less than {m} at any traffic volume")
        else:
            verdict = "endpoints are cheaper" if e.traffic_gb[0] > g else f"{m} is cheaper"
            out.append(f"  vpc-endpoints cost less than {m} above {g:,.0f} GB/month ({verdict} at this spec's traffic)")
    if any("public images" in n for n in e.modes["vpc-endpoints"].notes):
        out.append("  (public-registry pulls cannot use endpoints: mirror those images to ECR first)")
    return "\n".join(line.rstrip() for line in out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="platform spec (platforms/*.yaml)")
    p.add_argument(
        "--env",
        metavar="ENV",
        help="environment to price: its parameters/<spec file stem>/ENV.json "
        "gives the billing values (default: the spec's default_environment)",
    )
    p.add_argument("--params", metavar="FILE", help="read the deployment's values from this parameters file instead")
    p.add_argument(
        "--egress", choices=MODES, help="price the platform in this egress mode (default: the environment's)"
    )
    p.add_argument(
        "--region", help="price file data/prices-REGION.yaml (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)"
    )
    p.add_argument("--prices", metavar="FILE", help="use this price file instead")
    p.add_argument("--api-gb", type=float, metavar="GB", help="AWS API traffic per task-month")
    p.add_argument("--log-gb", type=float, metavar="GB", help="log ingestion per task-month")
    p.add_argument("--public-image-gb", type=float, metavar="GB", help="public-registry pulls per task-month")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen cost",
        description="Monthly cost ESTIMATE of a platform per stack and per egress mode (NAT, VPC endpoints, "
        "public IP), with the NAT vs endpoints break-even, for one environment as its parameters file "
        "deploys it and one region's list prices (each from a data file that names its sources and "
        "dates). Usage assumptions are in that file and overridable here.",
    )
    add_arguments(p)
    return p


def cmd(args: argparse.Namespace) -> int:
    """Entry point for an argparse subcommand built with ``add_arguments``."""
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    region, region_from = resolve_region(args.region)
    try:
        prices = load_prices(region, args.prices)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"stackgen cost: no usable price file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    usage = usage_from(
        prices,
        aws_api_gb_per_task=args.api_gb,
        log_gb_per_task=args.log_gb,
        public_image_gb_per_task=args.public_image_gb,
    )
    try:
        if args.env and args.env not in spec.environments:
            raise ValueError(f"--env {args.env}: not one of {', '.join(spec.environments)}")
        path = Path(args.params) if args.params else params_path(args.spec, args.env or spec.default_environment)
        deployed = deployment(spec, args.env, path, required=bool(args.params))
    except ValueError as exc:
        print(f"stackgen cost: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        e = estimate(spec, prices, egress=args.egress, usage=usage, deployed=deployed)
        text = format_estimate(
            e, "from --prices" if args.prices else {"default": "the default"}.get(region_from, f"from {region_from}")
        )
    except Exception as exc:  # noqa: BLE001 - the spec, prices and parameters were checked: anything else is a bug
        print(
            f"stackgen cost: internal error (a bug in stackgen, please report): {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cmd(parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
