"""Every example spec under examples/ generates, lints clean, passes the reachability preflight
and (slow) the security gate, exactly as a user runs them:

    python -m generator synth examples/X.yaml --out DIR
    python -m generator lint DIR
    python -m generator check --templates DIR
    ./validate.sh --no-remote --tools checkov,cfn-guard,reasons DIR

The gate's fourth tool, cfn-lint, fails exactly what ``lint`` reports
(tests/gate/test_gate_cfnlint_parity.py), and ``lint`` already reports every example clean
here: the gate run leaves it out rather than lint the same 80 templates a second time.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from generator import cli
from tests.helpers import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
VALIDATE = ROOT / "validate.sh"
TOOLS = (ROOT / ".tools" / "checkov" / "bin" / "checkov", ROOT / ".tools" / "cfn-guard" / "bin" / "cfn-guard")
# every tool of the gate but cfn-lint, which the lint test above already ran on the same templates
GATE_TOOLS = "checkov,cfn-guard,reasons"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``python -m generator ARGV`` in process: (exit code, stdout + stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2, EXAMPLES


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example synthesized once, by the CLI, into its own folder."""
    out = {}
    for spec in EXAMPLES:
        folder = tmp_path_factory.mktemp(spec.stem)
        code = cli.main(["synth", str(spec.relative_to(ROOT)), "--out", str(folder), "--quiet"])
        assert code in (0, None), spec
        out[spec.stem] = folder
    return out


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_example_generates_lints_and_passes_the_preflight(
    spec: Path, generated: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    folder = generated[spec.stem]
    assert (folder / "main.yaml").is_file()
    code, out = run_cli(capsys, "lint", str(folder))
    assert code == 0 and ", 0 findings" in out, out
    code, out = run_cli(capsys, "check", "--templates", str(folder))
    assert code == 0 and "preflight passed" in out and ", 0 errors" in out, out


@pytest.fixture(scope="module")
def gated(generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One ``validate.sh --no-remote`` over every example's folder (as a user gates several
    platforms at once): each scanner starts once, not once per example; cfn-lint is the lint
    test's (module docstring)."""
    if not all(p.exists() for p in TOOLS):
        pytest.skip("the gate's scanners are not installed (make gate-tools)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"
    )
    reports = tmp_path_factory.mktemp("reports")
    return subprocess.run(
        [
            str(VALIDATE),
            "--no-remote",
            "--tools",
            GATE_TOOLS,
            "--reports",
            str(reports),
            *(str(generated[s.stem]) for s in EXAMPLES),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.xdist_group("examples-gate")  # one worker, so the module's one gate run is not made twice
@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes_the_security_gate(
    spec: Path, generated: dict[str, Path], gated: subprocess.CompletedProcess[str]
) -> None:
    """No scanner failed to run, and no finding names a template of this example (the other
    examples' findings fail their own tests); with none anywhere the gate passes."""
    out = gated.stdout + gated.stderr
    assert re.findall(r"^(\S+)\s+\|", gated.stdout.split("== summary ==")[-1], re.M)[1:] == GATE_TOOLS.split(","), out
    errors = [line for line in gated.stdout.splitlines() if line.strip().startswith("ERROR")]
    assert not errors, out
    folder = f"{generated[spec.stem]}/"
    mine = [line for line in gated.stdout.splitlines() if line.strip().startswith("FAIL") and folder in line]
    assert not mine, "\n".join(mine)
    if gated.returncode == 0:
        assert "security gate: PASS" in gated.stdout
    else:
        assert "security gate: FAIL" in gated.stdout, out
