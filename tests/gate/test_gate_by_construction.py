"""Gate-clean by construction (issue 11, item 7): a spec the model accepts passes ./validate.sh.

Each spec below is a shape the generator used to emit templates its own gate rejected, or a
shape issue 11 added, rendered with the real generator and run through the real gate
(cfn-lint, checkov, cfn-guard and the reasons audit; `make gate-tools` installs them).

Two shapes once failed (W1028 with NAT per AZ in some environments only; Control Tower
ECS.PR.9 with egress public-ip); both are clean shapes now.  ``public-ip`` passes through
exactly one exemption, the spec's reason written next to each ECS service; the test checks
the gate reports it as a suppression with that reason.

The shapes are defined in tests/gate/shapes.py and gated in the one run (fixture
``shapes_gate``) that also gates tests/test_deployability_gate.py's once-known-defect specs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gate.shapes import CLEAN_SHAPES, PUBLIC_IP_REASON, XDIST_GROUP, GateRun


def failures(out: str) -> set[tuple[Path, str, str, str]]:
    """(shape folder, rule, template file name, logical id) of every unsuppressed finding."""
    found = set()
    for m in re.finditer(r"^\s+FAIL\s+(\S+)\s+(\S+?):\d+ (\w+):", out, re.M):
        path = Path(m.group(2))
        found.add((path.parent, m.group(1), path.name, m.group(3)))
    return found


def construction(run: GateRun) -> Path:
    """The folder of this module's shapes (the run also holds the once-known-defect specs)."""
    return next(iter(run.construction.values())).parent.resolve()


@pytest.mark.xdist_group(XDIST_GROUP)  # one worker: the shared gate run is made once
def test_generated_shapes_pass_the_gate(shapes_gate: GateRun) -> None:
    out = shapes_gate.output
    assert len(re.findall(r"^\s+FAIL\s", out, re.M)) == len(failures(out)), "a finding this test cannot attribute"
    shapes = {construction(shapes_gate) / name for name in CLEAN_SHAPES}
    assert {f for f in failures(out) if f[0] in shapes} == set(), out


@pytest.mark.xdist_group(XDIST_GROUP)  # one worker: the shared gate run is made once
def test_public_ip_passes_through_the_specs_reason(shapes_gate: GateRun) -> None:
    """The ECS.PR.9 finding on the public-ip shape's service is suppressed with the spec's reason."""
    out, folder = shapes_gate.output, construction(shapes_gate)
    lines = [x for x in out.splitlines() if "ecs_service_assign_public_ip_disabled_check" in x and f"{folder}/" in x]
    assert lines and all(f"{folder}/public-ip/services.yaml" in x for x in lines), out
    assert any(PUBLIC_IP_REASON in x for x in lines), lines
