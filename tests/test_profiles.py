"""The emulator profile differs from the AWS profile only by the resource types the
emulator rejects and by the references to them (issue 4)."""

from __future__ import annotations

from generator import render
from generator.cfn.refs import references
from generator.profiles import EMULATOR_UNSUPPORTED, OMITTED, strip
from generator.spec import load_spec
from tests.helpers import PLATFORMS


def test_emulator_profile_differs_only_by_unsupported_types_and_their_references() -> None:
    for path in PLATFORMS:
        spec = load_spec(path)
        aws = render.synthesize(spec, "aws")
        emu = render.synthesize(spec, "emulator")
        assert set(aws) == set(emu)
        for name in aws:
            a, e = aws[name], emu[name]
            assert {k: v for k, v in a.items() if k not in ("Resources", "Outputs")} == \
                   {k: v for k, v in e.items() if k not in ("Resources", "Outputs")}, name
            removed = set(a.get("Resources", {})) - set(e.get("Resources", {}))
            direct = {k for k in removed if a["Resources"][k]["Type"] in EMULATOR_UNSUPPORTED}
            assert not any(v["Type"] in EMULATOR_UNSUPPORTED for v in e.get("Resources", {}).values())
            for k in removed - direct:  # removed only because it references a removed resource
                assert references(a["Resources"][k].get("Properties", {})) & removed, f"{name}:{k}"
            for k, v in e.get("Resources", {}).items():
                av = a["Resources"][k]
                if v != av:  # only DependsOn on a removed resource may change
                    assert {x: y for x, y in v.items() if x != "DependsOn"} == \
                           {x: y for x, y in av.items() if x != "DependsOn"}, f"{name}:{k}"
            for k, o in e.get("Outputs", {}).items():
                if o != a["Outputs"][k]:
                    assert o["Value"] == OMITTED
                    assert references(a["Outputs"][k]["Value"]) & removed


def test_emulator_profile_really_removes_something() -> None:
    aws = render.synthesize(load_spec(PLATFORMS[0]), "aws")
    emu = render.synthesize(load_spec(PLATFORMS[0]), "emulator")
    n_aws = sum(len(t.get("Resources", {})) for t in aws.values())
    n_emu = sum(len(t.get("Resources", {})) for t in emu.values())
    assert n_emu < n_aws


def test_strip_is_transitive() -> None:
    t = {"Resources": {
        "Eip": {"Type": "AWS::EC2::EIP"},
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {"AllocationId": {"Fn::GetAtt": ["Eip", "AllocationId"]}}},
        "Route": {"Type": "AWS::EC2::Route", "Properties": {"NatGatewayId": {"Ref": "Nat"}}},
        "Vpc": {"Type": "AWS::EC2::VPC", "DependsOn": ["Nat"]},
    }, "Outputs": {"Ip": {"Value": {"Ref": "Eip"}}, "V": {"Value": {"Ref": "Vpc"}}}}
    s = strip(t, ("AWS::EC2::EIP",))
    assert set(s["Resources"]) == {"Vpc"}
    assert "DependsOn" not in s["Resources"]["Vpc"]
    assert s["Outputs"]["Ip"]["Value"] == OMITTED
    assert s["Outputs"]["V"]["Value"] == {"Ref": "Vpc"}
