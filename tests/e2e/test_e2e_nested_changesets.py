"""Nested change sets on the emulator (generator/deploy/ministack/nested_changesets.py):
CreateChangeSet with IncludeNestedStacks returns a change set per modified nested stack,
with its own ChangeSetId, Status and per-resource Replacement, as CloudFormation does."""

from __future__ import annotations

import pytest
from e2e_support import FIXTURES, read_params, stack_status, wait_stack, write_params

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-nested-cs")]

FX = FIXTURES / "nested"
STACK = "fx-nested-cs"
KEYS = ("Environment", "VpcCidr", "AppVersion", "LogRetentionDays", "DatabaseName", "DbMasterPassword")


@pytest.fixture(scope="module")
def deployed(scripts, aws, tmp_path_factory):
    params = write_params(tmp_path_factory.mktemp("ncs") / "p.json", read_params(FX / "params" / "dev.json"))
    run = scripts.deploy(
        "--platform",
        "fixture",
        "--env",
        "dev",
        "--stack-name",
        STACK,
        "--template-dir",
        str(FX),
        "--params-file",
        str(params),
        env={"STACKGEN_PARAM_DbMasterPassword": "nested-cs-Pa55word"},
    )
    assert run.code == 0, run
    yield aws("cloudformation")
    assert (
        scripts.delete(
            "--platform", "fixture", "--env", "dev", "--stack-name", STACK, "--yes", "--purge-artifacts"
        ).code
        == 0
    )


def _change_set(cfn, name: str, **changed: str) -> dict:
    params = [
        {"ParameterKey": k, "ParameterValue": changed[k]}
        if k in changed
        else {"ParameterKey": k, "UsePreviousValue": True}
        for k in KEYS
    ]
    cs_id = cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        UsePreviousTemplate=True,
        Parameters=params,
        IncludeNestedStacks=True,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )["Id"]
    return cfn.describe_change_set(ChangeSetName=cs_id)


def _rows(desc: dict) -> dict[str, dict]:
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in desc["Changes"]}


def test_replaced_database_in_the_nested_change_set(deployed):
    cfn = deployed
    root = _change_set(cfn, "ncs-dbname", DatabaseName="otherdb")
    assert root["Status"] == "CREATE_COMPLETE" and root["IncludeNestedStacks"] is True
    data = _rows(root)["Data"]
    assert data["Action"] == "Modify" and data["ChangeSetId"].startswith("arn:")
    assert "Network" not in _rows(root) or "ChangeSetId" in _rows(root)["Network"]
    child = cfn.describe_change_set(ChangeSetName=data["ChangeSetId"])
    assert child["Status"] == "CREATE_COMPLETE"
    assert child["ParentChangeSetId"] == root["ChangeSetId"]
    assert child["RootChangeSetId"] == root["ChangeSetId"]
    assert child["StackId"] == data["PhysicalResourceId"]
    database = _rows(child)["Database"]
    assert database["Replacement"] == "True" and database["PolicyAction"] == "ReplaceAndSnapshot"
    assert {d["Target"].get("Name") for d in database["Details"]} == {"DatabaseName"}
    assert {p["ParameterKey"]: p["ParameterValue"] for p in child["Parameters"]}["DbMasterPassword"] == "****"
    # deleting the root change set deletes its nested change sets
    cfn.delete_change_set(ChangeSetName=root["ChangeSetId"])
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException):
        cfn.describe_change_set(ChangeSetName=data["ChangeSetId"])


def test_outputs_that_may_change_make_the_sibling_conditional(deployed):
    """A new VPC CIDR replaces the VPC in Network; Data's subnet and security-group
    parameters come from Network's outputs, unknown until execution, so what uses them in
    Data changes dynamically (Replacement False here: neither property is create-only; the
    MCP review test has a create-only one, Conditional)."""
    cfn = deployed
    root = _change_set(cfn, "ncs-cidr", VpcCidr="10.30.0.0/16")
    rows = _rows(root)
    network = cfn.describe_change_set(ChangeSetName=rows["Network"]["ChangeSetId"])
    # (ministack has no create-only table for AWS::EC2::VPC, so it says Conditional)
    assert _rows(network)["Vpc"]["Replacement"] in ("True", "Conditional")
    assert {d["Target"].get("Name") for d in _rows(network)["Vpc"]["Details"]} == {"CidrBlock"}
    data = cfn.describe_change_set(ChangeSetName=rows["Data"]["ChangeSetId"])
    dynamic = {lid: rc for lid, rc in _rows(data).items() if any(d["Evaluation"] == "Dynamic" for d in rc["Details"])}
    assert dynamic, _rows(data)
    causes = {
        lid: {(d["Target"].get("Name"), d.get("CausingEntity")) for d in rc["Details"]} for lid, rc in dynamic.items()
    }
    assert ("SubnetIds", "SubnetIds") in causes["DbSubnetGroup"], causes
    assert ("VpcSecurityGroupIds", "SecurityGroupId") in causes["Database"], causes
    assert dynamic["DbSubnetGroup"]["Replacement"] == "False"
    cfn.delete_change_set(ChangeSetName=root["ChangeSetId"])


def test_executing_the_root_executes_its_nested_change_sets(deployed):
    cfn = deployed
    root = _change_set(cfn, "ncs-exec", AppVersion="3.0.0")
    child_id = _rows(root)["Network"]["ChangeSetId"]
    assert _rows(cfn.describe_change_set(ChangeSetName=child_id))["AppVersionParameter"]["Replacement"] == "False"
    cfn.execute_change_set(ChangeSetName=root["ChangeSetId"])
    assert wait_stack(cfn, STACK) == "UPDATE_COMPLETE"
    assert cfn.describe_change_set(ChangeSetName=child_id)["ExecutionStatus"] == "EXECUTE_COMPLETE"
    assert stack_status(cfn, STACK) == "UPDATE_COMPLETE"
