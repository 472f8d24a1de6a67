"""Re-create after delete, and two copies side by side: no resource is named the same in
every stack instance of a platform and environment.

On AWS a create whose explicit name already exists fails with AlreadyExists, and a delete
retains the log groups, repositories and the key (DeletionPolicy Retain), so a fixed
name breaks the re-create of the same stack name, and any second copy
(``deploy.sh --stack-name``). Every name the generator sets includes StackUid, the first
8 hex characters of the UUID in the root stack's ID (``naming.stack_uid``)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from generator import naming, physical_names, synth
from generator.cfn.load import load_dir
from generator.physical_names import FixedIdentifierError, fixed_identifiers
from tests.helpers import PLATFORMS, ROOT

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/mcp-gateway-dev/1c2fa620-982a-11e3-aff7-50e2416294e0"
TOKEN = re.compile(r"[-/]\$\{StackUid\}")


def _committed(stem: str) -> dict[str, dict[str, Any]]:
    return load_dir(ROOT / "templates" / stem)


def _evaluate(node: Any, stack_id: str = STACK_ID) -> Any:
    """Fn::Select / Fn::Split / Ref AWS::StackId, as CloudFormation evaluates them."""
    if isinstance(node, (str, int)):
        return node
    ((k, v),) = node.items()
    if k == "Ref":
        assert v == "AWS::StackId", f"StackUid must depend on the stack ID only, not on {v}"
        return stack_id
    if k == "Fn::Split":
        return _evaluate(v[1], stack_id).split(v[0])
    if k == "Fn::Select":
        return _evaluate(v[1], stack_id)[int(v[0])]
    raise AssertionError(f"unexpected {k} in StackUid")


def _strip_token(node: Any) -> Any:
    """The template as it was before StackUid: every '-${StackUid}' / '/${StackUid}' removed."""
    if isinstance(node, str):
        return TOKEN.sub("", node)
    if isinstance(node, list):
        return [_strip_token(x) for x in node]
    if isinstance(node, dict):
        return {k: _strip_token(v) for k, v in node.items()}
    return node


def test_stack_uid_is_the_first_block_of_the_root_stack_uuid() -> None:
    expr = naming.stack_uid().to_dict()
    assert _evaluate(expr) == "1c2fa620"
    # Only AWS::StackId feeds it (asserted in _evaluate): an update, whatever parameters it
    # changes, keeps every name; only a new stack (a new StackId) gets new names.


@pytest.mark.parametrize("stem", [p.stem for p in PLATFORMS])
def test_committed_templates_name_nothing_the_same_in_every_instance(stem: str) -> None:
    assert fixed_identifiers(_committed(stem)) == []


@pytest.mark.parametrize("stem", [p.stem for p in PLATFORMS])
def test_the_check_finds_every_name_without_the_token(stem: str) -> None:
    """Today's templates with the token taken out are the templates before this change:
    the check names every resource whose identifier carried the token."""
    ts = _committed(stem)
    carried = sorted(
        f"{f}: {lid} ({r['Type']})"
        for f, t in ts.items()
        for lid, r in t.get("Resources", {}).items()
        if any(
            "${StackUid}" in str(r.get("Properties", {}).get(p))
            for p in physical_names.identifier_properties(r["Type"])
        )
    )
    assert carried, f"{stem}: no identifier carries StackUid"
    found = sorted(": ".join(line.split(": ")[:2]) for line in fixed_identifiers(_strip_token(ts)))
    assert found == carried


def test_fixed_identifier_kinds() -> None:
    """Literals and parent parameters are the same in every instance; resources, other
    stacks' outputs, StackUid and the stack's own name are not; DNS records are allowed."""
    main = {
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {
            "ChildStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {
                    "TemplateURL": "child.yaml",
                    "Parameters": {
                        "Name": {"Ref": "Name"},
                        "StackUid": naming.stack_uid().to_dict(),
                        "Other": {"Fn::GetAtt": ["OtherStack", "Outputs.X"]},
                    },
                },
            }
        },
    }

    def group(name: Any) -> dict[str, Any]:
        return {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": name}}

    child = {
        "Parameters": {"Name": {}, "StackUid": {}, "Other": {}},
        "Resources": {
            "Literal": group("/fixed/name"),
            "FromParameter": group({"Fn::Sub": "/ecs/${Name}-${AWS::Region}/x"}),
            "Joined": group({"Fn::Join": ["-", [{"Ref": "Name"}, "x"]]}),
            "WithToken": group({"Fn::Sub": "/ecs/${Name}-${StackUid}/x"}),
            "WithStackName": group({"Fn::Sub": "${AWS::StackName}-x"}),
            "FromOutput": group({"Ref": "Other"}),
            "Generated": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
            "Family": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "fixed"}},
            "Record": {
                "Type": "AWS::Route53::RecordSet",
                "Properties": {"Name": "a.example.com", "HostedZoneId": "Z1", "Type": "A"},
            },
        },
    }
    found = {line.split(" ")[1] for line in fixed_identifiers({"main.yaml": main, "child.yaml": child})}
    assert found == {"Literal", "FromParameter", "Joined"}


def test_synthesis_refuses_a_fixed_name_as_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    from troposphere import Sub

    monkeypatch.setattr(naming, "log_group_name", lambda container: Sub(f"/ecs/${{Name}}-${{Environment}}/{container}"))
    with pytest.raises(FixedIdentifierError, match=r"services\.yaml: WriterLogGroup \(AWS::Logs::LogGroup\)"):
        synth.synthesize_checked(ROOT / "platforms" / "scheduled-file-writer.yaml")


def test_the_name_check_evaluates_the_token() -> None:
    """Names with StackUid are held to AWS's limits with the token's 8 characters."""
    from generator.spec import load_spec

    spec = load_spec(ROOT / "platforms" / "scheduled-file-writer.yaml")
    bad: dict[str, Any] = {
        "main.yaml": {"Resources": {}},
        "x.yaml": {
            "Resources": {
                "G": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": {"Fn::Sub": "/ecs/${Name}-${StackUid} x"}},
                }
            }
        },
    }
    [line] = physical_names.check(spec, "platforms/x.yaml", bad)
    assert f"'/ecs/scheduled-file-writer-{physical_names.STACK_UID_SAMPLE} x'" in line
    assert "StackUid '1a2b3c4d'" in line


def _sub_text(node: Any, values: dict[str, str]) -> str:
    text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
    return re.sub(r"\$\{([^}]*)\}", lambda m: values.get(m.group(1), m.group(0)), text)


@pytest.mark.parametrize(
    "other, matches", [("1c2fa620", True), ("7d41b0e3", False), ("1c2fa62", False), ("1c2fa6200", False)]
)
def test_iam_patterns_name_this_instance_only(other: str, matches: bool) -> None:
    """The iam stack takes StackUid: a role of one stack instance may touch that instance's
    log groups and parameters, never another copy's (a second copy or a re-create)."""
    base = {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "Name": "mcp-gateway",
        "Environment": "dev",
    }
    mine, theirs = {**base, "StackUid": "1c2fa620"}, {**base, "StackUid": other}
    group = _sub_text(naming.log_group_name("registry").to_dict(), theirs)
    arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group}"
    assert fnmatch.fnmatchcase(arn, _sub_text({"Fn::Sub": naming.log_group_pattern("registry")}, mine)) == matches
    exec_group = _sub_text(naming.exec_log_group_name("main").to_dict(), theirs)
    assert (
        fnmatch.fnmatchcase(
            f"arn:aws:logs:eu-west-1:123456789012:log-group:{exec_group}:*",
            _sub_text(naming.exec_log_group_arn("main").to_dict(), mine),
        )
        == matches
    )
    assert (
        fnmatch.fnmatchcase(
            _sub_text(naming.ssm_parameter_arn("keycloak-admin").to_dict(), theirs),
            _sub_text(naming.ssm_arn("keycloak-admin").to_dict(), mine),
        )
        == matches
    )


