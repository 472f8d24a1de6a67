"""Synthesis with every failure a spec can cause reported against the spec.

``synthesize_checked`` is the one path from a spec file to templates: ``synth`` writes
what it returns and ``validate`` discards it, so the two cannot disagree.  It loads the
spec (the model's validators name the field), then runs what only synthesis can know and
maps each failure back to a spec field, as ``SpecError`` lines ``file: field: message``:

- a declared parameter that no stack's interface takes (``parent.wire`` would refuse it);
- a template over CloudFormation's per-template quotas (troposphere's guards);
- a physical name AWS would refuse (``generator.physical_names``);
- anything the deployability check finds (``generator.deployability``): a reference to a
  resource that can be absent, a quota, a value YAML readers change, KMS on a data path,
  world-open ingress.  It runs on the templates AWS gets, on the text ``synth`` writes, and with the
  per-environment parameters files (``parameters/<spec file name>/<env>.json`` beside the
  spec's folder) when they exist.  Its errors are spec errors; its warnings come back in
  ``Synthesis.warnings``.

Anything else that fails is a bug in stackgen and propagates unchanged, among them a
resource named the same in every stack instance (``physical_names.require_instance_scoped``).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import deployability, naming, paramfiles, physical_names, render
from generator.contract import ContractError
from generator.deploy.params import ParamError, read_params_file
from generator.deployability import rootset
from generator.deployability.quotas import QUOTAS
from generator.lb_placement import layout
from generator.spec import Platform, SpecError, load_spec
from generator.stacks import STACKS

DUPLICATE = re.compile(r'(?:output (\w+) declared twice|duplicate key "(\w+)" detected)')
LIMIT = re.compile(r"Maximum (?:number of )?(parameters|outputs|mappings|resources) (\d+) reached")
# The spec lists a template's size grows with; the largest is named in a limit error.
GROWING = ("services", "parameters", "secrets", "ssm_parameters", "repositories", "buckets", "load_balancers")


@dataclass(frozen=True)
class Synthesis:
    """A checked synthesis: the templates, the warnings to print,
    and the text of each ``aws`` template as ``synth`` writes it (the deployability check
    counted its bytes)."""

    spec: Platform
    templates: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]
    aws_files: dict[str, str] | None = None


def synthesize_checked(path: str | Path) -> Synthesis:
    """Load, validate and synthesize SPEC in memory. Raises ``SpecError`` for anything
    the spec causes; any other exception is a bug."""
    source = str(Path(path))  # as load_spec names it
    spec = load_spec(path)
    try:
        problems = unused_parameters(spec, source)
        if problems:
            raise SpecError(problems)
        templates = render.synthesize(spec)
    except (ValueError, ContractError) as exc:
        line = template_limit(spec, source, exc) or id_collision(spec, source, exc)
        if line is None:
            raise
        raise SpecError([line]) from None
    # Names are followed to their values across root stacks too (generator.roots).
    one, _ = rootset.merge(templates)
    physical_names.require_instance_scoped(one)
    problems = physical_names.check(spec, source, one)
    if problems:
        raise SpecError(problems)
    header = render.HEADER.format(name=spec.name)
    files = {name: header + render.to_yaml(t) for name, t in sorted(templates.items())}
    errors, notes = deployable(spec, source, templates, files)
    if errors:
        raise SpecError(errors)
    return Synthesis(spec, templates, tuple(warnings(spec, source) + notes), files)


def deployable(
    spec: Platform, source: str, templates: dict[str, dict[str, Any]], files: dict[str, str]
) -> tuple[list[str], list[str]]:
    """The deployability check's (error lines, warning lines) for the ``aws`` templates and
    their text."""
    findings = deployability.check(templates, spec, rendered=files, parameter_sets=parameter_files(source))
    return deployability.spec_lines(findings, spec, source)


def parameter_files(source: str) -> dict[str, dict[str, str]]:
    """label -> values of each ``parameters/<spec file name>/<env>.json`` beside the spec's
    folder (``platforms/x.yaml`` -> ``parameters/x/``); a file that cannot be read is skipped
    (``stackgen params --check`` reports it)."""
    out = {}
    for path in paramfiles.files(source):
        try:
            out[paramfiles.label(source, path)] = read_params_file(path)
        except ParamError:
            continue
    return out


def warnings(spec: Platform, source: str) -> list[str]:
    if spec.network.egress == "public-ip":
        return [
            f"WARNING: {source}: egress public-ip gives every task a public IP in a public subnet "
            f"({spec.network.public_ip_reason}). Prefer vpc-endpoints or a NAT."
        ]
    return []


def unused_parameters(spec: Platform, source: str) -> list[str]:
    """Declared parameters that no applicable stack declares as an input."""
    taken = {i.name for mod in STACKS if mod.applies(spec) for i in mod.interface(spec).inputs}
    return [
        f"{source}: parameters[{k}] ({p.name}): declared but no stack uses it"
        for k, p in enumerate(spec.parameters)
        if p.name not in taken
    ]


def template_limit(spec: Platform, source: str, exc: Exception) -> str | None:
    """The spec error for troposphere's per-template guard, or None for any other error."""
    m = LIMIT.fullmatch(str(exc))
    if m is None:
        return None
    kind, limit = m.group(1), int(m.group(2))
    assert limit == QUOTAS[kind].value, f"troposphere's {kind} guard is {limit}"
    stack = _failing_stack(exc)
    field = max(GROWING, key=lambda f: (len(getattr(spec, f)), f == "services"))
    count = len(getattr(spec, field))
    return (
        f"{source}: {field}: with {count} {field} the {stack} template needs more than {limit} {kind}, "
        f"CloudFormation's limit per template; split the platform into smaller specs"
    )


