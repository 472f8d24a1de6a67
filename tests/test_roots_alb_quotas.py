"""The ALB quotas are counted across root stacks. A platform split into several roots
(generator.roots) has listener rules in a later root's alb stacks whose ``ListenerArn`` is a
parameter fed from the base root's outputs; the deployability check reads the roots merged
(``rootset.merge``) and so attributes those rules to their load balancer. This pins it: every
rule of a 300-service, two-root platform is counted on its ALB, and rules added in the later
root push that ALB over the 100-rule quota and are refused."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from generator import deployability, render
from generator.cfn import TemplateSet
from generator.deployability import rootset
from generator.deployability.presence import LISTENER, LISTENER_RULE, targets
from generator.deployability.service_limits import LOAD_BALANCER
from generator.spec import Platform
from tests.test_alb_stacks import routed_scale_spec

Templates = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def two_roots() -> Templates:
    templates = render.synthesize(Platform.model_validate(routed_scale_spec(300, 1)))
    assert len(rootset.root_files(templates)) == 2, "the fixture must span two root stacks"
    return templates


def _listener_of_rule(templates: Templates) -> dict[tuple[str, str], tuple[str, str] | None]:
    """rule (file, id) -> load balancer (file, id), following values across the merged roots."""
    ts = TemplateSet(rootset.merge(templates)[0])
    lbs = {(f, lid) for f, lid, _ in ts.resources(LOAD_BALANCER)}
    listeners: dict[tuple[str, str], tuple[str, str] | None] = {}
    for f, lid, r in ts.resources(LISTENER):
        lb = next((k for k in targets(ts, f, r["Properties"]["LoadBalancerArn"], resolve=False) if k in lbs), None)
        listeners[(f, lid)] = lb
    out: dict[tuple[str, str], tuple[str, str] | None] = {}
    for f, lid, r in ts.resources(LISTENER_RULE):
        listener = next(k for k in targets(ts, f, r["Properties"]["ListenerArn"], resolve=False) if k in listeners)
        out[(f, lid)] = listeners[listener]
    return out


def alb_errors(templates: Templates) -> list[str]:
    return [f.problem for f in deployability.check(templates) if f.rule == "alb-quota" and f.severity == "error"]


def test_rules_in_a_later_root_are_counted_on_their_load_balancer(two_roots: Templates) -> None:
    later = {c for c in rootset.hierarchy(two_roots, rootset.service_root_file(2))}
    owners = _listener_of_rule(two_roots)
    rules = [
        k
        for f in two_roots
        for k in [(f, lid) for lid, r in two_roots[f].get("Resources", {}).items() if r["Type"] == LISTENER_RULE]
    ]
    assert len(owners) == len(rules) == 299
    assert any(f in later for f, _ in owners), "no rule lives in the later root: the test proves nothing"
    assert all(lb is not None for lb in owners.values())
    assert alb_errors(two_roots) == []


def test_rules_added_in_a_later_root_push_their_load_balancer_over_the_quota(two_roots: Templates) -> None:
    templates = copy.deepcopy(two_roots)
    later = set(rootset.hierarchy(templates, rootset.service_root_file(2))) - {rootset.service_root_file(2)}
    owners = _listener_of_rule(templates)
    per_lb = Counter(owners.values())
    # A rule of the later root and its load balancer; copy it until that ALB has 101 rules.
    (f, lid), lb = next((k, v) for k, v in sorted(owners.items()) if k[0] in later)
    assert lb is not None
    resources = templates[f]["Resources"]
    for i in range(101 - per_lb[lb]):
        rule = copy.deepcopy(resources[lid])
        rule["Properties"]["Priority"] = 40000 + i
        resources[f"{lid}Copy{i}"] = rule
    errors = alb_errors(templates)
    assert any(f"{lb[1]} has listener rules (besides the default rules): 101" in p for p in errors), errors
