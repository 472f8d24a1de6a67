"""Would real CloudFormation and AWS accept these templates, and would they work after deploy?

The deployability check runs inside synthesis (``generator.synth.synthesize_checked``, so
``validate``, ``synth``, ``make templates`` and ``deploy.sh`` all enforce it) and reports
in spec terms.  Each rule reads a template set through the kernel (``generator.cfn``) and
cites, in every message, the AWS rule it enforces and the page that states it.  By what
they check:

- ``presence``        a resource refers to (Ref, GetAtt, Sub, DependsOn; across stacks) or
                      is attached to (ECS service -> target group -> listener) a resource
                      that can be absent while it is present
- ``quotas``          the one table of CloudFormation and service quotas (value,
                      adjustable, source); ``template_limits`` counts resources,
                      parameters, outputs, mappings, dynamic references, bytes per
                      template and resources per operation; ``service_limits`` listeners,
                      target groups, rules and certificates per ALB, target groups per
                      service, rules per security group and per interface, groups per
                      interface, interface endpoints per VPC
- ``roundtrip``       string values a YAML 1.2 reader or ``aws cloudformation package``
                      turns into numbers or booleans
- ``data_paths``      a task role that reads or writes an encrypted store lacks the KMS
                      actions that access needs (the reachability model's data paths)
- ``ingress``         0.0.0.0/0 or ::/0 on a port other than 80/443, parameter defaults and
                      per-environment parameters files included
- ``fields``          a finding's template location -> the spec field

``check(templates, spec)`` runs every rule; ``spec_lines`` words the findings as
``file: field: problem (AWS: ...)`` lines.  Error findings are spec errors (exit 2),
warnings are printed and pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from generator.cfn.finding import Finding
from generator.deployability import data_paths, ingress, presence, roundtrip, service_limits, template_limits
from generator.deployability.base import Inputs
from generator.deployability.fields import spec_field, spec_lines
from generator.spec import Platform

RULES: dict[str, Callable[[Inputs], list[Finding]]] = {
    "presence": presence.check,
    "template_limits": template_limits.check,
    "service_limits": service_limits.check,
    "roundtrip": roundtrip.check,
    "data_paths": data_paths.check,
    "ingress": ingress.check,
}

__all__ = ["RULES", "Inputs", "check", "spec_field", "spec_lines"]


def check(
    templates: dict[str, dict[str, Any]],
    spec: Platform | None = None,
    *,
    rendered: Mapping[str, str] | None = None,
    parameter_sets: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Finding]:
    """Every deployability finding of a template set (``render.synthesize()`` or
    ``cfn.load_dir``).  ``rendered``: each file's text as written (template bytes are
    counted on it); ``parameter_sets``: per-environment parameter values to evaluate
    parameter-fed values under, besides the defaults.  ``spec`` is not read by the rules
    (they read templates only); it is accepted so a caller can pass what it has, and
    ``spec_lines`` names the fields with it."""
    inp = Inputs(templates, dict(rendered or {}), {k: dict(v) for k, v in (parameter_sets or {}).items()})
    out: list[Finding] = []
    for rule in RULES.values():
        out += rule(inp)
    return out
