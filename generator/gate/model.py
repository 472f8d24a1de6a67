"""Result types and the per-tool summary table."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable


@dataclass
class Finding:
    """One failed check: a rule that failed for one resource of one template."""

    tool: str
    template: str
    rule: str
    logical_id: str
    message: str
    line: int | None = None
    reason: str | None = None  # set when the finding is suppressed

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def location(self) -> str:
        return f"{self.template}:{self.line}" if self.line else self.template

    def describe(self) -> str:
        where = f"{self.location()} {self.logical_id}".rstrip()
        message = self.message
        if self.logical_id and message.startswith(f"{self.logical_id}: "):
            message = message[len(self.logical_id) + 2:]
        text = f"{self.rule:<45} {where}: {message}"
        if self.suppressed:
            text += f"  [suppressed: {self.reason}]"
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
        return [f for f in self.findings if not f.suppressed]

    def suppressed_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed]

    def as_dict(self) -> dict:
        return {
            "tool": self.tool,
            "templates": self.templates,
            "passed": self.passed,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "seconds": round(self.seconds, 2),
            "errors": self.errors,
            "findings": [f.__dict__ for f in self.findings],
        }


HEADER = ("tool", "templates", "passed", "failed", "suppressed", "seconds")


def summary_table(results: Iterable[ToolResult]) -> str:
    rows = [HEADER] + [
        (r.tool, str(r.templates), str(r.passed), str(r.failed) + ("" if not r.errors else " +error"),
         str(r.suppressed), f"{r.seconds:.1f}")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
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
        print(f"  FAIL  {finding.describe()}")
    if verbose:
        for finding in result.suppressed_findings():
            print(f"  SKIP  {finding.describe()}")
    elif result.suppressed_findings():
        print(f"  ({len(result.suppressed_findings())} suppressed findings with reasons; "
              "--verbose lists them)")
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
