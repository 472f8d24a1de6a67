"""Cost preview (generator.cost): the arithmetic, the seeds/002 anchors, and the CLI."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import yaml

from generator import cost, render
from generator.spec import Platform, load_spec, parse_spec
from tests.helpers import PLATFORMS, ROOT

MCP = str(ROOT / "platforms" / "mcp-gateway.yaml")


@pytest.fixture(scope="module")
def prices() -> dict:
    return cost.load_prices("us-east-1")


@pytest.fixture(scope="module")
def writer() -> Platform:
    """The seeds' scheduled-file-writer shape: endpoints only, ECR image, a secret, Spot-heavy cluster."""
    return parse_spec({
        "name": "file-writer", "description": "scheduled file writer",
        "network": {"egress": "vpc-endpoints", "availability_zones": 3, "interface_endpoints": [],
                    "tiers": [{"name": "private", "newbits": 4, "offset": 0}]},
        "repositories": [{"name": "writer"}],
        "secrets": [{"name": "api-token", "description": "token", "generate": {"length": 32}}],
        "clusters": [{"name": "main", "default_strategy": [{"provider": "FARGATE", "weight": 1, "base": 1},
                                                           {"provider": "FARGATE_SPOT", "weight": 3}]}],
        "services": [{
            "name": "writer", "image": {"repository": "writer", "tag": "v1"},
            "sizing": {"dev": {"cpu": 256, "memory": 512}, "test": {"cpu": 256, "memory": 512},
                       "prod": {"cpu": 1024, "memory": 2048}},
            "ports": [{"name": "http", "port": 8080}], "health_check": {"command": "true"}, "user": "1000",
            "writable_root_reason": "tmp", "execute_command": False, "secrets": {"TOKEN": {"secret": "api-token"}},
            "scaling": {"min": 5, "max": 9}}],
    })


def line(e: cost.Estimate, start: str) -> cost.Line:
    [x] = [x for x in e.lines if x.item.startswith(start)]
    return x


# --------------------------------------------------------------------------- the price file and the seed anchors


def test_price_file_names_its_source_and_date(prices: dict) -> None:
    assert prices["region"] == "us-east-1"
    assert prices["recorded"] == "2026-11-23"
    assert "AWS" in prices["source"]
    assert prices["hours_per_month"] == 730


def test_seed_anchor_five_endpoints_in_three_azs(prices: dict) -> None:
    # seeds/002: "~$108: 5 endpoints x 3 AZs x $0.01/hour" (it used 720 h; 730 h gives 109.50).
    assert cost.endpoints_monthly(5, 3, prices) == pytest.approx(109.50)
    assert abs(cost.endpoints_monthly(5, 3, prices) - 108) < 2


def test_seed_anchor_nat_gateway(prices: dict) -> None:
    # seeds/002: "~$45/month per NAT Gateway" plus processing; hours alone are $32.85.
    assert cost.monthly(prices["nat_gateway"]["hour"], prices) == pytest.approx(32.85)
    assert 32 <= cost.nat_monthly(prices) <= 45
    assert cost.nat_monthly(prices) == pytest.approx(32.85 + 3.65)  # with the EIP's public IPv4 charge


def test_fargate_task_prices(prices: dict) -> None:
    assert cost.fargate_task_monthly(1, 2, prices) == pytest.approx((0.04048 + 2 * 0.004445) * 730)
    assert cost.fargate_task_monthly(1, 2, prices, spot=True) == pytest.approx((0.012144 + 2 * 0.0013335) * 730)
    assert cost.fargate_task_monthly(0.25, 0.5, prices) < cost.fargate_task_monthly(1, 2, prices) / 3


@pytest.mark.parametrize(("tasks", "strategy", "expected"), [
    (4, [("FARGATE", 1, 1)], (4, 0)),
    (5, [("FARGATE", 1, 1), ("FARGATE_SPOT", 3, 0)], (2, 3)),
    (1, [("FARGATE", 1, 2), ("FARGATE_SPOT", 3, 0)], (1, 0)),
    (6, [("FARGATE_SPOT", 1, 2), ("FARGATE", 1, 0)], (2, 4)),
    (0, [("FARGATE", 1, 1)], (0, 0)),
])
def test_spot_split(tasks: int, strategy: list, expected: tuple) -> None:
    assert cost.spot_split(tasks, strategy) == pytest.approx(expected)


def test_breakeven_formula() -> None:
    # NAT: $100 fixed + $0.045/GB; endpoints: $150 fixed + $0.01/GB -> equal at 50/0.035 GB.
    g = cost.breakeven_gb(100, 0.045, 150, 0.01)
    assert g == pytest.approx(50 / 0.035)
    assert 100 + 0.045 * g == pytest.approx(150 + 0.01 * g)
    assert cost.breakeven_gb(100, 0.045, 80, 0.01) < 0  # endpoints cheaper at any volume
    assert math.isinf(cost.breakeven_gb(100, 0.01, 80, 0.01))


