"""Every other platform deploys to the emulator and deletes again (mcp-gateway has the full
suite in test_e2e_mcp_deploy.py)."""

from __future__ import annotations

import pytest
from e2e_support import ROOT, stack_outputs, stack_status

from generator.deploy._aws import load_template

pytestmark = pytest.mark.e2e

OTHERS = sorted(p.stem for p in (ROOT / "platforms").glob("*.yaml") if p.stem != "mcp-gateway")


def _secrets(platform: str) -> dict[str, str]:
    """A value for every NoEcho parameter, long enough for any MinLength."""
    params = load_template(ROOT / "templates" / platform / "main.yaml").get("Parameters") or {}
    return {f"STACKGEN_PARAM_{name}": f"e2e-{name}-Value-0123456789abcdef"
            for name, spec in params.items() if str(spec.get("NoEcho", "")).lower() == "true"}


@pytest.mark.parametrize("platform", OTHERS)
def test_platform_deploys_and_deletes(platform, scripts, aws):
    stack = f"{platform}-dev"
    secrets = _secrets(platform)
    run = scripts.deploy("--platform", platform, "--env", "dev", env=secrets)
    assert run.code == 0, run
    cfn = aws("cloudformation")
    assert stack_status(cfn, stack) == "CREATE_COMPLETE"
    outputs = stack_outputs(cfn, stack)
    assert outputs and any(outputs.values()), outputs
    for value in secrets.values():
        assert value not in run.out
    run = scripts.delete("--platform", platform, "--env", "dev", "--yes", "--purge-artifacts")
    assert run.code == 0, run
    assert stack_status(cfn, stack) is None
