"""Who may reach a listener, and whether every target group has one (issue 11, items 1, 6, 7a).

- Ingress sources per listener: ports other than 80/443 admit only a declared
  ``ingress_sources`` set (its own CommaDelimitedList parameter), never the world; the
  parameter states its count and refuses /0 by AllowedPattern; each load balancer's
  security group fits the 60-inbound-rule quota, counted the way the generator emits rules.
- Listener stages: a target group is forwarded to both before and after BaseDomain is set,
  or the spec is refused (ECS refuses to attach a service to a target group without a load
  balancer).
- Per-environment egress: rules that exist only in some environments are separate
  SecurityGroupEgress resources with a Condition and a literal Description.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from generator import render
from generator.spec import Platform, SpecError, load_spec, parse_spec
from generator.spec.edge import CIDR_PATTERN, CIDR_PATTERN_NOT_WORLD, SG_INBOUND_RULES_MAX, lb_inbound_rules
from tests.helpers import PLATFORMS, ROOT, props, resources
from tests.strategies import valid_platforms

WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())


def spec_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    data.update(copy.deepcopy(changes))
    return data


def admin_port(listener: dict[str, Any] | None = None, **platform: Any) -> dict[str, Any]:
    """web.yaml plus an admin target group on container port 9090 behind listener 8080."""
    data = spec_with(**platform)
    svc = data["services"][0]
    svc["ports"].append({"name": "admin", "port": 9090})
    svc["target_groups"].append({"name": "admin", "load_balancer": "web", "container_port": 9090})
    data["load_balancers"][0]["listeners"].append(listener or {"port": 8080, "mode": "auto", "target_group": "admin"})
    return data


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "spec.yaml")
    assert len(exc.value.lines) == 1, exc.value.lines
    return exc.value.lines[0]


ADMIN = {"name": "AdminCidrBlocks", "description": "operators' office networks", "cidrs": ["203.0.113.0/24"]}


def lb_rules(t: dict[str, Any], group: str) -> list[dict[str, Any]]:
    """Inbound rules of a security group: inline plus SecurityGroupIngress resources."""
    rules = list(props(resources(t)[group]).get("SecurityGroupIngress", []))
    rules += [
        props(r)
        for r in resources(t, "AWS::EC2::SecurityGroupIngress").values()
        if props(r)["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    return rules


# ---------------------------------------------------------------- ingress sources: the spec


def test_a_port_other_than_80_443_cannot_admit_the_platform_cidrs() -> None:
    msg = refusal(admin_port())
    assert msg.startswith("spec.yaml: load_balancers[web].listeners[8080].sources: port 8080 is not 80 or 443")
    assert "declare an ingress_sources set" in msg


def test_a_port_other_than_80_443_admits_its_own_sources() -> None:
    spec = parse_spec(
        admin_port(
            {"port": 8080, "mode": "auto", "target_group": "admin", "sources": "AdminCidrBlocks"},
            ingress_sources=[ADMIN],
        ),
        "spec.yaml",
    )
    assert spec.ingress_parameters() == [
        (
            "AdminCidrBlocks",
            "203.0.113.0/24",
            CIDR_PATTERN_NOT_WORLD,
            "Exactly 1 CIDR(s), comma-separated, that may reach listener port(s) 8080: operators' office networks",
        )
    ]


def test_the_load_balancer_can_name_the_sources_of_its_listeners() -> None:
    data = admin_port(ingress_sources=[ADMIN])
    data["load_balancers"][0]["sources"] = "AdminCidrBlocks"
    spec = parse_spec(data, "spec.yaml")
    assert not spec.uses_ingress_cidrs  # port 80 admits the set too: IngressCidrBlocks is not a parameter
    t = render.synthesize(spec)
    assert "IngressCidrBlocks" not in t["main.yaml"]["Parameters"]
    assert {
        r["FromPort"]: r["CidrIp"] for r in lb_rules(t["security-groups.yaml"], "WebLoadBalancerSecurityGroup")
    } == {80: {"Fn::Select": [0, {"Ref": "AdminCidrBlocks"}]}, 8080: {"Fn::Select": [0, {"Ref": "AdminCidrBlocks"}]}}
    # 80 only reaches it from the load balancer's default, and 8080 too: /0 is refused for both
    assert t["main.yaml"]["Parameters"]["AdminCidrBlocks"]["AllowedPattern"] == CIDR_PATTERN_NOT_WORLD


def test_a_set_that_reaches_another_port_cannot_hold_the_world() -> None:
    world = {**ADMIN, "cidrs": ["0.0.0.0/0"]}
    msg = refusal(
        admin_port(
            {"port": 8080, "mode": "auto", "target_group": "admin", "sources": "AdminCidrBlocks"},
            ingress_sources=[world],
        )
    )
    assert msg == (
        "spec.yaml: ingress_sources[AdminCidrBlocks].cidrs: 0.0.0.0/0 would open port 8080 to the "
        "world; only 80 and 443 may be"
    )


def test_a_set_only_on_80_and_443_may_hold_the_world() -> None:
    data = spec_with(ingress_sources=[{**ADMIN, "cidrs": ["0.0.0.0/0"]}])
    data["load_balancers"][0]["listeners"][0]["sources"] = "AdminCidrBlocks"
    spec = parse_spec(data, "spec.yaml")
    assert spec.ingress_parameters()[0][2] == CIDR_PATTERN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ingress_sources": [ADMIN, ADMIN]}, "ingress_sources: names must be unique"),
        (
            {"ingress_sources": [{**ADMIN, "name": "IngressCidrBlocks"}]},
            "ingress_sources[IngressCidrBlocks]: the name is already a parameter",
        ),
        (
            {"ingress_sources": [ADMIN]},
            "ingress_sources[AdminCidrBlocks]: declared but no listener names it in sources",
        ),
        ({"ingress_sources": [{**ADMIN, "cidrs": ["2001:db8::/32"]}]}, "is IPv6; load balancer rules take IPv4 CIDRs"),
        ({"ingress_sources": [{**ADMIN, "cidrs": ["10.0.0.0/8", "10.0.0.0/8"]}]}, "CIDRs must be unique"),
        ({"ingress_cidrs": ["::/0"]}, "ingress_cidrs: '::/0' is IPv6; load balancer rules take IPv4 CIDRs (CidrIp)"),
        ({"ingress_cidrs": ["0.0.0.0/0", "0.0.0.0/0"]}, "spec.yaml: ingress_cidrs: CIDRs must be unique"),
    ],
)
def test_source_sets_are_checked(change: dict[str, Any], message: str) -> None:
    assert message in refusal(spec_with(**change))


def test_a_listener_names_a_known_set() -> None:
    data = spec_with()
    data["load_balancers"][0]["listeners"][0]["sources"] = "Nope"
    assert refusal(data).endswith("load_balancers[web].listeners[80].sources: unknown ingress_sources set 'Nope'")


# ---------------------------------------------------------------- ingress sources: the templates


def test_mcp_admin_ports_admit_only_their_own_parameter(mcp_templates: dict) -> None:
    """upstream (and this generator before issue 11) opened 7860 and 8888 to IngressCidrBlocks,
    0.0.0.0/0 by default, in plain HTTP without a domain."""
    t = mcp_templates["security-groups.yaml"]
    by_port: dict[int, set[str]] = {}
    for r in lb_rules(t, "MainLoadBalancerSecurityGroup"):
        cidr = r.get("CidrIp")
        if isinstance(cidr, dict) and "Fn::Select" in cidr:
            by_port.setdefault(r["FromPort"], set()).add(cidr["Fn::Select"][1]["Ref"])
    assert by_port == {
        80: {"IngressCidrBlocks"},
        443: {"IngressCidrBlocks"},
        7860: {"ClientCidrBlocks"},
        8888: {"ClientCidrBlocks"},
    }
    param = mcp_templates["main.yaml"]["Parameters"]["ClientCidrBlocks"]
    assert param["Type"] == "CommaDelimitedList"
    assert param["AllowedPattern"] == CIDR_PATTERN_NOT_WORLD
    assert "0.0.0.0/0" not in param["Default"].split(",")


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_every_cidr_parameter_states_the_count_its_rules_are_generated_for(path: Any) -> None:
    """The contract deploy's parameter check reads: "Exactly N CIDR(s)" = rules per listener."""
    spec = load_spec(path)
    t = render.synthesize(spec)
    params = t["main.yaml"]["Parameters"]
    sg = t["security-groups.yaml"]
    for name, p in params.items():
        if p["Type"] != "CommaDelimitedList" or name not in (
            "IngressCidrBlocks",
            *(s.name for s in spec.ingress_sources),
        ):
            continue
        m = re.match(r"^Exactly (\d+) CIDR\(s\)", p["Description"])
        assert m, (name, p["Description"])
        assert int(m.group(1)) == len(str(p["Default"]).split(","))
        selects = {
            r["CidrIp"]["Fn::Select"][0]
            for g in resources(sg, "AWS::EC2::SecurityGroup")
            for r in props(resources(sg)[g]).get("SecurityGroupIngress", [])
            if isinstance(r.get("CidrIp"), dict) and r["CidrIp"]["Fn::Select"][1] == {"Ref": name}
        }
        assert selects == set(range(int(m.group(1)))), name


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        (CIDR_PATTERN_NOT_WORLD, "0.0.0.0/0", False),
        (CIDR_PATTERN_NOT_WORLD, "203.0.113.0/24", True),
        (CIDR_PATTERN_NOT_WORLD, "10.0.0.0/8", True),
        (CIDR_PATTERN_NOT_WORLD, "10.0.0.0/33", False),
        (CIDR_PATTERN, "0.0.0.0/0", True),
        (CIDR_PATTERN, "2001:db8::/32", False),
    ],
)
def test_allowed_patterns(pattern: str, value: str, ok: bool) -> None:
    """CloudFormation matches AllowedPattern against each value of a CommaDelimitedList."""
    assert (re.fullmatch(pattern, value) is not None) == ok