# --------------------------------------------------------------------------- whole-spec estimates


def test_mcp_estimate_lines(mcp_spec: Platform, prices: dict) -> None:
    e = cost.estimate(mcp_spec, prices)
    assert e.egress == "nat-per-az" and e.env == "dev"
    assert e.tasks == (15, 32)
    assert line(e, "NAT gateways 3").low == pytest.approx(3 * 36.5)
    assert line(e, "Aurora Serverless v2").low == pytest.approx(0.5 * 0.12 * 730)
    assert line(e, "Aurora Serverless v2").high == pytest.approx(2 * 0.12 * 730)
    assert line(e, "RDS Proxy").low == pytest.approx(8 * 0.015 * 730)
    assert line(e, "Fargate registry").low == pytest.approx(2 * (0.04048 + 2 * 0.004445) * 730)
    assert line(e, "Fargate keycloak").high == pytest.approx(4 * (0.04048 + 2 * 0.004445) * 730)
    assert line(e, "ALB main").low == pytest.approx((0.0225 + 0.008) * 730 + 3 * 0.005 * 730)
    assert line(e, "Secrets Manager 7 secrets").low == pytest.approx(7 * 0.40 + 1.00)
    # NAT processing: 15 tasks x 2 GB (API + logs) + 14 public-image tasks x 5 GB = 100 GB at $0.045.
    assert line(e, "NAT data processing").low == pytest.approx(100 * 0.045)
    lo, hi = e.total
    assert lo == pytest.approx(sum(x.low for x in e.lines)) and lo < hi


def test_mcp_egress_modes(mcp_spec: Platform, prices: dict) -> None:
    e = cost.estimate(mcp_spec, prices)
    nat, single, eps, pub = (e.modes[m] for m in cost.MODES)
    flow = 5 * (0.50 + 0.03 * 0.15 * 365 / 30.4)
    sts = cost.endpoints_monthly(1, 3, prices)
    assert nat.low == pytest.approx(sts + 3 * 36.5 + 100 * 0.045 + flow)
    assert single.low == pytest.approx(sts + 36.5 + 100 * 0.045 + 100 * 0.02 * 2 / 3 + flow)
    # ecr.api, ecr.dkr, kms, logs, secretsmanager, ssm, ssmmessages, sts in 3 AZs; 30 GB API + logs at $0.01.
    assert cost.endpoints_for(mcp_spec, "vpc-endpoints") == ["ecr.api", "ecr.dkr", "kms", "logs", "secretsmanager",
                                                             "ssm", "ssmmessages", "sts"]
    assert eps.low == pytest.approx(8 * 3 * 7.3 + 30 * 0.01 + flow)
    assert any("public images" in n for n in eps.notes)
    assert pub.low == pytest.approx(sts + 15 * 3.65 + flow)
    assert e.breakeven["nat-per-az"] == pytest.approx((8 * 3 * 7.3 - (3 * 7.3 + 3 * 36.5)) / 0.035)
    # Pricing in another mode swaps only the network lines.
    e2 = cost.estimate(mcp_spec, prices, egress="vpc-endpoints")
    assert e2.total[0] - e.total[0] == pytest.approx(eps.low - nat.low)


def test_environment_sizing_and_spot(writer: Platform, prices: dict) -> None:
    dev, prod = cost.estimate(writer, prices, env="dev"), cost.estimate(writer, prices, env="prod")
    od, spot = cost.fargate_task_monthly(1, 2, prices), cost.fargate_task_monthly(1, 2, prices, spot=True)
    assert line(prod, "Fargate writer").low == pytest.approx(2 * od + 3 * spot)
    assert line(prod, "Fargate writer").high == pytest.approx(3 * od + 6 * spot)
    assert "67% Spot" in line(prod, "Fargate writer").item
    assert line(dev, "Fargate writer").low == pytest.approx(
        2 * cost.fargate_task_monthly(0.25, 0.5, prices) + 3 * cost.fargate_task_monthly(0.25, 0.5, prices, True))
    assert cost.endpoints_for(writer, "vpc-endpoints") == ["ecr.api", "ecr.dkr", "kms", "logs", "secretsmanager", "sts"]
    assert "needs a public subnet tier" in prod.modes["nat-per-az"].notes
    with pytest.raises(ValueError, match="environment 'staging'"):
        cost.estimate(writer, prices, env="staging")


