"""The network shapes of issue 12 (examples/existing-vpc.yaml, public-subnets-only.yaml,
nat-tier.yaml): an existing VPC given as parameters, public-ip egress without a private tier,
and a nat tier for the services of a vpc-endpoints platform that call an outside API.  Each
refusal has its bad-spec fixture (tests/fixtures/bad_specs/140-152); here is what each shape
generates, and the checks that guard it, each fed a broken template set to show it can fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator import cost, render
from generator.cfn.templateset import TemplateSet
from generator.deploy.params import resolve
from generator.invariants import check_all, data_stores_private, endpoint_only_isolation
from generator.reach.verdicts import run as preflight
from generator.spec import Platform, load_spec, parse_spec
from tests.helpers import ROOT, props, resources

Templates = dict[str, dict[str, Any]]


def example(name: str) -> Platform:
    return load_spec(ROOT / "examples" / f"{name}.yaml")


@pytest.fixture(scope="module")
def existing() -> Templates:
    return render.synthesize(example("existing-vpc"))


@pytest.fixture(scope="module")
def public_only() -> Templates:
    return render.synthesize(example("public-subnets-only"))


@pytest.fixture(scope="module")
def nat_tier() -> Templates:
    return render.synthesize(example("nat-tier"))


def errors(templates: Templates) -> list[str]:
    return [f.problem for f in preflight(templates) if f.severity == "error"]


def child_parameters(t: Templates, stack_file: str) -> dict[str, Any]:
    """The Parameters the parent passes to the child stack whose template is ``stack_file``."""
    for r in resources(t["main.yaml"], "AWS::CloudFormation::Stack").values():
        if str(props(r)["TemplateURL"]).removeprefix("./") == stack_file:
            return props(r).get("Parameters", {})
    raise AssertionError(f"no child stack {stack_file}")


# --------------------------------------------------------------------------- an existing VPC


def test_existing_vpc_comes_in_as_typed_parameters(existing: Templates) -> None:
    params = existing["main.yaml"]["Parameters"]
    assert params["VpcId"]["Type"] == "AWS::EC2::VPC::Id"
    assert params["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert params["PublicSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert params["PublicSubnetIds"]["Description"].startswith("Exactly 2 public subnet IDs")
    assert params["PrivateRouteTableIds"]["Type"] == "CommaDelimitedList"
    assert "Default" not in params["VpcId"]


def test_existing_vpc_network_stack_holds_only_the_endpoints(existing: Templates) -> None:
    types = {r["Type"] for r in resources(existing["network.yaml"]).values()}
    assert types == {"AWS::EC2::SecurityGroup", "AWS::EC2::VPCEndpoint"}
    s3 = resources(existing["network.yaml"])["S3GatewayEndpoint"]
    assert props(s3)["RouteTableIds"] == {"Ref": "PrivateRouteTableIds"}
    assert set(existing["network.yaml"]["Outputs"]) == {"EndpointSecurityGroupId"}


def test_existing_vpc_is_wired_to_every_stack_from_the_parent_parameters(existing: Templates) -> None:
    joined = {"Fn::Join": [",", {"Ref": "PrivateSubnetIds"}]}
    assert child_parameters(existing, "services.yaml")["PrivateSubnetIds"] == joined
    assert child_parameters(existing, "alb.yaml")["PublicSubnetIds"] == {"Fn::Join": [",", {"Ref": "PublicSubnetIds"}]}
    for stack in ("security-groups.yaml", "alb.yaml", "network.yaml"):
        assert child_parameters(existing, stack)["VpcId"] == {"Ref": "VpcId"}


def test_existing_vpc_subnets_are_given_so_the_preflight_warns_and_passes(existing: Templates) -> None:
    findings = preflight(existing)
    assert [f.severity for f in findings] == ["warning"]
    assert "given as parameters (an existing VPC's)" in findings[0].problem


def test_existing_vpc_with_nat_egress_adds_no_s3_gateway_and_only_used_tiers() -> None:
    data = yaml.safe_load((ROOT / "examples" / "existing-vpc.yaml").read_text())
    data["network"]["egress"] = "nat-per-az"
    data["network"]["tiers"].append({"name": "spare"})
    t = render.synthesize(parse_spec(data, "<test>"))
    params = t["main.yaml"]["Parameters"]
    assert "PrivateRouteTableIds" not in params
    assert "SpareSubnetIds" not in params  # a tier nothing uses would be an unused parameter
    assert "S3GatewayEndpoint" not in resources(t["network.yaml"])
    spec = parse_spec(data, "<test>")
    est = cost.estimate(spec, cost.load_prices("us-east-1"), egress="nat-per-az")
    assert any("existing VPC's NAT gateways" in n for n in est.modes["nat-per-az"].notes)
    assert not [x for x in est.modes["nat-per-az"].lines if "NAT gateways" in x.item or "flow log" in x.item]


def test_existing_vpc_parameters_file_is_checked(existing: Templates) -> None:
    main = existing["main.yaml"]
    good = {
        "VpcId": "vpc-0a1b2c3d4e5f60718",
        "PrivateSubnetIds": "subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d",
        "PublicSubnetIds": "subnet-0a1b2c3d4e5f60101,subnet-0a1b2c3d4e5f60102",
        "PrivateRouteTableIds": "rtb-0a1b2c3d4e5f60001",
        "S3PrefixListId": "pl-63a5400a",
    }
    assert resolve(main, good, env={}).problems == []
    bad = {**good, "VpcId": "vpc-XYZ", "PublicSubnetIds": "subnet-0a1b2c3d4e5f60101"}
    problems = resolve(main, bad, env={}).problems
    assert "VpcId: 'vpc-XYZ' is not an ID of type AWS::EC2::VPC::Id" in problems
    assert any(p.startswith("PublicSubnetIds: 1 value(s) given") for p in problems), problems


# --------------------------------------------------------------------------- public subnets only


def test_public_only_platform_has_no_private_tier_nat_or_private_routes(public_only: Templates) -> None:
    net = resources(public_only["network.yaml"])
    assert not resources(public_only["network.yaml"], "AWS::EC2::NatGateway")
    assert not [lid for lid in net if lid.startswith("Private")]
    assert props(net["S3GatewayEndpoint"])["RouteTableIds"] == [{"Ref": "PublicRouteTable"}]
    assert props(net["StsEndpoint"])["SubnetIds"] == [{"Ref": "PublicSubnetAz1"}, {"Ref": "PublicSubnetAz2"}]
    assert "PrivateRouteTableIds" not in public_only["network.yaml"]["Outputs"]
    svc = next(iter(resources(public_only["services.yaml"], "AWS::ECS::Service").values()))
    cfg = props(svc)["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert cfg["AssignPublicIp"] == "ENABLED"
    assert cfg["Subnets"] == {"Ref": "PublicSubnetIds"}
    assert errors(public_only) == []
    assert check_all(public_only, example("public-subnets-only")) == {}


def test_data_stores_private_catches_a_database_in_public_subnets(mcp_templates: Templates) -> None:
    t = copy.deepcopy(mcp_templates)
    assert data_stores_private(TemplateSet(t)) == []
    group = next(iter(resources(t["database.yaml"], "AWS::RDS::DBSubnetGroup").values()))
    param = props(group)["SubnetIds"]["Ref"]
    child_parameters(t, "database.yaml")[param] = {"Fn::GetAtt": ["NetworkStack", "Outputs.PublicSubnetIds"]}
    found = [f.problem for f in data_stores_private(TemplateSet(t))]
    assert found and all("database subnet group uses public subnet PublicSubnetAz" in p for p in found), found


def test_data_stores_private_catches_an_efs_mount_target_in_a_public_subnet(mcp_templates: Templates) -> None:
    t = copy.deepcopy(mcp_templates)
    mount = resources(t["efs.yaml"], "AWS::EFS::MountTarget")["MountTargetAz1"]
    param = props(mount)["SubnetId"]["Fn::Select"][1]["Ref"]
    child_parameters(t, "efs.yaml")[param] = {"Fn::GetAtt": ["NetworkStack", "Outputs.PublicSubnetIds"]}
    found = [f.problem for f in data_stores_private(TemplateSet(t))]
    assert any("EFS mount target in public subnet PublicSubnetAz1" in p for p in found), found


# --------------------------------------------------------------------------- a nat tier


def test_nat_tier_has_one_nat_gateway_and_its_own_route_table(nat_tier: Templates) -> None:
    net = resources(nat_tier["network.yaml"])
    nats = resources(nat_tier["network.yaml"], "AWS::EC2::NatGateway")
    assert list(nats) == ["NatTierGateway"]
    assert props(nats["NatTierGateway"])["SubnetId"] == {"Ref": "PublicSubnetAz1"}
    routes = {lid: props(r) for lid, r in resources(nat_tier["network.yaml"], "AWS::EC2::Route").items()}
    assert routes["NatTierDefaultRoute"]["NatGatewayId"] == {"Ref": "NatTierGateway"}
    assert {r["RouteTableId"]["Ref"] for r in routes.values()} == {"NatTierRouteTable", "PublicRouteTable"}
    for k in (1, 2):
        assert props(net[f"EgressSubnetAz{k}RouteTableAssociation"])["RouteTableId"] == {"Ref": "NatTierRouteTable"}
        assert props(net[f"PrivateSubnetAz{k}RouteTableAssociation"])["RouteTableId"] == {
            "Ref": f"PrivateRouteTableAz{k}"
        }
    assert {"Ref": "NatTierRouteTable"} in props(net["S3GatewayEndpoint"])["RouteTableIds"]


def _world_egress(t: Templates, sg: str) -> bool:
    rules = props(resources(t["security-groups.yaml"])[sg]).get("SecurityGroupEgress", [])
    return any(r.get("CidrIp") == "0.0.0.0/0" for r in rules)


def test_only_the_nat_tier_service_may_reach_the_internet(nat_tier: Templates) -> None:
    assert not _world_egress(nat_tier, "ApiServiceSecurityGroup")
    assert _world_egress(nat_tier, "WebhookServiceSecurityGroup")
    assert errors(nat_tier) == []
    assert check_all(nat_tier, example("nat-tier")) == {}


def _route_private_to_the_nat(t: Templates) -> Templates:
    t = copy.deepcopy(t)
    t["network.yaml"]["Resources"]["PrivateDefaultRouteAz1"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": {"Ref": "PrivateRouteTableAz1"},
            "DestinationCidrBlock": "0.0.0.0/0",
            "NatGatewayId": {"Ref": "NatTierGateway"},
        },
    }
    return t


def test_preflight_proves_an_endpoint_only_service_has_no_internet_route(nat_tier: Templates) -> None:
    found = errors(_route_private_to_the_nat(nat_tier))
    assert found == [
        "service api: its security groups allow no HTTPS to the internet (endpoint-only), but subnet "
        "PrivateSubnetAz1 routes 0.0.0.0/0 to NAT gateway NatTierGateway (route table PrivateRouteTableAz1); "
        "an endpoint-only task must have no route to the internet (put the services that need one in a nat "
        "tier: network.tiers[].nat)"
    ]


def test_endpoint_only_isolation_invariant_catches_the_same_route(nat_tier: Templates) -> None:
    assert endpoint_only_isolation(TemplateSet(nat_tier)) == []
    found = [f.problem for f in endpoint_only_isolation(TemplateSet(_route_private_to_the_nat(nat_tier)))]
    assert len(found) == 1 and "service api:" in found[0] and "PrivateSubnetAz1" in found[0], found


def test_nat_tier_costs_one_nat_gateway_in_vpc_endpoints_mode() -> None:
    prices = cost.load_prices("us-east-1")
    est = cost.estimate(example("nat-tier"), prices, egress="vpc-endpoints")
    lines = [x for x in est.modes["vpc-endpoints"].lines if x.item.startswith("NAT gateway of the nat tiers (egress)")]
    assert len(lines) == 1
    assert lines[0].low == pytest.approx(cost.nat_monthly(prices))