def many(ingress: int, admin: int) -> dict[str, Any]:
    """web.yaml with an https domain (80, 443 on IngressCidrBlocks) and 7860/8888 on an admin set."""
    data = admin_port(
        {"port": 8888, "mode": "auto", "target_group": "admin", "sources": "AdminCidrBlocks"},
        ingress_cidrs=[f"198.51.{k}.0/24" for k in range(ingress)],
        ingress_sources=[{**ADMIN, "cidrs": [f"203.0.{k}.0/24" for k in range(admin)]}],
        domain={"base_domain": "example.com"},
    )
    lb = data["load_balancers"][0]
    lb["dns_record"] = "www"
    lb["listeners"] += [
        {"port": 443, "mode": "https", "target_group": "web"},
        {"port": 7860, "mode": "auto", "target_group": "admin", "sources": "AdminCidrBlocks"},
    ]
    return data


def test_twenty_cidrs_on_four_ports_no_longer_need_eighty_rules() -> None:
    """Issue 11: 20 ingress CIDRs x 4 ports were 80 inline rules, over the quota of 60. With the
    admin ports on their own (smaller) set the group fits; the generator counts what it emits."""
    spec = parse_spec(many(20, 10), "spec.yaml")
    group = lb_rules(render.synthesize(spec)["security-groups.yaml"], "WebLoadBalancerSecurityGroup")
    assert len(group) == lb_inbound_rules(spec, spec.load_balancers[0]) == 20 * 2 + 10 * 2 == SG_INBOUND_RULES_MAX


