"""Every other platform runs create -> update -> no-op -> delete -> create on the emulator,
from its committed templates (mcp-gateway has the full suite in test_e2e_mcp_deploy.py)."""

from __future__ import annotations

import pytest
from e2e_support import (
    ROOT,
    deployed_resources,
    push_images,
    read_params,
    stack_outputs,
    stack_status,
    write_params,
)

from generator.deploy._aws import load_template
from generator.deploy.nested import condition_value as nested_condition

pytestmark = pytest.mark.e2e

OTHERS = sorted(p.stem for p in (ROOT / "platforms").glob("*.yaml") if p.stem != "mcp-gateway")
# The parameter each platform's update step changes, and its new value.
UPDATE = {
    "bff-agentcore": ("DatabaseMaxAcu", "4"),
    "scheduled-file-writer": ("SmbSharePath", "//fileserver/reports-dev2"),
}


def _secrets(platform: str) -> dict[str, str]:
    """A value for every NoEcho parameter, long enough for any MinLength."""
    params = load_template(ROOT / "templates" / platform / "main.yaml").get("Parameters") or {}
    return {
        f"STACKGEN_PARAM_{name}": f"e2e-{name}-Value-0123456789abcdef"
        for name, spec in params.items()
        if str(spec.get("NoEcho", "")).lower() == "true"
    }


def _unconditional_types(platform: str) -> set[str]:
    """Types of the resources that exist in dev: unconditional resources of the parent and
    of the nested stacks it creates in dev."""
    tdir = ROOT / "templates" / platform
    main = load_template(tdir / "main.yaml")
    values = {k: str(v.get("Default", "")) for k, v in (main.get("Parameters") or {}).items()}
    values.update(read_params(ROOT / "parameters" / platform / "dev.json"))
    files = ["main.yaml"] + [
        r["Properties"]["TemplateURL"]
        for r in main["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::Stack"
        and ("Condition" not in r or nested_condition(r["Condition"], main, values) is not False)
    ]
    return {
        res["Type"]
        for name in files
        for res in (load_template(tdir / name).get("Resources") or {}).values()
        if "Condition" not in res
    }


@pytest.mark.parametrize("platform", OTHERS)
def test_platform_lifecycle(platform, scripts, aws, tmp_path):
    assert set(UPDATE) == set(OTHERS), "give the new platform an update step"
    stack = f"{platform}-dev"
    secrets = _secrets(platform)
    cfn = aws("cloudformation")
    run = scripts.deploy("--platform", platform, "--env", "dev", env=secrets)
    assert run.code == 0, run
    assert stack_status(cfn, stack) == "CREATE_COMPLETE"
    outputs = stack_outputs(cfn, stack)
    assert outputs and any(outputs.values()), outputs
    for value in secrets.values():
        assert value not in run.out
    # every type of the committed templates was deployed (no profile leaves any out)
    deployed = set(deployed_resources(cfn, stack).values())
    assert _unconditional_types(platform) <= deployed, _unconditional_types(platform) - deployed
    # a first deploy starts no task of an image from the platform's own (empty) repository
    # and prints how to push it; the user pushes, then deploys again
    for image in push_images(aws, stack, ROOT / "templates" / platform):
        assert f"docker push {image}" in run.out, run

    key, value = UPDATE[platform]
    params = read_params(ROOT / "parameters" / platform / "dev.json")
    assert params[key] != value
    updated = write_params(tmp_path / "dev.json", {**params, key: value})
    run = scripts.deploy("--platform", platform, "--env", "dev", "--params-file", str(updated), "--yes")
    assert run.code == 0, run
    assert stack_status(cfn, stack) == "UPDATE_COMPLETE"
    main = next(s for s in cfn.describe_stacks(StackName=stack)["Stacks"])
    assert {p["ParameterKey"]: p.get("ParameterValue") for p in main["Parameters"]}[key] == value

    run = scripts.deploy("--platform", platform, "--env", "dev", "--params-file", str(updated))
    assert run.code == 0, run
    assert f"No changes: {stack} is up to date." in run.out

    run = scripts.delete("--platform", platform, "--env", "dev", "--yes", "--purge-artifacts")
    assert run.code == 0, run
    assert stack_status(cfn, stack) is None


@pytest.mark.parametrize("platform", OTHERS)
def test_platform_recreates_after_delete(platform, scripts, aws):
    """Runs after test_platform_lifecycle deleted the stack: the same create again."""
    cfn = aws("cloudformation")
    assert stack_status(cfn, f"{platform}-dev") is None, "test_platform_lifecycle did not run"
    run = scripts.deploy("--platform", platform, "--env", "dev", env=_secrets(platform))
    assert run.code == 0, run
