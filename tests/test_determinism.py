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
    digests = []
    for seed in ("0", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "generator", "synth", str(spec_path), "--out", str(out), "--quiet"],
                       check=True, cwd=ROOT, env=env)
        digests.append(_digest(out))
    assert digests[0] == digests[1]
    assert digests[0], "nothing generated"