def test_names_of_one_instance_differ_from_another() -> None:
    """Two stack IDs give two sets of names (a re-create, or a second copy)."""
    first = _evaluate(naming.stack_uid().to_dict())
    second = _evaluate(naming.stack_uid().to_dict(), STACK_ID.replace("1c2fa620-982a", "7d41b0e3-5c1f"))
    assert (first, second) == ("1c2fa620", "7d41b0e3")
    values = {"Name": "mcp-gateway", "Environment": "dev"}
    assert _sub_text(naming.log_group_name("registry").to_dict(), {**values, "StackUid": first}) != _sub_text(
        naming.log_group_name("registry").to_dict(), {**values, "StackUid": second}
    )


def test_the_template_reader_renders_names_with_the_token(mcp_templates: dict[str, dict[str, Any]]) -> None:
    """The preflight matches IAM patterns against rendered names: the reader evaluates
    StackUid from the parent's Fn::Select/Fn::Split of AWS::StackId (a stand-in when no
    stack is given, else the given stack's ID)."""
    from generator.cfn.templateset import TemplateSet
    from generator.cfn.values import MATCH_PSEUDO, Renderer

    group = mcp_templates["services.yaml"]["Resources"]["RegistryLogGroup"]["Properties"]["LogGroupName"]
    assert (
        Renderer(TemplateSet(mcp_templates), MATCH_PSEUDO)("services.yaml", group)
        == "/ecs/mcp-gateway-dev-5eed0000/registry"
    )
    given = TemplateSet(mcp_templates, pseudo={"AWS::StackId": STACK_ID})
    assert Renderer(given, MATCH_PSEUDO)("services.yaml", group) == "/ecs/mcp-gateway-dev-1c2fa620/registry"
