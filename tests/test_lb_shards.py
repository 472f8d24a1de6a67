"""Issue 12, item 2: a load balancer past its ALB quotas grows overflow ALBs (shards) by
itself, and appending target groups never moves an existing one (generator.lb_placement).

Each spec here was refused by the deployability check before the split (one ALB holds 100
target groups and 100 rules besides the default ones).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import awsfacts, cli, deployability
from generator.cfn.templateset import TemplateSet
from generator.deployability import service_limits
from generator.lb_placement import TARGET_GROUPS, layout, place_balancer
from generator.lint import lint_paths
from generator.render import synthesize
from generator.spec import Listener, LoadBalancer, SpecError, parse_spec
from tests.helpers import ROOT, props, resources, web_service

LB = "AWS::ElasticLoadBalancingV2::LoadBalancer"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
TG = "AWS::ElasticLoadBalancingV2::TargetGroup"
EXAMPLE = ROOT / "examples" / "many-routes.yaml"


def service(name: str, routes: list[dict[str, Any]] | None) -> dict[str, Any]:
    tg: dict[str, Any] = {"name": name, "load_balancer": "edge", "container_port": 8080}
    if routes is not None:
        tg["routes"] = routes
    return web_service(name, tg)


def platform(services: list[dict[str, Any]], domain: bool = False) -> dict[str, Any]:
    """One load balancer ``edge``: service ``web`` its listeners' default, then ``services``."""
    lb: dict[str, Any] = {"name": "edge", "listeners": [{"port": 80, "mode": "auto", "target_group": "web"}]}
    out: dict[str, Any] = {
        "name": "shards",
        "description": "Many services behind one declared load balancer",
        "network": {
            "availability_zones": 2,
            "tiers": [
                {"name": "private", "newbits": 8, "offset": 0},
                {"name": "public", "public": True, "newbits": 8, "offset": 100},
            ],
            "egress": "single-nat",
        },
        "clusters": [{"name": "main"}],
        "load_balancers": [lb],
        "services": [service("web", None), *services],
    }
    if domain:
        lb["dns_record"] = "www"
        out["domain"] = {"base_domain": "example.com"}
    return out


def hosted(k: int, host: str | None = None) -> dict[str, Any]:
    """Service ``svc<k>``: one route on its own full host (its DNS is the user's)."""
    return service(f"svc{k}", [{"priority": k, "hosts": [host or f"svc{k}.example.org"]}])


def actions(node: Any) -> list[dict[str, Any]]:
    """The actions of a DefaultActions/Actions value, both branches of an Fn::If."""
    if isinstance(node, dict) and "Fn::If" in node:
        return actions(node["Fn::If"][1]) + actions(node["Fn::If"][2])
    return list(node) if isinstance(node, list) else []


