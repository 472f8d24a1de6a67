"""generator.cfnlint_shim (the cfn-lint 1.58.0 speed-up every Linter applies) changes no finding:
every committed template, every example's templates and the deliberately broken lint fixtures
are linted with it (here) and without it (a process with STACKGEN_CFNLINT_SHIM=0), and every
finding (path, line, column, rule, message) is compared. A shim that breaks the memo is caught
by the same comparison, and the shim refuses any other cfn-lint than the one it was written for.

The side with the shim is ``lint.lint``, as ``stackgen lint`` runs it, with this run's lint
cache (STACKGEN_CACHE_DIR): the committed templates and the examples' are linted with the shim
by other tests too (tests/test_lint.py, tests/test_examples.py), and whichever test comes first
lints them for the others. A cached verdict is one made with the shim: the cache key holds the
shim's source and whether it is switched off (``lint.environment``, tested below)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import cfnlint_shim, cli, lint
from tests.helpers import ROOT

BROKEN = ROOT / "tests" / "fixtures" / "lint_broken"
GATE_RULES = ROOT / "tests" / "gate" / "fixtures" / "rules"
# Lints the paths on stdin (one a line) without the shim and prints their findings as JSON.
WITHOUT = """
import json, sys
from generator import cfnlint_shim, lint
lint.lint_process_gc()  # (a process that only lints, as the lint Server's: no finding changes)
linter = lint.Linter()
assert not cfnlint_shim.applied()
paths = sys.stdin.read().split()
print(json.dumps([[m.path, m.line, m.column, m.rule, m.message] for p in paths for m in linter.lint_file(p)]))
"""


def _rows(linter: lint.Linter, paths: list[str]) -> list[list[Any]]:
    return [[m.path, m.line, m.column, m.rule, m.message] for p in paths for m in linter.lint_file(p)]


def _linted(linter: lint.Linter, paths: list[str]) -> list[list[Any]]:
    """``lint.lint`` with the shimmed ``linter`` and this run's cache, as rows in ``paths``' order."""
    found = lint.lint(paths, jobs=1, linter=linter).findings
    order = {p: i for i, p in enumerate(paths)}
    return [[m.path, m.line, m.column, m.rule, m.message] for m in sorted(found, key=lambda m: order[m.path])]


def _start_without(paths: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, cfnlint_shim.SWITCH: "0"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WITHOUT], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None
    proc.stdin.write("\n".join(paths))
    proc.stdin.close()
    return proc


def _finish(proc: subprocess.Popen[str]) -> list[list[Any]]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait() == 0
    return json.loads(out)


def _broken() -> list[str]:
    return [str(p.relative_to(ROOT)) for p in [*sorted(BROKEN.glob("*.yaml")), *sorted(GATE_RULES.glob("*.yaml"))]]


@pytest.fixture(scope="module")
def example_templates(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Each example synthesized by the CLI into its own folder (absolute paths)."""
    out: list[str] = []
    base = tmp_path_factory.mktemp("examples")
    for spec in sorted((ROOT / "examples").glob("*.yaml")):
        folder = base / spec.stem
        assert cli.main(["synth", str(spec), "--out", str(folder), "--quiet"]) == 0
        out += [str(p) for p in sorted(folder.glob("*.yaml"))]
    return out


class Without:
    """The one run without the shim over every path the two comparisons below need, started
    when first asked for (it runs on the other core meanwhile) and read once."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.proc = _start_without(paths)
        self.rows: list[list[Any]] | None = None

    def of(self, paths: list[str]) -> list[list[Any]]:
        if self.rows is None:
            self.rows = _finish(self.proc)
        wanted = set(paths)
        assert wanted <= set(self.paths)
        return [row for row in self.rows if row[0] in wanted]


@pytest.fixture(scope="module")
def without(example_templates: list[str]) -> Iterator[Without]:
    committed = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "templates").glob("*/*.yaml"))]
    assert len(committed) >= 40 and len(example_templates) >= 40
    run = Without([*committed, *example_templates, *_broken()])
    yield run
    if run.proc.poll() is None:  # (a test failed before reading it: nothing outlives the module)
        run.proc.kill()
        run.proc.communicate()


# (one module-scoped run without the shim serves both tests: they run on one worker)
@pytest.mark.slow
@pytest.mark.xdist_group("cfnlint-shim")
def test_the_shim_changes_no_finding(without: Without, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # .cfnlintrc and the project rules
    paths = without.paths
    linter = lint.Linter()
    assert cfnlint_shim.applied(), cfnlint_shim.why_not()
    assert type(linter.rules[lint.ALL]["E1101"]).cfnLint.__module__ == cfnlint_shim.__name__  # (on the loaded class)
    with_shim = _linted(linter, paths)
    assert with_shim == without.of(paths)
    # The comparison sees something: the broken fixtures' findings, of many rules.
    rules = {rule for path, _, _, rule, _ in with_shim if path.startswith("tests/")}
    assert len(with_shim) >= 60 and len(rules) >= 30, sorted(rules)


@pytest.mark.slow
@pytest.mark.xdist_group("cfnlint-shim")
def test_a_broken_memo_changes_findings_and_the_comparison_catches_it(
    without: Without, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding-identity comparison can fail: a memo of ``create`` that ignores which
    validators it is given (it returns the first class it made for a function filter) changes
    the broken fixtures' findings."""
    from cfnlint.jsonschema import validators

    monkeypatch.chdir(ROOT)
    paths = _broken()
    linter = lint.Linter()
    assert cfnlint_shim.applied()
    made: dict[Any, Any] = {}
    create = validators.create

    def careless(validators: Any = None, function_filter: Any = None, fn_resolvers: Any = None) -> Any:
        key = (function_filter.add_cfn_lint_keyword, function_filter.validate_dynamic_references)
        if key not in made:
            made[key] = create(validators, function_filter, fn_resolvers)
        return made[key]

    monkeypatch.setattr(validators, "create", careless)
    assert _rows(linter, paths) != without.of(paths)


