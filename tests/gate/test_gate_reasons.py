"""Every suppression carries a reason: the audit over the templates, and checkov's own report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.gate.checkov_runner import parse
from generator.gate.model import ToolResult
from generator.gate.suppressions import audit_template, reason_problem
from generator.gate.templates import load

HEAD = 'AWSTemplateFormatVersion: "2010-09-09"\n'
GOOD = "Port 80 only redirects to HTTPS; security-gates.md allows it for the public ALB."


def audit(tmp_path: Path, body: str):
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + body)
    return audit_template(load(path))


def resource(metadata: str) -> str:
    return (
        "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Metadata:\n"
        + metadata
        + "    Properties: {GroupDescription: d}\n"
    )


@pytest.mark.parametrize("reason", [None, "", "   ", "No comment provided", "TODO", "n/a", "fp"])
def test_placeholder_reasons_are_rejected(reason):
    assert reason_problem(reason)


def test_real_reason_is_accepted():
    assert reason_problem(GOOD) is None


def test_checkov_skip_with_comment_is_a_suppression(tmp_path):
    good, bad = audit(
        tmp_path,
        resource(f'      checkov:\n        skip:\n          - id: CKV_AWS_260\n            comment: "{GOOD}"\n'),
    )
    assert bad == [] and [(s.kind, s.rule) for s in good] == [("checkov", "CKV_AWS_260")]


@pytest.mark.parametrize(
    "entry",
    [
        "          - id: CKV_AWS_260\n",
        "          - id: CKV_AWS_260\n            comment: ''\n",
        '          - comment: "a reason without a check id"\n',
    ],
)
def test_checkov_skip_without_reason_or_id_fails(tmp_path, entry):
    good, bad = audit(tmp_path, resource("      checkov:\n        skip:\n" + entry))
    assert good == [] and len(bad) == 1


def test_bridgecrew_alias_is_audited_too(tmp_path):
    _, bad = audit(tmp_path, resource("      bridgecrew:\n        skip:\n          - id: CKV_AWS_23\n"))
    assert len(bad) == 1 and bad[0].rule == "CKV_AWS_23"


def test_cfnlint_ignore_needs_a_reason(tmp_path):
    _, bad = audit(tmp_path, resource("      cfn-lint: {config: {ignore_checks: [W3005]}}\n"))
    assert len(bad) == 1 and "stackgen.suppressions.W3005" in bad[0].problem


def test_cfnlint_ignore_with_reason_is_a_suppression(tmp_path):
    good, bad = audit(
        tmp_path,
        resource(
            "      cfn-lint: {config: {ignore_checks: [W3005]}}\n"
            f'      stackgen: {{suppressions: {{W3005: "{GOOD}"}}}}\n'
        ),
    )
    assert bad == [] and [(s.kind, s.rule) for s in good] == [("cfn-lint", "W3005")]


def test_reason_for_a_check_that_is_not_ignored_fails(tmp_path):
    _, bad = audit(tmp_path, resource(f'      stackgen: {{suppressions: {{W3005: "{GOOD}"}}}}\n'))
    assert len(bad) == 1 and "not in ignore_checks" in bad[0].problem


def test_template_level_cfnlint_config_fails(tmp_path):
    _, bad = audit(
        tmp_path, "Metadata:\n  cfn-lint: {config: {ignore_checks: [E3012]}}\n" + resource("      other: {}\n")
    )
    assert len(bad) == 1 and "template-level" in bad[0].problem


def test_comment_suppression_fails(tmp_path):
    _, bad = audit(tmp_path, "# checkov:skip=CKV_AWS_260: it is fine\n" + resource("      other: {}\n"))
    assert len(bad) == 1 and "comment suppressions are not allowed" in bad[0].problem


def test_guard_registry_style_suppression_is_not_honoured(tmp_path):
    _, bad = audit(tmp_path, resource("      guard: {SuppressedRules: [SG_OPEN_TO_WORLD]}\n"))
    assert len(bad) == 1 and "has no effect" in bad[0].problem


def test_writable_root_without_reason_fails(tmp_path):
    _, bad = audit(tmp_path, resource("      stackgen: {writable_root: [{container: app}]}\n"))
    assert len(bad) == 1 and "writable root for app" in bad[0].problem


def test_inline_guard_allowlist_for_a_never_allowed_rule_fails(tmp_path):
    _, bad = audit(
        tmp_path,
        resource(f'      stackgen: {{guard_allowlist: {{vpc_sg_open_only_to_authorized_ports_check: "{GOOD}"}}}}\n'),
    )
    assert len(bad) == 1 and "can never be allow-listed" in bad[0].problem


def _check(cid: str, result: str, comment: str | None = None) -> dict:
    check: dict[str, Any] = {
        "check_id": cid,
        "check_name": "n",
        "resource": "AWS::EC2::SecurityGroup.Sg",
        "file_abs_path": "t.yaml",
        "file_line_range": [3, 9],
        "check_result": {"result": result},
    }
    if comment is not None:
        check["check_result"]["suppress_comment"] = comment
    return check


def test_checkov_report_counts_and_reasonless_skips():
    report = {
        "check_type": "cloudformation",
        "results": {
            "passed_checks": [_check("CKV_AWS_23", "PASSED")],
            "failed_checks": [_check("CKV_AWS_24", "FAILED")],
            "skipped_checks": [
                _check("CKV_AWS_260", "SKIPPED", GOOD),
                _check("CKV_AWS_25", "SKIPPED", "No comment provided"),
            ],
            "parsing_errors": [],
        },
    }
    result = ToolResult("checkov")
    parse([report, {"check_type": "secrets"}], result)
    assert (result.passed, result.failed, result.suppressed) == (1, 2, 1)
    open_ids = {f.rule for f in result.open_findings()}
    assert open_ids == {"CKV_AWS_24", "CKV_AWS_25"}
    assert result.findings[0].resource == "Sg"


def test_checkov_parsing_error_fails_the_gate():
    result = ToolResult("checkov")
    parse({"check_type": "cloudformation", "results": {"parsing_errors": ["broken.yaml"]}}, result)
    assert not result.ok
