"""The gate's cfn-lint (``generator.gate.cfnlint_runner``, what validate.sh runs) fails exactly
what ``python -m generator lint`` reports: the same cfn-lint, ``.cfnlintrc`` and project rules,
and the same resource-level suppressions honoured by both.

So a template set that ``lint`` reports clean has no cfn-lint FAIL in the gate, and
tests/test_examples.py gates the examples (already linted by the ``lint`` command) with the
other tools only, instead of linting the same 80 templates a second time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from generator import lint
from generator.gate import cfnlint_runner
from tests.gate.conftest import CLEAN, ROOT, RULE_FIXTURES, expectation

# the project rules' fixtures (each breaks or meets one of E9101-E9104)
PROJECT_RULE_FIXTURES = [p for p in sorted(RULE_FIXTURES.glob("*.yaml")) if expectation(p)[0].startswith("E9")]


def test_the_gates_cfnlint_fails_what_the_lint_command_reports(tmp_path: Path, in_root: Path) -> None:
    # the clean platform (it carries cfn-lint suppressions with reasons), with one template
    # broken for a built-in rule (an unknown DeletionPolicy value)
    shutil.copytree(CLEAN, tmp_path / "t")
    app = tmp_path / "t" / "demo" / "app.yaml"
    text = app.read_text()
    assert "    DeletionPolicy: Retain\n" in text
    app.write_text(text.replace("    DeletionPolicy: Retain\n", "    DeletionPolicy: Keep\n", 1))
    paths = [*PROJECT_RULE_FIXTURES, *sorted((tmp_path / "t").rglob("*.yaml"))]

    gate = cfnlint_runner.run(paths, ROOT / ".cfnlintrc", None)
    assert not gate.errors, gate.errors
    failed = {(Path(f.where).resolve(), f.rule, f.line) for f in gate.findings if f.suppressed is None}
    suppressed = {(Path(f.where).resolve(), f.rule, f.line) for f in gate.findings if f.suppressed is not None}

    command = lint.lint([str(p) for p in paths], use_cache=False, jobs=1)
    reported = {(Path(m.path).resolve(), m.rule, m.line) for m in command.findings}

    assert failed == reported
    # not vacuous: a built-in rule and the project rules fail, and a suppressed finding is in
    # neither list
    rules = {rule for _, rule, _ in reported}
    assert any(not r.startswith("E9") for r in rules) and {"E9101", "E9102", "E9103", "E9104"} <= rules, rules
    assert any(where.name == "app.yaml" for where, _, _ in reported), reported
    assert suppressed and not suppressed & reported, suppressed


def test_the_gates_cfnlint_runs_at_the_lint_gc_thresholds_and_restores_the_process_own(
    monkeypatch, in_root: Path
) -> None:
    """The gate's cfn-lint run (rules built and templates linted in the gate's process) is one
    batch at ``lint.LINT_GC_THRESHOLD`` (``lint.lint_gc``), and the gate's own thresholds
    hold again after it."""
    import gc

    seen: list[tuple[int, ...]] = []
    real = cfnlint_runner.Runner

    class Recording(real):  # type: ignore[misc, valid-type]
        def run(self):
            seen.append(gc.get_threshold())
            yield from super().run()

    monkeypatch.setattr(cfnlint_runner, "Runner", Recording)
    own = gc.get_threshold()
    mine = (703, 12, 8)
    gc.set_threshold(*mine)
    try:
        result = cfnlint_runner.run(sorted((CLEAN / "demo").glob("*.yaml")), ROOT / ".cfnlintrc", None)
        assert result.errors == [] and result.templates > 0
        assert seen == [lint.LINT_GC_THRESHOLD]
        assert gc.get_threshold() == mine
    finally:
        gc.set_threshold(*own)
