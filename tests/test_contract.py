"""Contract tests: every parent -> child edge in both directions, and the
generator's refusal to build a missing, extra or unknown edge."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from generator import parent
from generator.cfn.refs import walk
from generator.contract import ContractError, Input, Output, check_built
from generator.spec import Platform


def _stacks(main: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in main["Resources"].items() if v["Type"] == "AWS::CloudFormation::Stack"}


def _getatts(node: Any) -> list[list[str]]:
    """[logical id, attribute] of every Fn::GetAtt, through the kernel's one reference walker."""
    return [[r.name, r.attr] for r in walk(node) if r.via == "Fn::GetAtt"]


def test_every_child_parameter_is_fed_and_nothing_extra(platform_templates: tuple[str, dict]) -> None:
    _, ts = platform_templates
    for lid, res in _stacks(ts["main.yaml"]).items():
        child = ts[res["Properties"]["TemplateURL"]]
        declared = set(child.get("Parameters", {}))
        fed = set(res["Properties"].get("Parameters", {}))
        assert fed == declared, f"{lid}: missing {declared - fed}, extra {fed - declared}"


def test_every_getatt_names_an_emitted_child_output(platform_templates: tuple[str, dict]) -> None:
    _, ts = platform_templates
    main = ts["main.yaml"]
    stacks = _stacks(main)
    atts = _getatts(main["Resources"]) + _getatts(main.get("Outputs", {}))
    assert atts, "the parent wires nothing"
    for lid, att in atts:
        assert att.startswith("Outputs."), att
        child = ts[stacks[lid]["Properties"]["TemplateURL"]]
        assert att.removeprefix("Outputs.") in child.get("Outputs", {}), f"{lid}.{att}"


def test_every_child_output_is_consumed_or_public(platform_templates: tuple[str, dict]) -> None:
    _, ts = platform_templates
    main = ts["main.yaml"]
    used = {(lid, att.removeprefix("Outputs.")) for lid, att in _getatts(main)}
    for lid, res in _stacks(main).items():
        for out in ts[res["Properties"]["TemplateURL"]].get("Outputs", {}):
            assert (lid, out) in used, f"{lid} output {out} is never read"


def test_depends_on_is_sorted_and_known(platform_templates: tuple[str, dict]) -> None:
    _, ts = platform_templates
    stacks = _stacks(ts["main.yaml"])
    for res in stacks.values():
        deps = res.get("DependsOn", [])
        assert deps == sorted(deps)
        assert set(deps) <= set(stacks)


# --- the generator refuses broken edges -------------------------------------------


def _kids(spec: Platform) -> list[parent.Child]:
    return parent.children(spec)


def _replace_iface(kids: list[parent.Child], name: str, **changes: Any) -> list[parent.Child]:
    out = []
    for c in kids:
        if c.name == name:
            c = dataclasses.replace(c, iface=dataclasses.replace(c.iface, **changes))
        out.append(c)
    return out


def test_unfed_input_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    svc = next(c for c in kids if c.name == "services")
    kids = _replace_iface(kids, "services", inputs=(*svc.iface.inputs, Input("NoSuchThing")))
    with pytest.raises(ContractError, match="input NoSuchThing is fed by no earlier stack"):
        parent.wire(mcp_spec, kids)


def test_input_from_a_later_stack_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    net = next(c for c in kids if c.name == "network")
    kids = _replace_iface(kids, "network", inputs=(*net.iface.inputs, Input("AlarmTopicArn")))
    with pytest.raises(ContractError, match="input AlarmTopicArn is fed by no earlier"):
        parent.wire(mcp_spec, kids)


def test_output_declared_twice_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    ecr = next(c for c in kids if c.name == "ecr")
    kids = _replace_iface(kids, "ecr", outputs=(*ecr.iface.outputs, Output("VpcId", "dup")))
    with pytest.raises(ContractError, match="output VpcId is declared by both network and ecr"):
        parent.wire(mcp_spec, kids)


