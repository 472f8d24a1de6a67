"""The emulator profile of every platform only holds types the emulator can provision.

ministack rejects some types at CreateChangeSet and has no provisioner for others (they
fail at execution, e.g. AWS::EC2::FlowLog). generator/profiles.py must leave out both;
this asks the pinned ministack itself which types it can create.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from e2e_support import EMULATOR_VENV, ROOT

from generator.deploy._aws import load_template

pytestmark = pytest.mark.e2e

PLATFORMS = sorted((ROOT / "platforms").glob("*.yaml"))

_PROBE = """
import json, sys
from ministack.services.cloudformation import provisioners
types = json.load(sys.stdin)
print(json.dumps(sorted(t for t in types if t not in provisioners._RESOURCE_HANDLERS
                        and not t.startswith(("AWS::CloudFormation::", "Custom::")))))
"""


@pytest.mark.parametrize("spec", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_emulator_profile_only_has_types_the_emulator_provisions(spec, tmp_path):
    python = EMULATOR_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{EMULATOR_VENV} is missing: run `make test`")
    subprocess.run([sys.executable, "-m", "generator", "synth", str(spec), "--out",
                    str(tmp_path), "--profile", "emulator", "--quiet"], check=True, cwd=ROOT)
    types = sorted({res["Type"] for path in tmp_path.glob("*.yaml")
                    for res in (load_template(path).get("Resources") or {}).values()})
    assert "AWS::CloudFormation::Stack" in types  # it did render the nested set
    probe = subprocess.run([str(python), "-c", _PROBE], input=json.dumps(types), text=True,
                           capture_output=True, check=True)
    missing = json.loads(probe.stdout)
    assert not missing, (f"the emulator profile of {spec.stem} keeps types ministack cannot "
                         f"provision; add them to EMULATOR_UNSUPPORTED in "
                         f"generator/profiles.py: {missing}")
