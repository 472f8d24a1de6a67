"""Cost preview (generator.cost): the arithmetic, the seeds/002 anchors, the price files per
region (generator.prices), the environment's parameters file (generator.billing_params), and the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from generator import cost, naming, render
from generator import prices as price_files
from generator.deploy.params import read_params_file
from generator.spec import Platform, load_spec, parse_spec
from tests.helpers import PLATFORMS, ROOT

MCP = str(ROOT / "platforms" / "mcp-gateway.yaml")
WRITER = str(ROOT / "platforms" / "scheduled-file-writer.yaml")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1")


@pytest.fixture(autouse=True)
def no_region_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default region comes from AWS_REGION / AWS_DEFAULT_REGION: the tests set them explicitly."""
    for name in price_files.REGION_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def prices() -> dict:
    return cost.load_prices("us-east-1")


@pytest.fixture(scope="module")
def writer() -> Platform:
    """The seeds' scheduled-file-writer shape: endpoints only, ECR image, a secret, Spot-heavy cluster."""
    return parse_spec(
        {
            "name": "file-writer",
            "description": "scheduled file writer",
            "network": {
                "egress": "vpc-endpoints",
                "availability_zones": 3,
                "interface_endpoints": [],
                "tiers": [{"name": "private", "newbits": 4, "offset": 0}],
            },
            "repositories": [{"name": "writer"}],
            "secrets": [{"name": "api-token", "description": "token", "generate": {"length": 32}}],
            "clusters": [
                {
                    "name": "main",
                    "default_strategy": [
                        {"provider": "FARGATE", "weight": 1, "base": 1},
                        {"provider": "FARGATE_SPOT", "weight": 3},
                    ],
                }
            ],
            "services": [
                {
                    "name": "writer",
                    "image": {"repository": "writer", "tag": "v1"},
                    "sizing": {
                        "dev": {"cpu": 256, "memory": 512},
                        "test": {"cpu": 256, "memory": 512},
                        "prod": {"cpu": 1024, "memory": 2048},
                    },
                    "ports": [{"name": "http", "port": 8080}],
                    "health_check": {"command": "true"},
                    "user": "1000",
                    "writable_root_reason": "writes its output under /tmp",
                    "execute_command": False,
                    "secrets": {"TOKEN": {"secret": "api-token"}},
                    "scaling": {"min": 5, "max": 9},
                }
            ],
        }
    )


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


@pytest.mark.parametrize(
    ("tasks", "strategy", "expected"),
    [
        (4, [("FARGATE", 1, 1)], (4, 0)),
        (5, [("FARGATE", 1, 1), ("FARGATE_SPOT", 3, 0)], (2, 3)),
        (1, [("FARGATE", 1, 2), ("FARGATE_SPOT", 3, 0)], (1, 0)),
        (6, [("FARGATE_SPOT", 1, 2), ("FARGATE", 1, 0)], (2, 4)),
        (0, [("FARGATE", 1, 1)], (0, 0)),
    ],
)
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
    assert line(e, "ALB main (").low == pytest.approx(0.0225 * 730 + 3 * 0.005 * 730)
    assert line(e, "ALB main capacity units (1 LCU)").low == pytest.approx(0.008 * 730)
    assert line(e, "Secrets Manager 7 secrets").low == pytest.approx(7 * 0.40)
    assert line(e, "KMS key").low == pytest.approx(1.00)
    assert line(e, "logs registry").high == pytest.approx(4 * 1 * 0.50)
    # stored GB-months: 15% of each service's ingestion for its retention
    # (7 services x 2 tasks x 30 d, keycloak 1 x 7 d)
    stored = (7 * 2 * 30 + 1 * 7) * 0.15 / 30.4
    assert line(e, "log storage").low == pytest.approx(stored * 0.03)
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
    assert cost.endpoints_for(mcp_spec, "vpc-endpoints") == [
        "ecr.api",
        "ecr.dkr",
        "kms",
        "logs",
        "secretsmanager",
        "ssm",
        "ssmmessages",
        "sts",
    ]
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
        2 * cost.fargate_task_monthly(0.25, 0.5, prices) + 3 * cost.fargate_task_monthly(0.25, 0.5, prices, True)
    )
    assert cost.endpoints_for(writer, "vpc-endpoints") == ["ecr.api", "ecr.dkr", "kms", "logs", "secretsmanager", "sts"]
    assert "needs a public subnet tier" in prod.modes["nat-per-az"].notes
    with pytest.raises(ValueError, match="environment 'staging'"):
        cost.estimate(writer, prices, env="staging")


