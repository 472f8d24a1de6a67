"""make check-code (ruff check, ruff format --check, mypy, as configured in pyproject.toml)
catches a break: each tool, run as the Makefile runs it, fails on a file made to break it,
and the Makefile and CI run all three."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import ROOT

BIN = ROOT / ".venv" / "bin"


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)


def test_each_tool_catches_a_break(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f(x: int) -> str:\n    return x\n")
    config = ("--config", str(ROOT / "pyproject.toml"))
    assert run(str(BIN / "ruff"), "check", *config, str(bad)).returncode == 1  # F401: os unused
    assert run(str(BIN / "ruff"), "format", "--check", *config, str(bad)).returncode == 0
    bad.write_text("x = { 'a':1 }\n")
    assert run(str(BIN / "ruff"), "format", "--check", *config, str(bad)).returncode == 1
    bad.write_text("def f(x: int) -> str:\n    return x\n")
    proc = run(str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), str(bad), cwd=tmp_path)
    assert proc.returncode == 1 and "Incompatible return value type" in proc.stdout, proc.stdout


def test_the_makefile_and_ci_run_all_three() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\ncheck-code:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check generator tests" in target and "ruff format --check generator tests" in target
    assert "mypy" in target
    assert "make check-code" in (ROOT / ".ci" / "run").read_text()
