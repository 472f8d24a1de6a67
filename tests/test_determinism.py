"""Same spec, byte-identical YAML under any PYTHONHASHSEED (run in subprocesses)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PLATFORMS, ROOT


def _digest(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.yaml"))}


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_byte_identical_under_hash_seeds(spec_path: Path, tmp_path: Path) -> None:
    runs = {}
    for seed in ("0", "12345"):  # both at once: the two processes are independent
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs[seed] = subprocess.Popen(
            [sys.executable, "-m", "generator", "synth", str(spec_path), "--out", str(tmp_path / seed), "--quiet"],
            cwd=ROOT,
            env=env,
        )
    for seed, proc in runs.items():
        assert proc.wait() == 0, seed
    digests = [_digest(tmp_path / seed) for seed in runs]
    assert digests[0] == digests[1]
    assert digests[0], "nothing generated"
