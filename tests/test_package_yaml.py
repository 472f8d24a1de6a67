"""generator.deploy.package_yaml (awscli's packager reading templates on libyaml) reads the
same data as awscli's own ``yamlhelper.yaml_parse`` (values, key order and types): on every
committed template, on a template in CloudFormation's short forms, on JSON and on the scalars
hardest to read. The packager then writes them with awscli's own dumper, whose bytes (MD5s of
them are the S3 keys of the nested templates) must not change: libyaml's emitter would change
them, which a test here shows."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import yaml
from awscli.customizations.cloudformation import artifact_exporter, yamlhelper

from generator.deploy import package_yaml
from tests.helpers import ROOT
from tests.test_emitter import TRICKY

TEMPLATES = sorted((ROOT / "templates").glob("*/*.yaml"))
SHORT_FORMS = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Env: {Type: String, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Mappings:
  Base: &base {Size: 1, Name: one}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Condition: IsProd
    Properties:
      QueueName: !Sub '${AWS::StackName}-q'
      Tags:
        - {Key: arn, Value: !GetAtt Topic.TopicArn}
        - {Key: list, Value: !Join [',', [!GetAtt [Topic, TopicName], !Select [0, !GetAZs '']]]}
        - {Key: cidr, Value: !Select [0, !Cidr [10.0.0.0/16, 4, 8]]}
      Other:
        <<: *base
        Size: 2
  Stack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: network.yaml
      Parameters: {Value: !If [IsProd, !ImportValue shared, !Ref 'AWS::NoValue']}
Outputs:
  Out: {Value: !Base64 {'Fn::Sub': x}, Condition: IsProd}
"""


def _read(parse: Any, text: str) -> str:
    """What ``parse`` makes of ``text``: every value, in order, with the type of each container."""
    return json.dumps(_typed(parse(text)))


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return [type(value).__name__, [[k, _typed(v)] for k, v in value.items()]]
    if isinstance(value, list):
        return ["list", [_typed(v) for v in value]]
    return [type(value).__name__, value]


def _same(text: str) -> None:
    assert _read(package_yaml.yaml_parse, text) == _read(yamlhelper.yaml_parse, text)


def test_libyaml_is_what_it_reads_with() -> None:
    assert yaml.__with_libyaml__  # (the pinned PyYAML's wheels have it)
    assert issubclass(package_yaml.loader(), yaml.CSafeLoader)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_committed_template_reads_as_awscli_reads_it(path: Path) -> None:
    _same(path.read_text(encoding="utf-8"))


def test_short_forms_json_and_hard_scalars_read_as_awscli_reads_them() -> None:
    _same(SHORT_FORMS)
    parsed = package_yaml.yaml_parse(SHORT_FORMS)
    assert parsed["Resources"]["Queue"]["Properties"]["Tags"][0]["Value"] == {"Fn::GetAtt": ["Topic", "TopicArn"]}
    assert parsed["Resources"]["Queue"]["Properties"]["Other"] == {"Size": 2, "Name": "one"}
    _same(json.dumps(yamlhelper.yaml_parse(SHORT_FORMS), indent=1))
    for dump in (yaml.safe_dump, yamlhelper.yaml_dump):  # (our style and awscli's re-emission)
        _same(dump({"Values": TRICKY, "Keys": {t: t for t in TRICKY if t.strip()}, "Words": ["yes", "~", "1e3"]}))


def test_the_comparison_is_sharp() -> None:
    """A loader without awscli's mapping constructor reads plain dicts (the types differ), and
    one without its tag constructor cannot read the short forms."""

    class Plain(yaml.CSafeLoader):
        pass

    Plain.add_multi_constructor("!", yamlhelper.intrinsics_multi_constructor)
    text = TEMPLATES[0].read_text(encoding="utf-8")
    assert _read(lambda t: yaml.load(t, Plain), text) != _read(yamlhelper.yaml_parse, text)  # noqa: S506
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load(SHORT_FORMS, yaml.CSafeLoader)  # noqa: S506


def test_the_writing_stays_awscli_s_because_libyaml_s_emitter_writes_other_bytes() -> None:
    """The same dumper settings on libyaml's emitter fold a long double-quoted string (inline
    Lambda code, as the monitoring stack's) elsewhere: the packaged bytes, and so the S3 keys,
    would change. ``artifacts package`` keeps awscli's ``yaml_dump``."""

    class Emitter(yaml.CSafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    Emitter.add_representer(OrderedDict, yamlhelper._dict_representer)
    code = '"""Doc."""\n\nimport os\n\n\ndef handler(event, context):\n    return {"ok": True}  \n' * 3
    data = OrderedDict([("Code", OrderedDict([("ZipFile", code)]))])
    assert yamlhelper.yaml_parse(yamlhelper.yaml_dump(data)) == data
    assert yaml.dump(data, default_flow_style=False, Dumper=Emitter) != yamlhelper.yaml_dump(data)
    with package_yaml.in_awscli():
        assert artifact_exporter.yaml_dump is yamlhelper.yaml_dump


def test_in_awscli_swaps_the_packagers_reader_for_the_block_only() -> None:
    assert artifact_exporter.yaml_parse is yamlhelper.yaml_parse
    with package_yaml.in_awscli():
        assert artifact_exporter.yaml_parse is package_yaml.yaml_parse
    assert artifact_exporter.yaml_parse is yamlhelper.yaml_parse
    with pytest.raises(RuntimeError), package_yaml.in_awscli():
        raise RuntimeError
    assert artifact_exporter.yaml_parse is yamlhelper.yaml_parse
