"""Would AWS accept the names the templates set?  Every string property a resource sets
to a literal or an ``Fn::Sub`` of the Name / Environment parameters (and the StackUid
token, the stack name, region and base domain) is evaluated with the spec's defaults, for
every allowed Environment, and held to the property's length and pattern from the resource
schemas (``generator.awsfacts``).  Nested stacks are named ``<root>-<LogicalId>-<13
characters>`` and must fit CloudFormation's stack-name limit.

A problem is reported against the spec field whose value appears in the name (the
longest one), else against ``name`` (the Name parameter's default).

Would a second create meet the names of the first?  A resource whose identifier (the
schema's ``primaryIdentifier``) the template sets to a value that is the same for every
stack instance of one platform and environment (literals, parent parameters, region and
account) fails with AlreadyExists when an earlier instance retained it, or when a second
copy runs beside it.  ``fixed_identifiers`` finds them; only ``SHARED_IDENTIFIERS`` may be.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import regex

from generator import awsfacts
from generator.spec import Platform

PLACEHOLDER = re.compile(r"\$\{([^}!]*)\}")
CONTEXT = {
    "Name": "Name",
    "Environment": "Environment",
    "AWS::Region": "in region",
    "BaseDomain": "BaseDomain",
    "StackUid": "StackUid",
}
# StackUid is always 8 hexadecimal characters (generator.naming.stack_uid).
STACK_UID_SAMPLE = "1a2b3c4d"
# Spec values shorter than this are too common to name a field by ("dev", "app").
MIN_CANDIDATE = 3


def root_stack_names(source: str, spec: Platform) -> dict[str, str]:
    """deploy.sh's default stack name, ``<spec file name>-<environment>``, per environment."""
    stem = Path(source).stem
    return {env: f"{stem}-{env}" for env in spec.environments}


# Identifiers that may be the same in every instance, each with the reason.
SHARED_IDENTIFIERS = {
    "AWS::Route53::RecordSet": "DNS records are {record}.{region}.{BaseDomain}, names users reach the platform "
    "by; a second copy in the same hosted zone sets its own BaseDomain (or none)",
}
# Pseudo parameters that differ between stack instances.
PER_INSTANCE_PSEUDO = ("AWS::StackId", "AWS::StackName")


class FixedIdentifierError(RuntimeError):
    """A bug in stackgen: a generated template names a resource the same in every instance."""


def fixed_identifiers(templates: dict[str, dict[str, Any]]) -> list[str]:
    """``file: LogicalId (Type): Property = value`` for every resource whose whole identifier the
    template fixes for all instances of a platform and environment (not in SHARED_IDENTIFIERS)."""
    parent = templates.get("main.yaml", {})
    feeds = {
        str(r.get("Properties", {}).get("TemplateURL")): r.get("Properties", {}).get("Parameters") or {}
        for r in parent.get("Resources", {}).values()
        if r.get("Type") == "AWS::CloudFormation::Stack"
    }
    out = []
    for file, template in sorted(templates.items()):
        for lid, res in sorted((template.get("Resources") or {}).items()):
            rtype = str(res.get("Type", ""))
            parts = identifier_properties(rtype)
            props = res.get("Properties") or {}
            if rtype in SHARED_IDENTIFIERS or not parts or not any(p in props for p in parts):
                continue
            if all(p not in props or _fixed(props[p], file, templates, feeds) for p in parts):
                shown = ", ".join(f"{p} = {props[p]!r}" for p in parts if p in props)
                out.append(f"{file}: {lid} ({rtype}): {shown}")
    return out


def identifier_properties(rtype: str) -> list[str]:
    """The properties that make up a type's primary identifier, or [] when AWS generates part of it."""
    schema = awsfacts.resource_schema(rtype) or {}
    parts = [str(p) for p in schema.get("primaryIdentifier", [])]
    if not parts or any(p in schema.get("readOnlyProperties", []) for p in parts):
        return []
    return [p.removeprefix("/properties/") for p in parts]


