"""Each project rule passes on a template that meets it and fails on one that breaks it.

Fixtures live in tests/gate/fixtures/rules/. Each declares, in its template
Metadata, the rule it exercises and the exact logical IDs that must fail:

    Metadata:
      gate-test: {rule: stackgen_efs_uses_cmk, fails: [AwsManagedKey, NotEncrypted]}

cfn-guard runs once over all Guard fixtures, and cfn-lint once (in process)
over all cfn-lint fixtures.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from cfnlint.rules import Rules

from generator.gate import cfnlint_runner
from generator.gate.guard_runner import rule_failure
from tests.gate.conftest import ROOT, RULE_FIXTURES, expectation

ALL_FIXTURES = sorted(RULE_FIXTURES.glob("*.yaml"))
GUARD_FIXTURES = [p for p in ALL_FIXTURES if expectation(p)[0].startswith("stackgen_")]
CFNLINT_FIXTURES = [p for p in ALL_FIXTURES if re.fullmatch(r"[EWI]\d{4}", expectation(p)[0])]


def guard_rule_names() -> set[str]:
    names = set()
    for path in (ROOT / "guard").glob("*.guard"):
        names |= set(re.findall(r"^rule (stackgen_\w+)", path.read_text(), re.MULTILINE))
    return names


def cfnlint_rule_ids() -> set[str]:
    return {r.id for r in Rules.create_from_directory(str(ROOT / "cfnlint_rules")).values()}


@pytest.fixture(scope="module")
def guard_results(cfn_guard: Path) -> dict[str, dict]:
    """fixture file name -> {"compliant": set(rules), "failing": {rule: set(logical ids)}}."""
    cmd = [str(cfn_guard), "validate", "-o", "json", "-S", "none", "--structured", "-r", str(ROOT / "guard")]
    for path in GUARD_FIXTURES:
        cmd += ["-d", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 19), proc.stderr
    results = {}
    for report in json.loads(proc.stdout):
        failing = {}
        for item in report["not_compliant"]:
            failure = rule_failure(item["Rule"])
            failing[failure.rule] = set(failure.paths)
        results[Path(report["name"]).name] = {"compliant": set(report["compliant"]), "failing": failing}
    return results


@pytest.fixture(scope="module")
def cfnlint_results() -> dict[str, dict[str, set[str]]]:
    """fixture file name -> {rule id: set(logical ids with a match)}."""
    result = cfnlint_runner.run(CFNLINT_FIXTURES, ROOT / ".cfnlintrc", None)
    assert not result.errors, result.errors
    found: dict[str, dict[str, set[str]]] = {p.name: {} for p in CFNLINT_FIXTURES}
    for f in result.findings:
        found[Path(f.where).name].setdefault(f.rule, set()).add(f.resource)
    return found


@pytest.mark.parametrize("path", GUARD_FIXTURES, ids=lambda p: p.stem)
def test_guard_project_rule(path: Path, guard_results: dict[str, dict]) -> None:
    rule, expected = expectation(path)
    report = guard_results[path.name]
    failing = report["failing"].get(rule, set())
    assert failing == expected, f"{rule} on {path.name}: failed {failing}, expected {expected}"
    if not expected:
        # a pass must be a real PASS, not a SKIP (rule not applicable)
        assert rule in report["compliant"], f"{rule} did not evaluate {path.name}"


@pytest.mark.parametrize("path", CFNLINT_FIXTURES, ids=lambda p: p.stem)
def test_cfnlint_project_rule(path: Path, cfnlint_results: dict) -> None:
    rule, expected = expectation(path)
    failing = cfnlint_results[path.name].get(rule, set())
    assert failing == expected, f"{rule} on {path.name}: failed {failing}, expected {expected}"


def test_every_project_rule_has_a_passing_and_a_failing_fixture() -> None:
    declared = {p: expectation(p) for p in ALL_FIXTURES}
    passing = {rule for rule, fails in declared.values() if not fails}
    failing = {rule for rule, fails in declared.values() if fails}
    rules = guard_rule_names() | cfnlint_rule_ids()
    assert len(rules) >= 11, rules
    assert rules - passing == set(), "rules without a passing fixture"
    assert rules - failing == set(), "rules without a failing fixture"
    assert (passing | failing) - rules == set(), "fixtures for rules that do not exist"


def test_project_rules_are_mandatory_in_cfnlintrc() -> None:
    """A resource-level ignore_checks must not be able to switch a project rule off."""
    config = (ROOT / ".cfnlintrc").read_text()
    mandatory = re.search(r"mandatory_checks:\n((?:\s+- \S+\n)+)", config)
    assert mandatory, "no mandatory_checks in .cfnlintrc"
    assert set(re.findall(r"- (\S+)", mandatory.group(1))) >= cfnlint_rule_ids()


def test_ignore_checks_cannot_silence_a_project_rule(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Resources:\n"
        "  Task:\n"
        "    Type: AWS::ECS::TaskDefinition\n"
        "    Metadata:\n"
        "      cfn-lint: {config: {ignore_checks: [E9103, E9104]}}\n"
        "      stackgen: {suppressions: {E9103: 'trying to hide a root container', "
        "E9104: 'trying to hide a writable root'}}\n"
        "    Properties:\n"
        "      ContainerDefinitions: [{Name: app, Image: a, Memory: 512}]\n"
    )
    result = cfnlint_runner.run([template], ROOT / ".cfnlintrc", None)
    rules = {f.rule for f in result.open_findings()}
    assert {"E9103", "E9104"} <= rules