def lb_of(t: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(file, logical id) of every listener, rule and target group -> the load balancer it is on
    (a target group: the load balancer whose listener or rule forwards to it)."""
    alb = t["alb.yaml"]["Resources"]
    listener_lb = {lid: props(r)["LoadBalancerArn"]["Ref"] for lid, r in alb.items() if r["Type"] == LISTENER}
    out: dict[tuple[str, str], str] = {("alb.yaml", lid): lb for lid, lb in listener_lb.items()}
    for lid, r in alb.items():
        if r["Type"] == RULE:
            lb = listener_lb[props(r)["ListenerArn"]["Ref"]]
            out[("alb.yaml", lid)] = lb
            for a in actions(props(r)["Actions"]):
                if a["Type"] == "forward":
                    out[("alb.yaml", a["TargetGroupArn"]["Ref"])] = lb
        if r["Type"] == LISTENER:
            for a in actions(props(r)["DefaultActions"]):
                if a["Type"] == "forward":
                    out[("alb.yaml", a["TargetGroupArn"]["Ref"])] = listener_lb[lid]
    return out


def placement(t: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Every resource of every template -> its type, with the load balancer of the ALB's."""
    lbs = lb_of(t)
    return {
        (f, lid): f"{r['Type']} on {lbs.get((f, lid), '-')}"
        for f, tpl in t.items()
        for lid, r in tpl.get("Resources", {}).items()
    }


def load_balancers(t: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(resources(t["alb.yaml"], LB))


def errors(t: dict[str, dict[str, Any]]) -> list[str]:
    return [f.problem for f in deployability.check(t) if f.severity == "error"]


# ---- more target groups than one ALB holds ----------------------------------------------------


@pytest.fixture(scope="module")
def past_tg_quota(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 target groups (web and svc1-119) on one declared load balancer, synthesized by the CLI
    (which runs the deployability check)."""
    folder = tmp_path_factory.mktemp("shards")
    spec = folder / "shards.yaml"
    spec.write_text(yaml.safe_dump(platform([hosted(k) for k in range(1, 120)])), encoding="utf-8")
    out = folder / "out"
    assert cli.main(["synth", str(spec), "--out", str(out), "--quiet"]) in (0, None)
    return out


def test_past_the_target_group_quota_the_load_balancer_is_two_albs(past_tg_quota: Path) -> None:
    alb = yaml.safe_load((past_tg_quota / "alb.yaml").read_text(encoding="utf-8"))
    assert sorted(resources(alb, LB)) == ["Edge2LoadBalancer", "EdgeLoadBalancer"]
    t = {"alb.yaml": alb}
    on = lb_of(t)
    groups = {lid: on[("alb.yaml", lid)] for lid in resources(alb, TG)}
    assert sum(1 for lb in groups.values() if lb == "EdgeLoadBalancer") == TARGET_GROUPS
    assert sum(1 for lb in groups.values() if lb == "Edge2LoadBalancer") == 120 - TARGET_GROUPS
    # the first 100 in spec order stay on the declared one; the listener default among them
    assert groups["WebTargetGroup"] == groups["Svc99TargetGroup"] == "EdgeLoadBalancer"
    assert groups["Svc100TargetGroup"] == groups["Svc119TargetGroup"] == "Edge2LoadBalancer"


def test_the_split_platform_lints_clean(past_tg_quota: Path) -> None:
    files = [past_tg_quota / f for f in ("main.yaml", "alb.yaml", "security-groups.yaml", "monitoring.yaml")]
    assert lint_paths(files) == []


def test_the_overflow_alb_has_the_declared_listeners_answering_404(past_tg_quota: Path) -> None:
    alb = yaml.safe_load((past_tg_quota / "alb.yaml").read_text(encoding="utf-8"))
    listeners = resources(alb, LISTENER)
    assert sorted(listeners) == ["Edge2Listener80", "EdgeListener80"]
    overflow = props(listeners["Edge2Listener80"])
    assert overflow["Port"] == 80 and overflow["LoadBalancerArn"] == {"Ref": "Edge2LoadBalancer"}
    assert overflow["DefaultActions"] == [
        {
            "Type": "fixed-response",
            "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "Not Found"},
        }
    ]
    # the same security group, idle timeout and access logs (prefix: the shard's name)
    primary, second = (props(resources(alb, LB)[k]) for k in ("EdgeLoadBalancer", "Edge2LoadBalancer"))
    assert primary["SecurityGroups"] == second["SecurityGroups"]
    attrs = {a["Key"]: a["Value"] for a in second["LoadBalancerAttributes"]}
    assert attrs["access_logs.s3.prefix"] == "edge-2"
    assert attrs["idle_timeout.timeout_seconds"] == "60"


def test_the_overflow_default_action_is_valid_in_the_listener_schema(past_tg_quota: Path) -> None:
    """The fixed 404 against cfn-lint's resource schema of AWS::ElasticLoadBalancingV2::Listener
    (Action, FixedResponseConfig: StatusCode 2XX/4XX/5XX); a 302 there is refused."""
    schema = awsfacts.resource_schema(LISTENER)
    assert schema is not None
    action = jsonschema.Draft7Validator({"$ref": "#/definitions/Action", "definitions": schema["definitions"]})
    alb = yaml.safe_load((past_tg_quota / "alb.yaml").read_text(encoding="utf-8"))
    default = props(resources(alb, LISTENER)["Edge2Listener80"])["DefaultActions"]
    assert [list(action.iter_errors(a)) for a in default] == [[]]
    broken = copy.deepcopy(default[0])
    broken["FixedResponseConfig"]["StatusCode"] = "302"
    assert list(action.iter_errors(broken))


def test_each_alb_has_its_alarms_and_each_target_group_alarms_on_its_alb(past_tg_quota: Path) -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in past_tg_quota.glob("monitoring*.yaml"))
    assert "Edge2Target5xxAlarm:" in text and "EdgeTarget5xxAlarm:" in text
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in past_tg_quota.glob("monitoring*.yaml")]
    alarms = {lid: r for d in docs for lid, r in resources(d, "AWS::CloudWatch::Alarm").items()}
    dims = {d["Name"]: d["Value"] for d in props(alarms["Svc119UnhealthyHostsAlarm"])["Dimensions"]}
    assert dims["LoadBalancer"] == {"Ref": "Edge2LoadBalancerFullName"}
    dims = {d["Name"]: d["Value"] for d in props(alarms["Svc1UnhealthyHostsAlarm"])["Dimensions"]}
    assert dims["LoadBalancer"] == {"Ref": "EdgeLoadBalancerFullName"}


# ---- stable under appending -------------------------------------------------------------------


def test_appending_target_groups_at_the_quota_edge_moves_nothing() -> None:
    """At exactly 100 target groups on the declared ALB, appending five (and then five more on
    a host an appended one already serves) adds an ALB and never moves, renames or re-targets a
    resource of the smaller spec."""
    edge = platform([hosted(k) for k in range(1, TARGET_GROUPS)])
    before = synthesize(parse_spec(edge))
    assert errors(before) == [] and load_balancers(before) == ["EdgeLoadBalancer"]
    grown = copy.deepcopy(edge)
    grown["services"] += [hosted(k) for k in range(TARGET_GROUPS, TARGET_GROUPS + 5)]
    after = synthesize(parse_spec(grown))
    assert errors(after) == [] and load_balancers(after) == ["Edge2LoadBalancer", "EdgeLoadBalancer"]
    old, new = placement(before), placement(after)
    assert {k: new.get(k) for k in old} == old
    more = copy.deepcopy(grown)
    more["services"] += [hosted(k) for k in range(TARGET_GROUPS + 5, TARGET_GROUPS + 10)]
    last = synthesize(parse_spec(more))
    assert {k: placement(last).get(k) for k in new} == new


def test_placement_is_a_prefix_function_of_the_target_groups() -> None:
    spec = parse_spec(platform([hosted(k) for k in range(1, 250)]))
    tgs = [tg for s in spec.services for tg in s.target_groups]
    full = place_balancer(spec.load_balancers[0], tgs)
    assert [len(s.target_groups) for s in full] == [100, 100, 50]
    for n in (1, 99, 100, 101, 180, 200, 201):
        part = place_balancer(spec.load_balancers[0], tgs[:n])
        for shard in part:
            assert full[shard.number - 1].target_groups[: len(shard.target_groups)] == shard.target_groups


# ---- a host's routes stay on one shard ---------------------------------------------------------


def test_a_hosts_routes_stay_on_the_shard_that_serves_it() -> None:
    """svc1's 49 routes (98 rules on two listeners) fill most of the declared ALB; svc2's two
    routes on host shared.example.org do not fit beside them and open edge-2; svc3's one route on
    the same host would fit the declared ALB (100 rules) but goes where the host is served."""
    big = service("svc1", [{"priority": k, "hosts": [f"h{k}.example.org"]} for k in range(1, 50)])
    two = service(
        "svc2", [{"priority": 100 + k, "hosts": ["shared.example.org"], "paths": [f"/{k}/*"]} for k in (1, 2)]
    )
    one = service("svc3", [{"priority": 200, "hosts": ["shared.example.org"], "paths": ["/other/*"]}])
    spec = platform([big, two, one])
    spec["load_balancers"][0]["listeners"].append({"port": 443, "mode": "auto", "target_group": "web"})
    t = synthesize(parse_spec(spec))
    assert errors(t) == []
    on = lb_of(t)
    assert on[("alb.yaml", "Svc1TargetGroup")] == "EdgeLoadBalancer"
    assert on[("alb.yaml", "Svc2TargetGroup")] == on[("alb.yaml", "Svc3TargetGroup")] == "Edge2LoadBalancer"
    assert sorted(k[1] for k, lb in on.items() if "Rule" in k[1] and lb == "Edge2LoadBalancer") == [
        "Edge2Listener443Rule101",
        "Edge2Listener443Rule102",
        "Edge2Listener443Rule200",
        "Edge2Listener80Rule101",
        "Edge2Listener80Rule102",
        "Edge2Listener80Rule200",
    ]


def test_a_target_group_whose_hosts_two_shards_serve_is_refused() -> None:
    """svc100 names a host of the declared ALB and one of edge-2: no placement serves both
    without moving one, so the templates are refused, saying why the split cannot help."""
    services = [hosted(k) for k in range(1, 101)]
    services.append(
        service(
            "svc101",
            [{"priority": 101, "hosts": ["svc1.example.org"]}, {"priority": 102, "hosts": ["svc100.example.org"]}],
        )
    )
    t = synthesize(parse_spec(platform(services)))
    found = errors(t)
    assert any("matches host" in p and "EdgeLoadBalancer" in p and "Edge2LoadBalancer" in p for p in found), found
    assert all("cannot fix this" in p for p in found if "matches host" in p)


def test_host_less_routes_past_the_rule_quota_are_still_refused() -> None:
    """Routes without hosts stay on the declared ALB: past 100 rules, the refusal says the split
    cannot fix it."""
    services = [service(f"svc{k}", [{"priority": k, "paths": [f"/svc{k}/*"]}]) for k in range(1, 102)]
    t = synthesize(parse_spec(platform(services)))
    assert load_balancers(t) == ["EdgeLoadBalancer"]
    assert any("listener rules (besides the default rules): 101" in p and "cannot fix this" in p for p in errors(t))


# ---- record hosts: alias records and certificates per shard -------------------------------------


@pytest.fixture(scope="module")
def example() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return synthesize(parse_spec({k: v for k, v in data.items() if not k.startswith("x-")}))


def test_the_example_is_two_albs_within_every_quota(example: dict[str, dict[str, Any]]) -> None:
    assert load_balancers(example) == ["Edge2LoadBalancer", "EdgeLoadBalancer"]
    assert errors(example) == []
    on = lb_of(example)
    assert on[("alb.yaml", "OrdersTargetGroup")] == "Edge2LoadBalancer"
    assert on[("alb.yaml", "CatalogTargetGroup")] == on[("alb.yaml", "AdminTargetGroup")] == "EdgeLoadBalancer"
    # redirect on 80 and https on 443, as the declared listeners
    listeners = resources(example["alb.yaml"], LISTENER)
    assert props(listeners["Edge2Listener80"])["DefaultActions"]["Fn::If"][0] == "HasDomain"
    assert listeners["Edge2Listener443"]["Condition"] == "HasDomain"


def test_a_record_host_on_shard_two_resolves_to_shard_two(example: dict[str, dict[str, Any]]) -> None:
    record = props(resources(example["dns.yaml"], "AWS::Route53::RecordSet")["OrdersHostRecord"])
    assert record["AliasTarget"]["DNSName"] == {"Ref": "Edge2LoadBalancerDnsName"}
    assert record["AliasTarget"]["HostedZoneId"] == {"Ref": "Edge2LoadBalancerCanonicalHostedZoneId"}
    www = props(resources(example["dns.yaml"], "AWS::Route53::RecordSet")["EdgeAliasRecord"])
    assert www["AliasTarget"]["DNSName"] == {"Ref": "EdgeLoadBalancerDnsName"}
    # the parent feeds the dns stack edge-2's DNS name from the alb stack's output of it
    alb_out = example["alb.yaml"]["Outputs"]["Edge2LoadBalancerDnsName"]["Value"]
    assert alb_out == {"Fn::GetAtt": ["Edge2LoadBalancer", "DNSName"]}
    wiring = json.dumps(example["main.yaml"]["Resources"])
    assert '"Edge2LoadBalancerDnsName": {"Fn::GetAtt": ["AlbStack", "Outputs.Edge2LoadBalancerDnsName"]}' in wiring
    # and edge-2's HTTPS listener presents a certificate that covers the name
    certs = resources(example["certificates.yaml"], "AWS::CertificateManager::Certificate")
    assert props(certs["Edge2Certificate"])["DomainName"] == {"Fn::Sub": "orders.${AWS::Region}.${BaseDomain}"}
    assert "SubjectAlternativeNames" not in props(certs["EdgeCertificate"])
    listener = props(resources(example["alb.yaml"], LISTENER)["Edge2Listener443"])
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "Edge2CertificateArn"}}]


def test_record_names_past_one_certificate_open_a_shard() -> None:
    """The declared ALB's certificate holds www and 9 record hosts; the 10th goes to edge-2 with
    a certificate of its own (before, the spec was refused: 11 names on one certificate)."""
    services = [hosted(k, host=f"r{k}") for k in range(1, 11)]
    t = synthesize(parse_spec(platform(services, domain=True)))
    assert errors(t) == []
    certs = resources(t["certificates.yaml"], "AWS::CertificateManager::Certificate")
    assert len(props(certs["EdgeCertificate"])["SubjectAlternativeNames"]) == 9
    assert props(certs["Edge2Certificate"])["DomainName"] == {"Fn::Sub": "r10.${AWS::Region}.${BaseDomain}"}
    records = resources(t["dns.yaml"], "AWS::Route53::RecordSet")
    assert props(records["R10HostRecord"])["AliasTarget"]["DNSName"] == {"Ref": "Edge2LoadBalancerDnsName"}
    assert props(records["R9HostRecord"])["AliasTarget"]["DNSName"] == {"Ref": "EdgeLoadBalancerDnsName"}


def test_one_target_groups_record_names_past_a_certificate_are_refused() -> None:
    spec = platform([service("svc1", [{"priority": k, "hosts": [f"r{k}"]} for k in range(1, 12)])], domain=True)
    with pytest.raises(SpecError, match=r"target_groups\[0\]\.routes: they name 11 record names"):
        parse_spec(spec)


# ---- the checks catch a broken template --------------------------------------------------------


def test_the_certificate_names_check_catches_eleven_names(example: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(example)
    cert = props(resources(broken["certificates.yaml"], "AWS::CertificateManager::Certificate")["EdgeCertificate"])
    assert service_limits.certificates(TemplateSet(example)) == []
    cert["SubjectAlternativeNames"] = [f"n{k}.example.com" for k in range(10)]
    found = service_limits.certificates(TemplateSet(broken))
    assert [f.resource for f in found] == ["EdgeCertificate"] and "covers domain names: 11" in found[0].problem


def test_the_host_check_catches_a_host_on_two_load_balancers(example: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(example)
    alb = broken["alb.yaml"]["Resources"]
    moved = copy.deepcopy(alb["EdgeListener443Rule101"])
    moved["Properties"]["ListenerArn"] = {"Ref": "Edge2Listener443"}
    moved["Properties"]["Priority"] = 999
    alb["Edge2Listener443Rule999"] = moved
    assert [f for f in deployability.check(example) if f.rule == "alb-hosts"] == []
    found = [f for f in deployability.check(broken) if f.rule == "alb-hosts"]
    assert len(found) == 1, found
    assert found[0].resource in ("Edge2Listener443Rule999", "EdgeListener443Rule101")
    assert '"catalog-1.example.org" on load balancers Edge2LoadBalancer, EdgeLoadBalancer' in found[0].problem


def test_layout_names_shards_by_number() -> None:
    spec = parse_spec(platform([hosted(k) for k in range(1, 150)]))
    assert [s.name for s in layout(spec).shards] == ["edge", "edge-2"]
    assert layout(spec).serving("svc149").name == "edge-2"
    assert layout(spec).serving("web").primary


# ---- placement over random target groups ------------------------------------------------------

HOSTS = [f"r{k}" for k in range(12)] + [f"h{k}.example.org" for k in range(40)]


@dataclass(frozen=True)
class FakeRoute:
    """What placement reads of a route (generator.spec.routing.Route), without its validation."""

    hosts: tuple[str, ...]
    listeners: tuple[int, ...] = ()


@dataclass(frozen=True)
class FakeGroup:
    """What placement reads of a target group (generator.spec.TargetGroupSpec)."""

    name: str
    routes: tuple[FakeRoute, ...]
    load_balancer: str = "edge"


# A target group's routes, each by its hosts (one or two of a small pool, so hosts are shared).
ROUTES = st.lists(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2, unique=True), min_size=1, max_size=3)


@st.composite
def target_groups(draw: st.DrawFn) -> list[Any]:
    """30-300 target groups of ``edge``: tg0 the listeners' default, about a tenth with a
    host-less first route (both pinned to the declared ALB), the others routed by hosts."""
    plans = draw(st.lists(ROUTES, min_size=30, max_size=300))
    pinned = draw(st.sets(st.integers(0, len(plans) - 1), max_size=max(1, len(plans) // 10)))
    return [
        FakeGroup(f"tg{k}", tuple(FakeRoute(() if k in pinned and j == 0 else tuple(h)) for j, h in enumerate(plan)))
        for k, plan in enumerate(plans)
    ]


EDGE = LoadBalancer(
    name="edge",
    dns_record="www",
    listeners=[
        Listener(port=80, mode="redirect", target_group="tg0"),
        Listener(port=443, mode="https", target_group="tg0"),
    ],
)


@settings(max_examples=40, deadline=None)
@given(tgs=target_groups(), cut=st.floats(0, 1))
def test_placement_of_any_prefix_is_a_prefix_of_the_placement(tgs: list[Any], cut: float) -> None:
    """Appending target groups never moves one: the shards of a prefix of the target groups are
    prefixes of the shards of them all; listener defaults and host-less routes are on shard 1;
    a host is on one shard unless one target group names hosts two shards already serve (which
    the deployability check refuses)."""
    full = place_balancer(EDGE, tgs)
    part = place_balancer(EDGE, tgs[: int(cut * len(tgs))])
    for shard in part:
        assert full[shard.number - 1].target_groups[: len(shard.target_groups)] == shard.target_groups
    where = {tg: s.number for s in full for tg in s.target_groups}
    assert where["tg0"] == 1
    assert all(where[tg.name] == 1 for tg in tgs if any(not r.hosts for r in tg.routes))
    owner = {"www": 1}  # host -> the shard of the first target group that names it
    bridged = False
    for tg in tgs:
        hosts = {h for r in tg.routes for h in r.hosts}
        pinned = tg.name == "tg0" or any(not r.hosts for r in tg.routes)
        owners = {owner[h] for h in hosts if h in owner} | ({1} if pinned else set())
        bridged |= len(owners) > 1
        for h in hosts:
            owner.setdefault(h, where[tg.name])
    if not bridged:
        for tg in tgs:
            assert all(owner[h] == where[tg.name] for r in tg.routes for h in r.hosts), tg.name


def test_an_overflow_alb_without_record_names_presents_the_declared_certificate() -> None:
    t = synthesize(parse_spec(platform([hosted(k) for k in range(1, 110)], domain=True)))
    assert errors(t) == [] and load_balancers(t) == ["Edge2LoadBalancer", "EdgeLoadBalancer"]
    assert sorted(resources(t["certificates.yaml"], "AWS::CertificateManager::Certificate")) == ["EdgeCertificate"]
    listener = props(resources(t["alb.yaml"], LISTENER)["Edge2Listener80"])
    assert listener["Certificates"] == {
        "Fn::If": ["HasDomain", [{"CertificateArn": {"Ref": "EdgeCertificateArn"}}], {"Ref": "AWS::NoValue"}]
    }


def test_a_declared_name_an_overflow_alb_holds_is_refused_naming_the_split(tmp_path: Path) -> None:
    """A load balancer declared as edge-2 beside an edge that is split: both give the ids
    Edge2...; the one-line refusal names the split ALB as the other owner (it said "one of its
    own resources", which a user cannot find in the spec)."""
    from generator.synth import synthesize_checked

    data = yaml.safe_load(EXAMPLE.read_text())
    data["load_balancers"].append(
        {"name": "edge-2", "dns_record": "side", "listeners": [{"port": 443, "mode": "auto", "target_group": "side"}]}
    )
    side = copy.deepcopy(data["services"][0])
    side["name"] = "side"
    side["target_groups"] = [{"name": "side", "load_balancer": "edge-2", "container_port": 8080}]
    data["services"].append(side)
    path = tmp_path / "collide.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as err:
        synthesize_checked(path)
    text = "\n".join(err.value.lines)
    assert "load_balancers[" in text and "'edge-2' gives the id Edge2" in text, text
    assert "load balancer edge's ALB edge-2 (past its ALB quotas it is split" in text, text