def test_the_shim_is_off_for_another_cfn_lint_or_a_changed_function(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cfnlint.version

    was = cfnlint_shim.applied()
    cfnlint_shim.remove()
    try:
        monkeypatch.setattr(cfnlint.version, "__version__", "1.59.0")
        assert cfnlint_shim.apply() is False and cfnlint_shim.apply() is False
        assert capsys.readouterr().err.count("cfn-lint 1.59.0 is not the pinned 1.58.0") == 1  # (once)
        monkeypatch.undo()
        cfnlint_shim.remove()
        monkeypatch.setitem(cfnlint_shim.SOURCES, "Context.evolve", "0" * 64)
        assert cfnlint_shim.apply() is False
        assert "Context.evolve is not the one the shim was written against" in capsys.readouterr().err
        monkeypatch.undo()
        cfnlint_shim.remove()
        monkeypatch.setenv(cfnlint_shim.SWITCH, "0")
        assert cfnlint_shim.apply() is False and capsys.readouterr().err == ""
        monkeypatch.undo()
        cfnlint_shim.remove()
        assert cfnlint_shim.why_not() == ""  # the installed cfn-lint is the pinned one
    finally:
        cfnlint_shim.remove()
        if was:
            cfnlint_shim.apply()


def test_the_pin_is_the_projects(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert f'"cfn-lint=={cfnlint_shim.PINNED}"' in text


def test_the_shims_source_and_switch_are_in_the_lint_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv(cfnlint_shim.SWITCH, raising=False)
    before = lint.environment()
    monkeypatch.setenv(cfnlint_shim.SWITCH, "1")  # (on, as when unset)
    assert lint.environment() == before
    for off in ("0", "off", "No"):
        monkeypatch.setenv(cfnlint_shim.SWITCH, off)
        assert lint.environment() != before, off
    monkeypatch.delenv(cfnlint_shim.SWITCH)
    copy = tmp_path / "cfnlint_shim.py"
    copy.write_text(lint.SHIM_SOURCE.read_text() + "\n# changed\n")
    monkeypatch.setattr(lint, "SHIM_SOURCE", copy)
    assert lint.environment() != before


def test_the_gates_cfnlint_runs_with_the_shim_and_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """validate.sh's cfn-lint (``generator.gate.cfnlint_runner``) applies the shim too: over the
    gate's rule fixtures and the clean fixture platform (which carries suppressions with reasons)
    its findings, suppressed ones included, and its counts are those of a run without it."""
    from generator.gate import cfnlint_runner
    from tests.gate.conftest import CLEAN

    monkeypatch.chdir(ROOT)
    paths = [*sorted(GATE_RULES.glob("*.yaml")), *sorted(CLEAN.rglob("*.yaml"))]
    was = cfnlint_shim.applied()
    cfnlint_shim.remove()
    try:
        monkeypatch.setenv(cfnlint_shim.SWITCH, "0")
        without = cfnlint_runner.run(paths, ROOT / ".cfnlintrc", None)
        assert not cfnlint_shim.applied()
        cfnlint_shim.remove()  # (forget the switched-off state: the next apply reads the switch again)
        monkeypatch.delenv(cfnlint_shim.SWITCH)
        shimmed = cfnlint_runner.run(paths, ROOT / ".cfnlintrc", None)
        assert cfnlint_shim.applied()
        assert any(c.cfnLint.__module__ == cfnlint_shim.__name__ for c in cfnlint_shim._state["rule_classes"])
    finally:
        cfnlint_shim.remove()
        if was:
            cfnlint_shim.apply()
    assert not without.errors and not shimmed.errors, (without.errors, shimmed.errors)
    assert shimmed.findings == without.findings
    assert (shimmed.passed, shimmed.failed, shimmed.suppressed) == (without.passed, without.failed, without.suppressed)
    # The comparison sees something: failures of several rules and suppressions with reasons.
    assert len({f.rule for f in shimmed.findings if f.suppressed is None}) >= 5
    assert any(f.suppressed for f in shimmed.findings)
