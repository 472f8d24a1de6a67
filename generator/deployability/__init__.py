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
                      template and resources per operation (per root stack); ``service_limits`` listeners,
                      target groups, rules and certificates per ALB, target groups per
                      service, rules per security group and per interface, groups per
                      interface, interface endpoints per VPC
- ``roundtrip``       string values a YAML 1.2 reader or ``aws cloudformation package``
                      turns into numbers or booleans
- ``data_paths``      a task role that reads or writes an encrypted store lacks the KMS
                      actions that access needs (the reachability model's data paths)
- ``ingress``         0.0.0.0/0 or ::/0 on a port other than 80/443, parameter defaults and
                      per-environment parameters files included
- ``rootset``         the root stacks of a platform split for the per-operation quota
                      (``generator.roots``): a parameter fed from an output no earlier root
                      declares; the other rules read the roots merged into one hierarchy
- ``fields``          a finding's template location -> the spec field

``check(templates, spec)`` runs every rule; ``spec_lines`` words the findings as
``file: field: problem (AWS: ...)`` lines.  Error findings are spec errors (exit 2),
warnings are printed and pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from generator.cfn.finding import Finding
from generator.deployability import data_paths, ingress, presence, rootset, roundtrip, service_limits, template_limits
from generator.deployability.base import Inputs, finding
from generator.deployability.fields import spec_field, spec_lines

if TYPE_CHECKING:  # annotations only: deploy.sh's helpers import this without the spec models
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
    values = {k: dict(v) for k, v in (parameter_sets or {}).items()}
    # Several root stacks (generator.roots): the counting rule reads the files as deployed,
    # the rules that follow values across stacks read them as one hierarchy (rootset.merge).
    inp = Inputs(templates, dict(rendered or {}), values)
    merged, problems = rootset.merge(templates)
    out = [rootset_finding(p) for p in problems]
    one = inp if len(rootset.root_files(templates)) <= 1 else Inputs(merged, {}, values)
    for name, rule in RULES.items():
        out += rule(inp if name == "template_limits" else one)
    return out


def rootset_finding(p: rootset.MergeProblem) -> Finding:
    """A service-set root that reads a value no earlier root gives it."""
    return finding(
        "roots",
        p.file,
        "",
        f"{p.file}: {p.problem}",
        "a stack's parameter without a value fails the create; deploy.sh fills a service-set root's "
        "parameters from earlier roots' describe-stacks outputs (docs/deploy.md, Several root stacks)",
        path=f"Parameters.{p.parameter}" if p.parameter else "",
    )