def emitted_endpoints(spec: Platform) -> list[str]:
    """The interface endpoints the generated network stack holds."""
    net = render.synthesize(spec)["network.yaml"]["Resources"]
    names = [
        r["Properties"]["ServiceName"]
        for r in net.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType") == "Interface"
    ]
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


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
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
    ],
)
def test_runs_per_month(expression: str, runs: float) -> None:
    assert cost.runs_per_month(expression) == pytest.approx(runs)


def test_scheduled_task_counts_as_its_run_time() -> None:
    hourly = SimpleNamespace(schedule="cron(0 * * * ? *)", desired=0, scaling=None)
    usage = cost.Usage(scheduled_run_minutes=6)
    # 730 runs x 6 min = 73 of 730 h
    assert cost.task_counts(hourly, usage) == pytest.approx((0.1, 0.1))  # type: ignore[arg-type]  # a stand-in Service
    service = SimpleNamespace(
        schedule=None, desired_in=lambda env: 2, scaling=SimpleNamespace(max=5), scaling_range=lambda env: (1, 5)
    )
    assert cost.task_counts(service, usage) == (2, 5)  # type: ignore[arg-type]  # a stand-in Service


@pytest.mark.skipif(
    not (ROOT / "platforms" / "scheduled-file-writer.yaml").exists(),
    reason="the seeds' scheduled-file-writer platform is not in platforms/",
)
def test_scheduled_file_writer_platform(prices: dict) -> None:
    from generator.spec import load_spec

    spec = load_spec(ROOT / "platforms" / "scheduled-file-writer.yaml")
    e = cost.estimate(spec, prices)
    assert e.egress == "vpc-endpoints"
    writer = spec.service("writer")
    vcpu, gb = cost.size_of(writer, e.env)
    fargate = next(x for x in e.lines if x.item.startswith("Fargate writer"))
    assert writer.schedule is not None
    runs = cost.runs_per_month(writer.schedule)
    assert fargate.low == pytest.approx(runs * 5 / 60 * (vcpu * 0.04048 + gb * 0.004445))
    endpoints = next(x for x in e.lines if x.item.startswith("interface endpoints"))
    n = int(endpoints.item.split()[2])
    assert endpoints.low == pytest.approx(n * 3 * 0.01 * 730)


# --------------------------------------------------------------------------- price files per region


def price_fields(data: dict) -> dict[str, list[str]]:
    return {name: sorted(data[name].prices()) for name in price_files.PRICE_ITEMS}


def test_every_region_has_a_price_file_with_the_same_keys() -> None:
    assert set(REGIONS) <= set(price_files.regions())
    files = {r: price_files.load_prices(r) for r in price_files.regions()}
    reference = files["us-east-1"]
    assert price_fields(reference) == {k: sorted(v) for k, v in price_files.PRICE_ITEMS.items()}
    for region, data in files.items():
        assert data["region"] == region
        assert sorted(data) == sorted(reference), region
        assert price_fields(data) == price_fields(reference), region
        assert data["assumptions"] == reference["assumptions"], region  # usage is not a regional fact
        assert data["hours_per_month"] == 730


