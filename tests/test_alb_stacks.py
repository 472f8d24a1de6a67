"""Issue 12, items 2 and 4: hundreds of target groups.  The ALB resources that do not fit the
alb stack go to further nested stacks (``alb-2.yaml``, ..., generator.alb_stacks), every
template stays within every per-template quota, and appending services with target groups
never moves an existing ALB resource to another stack or logical ID.

Before this, one ``alb.yaml`` held every target group and its ARN output, so a spec past
about 195 target groups was refused at synthesis ("needs more than 200 outputs").
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from generator import deployability, render
from generator.alb_stacks import place
from generator.contract import ContractError
from generator.naming import stack_id
from generator.parent import children, wire
from generator.placement import mapping
from generator.spec import Platform, parse_spec
from generator.spec.load import load_spec
from generator.stacks import alb
from tests.helpers import ROOT, web_service
from tests.test_scale import over_quota

ALB_TYPES = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
}


def routed_scale_spec(n: int, balancers: int = 1, domain: bool = False) -> dict[str, Any]:
    """``n`` services, each behind its own target group, spread round-robin over ``balancers``
    declared load balancers (``lb0``, ...; the first service of each is its listeners' default).
    Every other one routes by a full host pattern, the rest by a path and, with ``domain``,
    every third of those by a record host of the domain too (``h<i>``)."""
    lbs = []
    for b in range(balancers):
        listeners = (
            [
                {"port": 80, "mode": "redirect", "target_group": f"s{b:03d}"},
                {"port": 443, "mode": "https", "target_group": f"s{b:03d}"},
            ]
            if domain
            else [{"port": 80, "mode": "auto", "target_group": f"s{b:03d}"}]
        )
        lbs.append({"name": f"lb{b}", "listeners": listeners, **({"dns_record": f"www{b}"} if domain else {})})
    services = []
    for i in range(n):
        name = f"s{i:03d}"
        tg: dict[str, Any] = {"name": name, "load_balancer": f"lb{i % balancers}", "container_port": 8080}
        if i >= balancers:
            if i % 2:
                route: dict[str, Any] = {"priority": 1000 + i, "hosts": [f"{name}.example.org"]}
            elif domain and i % 3 == 0:
                route = {"priority": 1000 + i, "hosts": [f"h{i}"], "paths": [f"/{name}/*"]}
            else:
                route = {"priority": 1000 + i, "hosts": [f"p{i}.example.net"], "paths": [f"/{name}/*"]}
            tg["routes"] = [route]
        services.append(web_service(name, tg))
    out: dict[str, Any] = {
        "name": f"routed-{n}",
        "description": f"{n} services, each behind a target group",
        "network": {"availability_zones": 2, "egress": "single-nat"},
        "clusters": [{"name": "main"}],
        "load_balancers": lbs,
        "services": services,
    }
    if domain:
        out["domain"] = {"base_domain": "example.com"}
    return out


def _spec_and_groups(data: dict[str, Any]) -> tuple[Platform, dict[str, str]]:
    spec = parse_spec(data)
    return spec, dict(mapping(spec))


def placed(templates: dict[str, dict[str, Any]]) -> dict[str, str]:
    """ALB logical id -> the file that holds it."""
    out: dict[str, str] = {}
    for f, t in templates.items():
        for lid, r in (t.get("Resources") or {}).items():
            if r["Type"] in ALB_TYPES:
                assert lid not in out, f"{lid} in {out.get(lid)} and {f}"
                out[lid] = f
    return out


@pytest.fixture(scope="module")
def one_lb() -> dict[str, dict[str, Any]]:
    return render.synthesize(parse_spec(routed_scale_spec(300)))


@pytest.fixture(scope="module")
def three_lbs() -> dict[str, dict[str, Any]]:
    return render.synthesize(parse_spec(routed_scale_spec(300, balancers=3, domain=True)))


@pytest.mark.parametrize("which", ["one_lb", "three_lbs"])
def test_300_target_groups_generate_within_every_quota(which: str, request: pytest.FixtureRequest) -> None:
    templates = request.getfixturevalue(which)
    assert not over_quota(templates)
    albs = sorted(f for f in templates if f == "alb.yaml" or f.startswith("alb-"))
    assert len(albs) >= 2, albs
    tgs = [lid for lid, f in placed(templates).items() if lid.endswith("TargetGroup")]
    assert len(tgs) == 300
    # Each services stack reads its target groups' ARNs from the alb stack that holds them,
    # directly or (in a later root stack, generator.roots) through an output of an earlier root.
    where = placed(templates)
    roots = {f: t for f, t in templates.items() if f.startswith("main")}
    exported = {n: o["Value"] for t in roots.values() for n, o in (t.get("Outputs") or {}).items()}
    read = 0
    for t in roots.values():
        for lid, r in t["Resources"].items():
            if not lid.startswith("Services"):
                continue
            for name, value in r["Properties"].get("Parameters", {}).items():
                if not name.endswith("TargetGroupArn"):
                    continue
                value = exported[value["Ref"]] if "Ref" in value else value
                holder = value["Fn::GetAtt"][0]
                assert holder == stack_id(where[name.removesuffix("Arn")].removesuffix(".yaml")), (name, holder)
                read += 1
    assert read == 300
    # An alb-<group> stack is deployed by the root stack of its group's services (generator.roots),
    # and the root's metadata lists it with the group's stacks.
    root_of = {r["Properties"]["TemplateURL"]: f for f, t in roots.items() for r in t["Resources"].values()}
    for f in albs:
        if f in ("alb.yaml", "alb-2.yaml"):
            assert root_of[f] == "main.yaml"
            continue
        group = f.removeprefix("alb-").removesuffix(".yaml")
        assert root_of[f] == root_of[f"services-{group}.yaml"], f
        meta = roots[root_of[f]]["Metadata"]["stackgen"]["service_groups"][group]
        assert f.removesuffix(".yaml") in meta["stacks"]


def test_the_three_balancer_spec_shards_and_keeps_hosts_with_their_certificates(
    three_lbs: dict[str, dict[str, Any]],
) -> None:
    where = placed(three_lbs)
    lbs = sorted(lid for lid in where if lid.endswith("LoadBalancer"))
    assert len(lbs) > 3, lbs  # overflow shards of the declared load balancers
    assert {where[f"Lb{b}LoadBalancer"] for b in range(3)} == {"alb.yaml"}
    later = [lid for lid in lbs if where[lid] != "alb.yaml"]
    assert later, "an overflow shard in a later alb stack"
    # A later stack holding a shard reads the access-log bucket from the alb stack.
    f = where[later[0]]
    assert "AlbAccessLogBucketName" in three_lbs[f]["Parameters"]


def _stacks_of(spec: dict[str, Any]) -> dict[str, str]:
    return placed(render.synthesize(parse_spec(spec)))


def test_appending_services_with_target_groups_moves_no_alb_resource() -> None:
    before_spec = routed_scale_spec(300, balancers=3, domain=True)
    grown = routed_scale_spec(340, balancers=3, domain=True)
    assert grown["services"][:300] == before_spec["services"]
    before = _stacks_of(before_spec)
    after = _stacks_of(grown)
    moved = {lid: (f, after.get(lid)) for lid, f in before.items() if after.get(lid) != f}
    assert not moved
    assert len(after) > len(before)


@pytest.mark.parametrize(("balancers", "domain"), [(1, False), (3, True)])
def test_placement_alone_is_stable_under_appending(balancers: int, domain: bool) -> None:
    """Every prefix of a 320-service spec places each target group where the whole spec does."""
    full = routed_scale_spec(320, balancers=balancers, domain=domain)
    whole = {x: s.name for s in place(*_spec_and_groups(full)) for x in (*s.target_groups, *s.shards)}
    assert len(set(whole.values())) > 2
    for n in (150, 190, 200, 250, 319):
        part = copy.deepcopy(full)
        part["services"] = part["services"][:n]
        for s in place(*_spec_and_groups(part)):
            for x in (*s.target_groups, *s.shards):
                assert whole[x] == s.name, (n, x)


def test_the_estimate_bounds_what_each_alb_stack_holds() -> None:
    """The placement's counts are upper bounds of the built templates' (a later stack's
    inputs exactly, since a parameter nobody uses is a cfn-lint warning)."""
    spec, groups = _spec_and_groups(routed_scale_spec(300, balancers=3, domain=True))
    stacks = place(spec, groups)
    built = {c.name: c.template for c in children(spec) if c.name == "alb" or c.name.startswith("alb-")}
    assert [s.name for s in stacks] == list(built)
    for s in stacks:
        t = built[s.name]
        assert set(t.parameters) == set(s.inputs), s.name
        assert len(t.resources) <= 500 and len(t.outputs) <= 200


def test_a_listener_arn_no_alb_stack_gives_is_refused_by_the_wiring() -> None:
    """The parent's wiring check catches a rule in a later alb stack whose listener ARN the alb
    stack does not give (what a placement that forgot ``listener_outputs`` would build)."""
    spec, groups = _spec_and_groups(routed_scale_spec(300))
    kids = children(spec)
    first = next(c for c in kids if c.name == "alb")
    part = place(spec, groups)[0]
    assert part.listener_outputs
    broken = dataclasses.replace(part, listener_outputs=frozenset(part.listener_outputs - {"Lb02Listener80Arn"}))
    kids = [
        dataclasses.replace(c, iface=alb.interface(spec, broken), template=alb.build(spec, broken)) if c is first else c
        for c in kids
    ]
    with pytest.raises(ContractError, match="Lb02Listener80Arn"):
        wire(spec, kids)


@pytest.mark.parametrize("which", ["one_lb", "three_lbs"])
def test_the_deployability_check_passes_300_target_groups(which: str, request: pytest.FixtureRequest) -> None:
    templates = request.getfixturevalue(which)
    assert [f.problem for f in deployability.check(templates) if f.severity == "error"] == []


def test_an_https_listener_arn_output_without_its_condition_is_refused(three_lbs: dict[str, dict[str, Any]]) -> None:
    """An https listener exists only with a domain, so the output of its ARN a later alb stack
    reads is ``Fn::If HasDomain``; a plain Ref would make the stack fail without one (the check
    caught this in the first version of this change)."""
    outputs = three_lbs["alb.yaml"]["Outputs"]
    name = next(n for n, o in outputs.items() if n.endswith("Listener443Arn"))
    assert "Fn::If" in outputs[name]["Value"]
    broken = copy.deepcopy(three_lbs)
    broken["alb.yaml"]["Outputs"][name]["Value"] = outputs[name]["Value"]["Fn::If"][1]
    found = [f.problem for f in deployability.check(broken) if f.severity == "error"]
    assert any("absent when BaseDomain is ''" in p for p in found), found


def test_every_seed_and_example_keeps_one_alb_stack() -> None:
    """A spec whose ALB resources fit one template has only ``alb.yaml`` (its templates are the
    committed snapshots, tests/test_snapshots.py and tests/test_examples.py)."""
    files = sorted((ROOT / "platforms").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
    seen = 0
    for path in files:
        spec = load_spec(path)
        if not spec.load_balancers:
            continue
        stacks = place(spec, mapping(spec))
        assert [s.name for s in stacks] == ["alb"], path
        assert stacks[0].target_groups == tuple(tg.name for s in spec.services for tg in s.target_groups), path
        seen += 1
    assert seen >= 3


def test_an_alb_in_alb_2_logs_to_the_alb_stacks_bucket(three_lbs: dict[str, dict[str, Any]]) -> None:
    """What the guard suppression on alb-2's ALBs (CT.ELASTICLOADBALANCING.PR.6) claims: access
    logging is on, to the alb stack's AccessLogBucket passed in as a parameter."""
    lbs = {
        lid: r
        for lid, r in three_lbs["alb-2.yaml"]["Resources"].items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    }
    assert lbs
    for lid, r in lbs.items():
        attrs = {a["Key"]: a["Value"] for a in r["Properties"]["LoadBalancerAttributes"]}
        assert attrs["access_logs.s3.enabled"] == "true", lid
        assert attrs["access_logs.s3.bucket"] == {"Ref": "AlbAccessLogBucketName"}, lid
        assert "elbv2_logging_enabled_check" in r["Metadata"]["stackgen"]["guard_allowlist"], lid
    assert three_lbs["alb.yaml"]["Outputs"]["AlbAccessLogBucketName"]["Value"] == {"Ref": "AccessLogBucket"}
    fed = three_lbs["main.yaml"]["Resources"]["Alb2Stack"]["Properties"]["Parameters"]["AlbAccessLogBucketName"]
    assert fed == {"Fn::GetAtt": ["AlbStack", "Outputs.AlbAccessLogBucketName"]}
    # alb's own ALBs log to the bucket of their template, with no suppression.
    for r in three_lbs["alb.yaml"]["Resources"].values():
        if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            assert "elbv2_logging_enabled_check" not in r["Metadata"]["stackgen"]["guard_allowlist"]
