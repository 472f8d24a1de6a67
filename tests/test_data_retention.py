"""Per-environment data retention, declared in the spec (``data_retention``).

DeletionPolicy cannot vary per environment without the AWS::LanguageExtensions
transform, so the templates keep Retain on every stateful resource; the spec's choice is
recorded in the parent template's ``Metadata.stackgen.retain_on_delete`` for delete.sh,
which purges what a delete retained in the environments that do not keep data."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from generator import render
from generator.spec import SpecError, parse_spec
from tests.helpers import ROOT


def _spec(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "platforms" / "scheduled-file-writer.yaml").read_text())
    data.update(changes)
    return data


def _retain(data: dict[str, Any]) -> dict[str, bool]:
    return render.synthesize(parse_spec(data, "platforms/x.yaml"))["main.yaml"]["Metadata"]["stackgen"][
        "retain_on_delete"
    ]


def test_default_is_retain_everywhere() -> None:
    assert _retain(_spec()) == {"dev": True, "test": True, "prod": True}


def test_dev_may_delete_its_data() -> None:
    assert _retain(_spec(data_retention={"dev": "delete"})) == {"dev": False, "test": True, "prod": True}
    assert _retain(_spec(data_retention={"dev": "delete", "prod": "retain"})) == {
        "dev": False,
        "test": True,
        "prod": True,
    }


def test_templates_keep_their_deletion_policies() -> None:
    """Only the parent's Metadata changes: no transform, no per-environment DeletionPolicy."""
    keep = render.synthesize(parse_spec(_spec(), "platforms/x.yaml"))
    purge = render.synthesize(parse_spec(_spec(data_retention={"dev": "delete"}), "platforms/x.yaml"))
    assert {f: t for f, t in keep.items() if f != "main.yaml"} == {f: t for f, t in purge.items() if f != "main.yaml"}
    del keep["main.yaml"]["Metadata"], purge["main.yaml"]["Metadata"]
    assert keep["main.yaml"] == purge["main.yaml"]
    assert all("Transform" not in t for t in purge.values())


@pytest.mark.parametrize(
    "value, message",
    [
        ({"qa": "delete"}, "data_retention: unknown environment 'qa'"),
        ({"dev": "purge"}, "data_retention.dev: Input should be 'retain' or 'delete'"),
    ],
)
def test_bad_values_name_the_field(value: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(data_retention=value), "platforms/x.yaml")
    assert any(message in line for line in err.value.lines), err.value.lines


@pytest.mark.parametrize("name", ["WriterImageReady", "WriterImageTag", "StackUid"])
def test_parameters_may_not_take_a_generated_name(name: str) -> None:
    data = _spec()
    data["parameters"] = [*data.get("parameters", []), {"name": name, "description": "clash", "default": "x"}]
    with pytest.raises(SpecError) as err:
        parse_spec(data, "platforms/x.yaml")
    assert any(f"parameters: {name} is the name of" in line for line in err.value.lines), err.value.lines


def test_schema_describes_the_field() -> None:
    schema = json.loads((ROOT / "schema" / "platform.schema.json").read_text())
    field = schema["properties"]["data_retention"]
    assert [v["enum"] for v in field["patternProperties"].values()] == [["retain", "delete"]]
    assert "delete.sh" in field["description"] and "retain" in field["description"]
