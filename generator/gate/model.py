"""Result types and the per-tool summary table.

A scanner's finding is the kernel's ``Finding`` (``generator.cfn.finding``): ``source``
is the tool, ``where`` the template, ``resource`` the logical id, ``problem`` the
message and ``suppressed`` the reason of the suppression that accepts it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.cfn.finding import Finding

# The gate's tools, in its order, and where it finds their inputs (the defaults of
# `python -m generator.gate run` and of validate.sh's cache, generator.gatecache).
TOOLS = ("cfn-lint", "checkov", "cfn-guard", "reasons")
DEFAULTS = {
    "checkov": ".tools/checkov/bin/checkov",
    "cfn_guard": ".tools/cfn-guard/bin/cfn-guard",
    "ct_rules": ".tools/cfn-guard/ct-rules",
    "rules": "guard",
    "allowlist": "guard/allowlist.yaml",
    "cfnlintrc": ".cfnlintrc",
    "checkov_config": ".checkov.yaml",
    "reports": "reports",
}


def finding(
    tool: str,
    template: str,
    rule: str,
    logical_id: str,
    message: str,
    line: int | None = None,
    reason: str | None = None,
) -> Finding:
    """One failed check of a scanner: ``rule`` of ``tool`` failed for one resource of one
    template; ``reason`` is set when a suppression with that reason accepts it."""
    return Finding(message, template, rule=rule, source=tool, resource=logical_id, line=line, suppressed=reason)


def location(f: Finding) -> str:
    return f"{f.where}:{f.line}" if f.line else f.where


def describe(f: Finding) -> str:
    """The line the gate prints for a finding: rule, where, message, and the suppression's reason."""
    where = f"{location(f)} {f.resource}".rstrip()
    message = f.problem
    if f.resource and message.startswith(f"{f.resource}: "):
        message = message[len(f.resource) + 2 :]
    text = f"{f.rule:<45} {where}: {message}"
    if f.suppressed is not None:
        text += f"  [suppressed: {f.suppressed}]"
    return text


@dataclass
class ToolResult:
    """Counts of checks for one tool.

    A check is one (template, rule) evaluation for cfn-lint and cfn-guard, and
    one (resource, check) evaluation for checkov (its own unit). A check is
    *suppressed* when it failed only on findings that carry a reason.
    """

    tool: str
    templates: int = 0
    passed: int = 0
    failed: int = 0
    suppressed: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # scanner crashes, bad config
    notes: list[str] = field(default_factory=list)  # warnings that do not fail the gate
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.errors

    def open_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    def suppressed_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is not None]

    def as_dict(self) -> dict:
        return {
            "tool": self.tool,
            "templates": self.templates,
            "passed": self.passed,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "seconds": round(self.seconds, 2),
            "errors": self.errors,
            "findings": [f.as_dict() for f in self.findings],
        }


HEADER = ("tool", "templates", "passed", "failed", "suppressed", "seconds")


def summary_table(results: Iterable[ToolResult]) -> str:
    rows = [HEADER] + [
        (
            r.tool,
            str(r.templates),
            str(r.passed),
            str(r.failed) + ("" if not r.errors else " +error"),
            str(r.suppressed),
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append(" | ".join(cells))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def print_result(result: ToolResult, verbose: bool = False) -> None:
    """One section per tool: its table, then what failed and what was suppressed."""
    print(f"\n== {result.tool} ==")
    print(summary_table([result]))
    for error in result.errors:
        print(f"  ERROR {error}")
    for finding in result.open_findings():
        print(f"  FAIL  {describe(finding)}")
    if verbose:
        for finding in result.suppressed_findings():
            print(f"  SKIP  {describe(finding)}")
    elif result.suppressed_findings():
        print(f"  ({len(result.suppressed_findings())} suppressed findings with reasons; --verbose lists them)")
    for note in result.notes:
        print(f"  note  {note}")


def relpath(path: str | os.PathLike) -> str:
    """Path relative to the working directory when it lies below it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def to_sarif(result: ToolResult) -> dict:
    """SARIF 2.1.0 of a tool's findings (failed and suppressed, each with its reason), written
    by the gate itself for cfn-guard and checkov (checkov's own SARIF writer fails on the
    skipped checks of a run over several files)."""
    rules = sorted({f.rule for f in result.findings})
    out = []
    for f in result.findings:
        entry: dict[str, Any] = {
            "ruleId": f.rule,
            "level": "error",
            "message": {"text": f"{f.resource}: {f.problem}" if f.resource else f.problem},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.where, "uriBaseId": "EXECUTIONROOT"},
                        "region": {"startLine": f.line or 1},
                    }
                }
            ],
        }
        if f.suppressed is not None:
            entry["suppressions"] = [{"kind": "external", "justification": f.suppressed}]
        out.append(entry)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": result.tool, "rules": [{"id": r} for r in rules]}},
                "originalUriBaseIds": {"EXECUTIONROOT": {"uri": Path.cwd().as_uri() + "/"}},
                "results": out,
            }
        ],
    }
