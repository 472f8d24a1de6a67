"""The read kernel (generator.cfn): the loader's forms, the reference walker, the
Conditions evaluator, TemplateSet resolution and presence, and the facts tables.
Each test states a fact that a broken kernel would get wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.cfn import (
    PARENT,
    Conditions,
    Other,
    TemplateError,
    TemplateSet,
    depends_on,
    environments,
    load_dir,
    load_file_with_lines,
    load_text,
    references,
    walk,
    with_environment,
)
from generator.cfn.conditions import ANY_OTHER
from generator.cfn.facts import STATEFUL_TYPES, TLS_POLICIES
from generator.cfn.load import CfnLoader
from generator.cfn.refs import Reference, condition_names
from tests.helpers import ROOT

# --------------------------------------------------------------------------- loader

SHORT = """
AWSTemplateFormatVersion: 2010-09-09
Conditions:
  IsProd: !Equals [!Ref Environment, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Condition NotProd, !Condition IsProd]]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-data"
      Tags:
        - {Key: a, Value: !GetAtt Key.Arn}
        - {Key: b, Value: !GetAtt Stack.Outputs.KeyArn}
        - {Key: c, Value: !GetAtt [Key, Arn]}
        - {Key: d, Value: !Join ["-", [!Select [0, !GetAZs ""], !Base64 x]]}
        - {Key: e, Value: !If [IsProd, !ImportValue shared, !FindInMap [M, !Ref "AWS::Region", k]]}
        - {Key: f, Value: !Sub ["${X}-${Y}", {X: !Ref Key, Y: !Cidr ["10.0.0.0/16", 2, 8]}]}
        - {Key: g, Value: 2024-01-02T03:04:05Z}
