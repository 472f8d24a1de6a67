"""validate.sh end to end: all scanners over a clean platform, a broken copy, and bad usage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gate.conftest import CLEAN, ROOT

VALIDATE = ROOT / "validate.sh"


def validate(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VALIDATE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def summary(out: str) -> dict[str, tuple[int, int, int, int]]:
    """tool -> (templates, passed, failed, suppressed) from the final summary table."""
    table = out.split("== summary ==", 1)[1]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"^(\S+)\s+\|\s+(\d+) \|\s+(\d+) \|\s+(\d+)(?: \+error)? \|\s+(\d+) \|", line)
        if m:
            templates, passed, failed, suppressed = (int(g) for g in m.groups()[1:])
            rows[m.group(1)] = (templates, passed, failed, suppressed)
    return rows


def test_clean_platform_passes_every_tool(tmp_path, cfn_guard, checkov, gate_env):
    reports = tmp_path / "reports"
    proc = validate("--no-remote", "--reports", str(reports), str(CLEAN), env=gate_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = summary(proc.stdout)
    assert set(rows) == {"cfn-lint", "checkov", "cfn-guard", "reasons"}
    for tool, (templates, passed, failed, _) in rows.items():
        assert templates == 4 and passed > 0 and failed == 0, (tool, rows[tool])
    # the fixture's reasoned suppressions are counted, not hidden
    assert rows["cfn-lint"][3] == 1  # W3002 on the nested stacks
    assert rows["checkov"][3] == 1  # CKV_AWS_18 on the access-log bucket
    # log group key, RDS deletion protection, writable root, ALB certificate and deletion
    # protection, and three access-log bucket classes
    assert rows["cfn-guard"][3] == 8
    assert "security gate: PASS" in proc.stdout
    assert "validate-template: skipped (--no-remote)" in proc.stdout
    # SARIF for cfn-lint and checkov (and cfn-guard), with the suppression justified
    for name in ("cfn-lint.sarif", "checkov.sarif", "cfn-guard.sarif"):
        doc = json.loads((reports / name).read_text())
        assert doc["version"] == "2.1.0", name
    lint = json.loads((reports / "cfn-lint.sarif").read_text())["runs"][0]["results"]
    assert lint and all(r["suppressions"][0]["justification"] for r in lint)
    assert json.loads((reports / "gate-summary.json").read_text())["ok"] is True


def test_broken_platform_fails_with_each_problem_named(tmp_path, clean_copy, cfn_guard, checkov, gate_env):
    app = clean_copy / "demo" / "app.yaml"
    text = app.read_text()
    # a project cfn-lint rule: backups shorter than 7 days
    text = text.replace("BackupRetentionPeriod: 7", "BackupRetentionPeriod: 1")
    # a project Guard rule: the RDS Proxy no longer requires TLS
    text = text.replace("RequireTLS: true", "RequireTLS: false")
    # a checkov skip without a comment on the secret
    text = text.replace(
        "  AppSecret:\n    Type: AWS::SecretsManager::Secret\n",
        "  AppSecret:\n    Type: AWS::SecretsManager::Secret\n"
        "    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_149\n",
    )
    app.write_text(text)
    main = clean_copy / "demo" / "main.yaml"
    # a cfn-lint suppression whose reason was dropped
    main.write_text(
        re.sub(r"      stackgen:\n        suppressions:\n          W3002: .*\n", "", main.read_text(), count=1)
    )
    proc = validate("--no-remote", "--reports", str(tmp_path / "r"), str(clean_copy), env=gate_env)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert re.search(r"FAIL  E9101 .*DbCluster", out)
    assert re.search(r"FAIL  stackgen_rds_proxy_requires_tls .*Proxy", out)
    assert re.search(r"FAIL  rds_proxy_tls_check .*Proxy", out)
    assert re.search(r"FAIL  CKV_AWS_149 .*skipped, but .*a suppression needs a reason", out)
    assert re.search(r"FAIL  W3002 .*no reason given", out)
    assert "security gate: FAIL" in out


def test_usage_errors_exit_2(tmp_path, gate_env):
    assert validate("--bogus", env=gate_env).returncode == 2
    assert validate("--endpoint-url", env=gate_env).returncode == 2
    assert validate("--endpoint-url", "ftp://x", str(CLEAN), env=gate_env).returncode == 2
    assert validate(str(tmp_path / "missing"), env=gate_env).returncode == 2
    (tmp_path / "notes.yaml").write_text("just: yaml\n")
    proc = validate("--no-remote", "--tools", "reasons", str(tmp_path), env=gate_env)
    assert proc.returncode == 2 and "no CloudFormation templates" in proc.stderr
    help_ = validate("--help", env=gate_env)
    assert help_.returncode == 0 and "Exit codes: 0 clean, 1 findings" in help_.stdout


def test_relative_targets_are_taken_from_the_callers_directory(tmp_path, gate_env):
    shutil.copytree(CLEAN, tmp_path / "tpl")
    proc = validate("--no-remote", "--tools", "reasons", "--reports", "", "tpl", env=gate_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 template(s)" in proc.stdout


def test_remote_validation_is_skipped_without_credentials(gate_env):
    proc = validate("--tools", "reasons", "--reports", "", str(CLEAN), env=gate_env)
    assert proc.returncode == 0
    assert "validate-template: skipped (no AWS credentials and no --endpoint-url)" in proc.stdout


def test_validate_sh_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    proc = subprocess.run([shellcheck, str(VALIDATE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.e2e
def test_validate_template_runs_against_an_endpoint(tmp_path, ministack, gate_env):
    good = tmp_path / "ok"
    good.mkdir()
    (good / "topic.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n'
    )
    env = dict(
        gate_env,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PATH=f"{ROOT / '.venv/bin'}:{gate_env['PATH']}",
    )
    proc = validate("--tools", "reasons", "--reports", "", "--endpoint-url", ministack, str(good), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"validate-template: ok .*topic.yaml", proc.stdout)
    # a resource type the endpoint does not know makes validate-template, and the gate, fail
    (good / "topic.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Thing:\n    Type: AWS::Nope::Nothing\n'
    )
    proc = validate("--tools", "reasons", "--reports", "", "--endpoint-url", ministack, str(good), env=env)
    assert proc.returncode == 1
    assert "validate-template: FAIL" in proc.stderr


@pytest.mark.e2e
def test_a_template_over_the_inline_limit_is_validated_from_s3(tmp_path, ministack, gate_env):
    """Over 51,200 bytes, --template-body would be refused: the remote step uploads the
    template to the artifact bucket and validates it by URL, as deploy.sh deploys it."""
    big = tmp_path / "big"
    big.mkdir()
    topics = "".join(
        f"  Topic{i}:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: t{i}-{'x' * 120}\n"
        for i in range(400)
    )
    (big / "many.yaml").write_text('AWSTemplateFormatVersion: "2010-09-09"\nResources:\n' + topics)
    assert (big / "many.yaml").stat().st_size > 51200
    env = dict(
        gate_env,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PATH=f"{ROOT / '.venv/bin'}:{gate_env['PATH']}",
    )
    proc = validate("--tools", "reasons", "--reports", "", "--endpoint-url", ministack, str(big), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"validate-template: ok .*many.yaml \(from S3: over the inline limit\)", proc.stdout)
