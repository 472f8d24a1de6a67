"""checkov (separate venv under .tools/checkov), once over the scanned templates.

Settings come from .checkov.yaml (frameworks cloudformation + secrets, no
skip-check). checkov itself applies ``Metadata.checkov.skip``; a skipped check
without a real comment counts as failed here.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from generator.gate.model import Finding, ToolResult, finding, relpath, to_sarif, write_json
from generator.gate.suppressions import reason_problem


class CheckovRun:
    """Started in the background so it overlaps with the in-process cfn-lint run."""

    def __init__(self, checkov: Path, config_file: Path, templates: list[Path], sarif: Path | None) -> None:
        self.templates = templates
        self.sarif = sarif
        self.start = time.monotonic()
        self.tmp = tempfile.TemporaryDirectory(prefix="gate-checkov-")
        # Given one output, checkov takes --output-file-path as a directory and writes
        # results_json.json there.  The templates are named one by one (-f), never as
        # directories (-d): over several directories holding same-named templates, checkov
        # 3.3 reports one directory's skipped checks twice and another's not at all, and its
        # SARIF writer then fails (tests/gate/test_gate_checkov_files.py).  The SARIF report
        # is the gate's own (model.to_sarif), from the findings parsed here.
        self.json_path = Path(self.tmp.name) / "results_json.json"
        cmd = [str(checkov), "--config-file", str(config_file)]
        for t in templates:
            cmd += ["-f", str(t)]
        cmd += ["-o", "json", "--output-file-path", self.tmp.name]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self) -> ToolResult:
        stdout, stderr = self.proc.communicate()
        result = ToolResult("checkov", templates=len(self.templates))
        try:
            if self.proc.returncode not in (0, 1):
                tail = (stderr or stdout).strip().splitlines()[-5:]
                result.errors.append(f"checkov exited {self.proc.returncode}: " + " | ".join(tail))
                return result
            try:
                data = json.loads(self.json_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                result.errors.append(f"checkov wrote no readable JSON report: {exc}")
                return result
            parse(data, result)
            if self.proc.returncode == 1 and result.failed == 0 and not result.errors:
                result.errors.append("checkov exited 1 but reported no failed check")
            if self.sarif:
                write_json(self.sarif, to_sarif(result))
            return result
        finally:
            result.seconds = time.monotonic() - self.start
            self.tmp.cleanup()


def _where(check: dict) -> str:
    return relpath(check.get("file_abs_path") or check.get("repo_file_path") or "")


def parse(data: dict | list, result: ToolResult) -> None:
    reports = data if isinstance(data, list) else [data]
    for report in reports:
        if not isinstance(report, dict) or "results" not in report:
            continue  # a framework with nothing to scan
        results = report["results"]
        errors = results.get("parsing_errors") or []
        for path in errors:
            result.errors.append(f"checkov could not parse {relpath(path)}")
        for _check in results.get("passed_checks", []):
            result.passed += 1
        for check in results.get("failed_checks", []):
            result.failed += 1
            result.findings.append(_finding(check))
        for check in results.get("skipped_checks", []):
            comment = (check.get("check_result") or {}).get("suppress_comment")
            problem = reason_problem(comment)
            found = _finding(check)
            if problem or comment is None:
                found = replace(
                    found, problem=f"{found.problem} (skipped, but {problem}: a suppression needs a reason)"
                )
                result.failed += 1
            else:
                found = replace(found, suppressed=comment.strip())
                result.suppressed += 1
            result.findings.append(found)


def _finding(check: dict) -> Finding:
    resource = str(check.get("resource") or "")
    logical_id = resource.split(".", 1)[1] if "." in resource else resource
    lines = check.get("file_line_range") or [None]
    return finding(
        "checkov", _where(check), check.get("check_id", "?"), logical_id, check.get("check_name", ""), lines[0] or None
    )
