"""The emulator creates every resource type of every platform's committed templates (the
bytes that go to AWS); the types it cannot create are listed in docs/deploy.md, and that
list is exact.

This asks the pinned ministack itself, with the launcher's providers installed, which
types it has a provisioner for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from e2e_support import EMULATOR_VENV, ROOT

from generator import awsfacts
from generator.deploy._aws import load_template

pytestmark = pytest.mark.e2e

_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from generator.deploy.ministack import providers, strictness
providers.install()
strictness.install()
from ministack.services.cloudformation import provisioners
types = json.load(sys.stdin)
print(json.dumps(sorted(t for t in types if t not in provisioners._RESOURCE_HANDLERS
                        and not t.startswith("Custom::"))))
"""
SECTION = "### Resource types the emulator cannot create"


def _template_types() -> list[str]:
    return sorted(
        {
            res["Type"]
            for path in (ROOT / "templates").glob("*/*.yaml")
            for res in (load_template(path).get("Resources") or {}).values()
        }
    )


def _documented() -> set[str]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert SECTION in text, f"docs/deploy.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)`", section))


def test_emulator_creates_every_type_of_the_committed_templates():
    python = EMULATOR_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{EMULATOR_VENV} is missing: run `make test`")
    types = _template_types()
    assert "AWS::EC2::NatGateway" in types and "AWS::CloudFormation::Stack" in types
    # The emulator's venv has no cfn-lint: the providers read its schemas from the directory
    # the launcher passes (generator.deploy.emulator does the same).
    env = {**os.environ, awsfacts.SCHEMAS_ENV: str(awsfacts.schemas_dir())}
    probe = subprocess.run(
        [str(python), "-c", _PROBE, str(ROOT)],
        input=json.dumps(types),
        text=True,
        capture_output=True,
        check=True,
        env=env,
    )
    missing = set(json.loads(probe.stdout))
    assert missing == _documented(), (
        f"the emulator cannot create {sorted(missing)}; docs/deploy.md ({SECTION}) lists "
        f"{sorted(_documented())}: provide the type in generator/deploy/ministack/providers.py"
        " or list it there with its reason"
    )
