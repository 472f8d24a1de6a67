"""``python -m generator`` and the ``stackgen`` script (both ``cli.run``) end the commands of
``cli.NO_TEARDOWN`` with ``os._exit`` (no interpreter teardown): what they print still arrives in
full, through a pipe too, and the exit codes are the usual ones."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from generator import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_commands_are_the_ones_reviewed() -> None:
    # Adding a command here needs the same review: it closes what it writes, starts no thread
    # or process and registers no atexit handler.
    assert {"synth", "validate", "schema"} == cli.NO_TEARDOWN


def test_both_entry_points_run_it() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["stackgen"] == "generator.cli:run"
    assert (ROOT / "generator" / "__main__.py").read_text(encoding="utf-8").splitlines()[-1] == "run()"


def test_synth_prints_and_writes_everything(tmp_path: Path) -> None:
    proc = run("synth", "platforms/mcp-gateway.yaml", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert proc.stdout == f"wrote {len(written)} templates to {tmp_path}/\n"
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "templates" / "mcp-gateway" / name).read_bytes()


def test_schema_reaches_a_pipe_in_full() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    assert proc.stdout == (ROOT / "schema" / "platform.schema.json").read_text(encoding="utf-8")


def test_a_spec_error_still_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\n", encoding="utf-8")
    for argv in (("validate", str(bad)), ("synth", str(bad), "--out", str(tmp_path / "out"))):
        proc = run(*argv)
        assert proc.returncode == 2
        assert f"{bad}: name: String should match pattern" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_returned_exit_code_is_kept(tmp_path: Path) -> None:
    """--out names a file: synth returns 2 (a spec error above raises SystemExit instead), and
    os._exit passes it on."""
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    proc = run("synth", "platforms/mcp-gateway.yaml", "--quiet", "--out", str(target))
    assert proc.returncode == 2
    assert "is a file, not a directory" in proc.stderr
