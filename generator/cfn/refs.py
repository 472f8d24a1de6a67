"""The one reference walker: which names a template fragment refers to.

A reference is a ``Ref``, an ``Fn::GetAtt`` (list or ``"A.B"`` form) or an ``Fn::Sub``
variable (``${X}`` and ``${X.Attr}``; ``${!Literal}`` is text, and a name the Sub's own
variable map defines is local, while the map's values are walked).  ``DependsOn`` is
not inside a value: :func:`depends_on` reads it from a resource explicitly.
Pseudo parameters (``AWS::Region`` ...) are references too; :data:`PSEUDO_PARAMETERS`
names them for callers that skip them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)

SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Reference:
    """``name`` (a logical id, parameter or pseudo parameter) and, for GetAtt and
    ``${X.Attr}``, the attribute; ``via`` is 'Ref', 'Fn::GetAtt' or 'Fn::Sub'."""

    name: str
    attr: str = ""
    via: str = "Ref"


def sub_parts(node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The text and the explicit variable map of an ``{"Fn::Sub": ...}`` node."""
    v = node["Fn::Sub"]
    if isinstance(v, list):
        text = v[0] if v and isinstance(v[0], str) else ""
        variables = v[1] if len(v) > 1 and isinstance(v[1], dict) else {}
        return text, variables
    return (v if isinstance(v, str) else ""), {}


def sub_variables(text: str) -> list[str]:
    """The ``${...}`` variables of a Sub text, in order, without the ``${!...}`` literals."""
    return [m for m in SUB_VARIABLE.findall(text) if m and not m.startswith("!")]


def walk(node: Any) -> Iterator[Reference]:
    """Every reference in a template fragment, depth first."""
    if isinstance(node, list):
        for x in node:
            yield from walk(x)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            yield Reference(value)
        elif key == "Fn::GetAtt":
            parts = value.split(".", 1) if isinstance(value, str) else value
            if isinstance(parts, list) and parts and isinstance(parts[0], str):
                attr = parts[1] if len(parts) > 1 and isinstance(parts[1], str) else ""
                yield Reference(parts[0], attr, "Fn::GetAtt")
                yield from walk(parts[1:])
        elif key == "Fn::Sub":
            text, variables = sub_parts(node)
            for var in sub_variables(text):
                if var not in variables:
                    name, _, attr = var.partition(".")
                    yield Reference(name, attr, "Fn::Sub")
            yield from walk(list(variables.values()))
        else:
            yield from walk(value)


def references(node: Any) -> set[str]:
    """The names a fragment references (logical ids, parameters, pseudo parameters)."""
    return {r.name for r in walk(node)}


def depends_on(resource: dict[str, Any]) -> list[str]:
    """A resource's ``DependsOn`` as a list (it may be one name or a list)."""
    deps = resource.get("DependsOn") if isinstance(resource, dict) else None
    if deps is None:
        return []
    return [deps] if isinstance(deps, str) else [d for d in deps if isinstance(d, str)]


def condition_names(node: Any) -> set[str]:
    """Conditions a fragment uses: ``Fn::If`` first arguments and ``{"Condition": name}``."""
    found: set[str] = set()
    if isinstance(node, list):
        for x in node:
            found |= condition_names(x)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value and isinstance(value[0], str):
                found.add(value[0])
            elif key == "Condition" and isinstance(value, str):
                found.add(value)
            found |= condition_names(value)
    return found
