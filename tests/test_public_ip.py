"""egress public-ip: the spec's network.public_ip_reason is written next to every resource that
assigns a public IP (ECS services: the exemption the gate accepts for Control Tower ECS.PR.9;
EventBridge Scheduler schedules: for deploy tools), and nowhere on other platforms."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator import render
from generator.spec import parse_spec
from tests.helpers import ROOT, props, resources

REASON = "throw-away dev platform without a NAT or endpoint budget"
SPECS = {
    name: yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / f"{name}.yaml").read_text())
    for name in ("web", "nightly")
}
TASK_RUNNERS = ("AWS::ECS::Service", "AWS::Scheduler::Schedule")


def services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    t = render.synthesize(parse_spec(data, "spec.yaml"))["services.yaml"]
    found = {lid: r for rtype in TASK_RUNNERS for lid, r in resources(t, rtype).items()}
    assert found
    return found


def public(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["network"] = {**data["network"], "egress": "public-ip", "public_ip_reason": REASON}
    tiers = data["network"]["tiers"]
    if not any(t.get("public") for t in tiers):  # public IPs need a public tier
        tiers.append({"name": "public", "public": True, "newbits": 8, "offset": 100})
    return data


def assign(r: dict[str, Any]) -> str:
    p = props(r)
    cfg = p["Target"]["EcsParameters"] if r["Type"] == "AWS::Scheduler::Schedule" else p
    return cfg["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_public_ip_carries_the_specs_reason(name: str) -> None:
    for lid, r in services(public(SPECS[name])).items():
        assert assign(r) == "ENABLED", lid
        assert r["Metadata"]["stackgen"]["public_ip"] == {"reason": REASON}, lid


@pytest.mark.parametrize("name", sorted(SPECS))
def test_private_tasks_carry_no_exemption(name: str) -> None:
    for lid, r in services(SPECS[name]).items():
        assert assign(r) == "DISABLED", lid
        assert "public_ip" not in (r.get("Metadata") or {}).get("stackgen", {}), lid
