"""Render profiles. ``aws`` is the real thing; ``emulator`` is the same templates
minus the resource types the local emulator (ministack) rejects, and minus the
references to them.  The list lives here and nowhere else."""

from __future__ import annotations

import copy
from typing import Any

from generator.cfn.refs import depends_on, references

PROFILES = ("aws", "emulator")

EMULATOR_UNSUPPORTED = (
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::EC2::EIP",
    "AWS::EC2::FlowLog",
    "AWS::EC2::NatGateway",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::RDS::DBProxy",
    "AWS::RDS::DBProxyTargetGroup",
)

# What an Output that referenced a left-out resource says instead.
OMITTED = ""


def apply(profile: str, templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if profile == "aws":
        return templates
    if profile != "emulator":
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return {name: strip(t, EMULATOR_UNSUPPORTED) for name, t in templates.items()}


def strip(template: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any]:
    """Remove resources of ``types`` and, transitively, resources whose properties
    reference a removed one; blank Outputs that reference a removed one."""
    t = copy.deepcopy(template)
    res = t.get("Resources", {})
    dropped = {k for k, v in res.items() if v.get("Type") in types}
    changed = True
    while changed:
        changed = False
        for k, v in res.items():
            if k not in dropped and references(v.get("Properties", {})) & dropped:
                dropped.add(k)
                changed = True
    for k in dropped:
        del res[k]
    for v in res.values():
        if "DependsOn" in v:
            deps = [d for d in depends_on(v) if d not in dropped]
            if deps:
                v["DependsOn"] = deps
            else:
                del v["DependsOn"]
    for o in t.get("Outputs", {}).values():
        if references(o.get("Value")) & dropped:
            o["Value"] = OMITTED
    return t
