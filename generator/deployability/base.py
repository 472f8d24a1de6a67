"""What every deployability rule shares: its inputs, how it words a finding, and how it
names the parameter values under which a problem shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.cfn.conditions import Other
from generator.cfn.finding import ERROR, Finding
from generator.cfn.templateset import TemplateSet

SOURCE = "deployability"
DEFAULTS = "the parameter defaults"


@dataclass
class Inputs:
    """A template set and what the rules read besides it.

    ``rendered``: each file's text as it is written and deployed (the template bytes are
    counted on it); ``parameter_sets``: named sets of parent parameter values to evaluate
    parameter-fed values under, besides the defaults (``dev (parameters/x/dev.json)`` ->
    {"IngressCidrBlocks": "..."}).
    """

    templates: dict[str, dict[str, Any]]
    rendered: dict[str, str] = field(default_factory=dict)
    parameter_sets: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ts = TemplateSet(self.templates)

    def value_sets(self) -> list[tuple[str, TemplateSet]]:
        """(label, template set) for the defaults and every named parameter set."""
        out = [(DEFAULTS, self.ts)]
        for label, values in sorted(self.parameter_sets.items()):
            known = {k: v for k, v in values.items() if k in (self.ts.parent.get("Parameters") or {})}
            out.append((label, self.ts.under(known)))
        return out


def finding(
    rule: str,
    file: str,
    lid: str,
    problem: str,
    aws: str,
    *,
    severity: str = ERROR,  # noqa: PLR0913
    path: str = "",
    fix: str = "",
) -> Finding:
    """A finding of ``rule`` about resource ``lid`` of ``file``; ``aws`` names the AWS rule
    it would break and the page that states it, appended as ``(AWS: ...)``."""
    return Finding(
        f"{problem} (AWS: {aws})",
        where=file,
        fix=fix,
        severity=severity,
        rule=rule,
        source=SOURCE,
        resource=lid,
        path=path,
    )


def describe(scenario: Mapping[str, str | Other]) -> str:
    """'BaseDomain is '' and Environment is 'dev'' (an Other value: 'any other value')."""
    parts = []
    for name, v in sorted(scenario.items()):
        parts.append(f"{name} is {v!r}" if isinstance(v, str) else f"{name} has any other value")
    return " and ".join(parts) if parts else "always"
