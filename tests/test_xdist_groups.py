"""`make test` runs on every core with `--dist loadgroup`: each xdist_group (the ordered e2e
lifecycles) must run on one worker, in file order. Checked in a child pytest on two
workers, with this project's conftest loaded as a plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

MODULE = """
import json, os, pathlib, pytest
pytestmark = pytest.mark.xdist_group("lifecycle")
LOG = pathlib.Path(os.environ["GROUP_LOG"])

def record(name):
    with LOG.open("a") as f:
        f.write(json.dumps([os.environ.get("PYTEST_XDIST_WORKER"), name]) + "\\n")

class TestLifecycle:
""" + "".join(f"    def test_{i}(self):\n        record({i})\n" for i in range(8))


@pytest.mark.slow
def test_an_xdist_group_runs_on_one_worker_in_order(tmp_path: Path) -> None:
    (tmp_path / "test_lifecycle.py").write_text(MODULE)
    (tmp_path / "test_other.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(8)))
    log = tmp_path / "log.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "GROUP_LOG": str(log), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [name for _, name in runs] == list(range(8))
    assert len({worker for worker, _ in runs}) == 1, runs
