"""The lint cache never hides a finding: a changed rule, config line, template or nested
child invalidates exactly what it can affect, and cached findings are replayed as found.

Each test works in its own small project (a .cfnlintrc, a copy of the project rules, three
templates), with HOME and the cache directory in tmp, so nothing outside can leak in."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from generator import cache, lint
from tests.helpers import ROOT

CONFIG = "regions: [us-east-1]\nappend_rules: [rules]\n"
MAIN = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Metadata:
      cfn-lint: {config: {ignore_checks: [W3002]}}
    Properties:
      TemplateURL: child.yaml
      Parameters:
        Retention: "345600"
"""
CHILD = """AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Retention: {Type: Number}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
"""
DB = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Db:
    Type: AWS::RDS::DBCluster
    Properties: {Engine: aurora-mysql, BackupRetentionPeriod: 7, DeletionProtection: true}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rules").mkdir()
    shutil.copy(ROOT / "cfnlint_rules" / "stackgen.py", tmp_path / "rules" / "stackgen.py")
    (tmp_path / ".cfnlintrc").write_text(CONFIG)
    t = tmp_path / "t"
    t.mkdir()
    for name, text in (("main.yaml", MAIN), ("child.yaml", CHILD), ("db.yaml", DB)):
        (t / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-level ~/.cfnlintrc
    monkeypatch.setenv("STACKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STACKGEN_NO_CACHE", raising=False)
    return tmp_path


def _paths(root: Path, sub: str = "t") -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / sub).glob("*.yaml"))


def _rules(findings: list[lint.Match]) -> list[tuple[str, str]]:
    return [(Path(f.path).name, f.rule) for f in findings]


@pytest.mark.slow
def test_rule_config_template_and_child_changes_each_invalidate_what_they_should(project: Path) -> None:
    paths = _paths(project)
    linter = lint.Linter()
    cold = lint.lint(paths, jobs=1, linter=linter)
    assert cold.linted == paths and cold.findings == []
    warm = lint.lint(paths, jobs=1, linter=linter)
    assert warm.linted == [] and warm.cached == paths

    # A project rule changes (backups of at least 8 days): every template is linted again,
    # and the one that now breaks it says so.
    rule = project / "rules" / "stackgen.py"
    rule.write_text(rule.read_text().replace("MIN_BACKUP_RETENTION_DAYS = 7", "MIN_BACKUP_RETENTION_DAYS = 8"))
    linter = lint.Linter()  # a new process would load the changed rule the same way
    ruled = lint.lint(paths, jobs=1, linter=linter)
    assert ruled.linted == paths
    assert _rules(ruled.findings) == [("db.yaml", "E9101")]
    # ... and the cache replays that finding, it does not hide it.
    replay = lint.lint(paths, jobs=1, linter=linter)
    assert replay.linted == [] and replay.findings == ruled.findings

    # A config line changes: every template is linted again, with the new verdict.
    (project / ".cfnlintrc").write_text(CONFIG + "ignore_checks: [E9101]\n")
    configured = lint.lint(paths, jobs=1, linter=linter)
    assert configured.linted == paths and configured.findings == []

    # One template changes: only it is linted again.
    db = project / "t" / "db.yaml"
    db.write_text(DB.replace("BackupRetentionPeriod: 7", "BackupRetentionPeriod: 9"))
    edited = lint.lint(paths, jobs=1, linter=linter)
    assert edited.linted == ["t/db.yaml"] and edited.findings == []

    # A child changes: the child and its parent are linted again (E3043 reads the child),
    # and the parent's finding appears although the parent's bytes did not change.
    (project / "t" / "child.yaml").write_text(
        CHILD.replace("Parameters:\n  Retention: {Type: Number}\n", "").replace("!Ref Retention", "345600")
    )
    nested = lint.lint(paths, jobs=1, linter=linter)
    assert nested.linted == ["t/child.yaml"] and nested.crossed == ["t/main.yaml"]
    assert _rules(nested.findings) == [("main.yaml", "E3043")]
    assert "Retention" in nested.findings[0].message


@pytest.mark.slow
def test_same_bytes_elsewhere_no_cache_and_parallel(project: Path) -> None:
    linter = lint.Linter()
    (project / "t" / "db.yaml").write_text(DB.replace("DeletionProtection: true", "DeletionProtection: false"))
    first = lint.lint(_paths(project), jobs=1, linter=linter)
    assert _rules(first.findings) == [("db.yaml", "E9102")]

    # The same bytes in another directory: answered from the cache, with the new path.
    shutil.copytree(project / "t", project / "u")
    moved = lint.lint(_paths(project, "u"), jobs=1, linter=linter)
    assert moved.linted == [] and [f.path for f in moved.findings] == ["u/db.yaml"]
    assert [(f.line, f.rule, f.message) for f in moved.findings] == [
        (f.line, f.rule, f.message) for f in first.findings
    ]

    # --no-cache lints everything again, and finds the same.
    forced = lint.lint(_paths(project), use_cache=False, jobs=1, linter=linter)
    assert forced.linted == _paths(project) and forced.findings == first.findings

    # Two cores give the same findings in the same order as one.
    both = _paths(project) + _paths(project, "u")
    parallel = lint.lint(both, use_cache=False, jobs=2, linter=linter)
    serial = lint.lint(both, use_cache=False, jobs=1, linter=linter)
    assert parallel.jobs == 2 and parallel.findings == serial.findings
    assert [f.path for f in parallel.findings] == ["t/db.yaml", "u/db.yaml"]