def emitted_endpoints(spec: Platform) -> list[str]:
    """The interface endpoints the generated network stack holds."""
    net = render.synthesize(spec)["network.yaml"]["Resources"]
    names = [r["Properties"]["ServiceName"] for r in net.values() if r["Type"] == "AWS::EC2::VPCEndpoint"
             and r["Properties"].get("VpcEndpointType") == "Interface"]
    return sorted((n["Fn::Sub"] if isinstance(n, dict) else n).rsplit("}.", 1)[-1] for n in names)


def test_cost_prices_the_endpoints_the_generator_emits() -> None:
    """One derivation: cost prices Platform.endpoint_services, which the network stack emits
    (a drifted copy in cost.py once left out kms for SSM-only tasks)."""
    for path in PLATFORMS:
        spec = load_spec(path)
        if spec.network.egress == "vpc-endpoints":
            assert cost.endpoints_for(spec, "vpc-endpoints") == emitted_endpoints(spec), path
    data = yaml.safe_load((ROOT / "platforms" / "scheduled-file-writer.yaml").read_text())
    data["services"][0]["secrets"] = {"SHARE_PATH": {"ssm": "share-path"}}  # SSM only: the key is still needed
    ssm_only = parse_spec(data)
    assert "kms" in cost.endpoints_for(ssm_only, "vpc-endpoints")
    assert cost.endpoints_for(ssm_only, "vpc-endpoints") == emitted_endpoints(ssm_only)


# --------------------------------------------------------------------------- CLI


def test_cli_prints_a_labelled_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main([MCP, "--egress", "single-nat", "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Monthly cost ESTIMATE: mcp-gateway, environment prod, egress single-nat, us-east-1 (USD)")
    assert "recorded 2026-11-23" in out
    assert "  single-nat *" in out
    assert "vpc-endpoints cost less than nat-per-az above 1,251 GB/month" in out
    assert "TOTAL (estimate)" in out


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert cost.main([MCP, "--env", "staging"]) == 2
    assert cost.main([MCP, "--region", "mars-1"]) == 2
    assert cost.main([str(tmp_path / "missing.yaml")]) == 2
    assert cost.main([MCP, "--log-gb", "3"]) == 0
    assert "3 GB logs" in capsys.readouterr().out


@pytest.mark.parametrize(("expression", "runs"), [
    ("rate(1 hour)", 730),
    ("rate(5 minutes)", 730 * 12),
    ("rate(2 days)", 730 / 48),
    ("cron(0 * * * ? *)", 730),
    ("cron(0 2 * * ? *)", 730 / 24),
    ("cron(0/15 * * * ? *)", 4 * 730),
    ("cron(0 9 ? * MON-FRI *)", 5 * 730 / 24 / 7),
    ("cron(0 9,17 ? * MON,WED *)", 2 * 2 * 730 / 24 / 7),
    ("cron(30 1 1 * ? *)", 730 / 24 / 31),
    ("cron(0 0 1 1 ? *)", 730 / 24 / 31 / 12),
])
def test_runs_per_month(expression: str, runs: float) -> None:
    assert cost.runs_per_month(expression) == pytest.approx(runs)


def test_scheduled_task_counts_as_its_run_time() -> None:
    hourly = SimpleNamespace(schedule="cron(0 * * * ? *)", desired=0, scaling=None)
    usage = cost.Usage(scheduled_run_minutes=6)
    assert cost.task_counts(hourly, usage) == pytest.approx((0.1, 0.1))  # 730 runs x 6 min = 73 of 730 h
    service = SimpleNamespace(schedule=None, desired=2, scaling=SimpleNamespace(max=5))
    assert cost.task_counts(service, usage) == (2, 5)


@pytest.mark.skipif(not (ROOT / "platforms" / "scheduled-file-writer.yaml").exists(),
                    reason="the seeds' scheduled-file-writer platform is not in platforms/")
def test_scheduled_file_writer_platform(prices: dict) -> None:
    from generator.spec import load_spec

    spec = load_spec(ROOT / "platforms" / "scheduled-file-writer.yaml")
    e = cost.estimate(spec, prices)
    assert e.egress == "vpc-endpoints"
    writer = spec.service("writer")
    vcpu, gb = cost.size_of(writer, e.env)
    fargate = next(x for x in e.lines if x.item.startswith("Fargate writer"))
    runs = cost.runs_per_month(writer.schedule)
    assert fargate.low == pytest.approx(runs * 5 / 60 * (vcpu * 0.04048 + gb * 0.004445))
    endpoints = next(x for x in e.lines if x.item.startswith("interface endpoints"))
    n = int(endpoints.item.split()[2])
    assert endpoints.low == pytest.approx(n * 3 * 0.01 * 730)