def test_every_price_names_its_aws_page_a_date_and_what_was_read() -> None:
    for region in price_files.regions():
        data = price_files.load_prices(region)
        text = price_files.price_path(region).read_text(encoding="utf-8")
        header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        for name in price_files.PRICE_ITEMS:
            item = data[name]
            assert re.match(r"^https://aws\.amazon\.com/[a-z0-9/-]+/pricing/", item["source"]), (region, name)
            assert price_files.DATE.match(item["recorded"]) and item["recorded"] <= data["recorded"], (region, name)
            assert len(item["evidence"]) > 20, (region, name)
        missing = price_files.missing_prices(data)
        for name in missing:  # a price not found is said in the file's header, and in the item's evidence
            assert name in header, (region, name)
            assert "not found" in data[name.split(".")[0]]["evidence"], (region, name)
        if not missing:
            assert "Prices not found: none." in header, region


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["nat_gateway"].pop("source"), "nat_gateway: missing source"),
        (lambda d: d["kms"].update(recorded="last year"), "kms.recorded: 'last year' is not a YYYY-MM-DD date"),
        (lambda d: d["alb"].update(hour="0.0225"), "alb.hour: '0.0225' is not a number or null"),
        (lambda d: d.pop("efs_standard"), "missing efs_standard"),
        (lambda d: d.pop("recorded"), "missing recorded"),
        (lambda d: d["nat_gateway"].pop("gb_processed"), "nat_gateway: prices hour; expected hour, gb_processed"),
        (lambda d: d["kms"].update(key_year=12), "kms: prices key_month, key_year; expected key_month"),
    ],
)
def test_a_broken_price_file_is_refused(tmp_path: Path, change, message: str) -> None:
    data = yaml.safe_load(price_files.price_path("us-east-1").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        price_files.load_prices(path=path)


def test_a_missing_price_raises_instead_of_reading_zero() -> None:
    singapore = price_files.load_prices("ap-southeast-1")
    assert singapore["aurora_serverless_v2"].prices()["acu_hour"] is None
    with pytest.raises(price_files.MissingPrice, match="aurora_serverless_v2.acu_hour"):
        singapore["aurora_serverless_v2"]["acu_hour"]  # noqa: B018 - the read is the test


def test_region_comes_from_the_option_then_the_aws_variables() -> None:
    assert price_files.resolve_region("eu-west-1", {"AWS_REGION": "us-west-2"}) == ("eu-west-1", "--region")
    assert price_files.resolve_region(None, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}) == (
        "us-west-2",
        "AWS_REGION",
    )
    assert price_files.resolve_region(None, {"AWS_DEFAULT_REGION": "eu-west-1"}) == ("eu-west-1", "AWS_DEFAULT_REGION")
    assert price_files.resolve_region(None, {}) == ("us-east-1", "default")


def test_the_estimate_follows_the_region_where_prices_differ(mcp_spec: Platform) -> None:
    east = cost.estimate(mcp_spec, price_files.load_prices("us-east-1"))
    ireland = cost.estimate(mcp_spec, price_files.load_prices("eu-west-1"))
    singapore = cost.estimate(mcp_spec, price_files.load_prices("ap-southeast-1"))
    # NAT: $0.045 / $0.048 / $0.059 an hour, each with its $0.005 public IPv4.
    assert line(east, "NAT gateways 3").low == pytest.approx(3 * (0.045 + 0.005) * 730)
    assert line(ireland, "NAT gateways 3").low == pytest.approx(3 * (0.048 + 0.005) * 730)
    assert line(singapore, "NAT gateways 3").low == pytest.approx(3 * (0.059 + 0.005) * 730)
    assert line(singapore, "interface endpoints 1 x 3").low == pytest.approx(3 * 0.013 * 730)
    assert line(singapore, "Fargate registry").low == pytest.approx(2 * (0.05056 + 2 * 0.00553) * 730)
    assert line(singapore, "ALB main (").low == pytest.approx(0.0252 * 730 + 3 * 0.005 * 730)
    assert line(ireland, "Aurora Serverless v2").low == pytest.approx(0.5 * 0.14 * 730)
    # Where the published prices are equal, so are the lines.
    assert line(ireland, "Fargate registry").low == line(east, "Fargate registry").low
    assert line(singapore, "Secrets Manager").low == line(east, "Secrets Manager").low
    assert singapore.total[0] != east.total[0] != ireland.total[0]