"""

LONG = """
AWSTemplateFormatVersion: '2010-09-09'
Conditions:
  IsProd: {"Fn::Equals": [{"Ref": Environment}, prod]}
  NotProd: {"Fn::Not": [{"Condition": IsProd}]}
  Both: {"Fn::And": [{"Condition": IsProd}, {"Fn::Or": [{"Condition": NotProd}, {"Condition": IsProd}]}]}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {"Fn::Sub": "${AWS::StackName}-data"}
      Tags:
        - {Key: a, Value: {"Fn::GetAtt": [Key, Arn]}}
        - {Key: b, Value: {"Fn::GetAtt": [Stack, Outputs.KeyArn]}}
        - {Key: c, Value: {"Fn::GetAtt": [Key, Arn]}}
        - {Key: d, Value: {"Fn::Join": ["-", [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Fn::Base64": x}]]}}
        - {Key: e, Value: {"Fn::If": [IsProd, {"Fn::ImportValue": shared},
                                      {"Fn::FindInMap": [M, {"Ref": "AWS::Region"}, k]}]}}
        - {Key: f, Value: {"Fn::Sub": ["${X}-${Y}", {X: {"Ref": Key}, Y: {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}}]}}
        - {Key: g, Value: "2024-01-02T03:04:05Z"}
"""


def test_short_and_long_forms_load_the_same() -> None:
    short, long_ = load_text(SHORT), load_text(LONG)
    assert short == long_
    assert short["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    tags = short["Resources"]["Bucket"]["Properties"]["Tags"]
    assert tags[1]["Value"] == {"Fn::GetAtt": ["Stack", "Outputs.KeyArn"]}  # split at the first dot only


def test_dates_and_timestamps_stay_text() -> None:
    t = load_text(SHORT)
    assert t["AWSTemplateFormatVersion"] == "2010-09-09"
    assert t["Resources"]["Bucket"]["Properties"]["Tags"][6]["Value"] == "2024-01-02T03:04:05Z"


def test_json_loads_like_yaml() -> None:
    assert load_text(json.dumps(load_text(LONG)), "t.json") == load_text(LONG)


@pytest.mark.parametrize(
    "text",
    [
        "Resources:\n  A: {Type: X}\n  A: {Type: Y}\n",
        "Resources:\n  A:\n    Type: X\n    Properties: !If [C, {k: 1, k: 2}, {}]\n",
        '{"Resources": {"A": {"Type": "X"}, "A": {"Type": "Y"}}}',
    ],
)
def test_a_duplicate_key_is_an_error_naming_it(text: str) -> None:
    with pytest.raises(TemplateError, match=r"t\.yaml: .*duplicate key '(A|k)'"):
        load_text(text, "t.yaml")


def test_the_duplicate_names_both_lines() -> None:
    with pytest.raises(TemplateError, match=r"line 3: duplicate key 'A' \(first on line 2\)"):
        load_text("Resources:\n  A: {Type: X}\n  A: {Type: Y}\n", "t.yaml")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", "{bad json"])
def test_not_a_template_is_an_error(text: str) -> None:
    with pytest.raises(TemplateError, match=r"^t\.yaml: "):
        load_text(text, "t.yaml")


def test_libyaml_parses_when_installed() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(CfnLoader, yaml.CSafeLoader)
    else:
        assert issubclass(CfnLoader, yaml.SafeLoader)


def test_line_index(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(SHORT)
    _, lines = load_file_with_lines(p)
    assert lines.line_of("Resources", "Bucket") == 8
    assert lines.line_of("Resources", "Bucket", "Properties", "Tags", 2) == 15
    assert lines.line_of("Resources", "Nope") == 7  # the deepest node that exists
    assert lines.line_of("Nope") is None


def test_load_dir_reads_the_parent_and_its_local_children(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(
        "Resources:\n  Net: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: ./network.yaml}}\n"
    )
    (tmp_path / "network.yaml").write_text("Resources:\n  Vpc: {Type: AWS::EC2::VPC}\n")
    assert set(load_dir(tmp_path)) == {"main.yaml", "network.yaml"}
    (tmp_path / "main.yaml").write_text(
        "Resources:\n  Net: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: https://x/n.yaml}}\n"
    )
    with pytest.raises(TemplateError, match="TemplateURL must be a local file name"):
        load_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_dir(tmp_path / "nowhere")


# --------------------------------------------------------------------------- walker


def test_walker_finds_every_form_of_reference() -> None:
    node = {
        "A": {"Ref": "Param"},
        "B": {"Fn::GetAtt": ["Res", "Arn"]},
        "C": {"Fn::GetAtt": "Other.Outputs.X"},
        "D": {"Fn::Sub": "${AWS::Region}/${Sub1}/${Sub2.Attr}/${!Literal}/${Local}"},
        "E": {"Fn::Sub": ["${Local}-${Mapped}", {"Local": {"Ref": "FromMap"}, "Mapped": "x"}]},
        "F": [{"Fn::If": ["Cond", {"Ref": "InIf"}, {"Ref": "AWS::NoValue"}]}],
    }
    found = set(walk(node))
    assert Reference("Res", "Arn", "Fn::GetAtt") in found
    assert Reference("Other", "Outputs.X", "Fn::GetAtt") in found
    assert Reference("Sub2", "Attr", "Fn::Sub") in found
    assert references(node) == {
        "Param",
        "Res",
        "Other",
        "AWS::Region",
        "Sub1",
        "Sub2",
        "Local",
        "FromMap",
        "InIf",
        "AWS::NoValue",
    }
    # 'Local' above is the string Sub's variable; in E it is the map's name, not a reference:
    assert references(node["E"]) == {"FromMap"}
    assert "Literal" not in references(node) and "!Literal" not in references(node)


def test_depends_on_and_condition_names() -> None:
    assert depends_on({"DependsOn": "A"}) == ["A"]
    assert depends_on({"DependsOn": ["A", "B"]}) == ["A", "B"]
    assert depends_on({}) == []
    assert references({"DependsOn": ["A"]}) == set()  # DependsOn is read explicitly, not walked
    assert condition_names(
        {
            "Condition": "C1",
            "Properties": {"X": {"Fn::If": ["C2", 1, 2]}, "Policy": {"Condition": {"StringEquals": {}}}},
        }
    ) == {"C1", "C2"}


# --------------------------------------------------------------------------- evaluator

CONDS = {
    "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
    "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
    "HasName": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]},
    "ProdAndName": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "HasName"}]},
    "ProdOrName": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "HasName"}]},
    "Loop": {"Fn::Not": [{"Condition": "Loop"}]},
}


def evaluator(values: dict[str, Any]) -> Conditions:
    return Conditions(CONDS, lambda n: values.get(n["Ref"]) if isinstance(n, dict) else str(n))


def test_conditions_decide_under_values() -> None:
    c = evaluator({"Env": "prod", "Name": "x"})
    assert (c.decide("IsProd"), c.decide("NotProd"), c.decide("ProdAndName"), c.decide("ProdOrName")) == (
        True,
        False,
        True,
        True,
    )
    c = evaluator({"Env": "dev", "Name": ""})
    assert (c.decide("IsProd"), c.decide("NotProd"), c.decide("ProdAndName"), c.decide("ProdOrName")) == (
        False,
        True,
        False,
        False,
    )


def test_conditions_are_three_valued() -> None:
    c = evaluator({"Env": "dev"})  # Name unknown
    assert c.decide("HasName") is None
    assert c.decide("ProdAndName") is False  # False decides an And
    assert c.decide("ProdOrName") is None
    assert evaluator({"Env": "prod"}).decide("ProdOrName") is True  # True decides an Or
    assert c.decide("Loop") is None and c.decide("Undefined") is None


def test_other_differs_only_from_what_it_excludes() -> None:
    assert evaluator({"Env": Other(frozenset({"prod"}))}).decide("IsProd") is False
    assert evaluator({"Env": Other(frozenset({"dev"}))}).decide("IsProd") is None
    assert evaluator({"Env": ANY_OTHER}).decide("IsProd") is False


def test_branch_and_possible_values() -> None:
    node = {"Fn::If": ["IsProd", "big", {"Fn::If": ["HasName", "named", "small"]}]}
    assert evaluator({"Env": "prod"}).branch(node) == "big"
    assert evaluator({"Env": "dev", "Name": "x"}).branch(node) == "named"
    assert evaluator({}).possible(node) == ["big", "named", "small"]
    assert evaluator({"Env": "dev"}).possible(node) == ["named", "small"]
    forced = Conditions(CONDS, lambda n: None, forced={"IsProd": True})
    assert forced.decide("NotProd") is False  # a forced condition holds where other conditions use it


# --------------------------------------------------------------------------- template set


def template_set() -> dict[str, dict[str, Any]]:
    main = {
        "Parameters": {
            "Environment": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
            "BaseDomain": {"Type": "String", "Default": ""},
        },
        "Conditions": {"HasDomain": {"Fn::Not": [{"Fn::Equals": [{"Ref": "BaseDomain"}, ""]}]}},
        "Resources": {
            "NetworkStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": "./network.yaml", "Parameters": {"Environment": {"Ref": "Environment"}}},
            },
            "DnsStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Condition": "HasDomain",
                "Properties": {
                    "TemplateURL": "./dns.yaml",
                    "Parameters": {
                        "VpcId": {"Fn::GetAtt": ["NetworkStack", "Outputs.VpcId"]},
                        "SubnetIds": {"Fn::GetAtt": ["NetworkStack", "Outputs.SubnetIds"]},
                    },
                },
            },
        },
    }
    network = {
        "Parameters": {"Environment": {"Type": "String"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}},
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC"},
            "SubnetA": {"Type": "AWS::EC2::Subnet"},
            "SubnetB": {"Type": "AWS::EC2::Subnet"},
            "Nat": {"Type": "AWS::EC2::NatGateway", "Condition": "IsProd"},
            "Route": {"Type": "AWS::EC2::Route", "Condition": "IsProd", "Properties": {"NatGatewayId": {"Ref": "Nat"}}},
            "Endpoint": {"Type": "AWS::EC2::VPCEndpoint"},
        },
        "Outputs": {
            "VpcId": {"Value": {"Ref": "Vpc"}},
            "SubnetIds": {"Value": {"Fn::Join": [",", [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]]}},
        },
    }
    dns = {
        "Parameters": {"VpcId": {"Type": "String"}, "SubnetIds": {"Type": "CommaDelimitedList"}},
        "Resources": {
            "Zone": {"Type": "AWS::Route53::HostedZone", "Properties": {"VPCs": [{"VPCId": {"Ref": "VpcId"}}]}}
        },
    }
    return {PARENT: main, "network.yaml": network, "dns.yaml": dns}


def test_origins_follow_values_across_the_parent_and_its_children() -> None:
    ts = TemplateSet(template_set())
    o = ts.origin("dns.yaml", {"Ref": "VpcId"})
    assert (o.kind, o.file, o.name) == ("resource", "network.yaml", "Vpc")
    assert [x.name for x in ts.list_origins("dns.yaml", {"Ref": "SubnetIds"})] == ["SubnetA", "SubnetB"]
    assert ts.parameter_origin("network.yaml", "Environment") == "Environment"
    assert ts.origin("dns.yaml", {"Ref": "AWS::Region"}).kind == "pseudo"


def test_a_join_of_a_list_parameter_has_the_parameter_as_its_origin() -> None:
    """The parent passes an existing VPC's subnets (a List<AWS::EC2::Subnet::Id> parameter) to
    a CommaDelimitedList input as Join(',', Ref List): the origin is that parameter, not a
    value named 'Ref'."""
    t = template_set()
    t[PARENT]["Parameters"]["GivenSubnetIds"] = {"Type": "List<AWS::EC2::Subnet::Id>"}
    ts = TemplateSet(t)
    joined = {"Fn::Join": [",", {"Ref": "GivenSubnetIds"}]}
    for found in (ts.origins(PARENT, joined), ts._expand_list(PARENT, joined)):
        assert [(o.kind, o.name) for o in found] == [("parameter", "GivenSubnetIds")]


def test_resources_by_type_and_the_stack_of_a_file() -> None:
    """The type index keeps file then logical-id order, has every resource under None (a
    resource without a Type too, once) and nothing for an unknown type; a stack's file is
    found from its logical id."""
    t = template_set()
    t["network.yaml"]["Resources"]["Broken"] = {"Properties": {}}  # (no Type: a hand-edited template)
    ts = TemplateSet(t)
    assert [lid for _, lid, _ in ts.resources("AWS::EC2::Subnet")] == ["SubnetA", "SubnetB"]
    assert [(f, lid) for f, lid, _ in ts.resources("AWS::CloudFormation::Stack")] == [
        (PARENT, "DnsStack"),
        (PARENT, "NetworkStack"),
    ]
    every = [(f, lid) for f, lid, _ in ts.resources()]
    assert every == sorted(every, key=lambda x: (x[0], x[1])) and len(every) == len(set(every)) == 10
    assert ("network.yaml", "Broken") in every
    assert ts.resources("AWS::SQS::Queue") == []
    assert ts.file_of_stack("DnsStack") == "dns.yaml" and ts.file_of_stack("NetworkStack") == "network.yaml"
    assert ts.file_of_stack("Vpc") is None


def test_presence_follows_own_and_stack_conditions() -> None:
    ts = TemplateSet(template_set())
    assert ts.present("network.yaml", "Vpc") and not ts.present("network.yaml", "Nat")  # defaults: dev
    assert not ts.present("dns.yaml", "Zone")  # its stack needs a domain
    prod = ts.under({"Environment": "prod", "BaseDomain": "example.com"})
    assert prod.present("network.yaml", "Nat") and prod.present("dns.yaml", "Zone")
    assert [r[1] for r in prod.present_resources("AWS::EC2::NatGateway")] == ["Nat"]


def test_present_with_names_the_scenarios_that_break_a_dependency() -> None:
    ts = TemplateSet(template_set())
    assert ts.present_with(("network.yaml", "Nat"), ("network.yaml", "Route")) == []  # same condition
    assert ts.present_with(("network.yaml", "Vpc"), ("dns.yaml", "Zone")) == []  # Vpc is unconditional
    gaps = ts.present_with(("network.yaml", "Nat"), ("network.yaml", "Endpoint"))
    assert gaps == [{"Environment": "dev"}]
    gaps = ts.present_with(("network.yaml", "Nat"), ("dns.yaml", "Zone"))
    assert [g["Environment"] for g in gaps] == ["dev"] and all(g["BaseDomain"] != "" for g in gaps)


def test_environments_that_change_given_resource_types() -> None:
    t = template_set()
    assert environments(t, ("AWS::EC2::",)) == ["dev", "prod"]  # the NAT depends on the environment
    assert environments(t, ("AWS::ECS::",)) == [None]
    assert with_environment(t, "prod")[PARENT]["Parameters"]["Environment"]["Default"] == "prod"
    assert t[PARENT]["Parameters"]["Environment"]["Default"] == "dev"  # the original is untouched


# --------------------------------------------------------------------------- facts


def test_the_guard_tls_list_is_the_python_list_and_holds_the_emitted_policy() -> None:
    from generator.stacks._base import TLS_POLICY

    text = (ROOT / "guard" / "stackgen.guard").read_text()
    block = re.search(r"let STACKGEN_TLS_POLICIES = \[(.*?)\]", text, re.S)
    assert block is not None
    assert set(re.findall(r'"([^"]+)"', block.group(1))) == TLS_POLICIES
    assert TLS_POLICY in TLS_POLICIES
    assert not any("Ext" in p for p in TLS_POLICIES)


def test_stateful_types_that_need_policies_follow_cfn_lint() -> None:
    import cfnlint.data.AdditionalSpecs
    from cfnlint.helpers import load_resource

    spec = load_resource(cfnlint.data.AdditionalSpecs, "StatefulResources.json")["ResourceTypes"]
    i3011 = {t for t, d in spec.items() if not d.get("DeleteRequiresEmptyResource")}
    documented_extras = {"AWS::ECR::Repository", "AWS::S3::Bucket"}  # see generator/cfn/facts.py
    needing = {t for t, s in STATEFUL_TYPES.items() if s.policies}
    assert needing - i3011 == documented_extras


def test_deploy_and_invariants_read_the_same_stateful_table() -> None:
    from generator.deploy.stateful import STATEFUL_TYPES as DEPLOY_VIEW

    assert DEPLOY_VIEW == {t: s.what for t, s in STATEFUL_TYPES.items()}


# --------------------------------------------------------------------------- the read side's shape

GENERATOR = ROOT / "generator"
READ_SIDE = (
    "generator.cfn",
    "generator.reach",
    "generator.invariants",
    "generator.gate",
    "generator.deploy",
    "generator.preflight",
    "generator.diagnose",
    "generator.cost",
)
MAX_LINES = 600


def module_imports() -> dict[str, set[str]]:
    """generator module -> the generator modules it imports, function-local imports included."""
    import ast

    mods = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in GENERATOR.rglob("*.py")
    }
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("generator"):
                deps |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names
                }
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("generator")}
        out[name] = {d for d in deps if d in mods and d != name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                found.append(path[path.index(v) :] + [v])
            elif v not in state:
                visit(v)
        path.pop()
        state[u] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def private_imports() -> list[str]:
    import ast

    out = []
    for path in GENERATOR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("generator"):
                out += [
                    f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not (a.name.startswith("__") and a.name.endswith("__"))
                ]
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_and_no_private_name_across_modules() -> None:
    assert cycles(module_imports()) == []
    assert private_imports() == []


def test_the_kernel_knows_nothing_of_specs_and_reach_sits_beside_it() -> None:
    imports = module_imports()
    for name, deps in imports.items():
        if name.startswith("generator.cfn"):
            assert all(d.startswith("generator.cfn") for d in deps), (name, deps)
        if name.startswith("generator.reach"):
            assert all(d.startswith(("generator.cfn", "generator.reach")) for d in deps), (name, deps)
    upward = ("generator.render", "generator.cli", "generator.parent", "generator.stacks")
    for name, deps in imports.items():
        if name.startswith(READ_SIDE) and name != "generator.preflight":  # the check command synthesizes a SPEC
            assert not [d for d in deps if d.startswith(upward)], name


def test_read_side_modules_are_readable_in_one_sitting() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in GENERATOR.rglob("*.py")
        if ".".join(p.relative_to(ROOT).with_suffix("").parts).startswith(READ_SIDE)
        and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