def _fixed(
    node: Any,
    file: str,
    templates: dict[str, dict[str, Any]],  # noqa: C901, PLR0911
    feeds: dict[str, dict[str, Any]],
) -> bool:
    """Whether a value is the same for every stack instance: built only from literals, the parent's
    parameters and pseudo parameters other than the stack's own ID and name."""

    def fixed(n: Any, f: str = file) -> bool:
        return _fixed(n, f, templates, feeds)

    if isinstance(node, (str, int, float, bool)) or node is None:
        return True
    if isinstance(node, list):
        return all(fixed(x) for x in node)
    if not isinstance(node, dict):
        return False
    if set(node) == {"Ref"}:
        name = str(node["Ref"])
        if name.startswith("AWS::"):
            return name not in PER_INSTANCE_PSEUDO
        template = templates.get(file, {})
        if name in (template.get("Resources") or {}):
            return False
        fed = feeds.get(file, {}).get(name)
        return True if fed is None or file == "main.yaml" else fixed(fed, "main.yaml")
    if set(node) == {"Fn::GetAtt"}:
        return False
    if set(node) == {"Fn::Sub"}:
        raw = node["Fn::Sub"]
        text, variables = (raw, {}) if isinstance(raw, str) else (raw[0], raw[1])
        for var in PLACEHOLDER.findall(text):
            if var.startswith("!"):
                continue
            value = variables.get(var, {"Fn::GetAtt": var.split(".", 1)} if "." in var else {"Ref": var})
            if not fixed(value):
                return False
        return True
    return all(fixed(v) for v in node.values())


def require_instance_scoped(templates: dict[str, dict[str, Any]]) -> None:
    """Raise ``FixedIdentifierError`` (a bug: no spec can cause it) for ``fixed_identifiers``."""
    fixed = fixed_identifiers(templates)
    if fixed:
        raise FixedIdentifierError(
            "resources named the same in every stack instance (a re-create after a delete, "
            "or a second copy, fails with AlreadyExists): " + "; ".join(fixed)
        )


def check(spec: Platform, source: str, templates: dict[str, dict[str, Any]]) -> list[str]:
    """One ``file: field: message`` line per name AWS would refuse (first environment that fails)."""
    candidates = _candidates(spec)
    limited = _limited(templates)
    stack_lids = {file: _stack_lid(templates, file) for file in sorted(templates)}
    problems: dict[tuple[str, str, str], str] = {}
    for index, (env, root) in enumerate(root_stack_names(source, spec).items()):
        for lid, res in sorted(templates.get("main.yaml", {}).get("Resources", {}).items()):
            if res.get("Type") == "AWS::CloudFormation::Stack":
                nested = f"{root}-{lid}-" + "X" * awsfacts.NESTED_STACK_SUFFIX
                err = _stack_name_error(root, nested)
                if err:
                    problems.setdefault(("main.yaml", "", "StackName"), f"{source}: (file name): {err}")
        values_of: dict[str, dict[str, str]] = {}
        for (file, lid, prop), (rtype, raw, limits) in limited.items():
            if (file, lid, prop) in problems:
                continue
            if file not in values_of:
                values_of[file] = _values(spec, env, index, f"{root}-{stack_lids[file]}-")
            line = _check_value(rtype, prop, raw, limits, values_of[file], candidates, source, env)
            if line:
                problems[(file, lid, prop)] = line
    return sorted(set(problems.values()))


def _limited(
    templates: dict[str, dict[str, Any]],
) -> dict[tuple[str, str, str], tuple[str, Any, tuple[int | None, str, str]]]:
    """(file, logical ID, property) -> (type, value, its name limits) of every top-level
    property the schemas (or ``DOCUMENTED_LIMITS``) limit in length or pattern: looked up
    once, then evaluated for each environment."""
    out = {}
    for file, template in sorted(templates.items()):
        for lid, res in sorted(template.get("Resources", {}).items()):
            rtype = res.get("Type", "")
            for prop, raw in sorted((res.get("Properties") or {}).items()):
                limits = awsfacts.name_limits(rtype, prop)
                if limits[0] is not None or limits[1]:
                    out[(file, lid, prop)] = (rtype, raw, limits)
    return out