def test_an_unfound_price_is_listed_and_left_out_of_the_totals(
    mcp_spec: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    e = cost.estimate(mcp_spec, price_files.load_prices("ap-southeast-1"), egress="single-nat")
    aurora = line(e, "Aurora Serverless v2")
    assert (aurora.low, aurora.high, aurora.missing) == (0, 0, "aurora_serverless_v2.acu_hour")
    assert {x.missing for x in e.unpriced} == {
        "aurora_serverless_v2.acu_hour",
        "aurora_serverless_v2.storage_gb_month",
        "rds_proxy_serverless.acu_hour",
        "cross_az.gb_each_way",
    }
    assert e.total[0] == pytest.approx(sum(x.low for x in e.lines if not x.missing))
    assert e.breakeven["single-nat"] is None and e.breakeven_missing == "cross_az.gb_each_way"
    assert e.breakeven["nat-per-az"] == pytest.approx(
        (8 * 3 * 0.013 * 730 - (3 * 0.013 * 730 + 3 * 0.064 * 730)) / (0.059 - 0.01)
    )
    text = cost.format_estimate(e)
    assert re.search(r"Aurora Serverless v2 0.5-2 ACU +n/a +n/a", text)
    assert (
        "not priced (4 lines, left out of the totals): no ap-southeast-1 price for aurora_serverless_v2.acu_hour, "
        "aurora_serverless_v2.storage_gb_month, cross_az.gb_each_way, rds_proxy_serverless.acu_hour in "
        "prices-ap-southeast-1.yaml"
    ) in text
    assert "vpc-endpoints vs single-nat: not computed, no ap-southeast-1 price for cross_az.gb_each_way" in text


def test_cli_region_option_and_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main([WRITER]) == 0
    assert "Prices: us-east-1 (the default)," in capsys.readouterr().out
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert cost.main([WRITER]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "Monthly cost ESTIMATE: scheduled-file-writer, environment dev, egress vpc-endpoints, eu-west-1 (USD)"
    )
    assert "Prices: eu-west-1 (from AWS_DEFAULT_REGION)," in out
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    assert cost.main([WRITER]) == 0
    assert "Prices: ap-southeast-1 (from AWS_REGION)," in capsys.readouterr().out
    assert cost.main([WRITER, "--region", "us-west-2"]) == 0
    assert "Prices: us-west-2 (from --region)," in capsys.readouterr().out
    assert cost.main([WRITER, "--region", "mars-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "stackgen cost: no usable price file: no price file for region 'mars-1' (prices-mars-1.yaml); "
        "recorded regions: ap-southeast-1, eu-west-1, us-east-1, us-west-2"
    )


# --------------------------------------------------------------------------- the environment's parameters file


def write_params(path: Path, *entries: str) -> Path:
    path.write_text(json.dumps(list(entries)), encoding="utf-8")
    return path


def test_env_prices_the_values_its_parameters_file_deploys(capsys: pytest.CaptureFixture[str]) -> None:
    """prod.json deploys Aurora at 1-8 ACUs (the template default is 0.5-2): prod is priced at 1-8."""
    committed = read_params_file(ROOT / "parameters" / "mcp-gateway" / "prod.json")
    lo, hi = float(committed["DatabaseMinAcu"]), float(committed["DatabaseMaxAcu"])
    assert (lo, hi) != (0.5, 2)
    assert cost.main([MCP, "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert (
        f"Deployment values from parameters/mcp-gateway/prod.json: Environment=prod, "
        f"DatabaseMinAcu={committed['DatabaseMinAcu']}, DatabaseMaxAcu={committed['DatabaseMaxAcu']}"
    ) in out
    assert "  template defaults: RegistryImageUri, AuthImageUri," in out
    assert re.search(rf"Aurora Serverless v2 {lo:g}-{hi:g} ACU +{lo * 0.12 * 730:,.2f} +{hi * 0.12 * 730:,.2f}", out)


def test_params_file_values_reach_every_billing_line(mcp_spec: Platform, tmp_path: Path) -> None:
    path = write_params(
        tmp_path / "p.json",
        "Environment=test",
        "DatabaseMinAcu=2",
        "DatabaseMaxAcu=16",
        "BaseDomain=",
        *(
            f"{naming.image_param(s.name)}=123456789012.dkr.ecr.us-east-1.amazonaws.com/{s.name}:1"
            for s in mcp_spec.services
            if not s.image.repository
        ),
    )
    deployed = cost.deployment(mcp_spec, "test", path, required=True)
    assert deployed.environment == "test" and (deployed.min_acu, deployed.max_acu) == (2, 16)
    assert deployed.defaulted == [] and deployed.path == path
    east = price_files.load_prices("us-east-1")
    e = cost.estimate(mcp_spec, east, deployed=deployed)
    assert line(e, "Aurora Serverless v2 2-16 ACU").high == pytest.approx(16 * 0.12 * 730)
    assert line(e, "RDS Proxy").high == pytest.approx(16 * 0.015 * 730)
    # every image now comes from ECR: the NAT carries only AWS API and log traffic (15 tasks x 2 GB)
    assert line(e, "NAT data processing").low == pytest.approx(15 * 2 * 0.045)
    assert not any("public images" in n for n in e.modes["vpc-endpoints"].notes)
    assert line(cost.estimate(mcp_spec, east), "NAT data processing").low == pytest.approx(100 * 0.045)


def test_environment_comes_from_the_file_as_deploy_would_use_it(writer: Platform, tmp_path: Path) -> None:
    east = price_files.load_prices("us-east-1")
    prod_file = write_params(tmp_path / "prod.json", "Environment=prod")
    as_prod = cost.estimate(writer, east, deployed=cost.deployment(writer, "dev", prod_file))
    assert as_prod.env == "prod" and "1 vCPU / 2 GB" in line(as_prod, "Fargate writer").item
    assert as_prod.deployment.notes == [f"{prod_file} sets Environment=prod: priced as prod, not dev"]
    silent = write_params(tmp_path / "silent.json", "AlarmEmail=")  # no Environment: the template default, dev
    d = cost.deployment(writer, "prod", silent)
    assert d.environment == "dev" and d.defaulted == ["Environment"]
    assert d.notes == [
        f"{silent} leaves out Environment, so the stack deploys with Environment=dev: priced as dev, not prod"
    ]


def test_a_missing_parameters_file_is_a_note_and_defaults_are_priced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "no-params-here.yaml"
    spec.write_text((ROOT / "platforms" / "mcp-gateway.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert not cost.params_path(spec, "prod").exists()
    assert cost.main([str(spec), "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert "Deployment values: no parameters file read" in out
    assert (
        "  note: no parameters file " in out and "parameters/no-params-here/prod.json: template defaults priced" in out
    )
    assert out.startswith("Monthly cost ESTIMATE: mcp-gateway, environment prod,")
    assert re.search(r"Aurora Serverless v2 0.5-2 ACU", out)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["DatabaseMinAcu=lots"], "DatabaseMinAcu: 'lots' is not a number"),
        (["DatabaseMinAcu=4", "DatabaseMaxAcu=2"], "DatabaseMinAcu 4 is above DatabaseMaxAcu 2"),
        (["Environment=staging"], "Environment: environment 'staging' is not one of ['dev', 'test', 'prod']"),
        (["Environment=dev", "Environment=prod"], "parameter Environment is given twice"),
        (None, "not valid JSON"),
    ],
)
def test_a_bad_parameters_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: list[str] | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    if entries is None:
        path.write_text('["Environment=dev",', encoding="utf-8")
    else:
        write_params(path, *entries)
    assert cost.main([MCP, "--params", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err


def test_params_option_must_name_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main([MCP, "--params", str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().err.strip() == f"stackgen cost: {tmp_path / 'absent.json'}: parameters file not found"


def test_a_failure_the_inputs_did_not_cause_is_a_bug_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("hours_per_month")

    monkeypatch.setattr(cost, "estimate", broken)
    assert cost.main([WRITER]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "stackgen cost: internal error (a bug in stackgen, please report): KeyError: 'hours_per_month'\n"
    )


def test_per_environment_counts_are_priced_per_environment(prices: dict) -> None:
    """desired_count_by_environment / scaling_by_environment: prod is priced at prod's counts."""
    from generator.spec import load_spec

    spec = load_spec(ROOT / "examples" / "uploads.yaml")
    s = next(x for x in spec.services if x.desired_count_by_environment)
    lows = {}
    for env in ("dev", "prod"):
        assert cost.task_counts(s, None, env) == (s.desired_in(env), s.scaling_range(env)[1])
        e = cost.estimate(spec, prices, env)
        line = next(x for x in e.lines if x.item.startswith(f"Fargate {s.name}:"))
        assert f" {s.desired_in(env):g}-{s.scaling_range(env)[1]:g} x " in line.item
        lows[env] = line.low
    assert cost.task_counts(s, None, "prod") == (3, 12)
    assert lows["prod"] == pytest.approx(3 * lows["dev"] / s.desired_in("dev"))


def test_a_load_balancer_split_past_its_quotas_is_priced_per_alb(prices: dict) -> None:
    """examples/many-routes.yaml: one declared load balancer, two ALBs (generator.lb_placement):
    each ALB's hours and public IPv4 are billed; the traffic (LCU) is the one load balancer's."""
    spec = load_spec(ROOT / "examples" / "many-routes.yaml")
    e = cost.estimate(spec, prices)
    azs = spec.network.availability_zones
    for name in ("edge", "edge-2"):
        assert line(e, f"ALB {name} (").low == pytest.approx(0.0225 * 730 + azs * 0.005 * 730)
    assert [x.item for x in e.lines if "capacity units" in x.item] == ["ALB edge capacity units (1 LCU)"]