def test_unconsumed_parent_parameter_fails(mcp_spec: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parent.root_parameters

    def extra(spec: Platform) -> dict:
        from troposphere import Parameter

        return {**real(spec), "Orphan": Parameter("Orphan", Type="String", Default="x")}

    monkeypatch.setattr(parent, "root_parameters", extra)
    with pytest.raises(ContractError, match=r"parent parameters no stack consumes: \['Orphan'\]"):
        parent.wire(mcp_spec, _kids(mcp_spec))


def test_getatt_of_an_output_the_child_does_not_emit_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    net = next(c for c in kids if c.name == "network")
    del net.template.outputs["VpcId"]
    with pytest.raises(ContractError, match="reads network.Outputs.VpcId, which it does not emit"):
        parent.build(mcp_spec, kids)


def test_check_built_catches_undeclared_and_missing(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    ecr = next(c for c in kids if c.name == "ecr")
    check_built("ecr", ecr.iface, ecr.template)
    iface = dataclasses.replace(ecr.iface, outputs=(*ecr.iface.outputs, Output("Ghost", "never emitted")))
    with pytest.raises(ContractError, match=r"declares outputs it does not emit \['Ghost'\]"):
        check_built("ecr", iface, ecr.template)
    iface = dataclasses.replace(ecr.iface, inputs=ecr.iface.inputs[:-1])
    with pytest.raises(ContractError, match="has undeclared parameters"):
        check_built("ecr", iface, ecr.template)


def test_list_string_shape_mismatch_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    sg = next(c for c in kids if c.name == "security-groups")
    inputs = tuple(Input(i.name, "String") if i.name == "IngressCidrBlocks" else i for i in sg.iface.inputs)
    with pytest.raises(
        ContractError, match="IngressCidrBlocks is String but the parent parameter is CommaDelimitedList"
    ):
        parent.wire(mcp_spec, _replace_iface(kids, "security-groups", inputs=inputs))


# ---- values the parent derives (StackUid)


def test_derived_value_feeds_every_child_that_declares_it(platform_templates: tuple[str, dict]) -> None:
    _, ts = platform_templates
    fed = {
        lid: res["Properties"]["Parameters"]["StackUid"]
        for lid, res in _stacks(ts["main.yaml"]).items()
        if "StackUid" in res["Properties"].get("Parameters", {})
    }
    assert fed, "no child takes StackUid"
    assert all(v == parent.derived()["StackUid"] for v in fed.values()), fed
    assert "StackUid" not in ts["main.yaml"]["Parameters"]  # derived, not a knob


def test_parent_parameter_with_a_derived_name_fails(mcp_spec: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parent.root_parameters

    def clash(spec: Platform) -> dict:
        from troposphere import Parameter

        return {**real(spec), "StackUid": Parameter("StackUid", Type="String", Default="x")}

    monkeypatch.setattr(parent, "root_parameters", clash)
    with pytest.raises(ContractError, match=r"parent parameters \['StackUid'\] have the names of values the parent"):
        parent.wire(mcp_spec, _kids(mcp_spec))


def test_child_output_with_a_derived_name_fails(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    sec = next(c for c in kids if c.name == "secrets")
    kids = _replace_iface(kids, "secrets", outputs=(*sec.iface.outputs, Output("StackUid", "shadow")))
    with pytest.raises(ContractError, match="input StackUid is both a parent value and an output of secrets"):
        parent.wire(mcp_spec, kids)


def test_derived_value_is_a_string(mcp_spec: Platform) -> None:
    kids = _kids(mcp_spec)
    net = next(c for c in kids if c.name == "network")
    inputs = tuple(Input(i.name, "CommaDelimitedList") if i.name == "StackUid" else i for i in net.iface.inputs)
    with pytest.raises(ContractError, match="input StackUid is CommaDelimitedList but the parent derives a String"):
        parent.wire(mcp_spec, _replace_iface(kids, "network", inputs=inputs))


def _unused_parameters(templates: dict[str, dict[str, Any]]) -> list[str]:
    """Parameters a child template declares and nothing in it reads (cfn-lint W2001)."""
    from generator.cfn.refs import references

    out = []
    for name, t in sorted(templates.items()):
        if name == "main.yaml":
            continue
        body = {k: v for k, v in t.items() if k not in ("Parameters", "Metadata")}
        used = references(body)
        out += [f"{name}: {p}" for p in sorted(t.get("Parameters") or {}) if p not in used]
    return out


def test_every_child_reads_every_parameter_it_declares() -> None:
    """A group's stack with no services (the default group of a platform whose every service
    uses the database) declared StackUid for task policies it does not hold: W2001, found by
    `make validate-random`. Checked here on the seeds and on such a platform."""
    from generator import render
    from generator.bench import scale_spec
    from generator.spec import load_spec, parse_spec
    from tests.helpers import PLATFORMS

    data = scale_spec(2)  # both services read ${db:endpoint}: the group 'database', default empty
    data["database"]["proxy"] = True
    empty_default = render.synthesize(parse_spec(data))
    assert "iam.yaml" in empty_default and "iam-database.yaml" in empty_default
    assert _unused_parameters(empty_default) == []
    for path in PLATFORMS:
        assert _unused_parameters(render.synthesize(load_spec(path))) == [], path.stem
    broken = dict(empty_default)
    broken["iam.yaml"] = {**broken["iam.yaml"], "Parameters": {**broken["iam.yaml"]["Parameters"], "Extra": {}}}
    assert _unused_parameters(broken) == ["iam.yaml: Extra"]
