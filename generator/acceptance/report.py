"""The acceptance run's checks, their verdict, the JUnit XML report and the one-screen summary.

A check is ``passed``, ``failed``, ``not applicable`` (it cannot be answered where the run
happened, e.g. a health check on the emulator, which runs no containers) or ``not run``
(an earlier step made it impossible, e.g. no stack after a failed deploy). Only ``passed``
counts as passed; the run fails when any check failed. Nothing here talks to AWS.

JUnit XML: the shape every CI reader takes (Jenkins, GitLab, GitHub test reporters):
``testsuites/testsuite/testcase`` with ``failure`` for a failed check and ``skipped`` (with
the reason as its message) for a check that is not applicable or was not run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not applicable"
NOT_RUN = "not run"
STATUSES = (PASSED, FAILED, NOT_APPLICABLE, NOT_RUN)
# How the summary marks each status (fixed width).
MARKS = {PASSED: "PASS", FAILED: "FAIL", NOT_APPLICABLE: "N/A ", NOT_RUN: "----"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# XML 1.0 forbids most control characters; tool output may contain them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Check:
    """One testcase. ``group`` is what kind of check (deploy, service, probe, ...), ``name``
    what it is about; ``message`` is one line (why it failed, why it does not apply, or what
    passed) and ``output`` the long text (logs, findings) kept in the report."""

    group: str
    name: str
    status: str
    message: str = ""
    output: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r} (one of {STATUSES})")
        if self.status != PASSED and not self.message.strip():
            raise ValueError(f"check {self.group}: {self.name} is {self.status} without a reason")

    @property
    def title(self) -> str:
        return f"{self.group}: {self.name}" if self.name else self.group


@dataclass
class Report:
    """Everything one acceptance run found, in the order it was checked."""

    platform: str
    env: str
    stack: str
    region: str
    endpoint: str = ""
    emulated: bool = False
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    @property
    def failed(self) -> bool:
        return verdict(self.checks) == FAILED

    @property
    def suite(self) -> str:
        return f"acceptance {self.platform} {self.env}"


def verdict(checks: list[Check]) -> str:
    """``failed`` when any check failed, else ``passed``. Not-applicable and not-run checks
    neither fail nor pass the run; they are never counted as passed."""
    return FAILED if any(c.status == FAILED for c in checks) else PASSED


def exit_code(checks: list[Check]) -> int:
    return EXIT_FAILED if verdict(checks) == FAILED else EXIT_OK


# --------------------------------------------------------------------------- JUnit XML


def _text(value: str) -> str:
    return _XML_INVALID.sub("?", value)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def junit_xml(report: Report) -> str:
    """The report as JUnit XML (one testsuite, one testcase per check)."""
    counts = report.counts()
    skipped = counts[NOT_APPLICABLE] + counts[NOT_RUN]
    totals = {
        "tests": str(len(report.checks)),
        "failures": str(counts[FAILED]),
        "errors": "0",
        "skipped": str(skipped),
        "time": _seconds(report.seconds),
    }
    root = ET.Element("testsuites", {"name": "stackgen acceptance", **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": report.suite,
            **totals,
            "timestamp": report.started.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    props = ET.SubElement(suite, "properties")
    base = {
        "platform": report.platform,
        "environment": report.env,
        "stack": report.stack,
        "region": report.region,
        "endpoint": report.endpoint or "AWS",
        "emulated": "true" if report.emulated else "false",
    }
    for name, value in {**base, **report.properties}.items():
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})
    classname = f"acceptance.{report.platform}.{report.env}"
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"{classname}.{check.group.replace(' ', '-')}",
                "name": check.title,
                "time": _seconds(check.seconds),
            },
        )
        if check.status == FAILED:
            failure = ET.SubElement(case, "failure", {"message": _text(check.message), "type": "AcceptanceCheckFailed"})
            failure.text = _text(check.output or check.message)
        elif check.status in (NOT_APPLICABLE, NOT_RUN):
            ET.SubElement(case, "skipped", {"message": _text(f"{check.status}: {check.message}")})
        if check.output and check.status != FAILED:
            ET.SubElement(case, "system-out").text = _text(check.output)
        elif check.status == PASSED and check.message:
            ET.SubElement(case, "system-out").text = _text(check.message)
    if report.notes:
        ET.SubElement(suite, "system-out").text = _text("\n".join(report.notes))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: Report, path: Path) -> None:
    """Write the XML atomically: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(junit_xml(report))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_report_path(platform: str, env: str) -> Path:
    return Path("reports") / f"acceptance-{platform}-{env}.xml"


# --------------------------------------------------------------------------- summary


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def summary(report: Report, extra: list[str] | None = None, width: int = 110) -> str:
    """One screen: a line per check (status, what, duration, why), the verdict, then ``extra``
    (cost, survivors, the report's path). A reason shared by several checks is printed once,
    as a numbered note; a long one continues on the next lines."""
    where = (
        f"endpoint {report.endpoint} (emulator)"
        if report.emulated
        else (f"endpoint {report.endpoint}" if report.endpoint else "AWS")
    )
    lines = [f"Acceptance of {report.platform} ({report.env}): stack {report.stack}, {report.region}, {where}"]
    reasons = [c.message for c in report.checks if c.status != PASSED]
    shared = list(dict.fromkeys(r for r in reasons if reasons.count(r) > 1))
    title_width = min(max((len(c.title) for c in report.checks), default=10), 56)
    for c in report.checks:
        head = f"  {MARKS[c.status]}  {_clip(c.title, title_width):<{title_width}}  {_duration(c.seconds):>10}"
        if c.status == PASSED:
            lines.append(head)
        elif c.message in shared:
            lines.append(f"{head}  [{shared.index(c.message) + 1}]")
        else:
            room = width - len(head) - 2
            text = " ".join(c.message.split())
            if len(text) <= room:
                lines.append(f"{head}  {text}")
            else:
                lines.append(head)
                lines += textwrap.wrap(
                    text, width, initial_indent=" " * 8, subsequent_indent=" " * 8, max_lines=3, placeholder=" ..."
                )
    for i, reason in enumerate(shared, 1):
        lines += textwrap.wrap(
            " ".join(reason.split()),
            width,
            initial_indent=f"  [{i}] ",
            subsequent_indent=" " * 6,
            max_lines=3,
            placeholder=" ...",
        )
    counts = report.counts()
    result = "FAILED" if report.failed else "PASSED"
    lines.append(
        f"Result: {result}: {counts[FAILED]} failed, {counts[PASSED]} passed, "
        f"{counts[NOT_APPLICABLE]} not applicable (not counted as passed), "
        f"{counts[NOT_RUN]} not run; {_duration(report.seconds)}"
    )
    lines.extend(extra or [])
    return "\n".join(line.rstrip() for line in lines)
