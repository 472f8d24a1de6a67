"""Values survive every YAML reader and `aws cloudformation package`'s re-emission.

CloudFormation reads templates as YAML 1.2, where a plain scalar such as ``054676820928``
is an integer (the leading zero is lost); PyYAML (YAML 1.1) reads and writes it as a plain
string.  `aws cloudformation package` parses our template with PyYAML and re-emits it with
its own dumper, so quoting on our side does not survive: such a value must not be a string
in the template at all (the ALB log-delivery principal is therefore a whole ARN).

The detector lives in ``generator.deployability.roundtrip``, which synthesis runs on every
template it writes; here it is run on the committed templates and on what awscli's own
packaging code makes of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from awscli.customizations.cloudformation import yamlhelper

from generator.deployability.roundtrip import ambiguous_plain_scalars, changes_type

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").glob("*/*.yaml"))


def test_detector_catches_a_leading_zero_account() -> None:
    assert ambiguous_plain_scalars("Account: 054676820928\n") == ["054676820928"]
    assert ambiguous_plain_scalars("Account: '054676820928'\nArn: arn:aws:iam::054676820928:root\n") == []
    # quoting does not survive awscli's re-emission
    dumped = yamlhelper.yaml_dump(yamlhelper.yaml_parse("Account: '054676820928'\n"))
    assert ambiguous_plain_scalars(dumped) == ["054676820928"]


@pytest.mark.parametrize("value", ["054676820928", "08000", "1e3", "0o17", "+12", ".5", "-.inf", "1.", "TRUE"])
def test_the_value_rule_agrees_with_awscli_on_what_changes_type(value: str) -> None:
    """What synthesis refuses is exactly what loses its type after awscli re-emits it."""
    packaged = yamlhelper.yaml_dump(yamlhelper.yaml_parse(yamlhelper.yaml_dump({"V": value})))
    assert changes_type(value) == (ambiguous_plain_scalars(packaged) == [value])


@pytest.mark.parametrize(
    "value",
    ["0123", "8000", "true", "1:30", "0x1F", "2010-09-09", "arn:aws:iam::054676820928:root", "~", "null", "1_000"],
)
def test_values_that_survive_are_not_refused(value: str) -> None:
    packaged = yamlhelper.yaml_dump(yamlhelper.yaml_parse(yamlhelper.yaml_dump({"V": value})))
    assert not changes_type(value)
    assert ambiguous_plain_scalars(packaged) == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_template_survives_aws_cloudformation_package(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert ambiguous_plain_scalars(text) == []
    parsed = yamlhelper.yaml_parse(text)
    packaged = yamlhelper.yaml_dump(parsed)
    assert ambiguous_plain_scalars(packaged) == []
    assert yamlhelper.yaml_parse(packaged) == parsed
