"""Gate-clean by construction: a spec that passes ``validate`` (which runs the deployability
check) passes ``./validate.sh`` (cfn-lint, checkov, cfn-guard and the reasons audit).

Random specs from tests/strategies.py go through ``synthesize_checked`` (what validate and
synth run); those it accepts are written as ``synth`` writes them and handed to the real
gate.  Each costs a gate run (about a minute on a shared machine), so the ``ci`` profile
takes a few examples and ``deep`` (make test-deep) many; shrinking is off.

Gate failures that a known, tracked generator defect explains are listed in ``KNOWN``
with the spec shape that triggers them; each has its own test below, on a minimal spec,
marked xfail(strict=True): when the defect is fixed that test passes, the mark must go,
and so must the entry.  Any other failure on a spec validate accepts fails the random test.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generator import render
from tests.gate.shapes import SCANNERS as TOOLS
from tests.gate.shapes import VALIDATE, XDIST_GROUP, GateRun, accepted, gate_env, web
from tests.helpers import ROOT
from tests.strategies import platforms

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
GATED = {"ci": 4, "deep": 60}.get(PROFILE, 2)
# Specs gated together, in one validate.sh run (each scanner starts once per batch).
BATCH = 4
FAIL = re.compile(r"^\s*FAIL\s+(\S+)\s+(\S+?):(\d+) (\S+?): (.*)$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(p.exists() for p in TOOLS), reason="the gate's scanners are not installed (make gate-tools)"
    ),
]


@dataclass(frozen=True)
class Known:
    """A generator defect the gate finds in specs the model accepts, while it is open."""

    shape: str
    applies: Callable[[dict[str, Any]], bool]
    rules: frozenset[str]
    reason: str


KNOWN: tuple[Known, ...] = ()  # none open: public-ip (CT.ECS.PR.9) and per-environment NAT (W1028) are fixed


def gate(out: Path | list[Path], reports: Path, tools: str = "") -> tuple[int, list[tuple[str, str, str]], str]:
    """(exit code, [(rule, file, logical id)] of FAIL lines, output) of validate.sh on ``out``
    (one template folder or several, in one run)."""
    outs = [str(o) for o in (out if isinstance(out, list) else [out])]
    cmd = [str(VALIDATE), "--no-remote", "--reports", str(reports), *(["--tools", tools] if tools else []), *outs]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=gate_env(), cwd=ROOT, timeout=900, check=False)
    fails = [(m.group(1), m.group(2), m.group(4)) for m in map(FAIL.match, proc.stdout.splitlines()) if m]
    return proc.returncode, fails, proc.stdout + proc.stderr


@settings(
    max_examples=max(1, GATED // BATCH),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(batch=st.lists(platforms(6), min_size=BATCH, max_size=BATCH))
def test_a_spec_validate_accepts_passes_the_gate(
    batch: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every spec of a batch that validate accepts passes the gate, all of them gated in one
    run (GATED specs in all); a failure names the spec whose templates it is in."""
    folder = tmp_path_factory.mktemp("specs")
    outs: dict[Path, dict[str, Any]] = {}
    for k, data in enumerate(batch):
        result = accepted(data, folder / f"spec{k}")
        if result is None:
            continue
        out = folder / f"spec{k}" / "templates"
        render.write(result.aws_files or {}, out)
        outs[out] = data
    if not outs:
        return
    code, fails, output = gate(list(outs), folder / "reports")
    assert "ERROR" not in output, output
    for out, data in outs.items():
        explained = {rule for k in KNOWN if k.applies(data) for rule in k.rules}
        mine = [f for f in fails if f[1].startswith(f"{out}/")]
        unexplained = [f for f in mine if f[0] not in explained]
        assert not unexplained, (
            f"a spec validate accepts fails the gate:\n{yaml.safe_dump(data, sort_keys=False)}\n{unexplained}"
        )
    assert code == 0 or fails, output


# ---- the known defects, each on a minimal spec ----------------------------------------------------
# The two once-known-defect specs (tests/gate/shapes.py: KNOWN_SHAPES) are gated in the one run
# shared with tests/gate/test_gate_by_construction.py (fixture ``shapes_gate``).


def _fails(run: GateRun) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(4)) for m in map(FAIL.match, run.output.splitlines()) if m]


def _fails_of(run: GateRun, shape: str) -> list[tuple[str, str, str]]:
    assert "ERROR" not in run.output, run.output
    folder = run.known[shape].resolve()
    return [f for f in _fails(run) if Path(f[1]).resolve().is_relative_to(folder)]


@pytest.mark.xdist_group(XDIST_GROUP)  # one worker: the shared gate run is made once
def test_public_ip_passes_cfn_guard(shapes_gate: GateRun) -> None:
    """Once a known defect (CT.ECS.PR.9): egress public-ip with the spec's public_ip_reason passes
    cfn-guard through the exemption the generator writes next to each ECS service."""
    assert _fails_of(shapes_gate, "public-ip") == [], shapes_gate.output


@pytest.mark.xdist_group(XDIST_GROUP)  # one worker: the shared gate run is made once
def test_per_environment_nat_passes_cfn_lint(shapes_gate: GateRun) -> None:
    """Once a known defect (W1028): with nat-per-az in one environment only, network.yaml's
    AZ 2/3 default routes carried an Fn::If whose single-nat branch no environment takes."""
    assert [f for f in _fails_of(shapes_gate, "per-environment") if f[0].startswith(("E", "W"))] == []


@pytest.mark.xdist_group(XDIST_GROUP)  # one worker: the shared gate run is made once
def test_per_environment_egress_passes_checkov(shapes_gate: GateRun) -> None:
    """Once a known defect (CKV_AWS_23: rule descriptions inside Fn::If): per-environment egress
    is written as separate conditional rules, each with its description, which checkov reads."""
    assert [f for f in _fails_of(shapes_gate, "per-environment") if f[0].startswith("CKV")] == []
    # no tool fails either spec (the run fails only on findings of the other shapes, if any)
    assert _fails_of(shapes_gate, "per-environment") + _fails_of(shapes_gate, "public-ip") == [], shapes_gate.output
    assert shapes_gate.code == 0 or _fails(shapes_gate), shapes_gate.output


def test_the_gate_parser_reads_validate_sh(tmp_path: Path) -> None:
    """The FAIL lines this test parses are the ones validate.sh prints (a checkov skip without a reason)."""
    data = web(lambda d: None)
    result = accepted(data, tmp_path)
    assert result is not None
    render.write(result.aws_files or {}, tmp_path / "templates")
    alb = tmp_path / "templates" / "alb.yaml"
    text = alb.read_text()
    alb.write_text(
        text.replace(
            "      checkov:\n        skip:\n        - comment:",
            "      checkov:\n        skip:\n        - id: CKV_AWS_91\n        - comment:",
            1,
        )
    )
    code, fails, output = gate(tmp_path / "templates", tmp_path / "reports", "reasons")
    assert code == 1, output
    assert fails, output
    # each FAIL line names its template by the folder the batch tests attribute it with
    assert all(f[1].startswith(f"{tmp_path / 'templates'}/") for f in fails), fails
