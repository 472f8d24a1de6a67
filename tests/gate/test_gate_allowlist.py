"""The cfn-guard allow-list wrapper: what it suppresses, and what it refuses to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.gate import cli
from generator.gate.guard_runner import evaluate, rule_failure
from generator.gate.model import ToolResult
from generator.gate.suppressions import load_allowlists
from generator.gate.templates import load

# A log group whose CMK arrives as a parameter: the Control Tower rule
# CT.CLOUDWATCH.PR.3 only accepts a key defined in the same template, so it
# fails here although the group is encrypted (the project rule passes).
LOG_GROUP = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  KeyArn: {{Type: String}}
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
{metadata}    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      RetentionInDays: 365
      KmsKeyId: !Ref KeyArn
"""
REASON = "KmsKeyId is the platform CMK passed in as a parameter; CT.CLOUDWATCH.PR.3 only follows same-template keys."
RULE = "cloudwatch_log_group_encrypted_check"


def write(tmp_path: Path, text: str, name: str = "logs.yaml") -> Path:
    d = tmp_path / "tpl"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d


def run_guard(target: Path, *extra: str) -> int:
    return cli.main(["run", str(target), "--tools", "cfn-guard,reasons", "--reports", "", *extra])


def allowlist(tmp_path: Path, text: str) -> str:
    path = tmp_path / "allowlist.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def empty_allowlist(tmp_path: Path) -> str:
    return allowlist(tmp_path, "{}\n")


def test_ct_finding_fails_without_an_allowlist_entry(tmp_path, in_root, cfn_guard, capsys, empty_allowlist):
    target = write(tmp_path, LOG_GROUP.format(metadata=""))
    assert run_guard(target, "--allowlist", empty_allowlist) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {RULE}" in out and "Logs" in out


def test_allowlist_entry_with_reason_suppresses(tmp_path, in_root, cfn_guard, capsys):
    target = write(tmp_path, LOG_GROUP.format(metadata=""))
    entries = allowlist(tmp_path, f'{RULE}@Logs: "{REASON}"\n')
    assert run_guard(target, "--allowlist", entries, "--verbose") == 0
    out = capsys.readouterr().out
    assert f"SKIP  {RULE}" in out and REASON in out
    assert "security gate: PASS" in out


def test_allowlist_entry_without_a_reason_fails_the_gate(tmp_path, in_root, cfn_guard, capsys):
    target = write(tmp_path, LOG_GROUP.format(metadata=""))
    entries = allowlist(tmp_path, f'{RULE}@Logs: ""\n')
    assert run_guard(target, "--allowlist", entries) == 1
    out = capsys.readouterr().out
    assert "a suppression needs a reason" in out
    assert f"FAIL  {RULE}" in out  # and the finding itself stays open


@pytest.mark.parametrize("reason", ["", "TODO", "n/a", "because"])
def test_inline_allowlist_needs_a_real_reason(tmp_path, in_root, cfn_guard, capsys, reason, empty_allowlist):
    meta = f'    Metadata:\n      stackgen:\n        guard_allowlist:\n          {RULE}: "{reason}"\n'
    target = write(tmp_path, LOG_GROUP.format(metadata=meta))
    assert run_guard(target, "--allowlist", empty_allowlist) == 1
    assert "FAIL  " + RULE in capsys.readouterr().out


def test_inline_allowlist_with_reason_suppresses(tmp_path, in_root, cfn_guard, capsys, empty_allowlist):
    meta = f'    Metadata:\n      stackgen:\n        guard_allowlist:\n          {RULE}: "{REASON}"\n'
    target = write(tmp_path, LOG_GROUP.format(metadata=meta))
    assert run_guard(target, "--allowlist", empty_allowlist) == 0
    assert "suppressed findings with reasons" in capsys.readouterr().out


@pytest.mark.parametrize(
    "rule", ["stackgen_log_group_uses_cmk", "rds_proxy_tls_check", "ecs_task_definition_nonroot_user_check"]
)
def test_never_allowed_rules_cannot_be_allowlisted(tmp_path, in_root, cfn_guard, capsys, rule):
    # The log group has no key at all: both the CT rule and the project rule fail.
    text = LOG_GROUP.format(metadata="").replace("      KmsKeyId: !Ref KeyArn\n", "")
    target = write(tmp_path, text)
    entries = allowlist(tmp_path, f'{rule}@Logs: "{REASON}"\nstackgen_log_group_uses_cmk@Logs: "{REASON}"\n')
    assert run_guard(target, "--allowlist", entries) == 1
    out = capsys.readouterr().out
    assert "can never be allow-listed" in out
    assert "FAIL  stackgen_log_group_uses_cmk" in out


def test_unused_allowlist_entry_is_reported(tmp_path, in_root, cfn_guard, capsys):
    target = write(tmp_path, LOG_GROUP.format(metadata=""))
    entries = allowlist(tmp_path, f'{RULE}@Logs: "{REASON}"\n{RULE}@SomethingElse: "{REASON}"\n')
    assert run_guard(target, "--allowlist", entries) == 0
    assert f"allow-list entry {RULE}@SomethingElse matched nothing" in capsys.readouterr().out


@pytest.mark.parametrize("key", ["no-at-sign", "rule@", "@Logical", "rule@Bad-Id"])
def test_malformed_allowlist_key_is_rejected(tmp_path, key):
    result = load_allowlists([Path(allowlist(tmp_path, f"'{key}': \"{REASON}\"\n"))])
    assert result.entries == {} and "is not 'rule@LogicalId'" in result.problems[0]