def id_collision(spec: Platform, source: str, exc: Exception) -> str | None:
    """The spec error for a logical ID or output name that a spec name produces and the
    generator already uses for one of its own resources, or None."""
    m = DUPLICATE.fullmatch(str(exc))
    if m is None:
        return None
    taken = m.group(1) or m.group(2)
    owners = [
        (len(naming.pascal(name)), field, name)
        for field, name in named_items(spec)
        if taken.startswith(naming.pascal(name))
    ]
    if not owners:
        return None
    _, field, name = max(owners)
    shards = [s for s in layout(spec).overflow() if naming.pascal(s.name) == naming.pascal(name)]
    whose = (
        f"load balancer {shards[0].balancer.name}'s ALB {shards[0].name} (past its ALB quotas it is split: "
        "generator/lb_placement.py)"
        if shards
        else "one of its own resources"
    )
    used = f"which stackgen already uses for {whose}; choose another name"
    return f"{source}: {field}: {name!r} gives the id {taken}, {used}"


def named_items(spec: Platform) -> list[tuple[str, str]]:
    """(field, name) of everything the spec names that becomes part of a logical ID."""
    out = [(f"services[{i}].name", s.name) for i, s in enumerate(spec.services)]
    out += [
        (f"services[{i}].target_groups[{j}].name", tg.name)
        for i, s in enumerate(spec.services)
        for j, tg in enumerate(s.target_groups)
    ]
    for field in ("load_balancers", "clusters", "secrets", "ssm_parameters", "repositories"):
        out += [(f"{field}[{i}].name", x.name) for i, x in enumerate(getattr(spec, field))]
    out += [(f"buckets[{i}]", b) for i, b in enumerate(spec.buckets)]
    out += [(f"network.tiers[{i}].name", t.name) for i, t in enumerate(spec.network.tiers)]
    if spec.efs:
        out += [(f"efs.access_points[{i}].name", a.name) for i, a in enumerate(spec.efs.access_points)]
    return out


def _failing_stack(exc: BaseException) -> str:
    """The nested stack (or the parent) whose build raised ``exc``."""
    name = "parent"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith("generator.stacks.") and "NAME" in frame.f_globals:
            name = str(frame.f_globals["NAME"])
    return name
