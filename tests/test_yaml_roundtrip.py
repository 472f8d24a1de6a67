"""Values survive every YAML reader and `aws cloudformation package`'s re-emission.

CloudFormation reads templates as YAML 1.2, where a plain scalar such as ``054676820928``
is an integer (the leading zero is lost); PyYAML (YAML 1.1) reads and writes it as a plain
string.  `aws cloudformation package` parses our template with PyYAML and re-emits it with
its own dumper, so quoting on our side does not survive: such a value must not be a string
in the template at all (the ALB log-delivery principal is therefore a whole ARN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from awscli.customizations.cloudformation import yamlhelper

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").glob("*/*.yaml"))

# YAML 1.2 core schema: what a 1.2 reader resolves a plain scalar to, besides a string.
YAML12_NUMBER = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                           r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
YAML12_OTHER = re.compile(r"true|True|TRUE|false|False|FALSE|null|Null|NULL|~")


def ambiguous_plain_scalars(text: str) -> list[str]:
    """Plain (unquoted) scalars that PyYAML reads as strings but a YAML 1.2 reader does not."""
    out = []
    for node in _scalars(yaml.compose(text, Loader=yaml.SafeLoader)):
        if node.style is None and node.tag == "tag:yaml.org,2002:str" and (
                YAML12_NUMBER.fullmatch(node.value) or YAML12_OTHER.fullmatch(node.value)):
            out.append(node.value)
    return out


def _scalars(node: yaml.Node):  # noqa: ANN202
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for n in node.value:
            yield from _scalars(n)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _scalars(k)
            yield from _scalars(v)


def test_detector_catches_a_leading_zero_account() -> None:
    assert ambiguous_plain_scalars("Account: 054676820928\n") == ["054676820928"]
    assert ambiguous_plain_scalars("Account: '054676820928'\nArn: arn:aws:iam::054676820928:root\n") == []
    # quoting does not survive awscli's re-emission
    dumped = yamlhelper.yaml_dump(yamlhelper.yaml_parse("Account: '054676820928'\n"))
    assert ambiguous_plain_scalars(dumped) == ["054676820928"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_template_survives_aws_cloudformation_package(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert ambiguous_plain_scalars(text) == []
    parsed = yamlhelper.yaml_parse(text)
    packaged = yamlhelper.yaml_dump(parsed)
    assert ambiguous_plain_scalars(packaged) == []
    assert yamlhelper.yaml_parse(packaged) == parsed
