"""The private default routes under per-environment egress (issue 11, generator defects).

With NAT per AZ in some environments and none in others (``egress: nat-per-az`` plus
``egress_by_environment: {dev: vpc-endpoints}``), the routes of AZ 2 and 3 exist only where
that AZ has its own NAT gateway; an ``Fn::If`` choosing AZ 1's gateway there has a branch no
environment takes, which cfn-lint reports (W1028). The ``Fn::If`` stays where an environment
does take it (single-nat routes every AZ to AZ 1's gateway).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import render
from generator.lint import lint_paths
from generator.spec import parse_spec
from tests.helpers import ROOT

WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())


def network(egress: str, by_env: dict[str, str]) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    data["network"].update(egress=egress, egress_by_environment=by_env)
    return render.synthesize(parse_spec(data, "spec.yaml"))["network.yaml"]


CASES = {
    # (egress, by environment): {route: (its Condition, its NatGatewayId)}
    "nat-except-dev": (
        "nat-per-az",
        {"dev": "vpc-endpoints"},
        {
            "PrivateDefaultRouteAz1": ("InProdTest", {"Ref": "NatGatewayAz1"}),
            "PrivateDefaultRouteAz2": ("InProdTest", {"Ref": "NatGatewayAz2"}),
            "PrivateDefaultRouteAz3": ("InProdTest", {"Ref": "NatGatewayAz3"}),
        },
    ),
    "single-nat-in-dev": (
        "nat-per-az",
        {"dev": "single-nat"},
        {
            "PrivateDefaultRouteAz1": (None, {"Ref": "NatGatewayAz1"}),
            "PrivateDefaultRouteAz2": (
                None,
                {"Fn::If": ["InProdTest", {"Ref": "NatGatewayAz2"}, {"Ref": "NatGatewayAz1"}]},
            ),
            "PrivateDefaultRouteAz3": (
                None,
                {"Fn::If": ["InProdTest", {"Ref": "NatGatewayAz3"}, {"Ref": "NatGatewayAz1"}]},
            ),
        },
    ),
    "all-three": (
        "nat-per-az",
        {"dev": "vpc-endpoints", "test": "single-nat"},
        {
            "PrivateDefaultRouteAz1": ("InProdTest", {"Ref": "NatGatewayAz1"}),
            "PrivateDefaultRouteAz2": (
                "InProdTest",
                {"Fn::If": ["InProd", {"Ref": "NatGatewayAz2"}, {"Ref": "NatGatewayAz1"}]},
            ),
            "PrivateDefaultRouteAz3": (
                "InProdTest",
                {"Fn::If": ["InProd", {"Ref": "NatGatewayAz3"}, {"Ref": "NatGatewayAz1"}]},
            ),
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_private_default_routes(case: str) -> None:
    egress, by_env, routes = CASES[case]
    res = network(egress, by_env)["Resources"]
    got = {
        lid: (r.get("Condition"), r["Properties"]["NatGatewayId"])
        for lid, r in res.items()
        if lid.startswith("PrivateDefaultRoute")
    }
    assert got == routes


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_cfn_lint_finds_nothing(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # .cfnlintrc
    egress, by_env, _ = CASES[case]
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump(network(egress, by_env)))
    assert lint_paths([path]) == []


@pytest.mark.slow
def test_lint_sees_the_branch_no_environment_takes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The template as it was: the AZ 2 route of nat-except-dev with Fn::If inside its own condition."""
    monkeypatch.chdir(ROOT)
    t = network("nat-per-az", {"dev": "vpc-endpoints"})
    route = t["Resources"]["PrivateDefaultRouteAz2"]["Properties"]
    route["NatGatewayId"] = {"Fn::If": ["InProdTest", {"Ref": "NatGatewayAz2"}, {"Ref": "NatGatewayAz1"}]}
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump(t))
    assert any(" W1028 " in m for m in lint_paths([path]))
