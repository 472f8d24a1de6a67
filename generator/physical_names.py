"""Would AWS accept the names the templates set?  Every string property a resource sets
to a literal or an ``Fn::Sub`` of the Name / Environment parameters (and the stack name,
region and base domain) is evaluated with the spec's defaults, for every allowed
Environment, and held to the property's length and pattern from the resource schemas
(``generator.awsfacts``).  Nested stacks are named ``<root>-<LogicalId>-<13 characters>``
and must fit CloudFormation's stack-name limit.

A problem is reported against the spec field whose value appears in the name (the
longest one), else against ``name`` (the Name parameter's default).
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
CONTEXT = {"Name": "Name", "Environment": "Environment", "AWS::Region": "in region", "BaseDomain": "BaseDomain"}
# Spec values shorter than this are too common to name a field by ("dev", "app").
MIN_CANDIDATE = 3


def root_stack_names(source: str, spec: Platform) -> dict[str, str]:
    """deploy.sh's default stack name, ``<spec file name>-<environment>``, per environment."""
    stem = Path(source).stem
    return {env: f"{stem}-{env}" for env in spec.environments}


def check(spec: Platform, source: str, templates: dict[str, dict[str, Any]]) -> list[str]:
    """One ``file: field: message`` line per name AWS would refuse (first environment that fails)."""
    candidates = _candidates(spec)
    problems: dict[tuple[str, str, str], str] = {}
    for index, (env, root) in enumerate(root_stack_names(source, spec).items()):
        for lid, res in sorted(templates.get("main.yaml", {}).get("Resources", {}).items()):
            if res.get("Type") == "AWS::CloudFormation::Stack":
                nested = f"{root}-{lid}-" + "X" * awsfacts.NESTED_STACK_SUFFIX
                err = _stack_name_error(root, nested)
                if err:
                    problems.setdefault(("main.yaml", "", "StackName"), f"{source}: (file name): {err}")
        for file, template in sorted(templates.items()):
            stack_lid = _stack_lid(templates, file)
            values = {"Name": spec.name, "Environment": env, "AWS::Region": awsfacts.longest_region(),
                      "AWS::StackName": f"{root}-{stack_lid}-" + "X" * awsfacts.NESTED_STACK_SUFFIX,
                      "_index": str(index)}
            if spec.domain and spec.domain.base_domain:
                values["BaseDomain"] = spec.domain.base_domain
            for lid, res in sorted(template.get("Resources", {}).items()):
                for prop, raw in sorted((res.get("Properties") or {}).items()):
                    key = (file, lid, prop)
                    if key in problems:
                        continue
                    line = _check_value(res.get("Type", ""), prop, raw, values, candidates, source, env)
                    if line:
                        problems[key] = line
    return sorted(set(problems.values()))


def _stack_lid(templates: dict[str, dict[str, Any]], file: str) -> str:
    for lid, res in templates.get("main.yaml", {}).get("Resources", {}).items():
        if res.get("Properties", {}).get("TemplateURL") == file:
            return str(lid)
    return "Stack"


def _stack_name_error(root: str, nested: str) -> str | None:
    if len(nested) > awsfacts.STACK_NAME_MAX:
        return (f"deploy.sh names the stack {root!r} after the spec file; its nested stack {nested!r} would be "
                f"{len(nested)} characters and CloudFormation allows {awsfacts.STACK_NAME_MAX}; shorten the file name")
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


def _check_value(rtype: str, prop: str, raw: Any, values: dict[str, str],  # noqa: PLR0913
                 candidates: list[tuple[str, str]], source: str, env: str) -> str | None:
    max_len, pattern, where = awsfacts.name_limits(rtype, prop)
    if max_len is None and not pattern:
        return None
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


def _culprit(raw: Any, literal: str, values: dict[str, str], candidates: list[tuple[str, str]],
             env: str) -> str:
    """The spec field that contributes most to a name: a spec value written into the
    template, or the spec default behind one of its parameters."""
    parts = [(len(text), path) for path, text in candidates if text in literal][:1]
    used = set(PLACEHOLDER.findall(raw["Fn::Sub"])) if isinstance(raw, dict) else set()
    for placeholder, path in (("Name", "name"), ("Environment", f"environments[{values.get('_index', '')}]"),
                              ("BaseDomain", "domain.base_domain")):
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