def test_a_group_over_the_quota_is_refused() -> None:
    msg = refusal(many(20, 11))
    assert msg.startswith("spec.yaml: load_balancers[web]: its security group needs 62 inbound rules")
    assert "over the 60 AWS allows per security group" in msg


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=valid_platforms(8))
def test_the_spec_counts_the_inbound_rules_the_generator_emits(spec: Platform) -> None:
    sg = render.synthesize(spec)["security-groups.yaml"]
    for lb in spec.load_balancers:
        group = "".join(w.capitalize() for w in lb.name.split("-")) + "LoadBalancerSecurityGroup"
        assert len(lb_rules(sg, group)) == lb_inbound_rules(spec, lb)


# ---------------------------------------------------------------- listener stages (item 1)


def with_domain(listeners: list[dict[str, Any]]) -> dict[str, Any]:
    data = spec_with(domain={"base_domain": "example.com"})
    data["load_balancers"][0].update(dns_record="www", listeners=listeners)
    return data


def test_an_https_only_target_group_is_refused() -> None:
    """Without BaseDomain the https listener does not exist, yet the service attaches to its
    target group: AWS refuses the service ("target group ... does not have an associated load
    balancer"). The committed generator emitted exactly that."""
    msg = refusal(with_domain([{"port": 443, "mode": "https", "target_group": "web"}]))
    assert msg == (
        "spec.yaml: load_balancers[web].listeners[443]: target group 'web' is reached only through https "
        "listeners, which exist only when BaseDomain is set; without a domain its service cannot attach. Add "
        "{port: 80, mode: redirect, target_group: web} (plain HTTP until a domain exists) or use mode: auto"
    )