TASK = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Task:
    Type: AWS::ECS::TaskDefinition
{metadata}    Properties:
      RequiresCompatibilities: [FARGATE]
      NetworkMode: awsvpc
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: app
          Image: app
          User: "1000"
          Memory: 256
          ReadonlyRootFilesystem: false
        - Name: side
          Image: side
          User: "1000"
          Memory: 256
          ReadonlyRootFilesystem: false
"""


def _exempt(*names: str) -> str:
    lines = ["    Metadata:\n      stackgen:\n        writable_root:\n"]
    for name in names:
        lines.append(
            f"          - container: {name}\n"
            '            reason: "This image rewrites its config under /etc at start-up."\n'
        )
    return "".join(lines)


@pytest.mark.parametrize("exempted, suppressed", [((), False), (("app",), False), (("app", "side"), True)])
def test_writable_root_exemption_covers_only_listed_containers(
    tmp_path, cfn_guard, exempted, suppressed, empty_allowlist
):
    """CT.ECS.PR.6 on a task definition is accepted only if every writable container is exempted."""
    target = write(tmp_path, TASK.format(metadata=_exempt(*exempted) if exempted else ""))
    path = target / "logs.yaml"
    reports = json.loads(_guard_json(cfn_guard, path))
    result = ToolResult("cfn-guard")
    loaded = {str(path): load(path)}
    for report in reports:
        report["name"] = str(path)
    evaluate(reports, loaded, load_allowlists([Path(empty_allowlist)]), result)
    [finding] = [f for f in result.findings if f.rule == "ecs_containers_readonly_access_check"]
    assert (finding.suppressed is not None) is suppressed
    if suppressed:
        assert "app:" in finding.suppressed and "side:" in finding.suppressed


@pytest.mark.parametrize("exempted, suppressed", [((), False), (("app",), True)])
def test_root_user_exemption_covers_the_ct_non_root_rule(tmp_path, cfn_guard, exempted, suppressed, empty_allowlist):
    text = TASK.replace(
        '          User: "1000"\n          Memory: 256\n          ReadonlyRootFilesystem: false\n        - Name: side',
        "          Memory: 256\n          ReadonlyRootFilesystem: false\n        - Name: side",
        1,
    )
    meta = ""
    if exempted:
        meta = (
            "    Metadata:\n      stackgen:\n        root_user:\n          - container: app\n"
            '            reason: "The image binds port 80 inside the container and needs root."\n'
        )
    target = write(tmp_path, text.format(metadata=meta))
    path = target / "logs.yaml"
    reports = json.loads(_guard_json(cfn_guard, path))
    for report in reports:
        report["name"] = str(path)
    result = ToolResult("cfn-guard")
    evaluate(reports, {str(path): load(path)}, load_allowlists([Path(empty_allowlist)]), result)
    [finding] = [f for f in result.findings if f.rule == "ecs_task_definition_nonroot_user_check"]
    assert (finding.suppressed is not None) is suppressed


def test_container_rules_cannot_be_allowlisted_wholesale(tmp_path, cfn_guard):
    """The per-container rules ignore rule@LogicalId entries: only the exemption counts."""
    target = write(tmp_path, TASK.format(metadata=""))
    path = target / "logs.yaml"
    reports = json.loads(_guard_json(cfn_guard, path))
    for report in reports:
        report["name"] = str(path)
    entries = Path(
        allowlist(
            tmp_path,
            "ecs_containers_readonly_access_check@Task: "
            '"Both containers write to their root filesystem at start-up."\n',
        )
    )
    loaded = load_allowlists([entries])
    assert loaded.entries == {} and "can never be allow-listed" in loaded.problems[0]
    result = ToolResult("cfn-guard")
    evaluate(reports, {str(path): load(path)}, loaded, result)
    [finding] = [f for f in result.findings if f.rule == "ecs_containers_readonly_access_check"]
    assert finding.suppressed is None


def _guard_json(cfn_guard: Path, path: Path) -> str:
    import subprocess

    from tests.gate.conftest import CT_RULES

    proc = subprocess.run(
        [
            str(cfn_guard),
            "validate",
            "-o",
            "json",
            "-S",
            "none",
            "--structured",
            "-r",
            str(CT_RULES / "ecs"),
            "-d",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 19), proc.stderr
    return proc.stdout


def test_failure_attribution_uses_resource_paths():
    """Rules that look up referenced resources report every key of Resources; only the
    resource under check is blamed, and a template-level echo is dropped."""
    tree = {
        "name": "r",
        "checks": [
            {
                "Clause": {
                    "Binary": {
                        "check": {
                            "Resolved": {
                                "from": {"path": "/Resources/Logs/Properties/KmsKeyId", "value": {"Ref": "K"}},
                                "to": {"path": "/Resources/Other/Type", "value": "x"},
                            }
                        }
                    }
                }
            },
            {"Clause": {"Binary": {"check": {"Resolved": {"from": {"path": "/Resources", "value": "Unrelated"}}}}}},
            {"Clause": {"Unary": {"check": {"UnResolvedContext": "%x not EMPTY"}}}},
        ],
    }
    assert set(rule_failure(tree).paths) == {"Logs"}