def test_a_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    store = cache.Store("x", tmp_path)
    store.put("ab" * 32, {"v": 1})
    assert store.get("ab" * 32) == {"v": 1}
    (tmp_path / "x" / "ab" / f"{'ab' * 32}.json").write_text("{not json")
    assert store.get("ab" * 32) is None
    assert cache.Store("x", tmp_path, use=False).get("cd" * 32) is None


def test_keys_follow_the_inputs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = lint.environment()
    main, db = project / "t" / "main.yaml", project / "t" / "db.yaml"
    keys = lint.jobs_of(str(main), env)
    assert set(keys) == {(str(main), lint.LOCAL), (str(main), lint.CROSS)}
    assert lint.jobs_of(str(main), env) == keys
    assert set(lint.jobs_of(str(db), env)) == {(str(db), lint.ALL)}
    # the region default, when the config names none
    with monkeypatch.context() as m:
        m.setenv("AWS_REGION", "eu-west-1" if os.environ.get("AWS_REGION") != "eu-west-1" else "us-west-2")
        assert lint.environment() != env
    assert lint.environment() == env
    # the kernel modules the project rules import
    kernel = project / "kernel"
    kernel.mkdir()
    (kernel / "conditions.py").write_text("A = 1\n")
    with monkeypatch.context() as m:
        m.setattr(lint, "RULE_IMPORTS", kernel)
        before = lint.environment()
        (kernel / "conditions.py").write_text("A = 2\n")
        assert lint.environment() != before
    assert lint.environment() == env
    # a user-level config
    (project / ".cfnlintrc.yaml").write_text("regions: [eu-west-1]\n")
    assert lint.environment() != env
    (project / ".cfnlintrc.yaml").unlink()
    assert lint.environment() == env
    # a child changes the parent's cross-template key only, and no leaf's key
    leaf = lint.jobs_of(str(db), env)
    (project / "t" / "child.yaml").write_text(CHILD + "# changed\n")
    changed = lint.jobs_of(str(main), env)
    assert changed[(str(main), lint.LOCAL)] == keys[(str(main), lint.LOCAL)]
    assert changed[(str(main), lint.CROSS)] != keys[(str(main), lint.CROSS)]
    assert lint.jobs_of(str(db), env) == leaf


# What a rule must not do unless it is in lint.CROSS_RULES: read a file besides its template.
READS_FILES = re.compile(r"\bdecode\(|\bopen\(|\.read_text\(|\.read_bytes\(|os\.path\.(?:exists|isfile)\(")
RULE_ID = re.compile(r"^\s+id = \"([EWI]\d{4})\"", re.M)


def file_reading_rules(sources: dict[str, str]) -> set[str]:
    """Rule ids defined in sources that read files (cfn-lint's own loader excluded)."""
    return {
        rid
        for name, text in sources.items()
        if name != "_rules.py" and READS_FILES.search(text)
        for rid in RULE_ID.findall(text)
    }


def test_only_the_cross_rules_read_other_files() -> None:
    import cfnlint.rules

    roots = [Path(cfnlint.rules.__file__).parent, ROOT / "cfnlint_rules"]
    sources = {str(p.relative_to(root)): p.read_text() for root in roots for p in root.rglob("*.py")}
    assert file_reading_rules(sources) == set(lint.CROSS_RULES)
    # ... and the scan sees a rule that starts reading a sibling template.
    sneaky = 'class R:\n    id = "E9999"\n    def match(self, cfn):\n        return decode("other.yaml")\n'
    assert file_reading_rules({**sources, "sneaky.py": sneaky}) == {*lint.CROSS_RULES, "E9999"}


@pytest.mark.slow
def test_a_cold_parent_linted_once_stores_what_two_runs_store(project: Path) -> None:
    """A parent with both of its jobs to do is linted once with every rule and its findings are
    split by rule: the two cache entries are those two separate runs would store, also when
    the parent does not parse (then it is linted twice)."""
    main, child = project / "t" / "main.yaml", project / "t" / "child.yaml"
    child.write_text(  # the child loses the parameter the parent passes: E3043 on the parent
        CHILD.replace("Parameters:\n  Retention: {Type: Number}\n", "").replace("!Ref Retention", "345600")
    )
    linter = lint.Linter()
    store = cache.Store("lint")

    def stored_as_two_runs(text: str) -> list[str]:
        main.write_text(text)
        keys = lint.jobs_of("t/main.yaml", lint.environment())
        found = lint.lint(["t/main.yaml"], jobs=1, linter=linter).findings
        for job, key in keys.items():
            alone = linter.lint_file(*job)
            assert store.get(key) == [
                [f.line, f.column, f.rule, f.message.replace(f.path, lint.PATH_MARK)] for f in alone
            ]
        return [f.rule for f in found]

    # a local finding (a property of the wrong type) beside the cross-template one
    assert stored_as_two_runs(MAIN + "      TimeoutInMinutes: not-a-number\n") == ["E3043", "E3012"]
    # a parent that does not parse: the parse error is in both entries, as two runs find it
    assert stored_as_two_runs(MAIN + "  Broken: [\n") == ["E0000", "E0000"]