@pytest.mark.parametrize(
    "listeners",
    [
        [
            {"port": 443, "mode": "https", "target_group": "web"},
            {"port": 80, "mode": "redirect", "target_group": "web"},
        ],
        [{"port": 443, "mode": "auto", "target_group": "web"}],
    ],
    ids=["with-redirect", "auto"],
)
def test_the_fixes_the_message_names_are_accepted(listeners: list[dict[str, Any]]) -> None:
    parse_spec(with_domain(listeners), "spec.yaml")


def test_a_redirect_needs_an_https_listener_on_443() -> None:
    msg = refusal(with_domain([{"port": 80, "mode": "redirect", "target_group": "web"}]))
    assert msg.endswith(
        "listeners[80]: redirect sends clients to HTTPS on port 443 once BaseDomain is set, but "
        "'web' has no https or auto listener on 443; add {port: 443, mode: https, target_group: ...}"
    )


def test_443_cannot_redirect_to_itself() -> None:
    msg = refusal(with_domain([{"port": 443, "mode": "redirect", "target_group": "web"}]))
    assert "listeners[443]: redirect sends clients to HTTPS on 443 once BaseDomain is set" in msg


def test_a_redirect_only_target_group_is_refused() -> None:
    """With BaseDomain set a redirect listener redirects instead of forwarding: a target group
    reached only through one has no load balancer in stage two."""
    data = admin_port(
        {"port": 8080, "mode": "redirect", "target_group": "admin", "sources": "AdminCidrBlocks"},
        ingress_sources=[ADMIN],
        domain={"base_domain": "example.com"},
    )
    data["load_balancers"][0]["dns_record"] = "www"
    data["load_balancers"][0]["listeners"].append({"port": 443, "mode": "https", "target_group": "web"})
    msg = refusal(data)
    assert "load_balancers[web].listeners[8080]: target group 'admin' is reached only through redirect listeners" in msg


