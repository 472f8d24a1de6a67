"""Issue 12: many services behind one load balancer (listener rules from target groups'
routes), gRPC/HTTP2 target groups and Service Connect app_protocol, and a load balancer
past its quotas (a second one declared, one targets security group per later service group).

Each refusal has its bad-spec fixture (tests/fixtures/bad_specs/120-139); here is what the
templates get, that rules stay put when routes are appended, and that the checks catch a
broken template.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import deployability, invariants
from generator.cfn.templateset import TemplateSet
from generator.invariants.routing import listener_rule_priorities, protocol_version_listeners
from generator.render import synthesize
from generator.spec import SpecError, parse_spec
from generator.stacks.security_groups import targets_key
from tests.helpers import ROOT, props, resources, web_service

EXAMPLE = ROOT / "examples" / "routed-services.yaml"
RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("x-")}


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return load(EXAMPLE)


@pytest.fixture(scope="module")
def templates(example: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return synthesize(parse_spec(example))


def rules(t: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return resources(t["alb.yaml"], RULE)


def test_each_route_is_a_rule_per_listener_named_by_listener_and_priority(templates: dict[str, Any]) -> None:
    got = rules(templates)
    # api: 10 and 20 on both listeners; admin: 30 on both; greeter: 40 on 443 only.
    assert sorted(got) == [
        "EdgeListener443Rule10",
        "EdgeListener443Rule20",
        "EdgeListener443Rule30",
        "EdgeListener443Rule40",
        "EdgeListener80Rule10",
        "EdgeListener80Rule20",
        "EdgeListener80Rule30",
    ]
    for lid, r in got.items():
        assert props(r)["Priority"] == int(lid.rsplit("Rule", 1)[1])
        assert props(r)["ListenerArn"] == {"Ref": lid.rsplit("Rule", 1)[0]}


def test_rules_follow_their_listener_through_both_stages(templates: dict[str, Any]) -> None:
    got = rules(templates)
    # https listener: the rule exists only with a domain, its record host is the domain name.
    https = got["EdgeListener443Rule10"]
    assert https["Condition"] == "HasDomain"
    assert props(https)["Conditions"][0]["HostHeaderConfig"]["Values"] == [
        {"Fn::Sub": "api.${AWS::Region}.${BaseDomain}"}
    ]
    # redirect listener: always there; forwards without a domain, redirects to HTTPS with one.
    redirect = got["EdgeListener80Rule10"]
    assert "Condition" not in redirect
    branches = props(redirect)["Actions"]["Fn::If"]
    assert branches[0] == "HasDomain"
    assert branches[1][0]["Type"] == "redirect" and branches[2][0]["Type"] == "forward"
    host = props(redirect)["Conditions"][0]["HostHeaderConfig"]["Values"][0]["Fn::If"]
    assert host[2] == {"Fn::Sub": "api.${AWS::Region}.invalid"}
    path = props(got["EdgeListener80Rule30"])["Conditions"]
    assert path == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin", "/admin/*"]}}]


def test_record_hosts_get_an_alias_record_and_a_certificate_name(templates: dict[str, Any]) -> None:
    records = resources(templates["dns.yaml"], "AWS::Route53::RecordSet")
    assert sorted(records) == ["ApiHostRecord", "EdgeAliasRecord", "GrpcHostRecord"]  # www is the ALB's own
    cert = props(templates["certificates.yaml"]["Resources"]["EdgeCertificate"])
    assert cert["SubjectAlternativeNames"] == [
        {"Fn::Sub": "api.${AWS::Region}.${BaseDomain}"},
        {"Fn::Sub": "grpc.${AWS::Region}.${BaseDomain}"},
    ]
    assert len(cert["DomainValidationOptions"]) == 3


def test_appending_routes_and_services_never_changes_an_existing_rule(example: dict[str, Any]) -> None:
    before = rules(synthesize(parse_spec(example)))
    grown = copy.deepcopy(example)
    extra = copy.deepcopy(grown["services"][2])
    extra["name"] = "reports"
    extra["target_groups"][0].update(name="reports", routes=[{"priority": 5, "paths": ["/reports/*"]}])
    grown["services"].append(extra)
    grown["services"][1]["target_groups"][0]["routes"].append({"priority": 50, "paths": ["/v2/*"]})
    after = rules(synthesize(parse_spec(grown)))
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {
        "EdgeListener80Rule5",
        "EdgeListener443Rule5",
        "EdgeListener80Rule50",
        "EdgeListener443Rule50",
    }


def test_a_changed_priority_is_a_new_rule_never_an_in_place_priority_change(example: dict[str, Any]) -> None:
    """Two rules swapping priorities in place fail on ELB (the ListenerRule schema's Priority
    note); IDs derived from the priority make the change a create-then-delete instead."""
    before = rules(synthesize(parse_spec(example)))
    swapped = copy.deepcopy(example)
    api = swapped["services"][1]["target_groups"][0]["routes"]
    api[0]["priority"], api[1]["priority"] = 20, 10
    after = rules(synthesize(parse_spec(swapped)))
    for lid in set(before) & set(after):
        assert props(before[lid])["Priority"] == props(after[lid])["Priority"], lid


def test_grpc_target_group_and_its_service(templates: dict[str, Any]) -> None:
    tg = props(templates["alb.yaml"]["Resources"]["GreeterTargetGroup"])
    assert tg["ProtocolVersion"] == "GRPC" and tg["Matcher"] == {"GrpcCode": "0"}
    assert "ProtocolVersion" not in props(templates["alb.yaml"]["Resources"]["ApiTargetGroup"])
    svc = props(templates["services.yaml"]["Resources"]["GreeterService"])
    assert svc["LoadBalancers"][0]["Fn::If"][0] == "HasDomain"
    assert svc["HealthCheckGracePeriodSeconds"]["Fn::If"][0] == "HasDomain"
    web = props(templates["services.yaml"]["Resources"]["WebService"])
    assert isinstance(web["HealthCheckGracePeriodSeconds"], int)
    td = props(templates["services.yaml"]["Resources"]["GreeterTaskDefinition"])
    assert td["ContainerDefinitions"][0]["PortMappings"][0]["AppProtocol"] == "grpc"


def test_the_example_satisfies_every_invariant_and_deployability_rule(templates: dict[str, Any]) -> None:
    assert invariants.check_all(templates) == {}
    assert [f for f in deployability.check(templates) if f.severity == "error"] == []


# --------------------------------------------------------------------------- checkers catch breaks


def test_priority_invariant_catches_a_duplicate_priority(templates: dict[str, Any]) -> None:
    broken = copy.deepcopy(templates)
    res = broken["alb.yaml"]["Resources"]
    res["EdgeListener443Rule20"]["Properties"]["Priority"] = 10
    found = listener_rule_priorities(TemplateSet(broken))
    assert any("also the priority of EdgeListener443Rule10" in f.problem for f in found), found
    res["EdgeListener443Rule20"]["Properties"]["Conditions"] = []
    assert any("no host-header or path-pattern" in f.problem for f in listener_rule_priorities(TemplateSet(broken)))


def test_protocol_version_invariant_catches_grpc_behind_plain_http(templates: dict[str, Any]) -> None:
    broken = copy.deepcopy(templates)
    listener = broken["alb.yaml"]["Resources"]["EdgeListener443"]["Properties"]
    listener["Protocol"] = {"Fn::If": ["HasDomain", "HTTPS", "HTTP"]}
    found = protocol_version_listeners(TemplateSet(broken))
    assert any("EdgeListener443Rule40" in f.problem and "GRPC" in f.problem for f in found), found


def test_presence_check_catches_a_grpc_service_attached_without_a_domain(templates: dict[str, Any]) -> None:
    """Attached in both stages, the gRPC service's target group has no listener without a
    domain (its rule exists only with one): ECS would refuse the service."""
    broken = copy.deepcopy(templates)
    svc = broken["services.yaml"]["Resources"]["GreeterService"]["Properties"]
    svc["LoadBalancers"] = [svc["LoadBalancers"][0]["Fn::If"][1]]
    found = [f for f in deployability.check(broken) if f.rule == "load-balancer-association"]
    assert any("GreeterService" in f.resource for f in found), found


# --------------------------------------------------------------------------- 100 services, one ALB


def hundred(n: int) -> dict[str, Any]:
    """``n`` services behind one load balancer with one listener: service 0 its default, the
    others one path route each (n - 1 rules, n target groups)."""

    def svc(k: int) -> dict[str, Any]:
        tg: dict[str, Any] = {"name": f"svc{k}", "load_balancer": "edge", "container_port": 8080}
        if k:
            tg["routes"] = [{"priority": k, "paths": [f"/svc{k}/*"]}]
        return web_service(f"svc{k}", tg)

    return {
        "name": "hundred",
        "description": "Many services behind one load balancer",
        "network": {
            "availability_zones": 2,
            "tiers": [
                {"name": "private", "newbits": 8, "offset": 0},
                {"name": "public", "public": True, "newbits": 8, "offset": 100},
            ],
            "egress": "single-nat",
        },
        "clusters": [{"name": "main"}],
        "load_balancers": [{"name": "edge", "listeners": [{"port": 80, "mode": "auto", "target_group": "svc0"}]}],
        "services": [svc(k) for k in range(n)],
    }


@pytest.fixture(scope="module")
def hundred_templates() -> dict[str, dict[str, Any]]:
    return synthesize(parse_spec(hundred(100)))


def test_a_hundred_services_behind_one_alb_fit_every_quota(hundred_templates: dict[str, Any]) -> None:
    errors = [f for f in deployability.check(hundred_templates) if f.severity == "error"]
    assert errors == []
    assert len(rules(hundred_templates)) == 99
    assert len(hundred_templates["alb.yaml"]["Outputs"]) <= 200


def test_later_groups_reach_the_alb_through_one_targets_group(hundred_templates: dict[str, Any]) -> None:
    """The ALB's security group has one outbound rule per later service group and port, not
    one per service: within the 60 outbound rules a security group may have."""
    egress = [
        (f, lid)
        for f, t in hundred_templates.items()
        for lid, r in resources(t, "AWS::EC2::SecurityGroupEgress").items()
        if "EdgeLoadBalancerSecurityGroup" in str(props(r)["GroupId"])
    ]
    assert 0 < len(egress) < 60
    later = [f for f in hundred_templates if f.startswith("security-groups-")]
    assert later, sorted(hundred_templates)
    for f in later:
        group = f.removeprefix("security-groups").removesuffix(".yaml").lstrip("-")
        sgs = resources(hundred_templates[f], "AWS::EC2::SecurityGroup")
        assert any(targets_key(group, "edge").replace("-", "") in lid.lower() for lid in map(str.lower, sgs)), sgs


def test_one_target_group_too_many_is_refused_with_how_to_declare_a_second_alb() -> None:
    templates = synthesize(parse_spec(hundred(101)))
    found = [f for f in deployability.check(templates) if f.rule == "alb-quota"]
    assert any(
        "forwards to target groups: 101" in f.problem and "declare a second load balancer" in f.problem for f in found
    ), found


def test_a_route_needs_a_host_or_a_path(example: dict[str, Any]) -> None:
    bad = copy.deepcopy(example)
    bad["services"][1]["target_groups"][0]["routes"][0] = {"priority": 10}
    with pytest.raises(SpecError, match=r"routes\[0\]: .*a route needs hosts, paths or both"):
        parse_spec(bad)
