"""Environments worth checking separately.

:func:`environments` lists the values of the parent's ``Environment`` parameter whose
conditions change resources of given types (else ``[None]``); :func:`with_environment`
gives the same templates with ``Environment`` defaulting to one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from generator.cfn.load import PARENT
from generator.cfn.refs import condition_names, walk
from generator.cfn.templateset import TemplateSet

ENVIRONMENT = "Environment"


def dependent_conditions(template: dict[str, Any], parameters: Iterable[str]) -> set[str]:
    """The conditions of a template that read one of ``parameters``, directly or through
    another condition."""
    params = set(parameters)
    conds = template.get("Conditions") or {}
    dependent = {n for n, c in conds.items() if any(r.name in params for r in walk(c))}
    while True:
        more = {n for n, c in conds.items() if n not in dependent and condition_names(c) & dependent}
        if not more:
            return dependent
        dependent |= more


def environments(
    templates: dict[str, dict[str, Any]], type_prefixes: tuple[str, ...], parameter: str = ENVIRONMENT
) -> list[str | None]:
    """The values of the parent's ``parameter`` to evaluate separately: all its AllowedValues
    when a condition that depends on it decides a resource whose type starts with one of
    ``type_prefixes`` (its Condition, or an Fn::If in it); else ``[None]``."""
    values = ((templates.get(PARENT) or {}).get("Parameters") or {}).get(parameter, {}).get("AllowedValues") or []
    if len(values) < 2:
        return [None]
    ts = TemplateSet(templates)
    for file, t in sorted(templates.items()):
        fed = {name for name in (t.get("Parameters") or {}) if ts.parameter_origin(file, name) == parameter}
        dependent = dependent_conditions(t, fed)
        if not dependent:
            continue
        for r in (t.get("Resources") or {}).values():
            if str(r.get("Type", "")).startswith(type_prefixes) and condition_names(r) & dependent:
                return [str(v) for v in values]
    return [None]


def with_environment(
    templates: dict[str, dict[str, Any]], env: str, parameter: str = ENVIRONMENT
) -> dict[str, dict[str, Any]]:
    """The same set with the parent's ``parameter`` defaulting to ``env`` (nothing copied deeply)."""
    main = templates[PARENT]
    params = dict(main.get("Parameters", {}))
    params[parameter] = {**params[parameter], "Default": env}
    return {**templates, PARENT: {**main, "Parameters": params}}