def stage(node: Any, domain: bool) -> Any:
    """``node`` with every Fn::If on HasDomain resolved for the stage (BaseDomain set or empty)."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        cond, yes, no = node["Fn::If"]
        assert cond == "HasDomain", node
        return stage(yes if domain else no, domain)
    if isinstance(node, dict):
        return {k: stage(v, domain) for k, v in node.items() if stage(v, domain) != {"Ref": "AWS::NoValue"}}
    if isinstance(node, list):
        return [stage(v, domain) for v in node]
    return node


def listeners(alb: dict[str, Any], domain: bool) -> dict[str, dict[str, Any]]:
    """The listeners that exist when BaseDomain is set (domain) or empty, as that stage sees them."""
    return {
        lid: stage(props(r), domain)
        for lid, r in resources(alb, "AWS::ElasticLoadBalancingV2::Listener").items()
        if r.get("Condition") in (None, "HasDomain" if domain else "NoDomain")
    }


def forwarded(alb: dict[str, Any], domain: bool) -> set[str]:
    """Target groups some listener forwards to when BaseDomain is set (domain) or empty."""
    return {
        a["TargetGroupArn"]["Ref"]
        for p in listeners(alb, domain).values()
        for a in p["DefaultActions"]
        if a["Type"] == "forward"
    }


WITH_LBS = [p for p in PLATFORMS if load_spec(p).load_balancers]


@pytest.mark.parametrize("path", WITH_LBS, ids=lambda p: p.stem)
def test_every_target_group_has_a_listener_in_both_stages(path: Any) -> None:
    t = render.synthesize(load_spec(path))
    tgs = set(resources(t["alb.yaml"], "AWS::ElasticLoadBalancingV2::TargetGroup"))
    assert forwarded(t["alb.yaml"], domain=False) == tgs
    assert forwarded(t["alb.yaml"], domain=True) == tgs


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=valid_platforms(8))
def test_random_target_groups_have_a_listener_in_both_stages(spec: Platform) -> None:
    t = render.synthesize(spec)
    if "alb.yaml" in t:
        tgs = set(resources(t["alb.yaml"], "AWS::ElasticLoadBalancingV2::TargetGroup"))
        assert forwarded(t["alb.yaml"], domain=False) == tgs == forwarded(t["alb.yaml"], domain=True)


def ports(alb: dict[str, Any]) -> dict[tuple[str, int], list[str]]:
    """(load balancer, port) -> the listener resources on it, whatever their conditions."""
    out: dict[tuple[str, int], list[str]] = {}
    for lid, r in resources(alb, "AWS::ElasticLoadBalancingV2::Listener").items():
        out.setdefault((props(r)["LoadBalancerArn"]["Ref"], props(r)["Port"]), []).append(lid)
    return out


def assert_one_listener_per_port(alb: dict[str, Any]) -> None:
    """One listener resource per (load balancer, port), and every listener of stage one is still
    there, under the same logical id, in stage two: setting BaseDomain never creates a listener on
    a port that already has one (ELB refuses it, DuplicateListener, and CloudFormation creates a
    new resource before it deletes the old one)."""
    assert all(len(lids) == 1 for lids in ports(alb).values()), ports(alb)
    assert set(listeners(alb, domain=False)) <= set(listeners(alb, domain=True))
    for lid, r in resources(alb, "AWS::ElasticLoadBalancingV2::Listener").items():
        assert r.get("Condition") in (None, "HasDomain"), (lid, r.get("Condition"))


@pytest.mark.parametrize("path", WITH_LBS, ids=lambda p: p.stem)
def test_one_listener_per_port_in_both_stages(path: Any) -> None:
    assert_one_listener_per_port(render.synthesize(load_spec(path))["alb.yaml"])


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=valid_platforms(8))
def test_random_specs_have_one_listener_per_port_in_both_stages(spec: Platform) -> None:
    t = render.synthesize(spec)
    if "alb.yaml" in t:
        assert_one_listener_per_port(t["alb.yaml"])


def test_the_stage_check_catches_a_listener_swapped_by_the_stage() -> None:
    """The shape this fix removed: a NoDomain listener and a HasDomain one on the same port."""
    alb = copy.deepcopy(render.synthesize(load_spec(ROOT / "platforms" / "bff-agentcore.yaml"))["alb.yaml"])
    res = alb["Resources"]
    res["PublicListener80NoDomain"] = copy.deepcopy(res["PublicListener80"])
    res["PublicListener80NoDomain"]["Condition"] = "NoDomain"
    res["PublicListener80"]["Condition"] = "HasDomain"
    with pytest.raises(AssertionError):
        assert_one_listener_per_port(alb)


# ---------------------------------------------------------------- per-environment egress (item 7a)


def per_env(egress: str, overrides: dict[str, str]) -> dict[str, dict[str, Any]]:
    data = spec_with()
    data["network"] = {**data["network"], "egress": egress, "egress_by_environment": overrides}
    return render.synthesize(parse_spec(data, "spec.yaml"))


@pytest.mark.parametrize(
    ("egress", "overrides"),
    [
        ("nat-per-az", {"dev": "vpc-endpoints"}),
        ("vpc-endpoints", {"prod": "single-nat"}),
    ],
    ids=["nat-except-dev", "endpoints-except-prod"],
)
def test_per_environment_egress_rules_are_conditional_resources(egress: str, overrides: dict[str, str]) -> None:
    """checkov (CKV_AWS_23) cannot read a Description inside Fn::If: every rule of every group
    is a plain rule with a literal Description, and the per-environment ones carry a Condition."""
    t = per_env(egress, overrides)["security-groups.yaml"]
    for lid, g in resources(t, "AWS::EC2::SecurityGroup").items():
        for r in props(g).get("SecurityGroupEgress", []) + props(g).get("SecurityGroupIngress", []):
            assert "Fn::If" not in r and isinstance(r.get("Description"), str), (lid, r)
    conditional = {lid: r for lid, r in resources(t, "AWS::EC2::SecurityGroupEgress").items() if "Condition" in r}
    nat_envs = sorted(e for e in ("dev", "test", "prod") if overrides.get(e, egress) != "vpc-endpoints")
    world = conditional["WebServiceToInternet443Egress"]
    prefix = conditional["WebServiceToS3PrefixList443Egress"]
    assert props(world)["CidrIp"] == "0.0.0.0/0" and isinstance(props(world)["Description"], str)
    assert props(prefix)["DestinationPrefixListId"] == {"Ref": "S3PrefixListId"}
    assert t["Conditions"][world["Condition"]] != t["Conditions"][prefix["Condition"]]
    envs = t["Conditions"][world["Condition"]]
    named = sorted(re.findall(r"'(dev|test|prod)'", str(envs)))
    assert named == nat_envs


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_no_security_group_has_the_same_rule_twice(path: Any) -> None:
    """EC2 keeps one of two identical rules and CloudFormation then drifts (removing the
    'duplicate' later removes the rule): aws-cloudformation/cloudformation-coverage-roadmap#612,
    #1534. mcp-gateway's registry and auth groups had 0.0.0.0/0:80 twice (two load balancers)."""
    t = render.synthesize(load_spec(path))["security-groups.yaml"]
    seen: dict[tuple[str, str, str], int] = {}
    for lid, g in resources(t, "AWS::EC2::SecurityGroup").items():
        for kind in ("SecurityGroupEgress", "SecurityGroupIngress"):
            for r in props(g).get(kind, []):
                key = (lid, kind, repr({k: v for k, v in r.items() if k != "Description"}))
                seen[key] = seen.get(key, 0) + 1
    assert [k for k, n in seen.items() if n > 1] == []


# ---------------------------------------------------------------- deploy's parameter check


SECRET_ENV = {"STACKGEN_PARAM_KeycloakAdminPassword": "correct-horse-battery-staple"}


def test_deploy_refuses_the_world_on_an_admin_port(mcp_templates: dict) -> None:
    from generator.deploy.params import resolve

    got = resolve(mcp_templates["main.yaml"], {"ClientCidrBlocks": "203.0.113.0/24"}, env=SECRET_ENV)
    assert got.problems == []
    got = resolve(mcp_templates["main.yaml"], {"ClientCidrBlocks": "0.0.0.0/0"}, env=SECRET_ENV)
    assert any("ClientCidrBlocks" in p for p in got.problems)


def test_deploy_refuses_a_cidr_count_the_rules_were_not_generated_for(mcp_templates: dict) -> None:
    from generator.deploy.params import resolve

    got = resolve(mcp_templates["main.yaml"], {"ClientCidrBlocks": "203.0.113.0/24,198.51.100.0/24"}, env=SECRET_ENV)
    assert any("ClientCidrBlocks" in p for p in got.problems)
