"""Scale: many services generate within CloudFormation's per-template quotas (service groups,
generator.placement), and the estimated first-create critical path (generator.critical_path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import critical_path, render, synth
from generator.bench import scale_spec
from generator.deployability import rootset
from generator.deployability.quotas import QUOTAS
from generator.spec import load_spec, parse_spec
from generator.stacks import STACKS
from tests.helpers import ROOT

SECTIONS = (("resources", "Resources"), ("parameters", "Parameters"), ("outputs", "Outputs"))


def over_quota(templates: dict[str, dict[str, Any]]) -> list[str]:
    """Every per-template quota a template breaks (count or body size)."""
    out = []
    for name, t in templates.items():
        for key, section in SECTIONS:
            if len(t.get(section) or {}) > QUOTAS[key].value:
                out.append(f"{name}: {len(t[section])} {section}")
        size = len(render.to_yaml(t).encode())
        if size > QUOTAS["template_bytes_s3"].value:
            out.append(f"{name}: {size} bytes")
    return out


@pytest.fixture(scope="module")
def three_hundred() -> dict[str, dict[str, Any]]:
    return render.synthesize(parse_spec(scale_spec(300)))


def test_300_services_generate_every_template_within_its_quotas(three_hundred: dict[str, dict[str, Any]]) -> None:
    assert not over_quota(three_hundred)
    services = [n for n in three_hundred if n.startswith("services")]
    assert len(services) > 10
    # Every service is in exactly one services stack.
    placed = [
        lid for n in services for lid, r in three_hundred[n]["Resources"].items() if r["Type"] == "AWS::ECS::Service"
    ]
    assert len(placed) == len(set(placed)) == 300


def test_the_quota_check_catches_a_template_over_a_quota(three_hundred: dict[str, dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(three_hundred["services-database.yaml"]))  # the scale spec's services read ${db:...}
    broken["Parameters"].update({f"Extra{k}": {"Type": "String"} for k in range(QUOTAS["parameters"].value)})
    assert over_quota({"services.yaml": broken}) == [f"services.yaml: {len(broken['Parameters'])} Parameters"]


def test_300_services_fit_one_stack_operation_per_root(three_hundred: dict[str, dict[str, Any]]) -> None:
    """Over one operation's quota, the platform is several root stacks (generator.roots),
    each within it; tests/test_roots.py holds the split's own tests."""
    roots = rootset.root_files(three_hundred)
    assert len(roots) > 1
    for root in roots:
        total = sum(len(three_hundred[f].get("Resources") or {}) for f in rootset.hierarchy(three_hundred, root))
        assert total <= QUOTAS["hierarchy_resources"].value, root
    assert sum(len(t.get("Resources") or {}) for t in three_hundred.values()) > QUOTAS["hierarchy_resources"].value


def test_100_services_pass_synthesis_and_the_deployability_check(tmp_path: Path) -> None:
    """Within one operation's 2,500 resources, the whole check (quotas of every template,
    rules per security group and per interface, target groups per ALB...) passes."""
    spec = tmp_path / "scale-100.yaml"
    spec.write_text(yaml.safe_dump(scale_spec(100)), encoding="utf-8")
    result = synth.synthesize_checked(spec)
    assert len([n for n in result.templates if n.startswith("services")]) > 3


def test_every_stack_module_has_a_typical_create_time() -> None:
    assert {m.NAME for m in STACKS} == set(critical_path.TYPICAL_MINUTES)
    assert all(source for _, source in critical_path.TYPICAL_MINUTES.values())


def _parent(**deps: list[str]) -> dict[str, dict[str, Any]]:
    """A parent whose stacks (by file name) depend on the listed ones through DependsOn."""
    res = {}
    for name, on in deps.items():
        r: dict[str, Any] = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": f"{name}.yaml"}}
        if on:
            r["DependsOn"] = [f"S{d}" for d in on]
        res[f"S{name}"] = r
    return {"main.yaml": {"Resources": res}}


def test_the_critical_path_follows_the_parents_edges() -> None:
    m = {k: v for k, (v, _) in critical_path.TYPICAL_MINUTES.items()}
    chained = critical_path.estimate(_parent(network=[], database=["network"], services=["database"]))
    assert chained.path == ("network", "database", "services")
    assert chained.minutes == m["network"] + m["database"] + m["services"]
    apart = critical_path.estimate(_parent(network=[], database=["network"], services=["network"]))
    assert apart.path == ("network", "database")
    assert apart.services_stable() == {"services": m["network"] + m["services"]}


def test_services_that_do_not_use_the_database_stop_waiting_for_it() -> None:
    """By default (generator.placement) the services that use the database are in the group
    database; pinned to group default (the layout before), every service waits for Aurora."""
    path = ROOT / "platforms" / "mcp-gateway.yaml"
    spec = load_spec(path)
    after = critical_path.estimate(render.synthesize(spec))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    users = {s.name for s in spec.services if s.uses_database}
    assert users == {"keycloak"}
    for svc in data["services"]:
        if svc["name"] in users:
            svc["group"] = "default"
    before = critical_path.estimate(render.synthesize(parse_spec(data, str(path))))
    assert "database" in before.path and "services" in before.path
    stable = after.services_stable()
    # The seven other services are stable before the database is even complete.
    assert stable["services"] < after.finish["database"] < stable["services-database"]
    assert before.services_stable()["services"] - stable["services"] >= 9
