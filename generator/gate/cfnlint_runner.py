"""cfn-lint, in process, over all templates at once, with .cfnlintrc.

cfn-lint applies resource-level ``Metadata.cfn-lint.config.ignore_checks``
silently. To count (and show) what was suppressed, the run records the matches
that cfn-lint's metadata filter drops; the suppression reason comes from the
same resource's ``Metadata.stackgen.suppressions``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cfnlint.runner.template.runner as template_runner
from cfnlint.config import ConfigMixIn
from cfnlint.formatters import SARIFFormatter
from cfnlint.runner import Runner

from generator import cfnlint_shim, lint
from generator.gate.model import ToolResult, finding, relpath


@contextlib.contextmanager
def _record_suppressed(sink: list) -> Iterator[None]:
    original = template_runner._check_metadata_directives

    def recording(matches, cfn, config):  # same signature as cfn-lint 1.58
        matches = list(matches)
        kept = list(original(iter(matches), cfn, config))
        for match in matches:
            if match not in kept:
                sink.append((match, cfn))
        yield from kept

    template_runner._check_metadata_directives = recording
    try:
        yield
    finally:
        template_runner._check_metadata_directives = original


def _logical_id(match: Any) -> str:
    path = getattr(match, "path", None) or []
    if len(path) >= 2 and path[0] == "Resources":
        return str(path[1])
    return ""


def _reason(cfn: Any, match: Any) -> str:
    logical_id = _logical_id(match)
    resource = (cfn.template.get("Resources") or {}).get(logical_id) or {}
    reasons = ((resource.get("Metadata") or {}).get("stackgen") or {}).get("suppressions") or {}
    reason = reasons.get(match.rule.id) if isinstance(reasons, dict) else None
    return str(reason).strip() if reason else "(no reason: see the reasons audit)"


def run(templates: list[Path], config_file: Path, sarif: Path | None) -> ToolResult:
    start = time.monotonic()
    result = ToolResult("cfn-lint", templates=len(templates))
    if not templates:
        return result
    suppressed: list = []
    try:
        # The lint command's speed-up of cfn-lint 1.58.0 (generator.cfnlint_shim): the same
        # findings, about a fifth less CPU; off by itself for any other cfn-lint or with
        # STACKGEN_CFNLINT_SHIM=0.
        cfnlint_shim.apply()
        # .cfnlintrc paths (append_rules) are relative to the file's directory.
        absolute = [str(Path(t).resolve()) for t in templates]
        # (lint.lint_gc: the lint processes' garbage-collector thresholds for the run)
        with contextlib.chdir(Path(config_file).resolve().parent), lint.lint_gc():
            config = ConfigMixIn(["--config-file", Path(config_file).name, "--", *absolute])
            runner = Runner(config)
            cfnlint_shim.apply_to_rules(runner.rules)
            with _record_suppressed(suppressed):
                matches = list(runner.run())
    except Exception as exc:  # a crash must fail the gate, with the reason
        result.errors.append(f"cfn-lint crashed: {type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - start
        return result

    enabled = [r for r in runner.rules.values() if runner.rules.is_rule_enabled(r, config)]
    failed_pairs: set[tuple[str, str]] = set()
    suppressed_pairs: set[tuple[str, str]] = set()
    for match in matches:
        name = relpath(match.filename or "")
        result.findings.append(
            finding("cfn-lint", name, match.rule.id, _logical_id(match), match.message, match.linenumber)
        )
        failed_pairs.add((name, match.rule.id))
    for match, cfn in suppressed:
        name = relpath(match.filename or "")
        result.findings.append(
            finding(
                "cfn-lint",
                name,
                match.rule.id,
                _logical_id(match),
                match.message,
                match.linenumber,
                _reason(cfn, match),
            )
        )
        suppressed_pairs.add((name, match.rule.id))
    suppressed_pairs -= failed_pairs
    total = len(templates) * len(enabled)
    result.failed = len(failed_pairs)
    result.suppressed = len(suppressed_pairs)
    result.passed = max(total - result.failed - result.suppressed, 0)
    if sarif:
        _write_sarif(sarif, matches, suppressed, runner, config)
    result.seconds = time.monotonic() - start
    return result


def _write_sarif(path: Path, matches: list, suppressed: list, runner: Runner, config) -> None:
    everything = matches + [m for m, _ in suppressed]
    doc = json.loads(SARIFFormatter().print_matches(everything, runner.rules, config))
    results = doc["runs"][0]["results"]
    for i, (match, cfn) in enumerate(suppressed, start=len(matches)):
        results[i]["suppressions"] = [{"kind": "inSource", "justification": _reason(cfn, match)}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
