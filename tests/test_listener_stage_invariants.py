"""Invariant 18 (listener TLS), and the docs' architecture model, read the two-stage listener
form of generator/stacks/alb.py: ``Fn::If [HasDomain, <stage two>, <stage one>]`` on Protocol,
SslPolicy and DefaultActions, evaluated with a domain, so a weak policy or a missing redirect
inside the If is caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from generator import invariants as inv
from generator.cfn import TemplateSet
from generator.cfn.load import load_dir
from generator.docgen import model
from tests.helpers import ROOT

Templates = dict[str, dict[str, Any]]


@pytest.fixture()
def t(mcp_templates: Templates) -> Templates:
    return copy.deepcopy(mcp_templates)


def listener(t: Templates, lid: str) -> dict[str, Any]:
    return t["alb.yaml"]["Resources"][lid]["Properties"]


def problems(t: Templates) -> list[str]:
    return [v.problem for v in inv.listener_tls(TemplateSet(t))]


def test_the_two_stage_listeners_are_clean(t: Templates) -> None:
    assert listener(t, "MainListener7860")["Protocol"] == {"Fn::If": ["HasDomain", "HTTPS", "HTTP"]}
    assert listener(t, "KeycloakListener80")["DefaultActions"]["Fn::If"][0] == "HasDomain"
    assert problems(t) == []


def test_a_weak_policy_inside_the_if_is_caught(t: Templates) -> None:
    listener(t, "MainListener7860")["SslPolicy"]["Fn::If"][1] = "ELBSecurityPolicy-2016-08"
    assert any(
        "MainListener7860" in p and "ELBSecurityPolicy-2016-08 is not in the TLS 1.2+" in p for p in problems(t)
    ), problems(t)


def test_a_port_80_that_forwards_with_a_domain_is_caught(t: Templates) -> None:
    actions = listener(t, "KeycloakListener80")["DefaultActions"]["Fn::If"]
    actions[1] = copy.deepcopy(actions[2])  # stage two forwards plain HTTP instead of redirecting
    assert any("KeycloakListener80" in p and "does not redirect to HTTPS" in p for p in problems(t)), problems(t)


def test_plain_http_in_both_branches_is_caught(t: Templates) -> None:
    listener(t, "MainListener7860")["Protocol"] = {"Fn::If": ["HasDomain", "HTTP", "HTTP"]}
    assert any("MainListener7860" in p and "does not redirect to HTTPS" in p for p in problems(t)), problems(t)


def test_the_architecture_diagram_shows_both_stages_of_a_listener() -> None:
    """docgen reads the two-stage listener (one resource, Fn::If on HasDomain) as one line per stage."""
    arch = model.read(load_dir(ROOT / "templates" / "bff-agentcore"), "bff-agentcore")
    [lb] = [n for n in arch.nodes if n.id == "lb_PublicLoadBalancer"]
    assert [x for x in lb.lines if x[:3] in ("80 ", "443")] == [
        "80 HTTP: forward to bff (if not HasDomain)",
        "80 HTTP: redirect to HTTPS 443 (if HasDomain)",
        "443 HTTPS: forward to bff (if HasDomain)",
    ]