def _values(spec: Platform, env: str, index: int, stack_prefix: str) -> dict[str, str]:
    """What a name's ``Fn::Sub`` placeholders stand for in one environment's stack."""
    values = {
        "Name": spec.name,
        "Environment": env,
        "AWS::Region": awsfacts.longest_region(),
        "StackUid": STACK_UID_SAMPLE,
        "AWS::StackName": stack_prefix + "X" * awsfacts.NESTED_STACK_SUFFIX,
        "_index": str(index),
    }
    if spec.domain and spec.domain.base_domain:
        values["BaseDomain"] = spec.domain.base_domain
    return values


def _stack_lid(templates: dict[str, dict[str, Any]], file: str) -> str:
    for lid, res in templates.get("main.yaml", {}).get("Resources", {}).items():
        if res.get("Properties", {}).get("TemplateURL") == file:
            return str(lid)
    return "Stack"


def _stack_name_error(root: str, nested: str) -> str | None:
    if len(nested) > awsfacts.STACK_NAME_MAX:
        return (
            f"deploy.sh names the stack {root!r} after the spec file; its nested stack {nested!r} would be "
            f"{len(nested)} characters and CloudFormation allows {awsfacts.STACK_NAME_MAX}; shorten the file name"
        )
    return None


def _evaluate(raw: Any, values: dict[str, str]) -> tuple[str, str] | None:
    """(value, its literal text) of a literal or an Fn::Sub we can evaluate, else None."""
    if isinstance(raw, str):
        return raw, raw
    if not isinstance(raw, dict) or set(raw) != {"Fn::Sub"} or not isinstance(raw["Fn::Sub"], str):
        return None
    text = raw["Fn::Sub"]
    names = PLACEHOLDER.findall(text)
    if any(n not in values for n in names):
        return None
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text), PLACEHOLDER.sub("\0", text)


def _check_value(  # noqa: PLR0913
    rtype: str,
    prop: str,
    raw: Any,
    limits: tuple[int | None, str, str],
    values: dict[str, str],
    candidates: list[tuple[str, str]],
    source: str,
    env: str,
) -> str | None:
    max_len, pattern, where = limits
    evaluated = _evaluate(raw, values)
    if evaluated is None:
        return None
    value, literal = evaluated
    if max_len is not None and len(value) > max_len:
        problem = f"is {len(value)} characters; AWS allows {max_len}"
    elif pattern and not _compiled(pattern).search(value):
        problem = f"does not match {pattern}"
    else:
        return None
    field = _culprit(raw, literal, values, candidates, env)
    used = set(PLACEHOLDER.findall(raw["Fn::Sub"])) if isinstance(raw, dict) else set()
    context = ", ".join(f"{CONTEXT[p]} {values[p]!r}" for p in sorted(used) if p in CONTEXT)
    context = f" ({context})" if context else ""
    return f"{source}: {field}: the {rtype} {prop} {value!r}{context} {problem} ({where})"


def _culprit(raw: Any, literal: str, values: dict[str, str], candidates: list[tuple[str, str]], env: str) -> str:
    """The spec field that contributes most to a name: a spec value written into the
    template, or the spec default behind one of its parameters."""
    parts = [(len(text), path) for path, text in candidates if text in literal][:1]
    used = set(PLACEHOLDER.findall(raw["Fn::Sub"])) if isinstance(raw, dict) else set()
    for placeholder, path in (
        ("Name", "name"),
        ("Environment", f"environments[{values.get('_index', '')}]"),
        ("BaseDomain", "domain.base_domain"),
    ):
        if placeholder in used:
            parts.append((len(values[placeholder]), path))
    return max(parts)[1] if parts else "name"


@functools.cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _candidates(spec: Platform) -> list[tuple[str, str]]:
    """(field path, value) of every string in the spec, longest value first."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and len(node) >= MIN_CANDIDATE:
            out.append((path, node))

    walk(spec.model_dump(mode="json", exclude_defaults=True), "")
    return sorted(out, key=lambda c: (-len(c[1]), c[0]))
