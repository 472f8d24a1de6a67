"""The editor schema (schema/platform.schema.json): committed, fresh, complete, and it
accepts exactly the specs the loader accepts for the committed and fixture specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator.spec import json_schema
from tests.helpers import PLATFORMS, ROOT

SCHEMA_FILE = ROOT / "schema" / "platform.schema.json"
MODELINE = "# yaml-language-server: $schema=../schema/platform.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("**/*.yaml")) if (ROOT / "examples").is_dir() else []
GOOD_FIXTURES = sorted((ROOT / "tests" / "fixtures" / "good_specs").glob("*.yaml"))


def committed() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def validator() -> jsonschema.Draft202012Validator:
    schema = committed()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(data: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(data))


def test_committed_schema_is_what_the_generator_prints() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", (
        "schema/platform.schema.json is stale: python -m generator schema --out schema/platform.schema.json"
    )


@pytest.mark.parametrize("path", [*PLATFORMS, *EXAMPLES, *GOOD_FIXTURES], ids=lambda p: p.stem)
def test_spec_validates_against_the_schema(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("path", [*PLATFORMS, *EXAMPLES], ids=lambda p: p.stem)
def test_spec_carries_the_editor_modeline(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE
    assert (path.parent / first.split("$schema=", 1)[1]).resolve() == SCHEMA_FILE


def test_top_level_x_keys_are_allowed_as_the_loader_allows_them() -> None:
    spec = yaml.safe_load((ROOT / "platforms" / "mcp-gateway.yaml").read_text(encoding="utf-8"))
    assert any(k.startswith("x-") for k in spec), "mcp-gateway.yaml uses x- anchors"
    assert errors(spec) == []
    spec["x-anything"] = {"free": ["form"]}
    assert errors(spec) == []


def test_schema_rejects_what_the_loader_rejects() -> None:
    spec = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text(encoding="utf-8"))
    spec["services"][0]["ports"][0]["port"] = 70000
    spec["unknown"] = 1
    spec["services"][0]["x-note"] = "x- keys are only ignored at the top level"
    found = errors(spec)
    assert any(e.startswith("services/0/ports/0/port: 70000 is greater than the maximum of 65535") for e in found), (
        found
    )
    assert any("'unknown' does not match any of the regexes: '^x-'" in e for e in found), found
    assert any(e.startswith("services/0: ") and "'x-note' was unexpected" in e for e in found), found


def test_log_retention_is_an_enum_from_cfn_lint() -> None:
    spec = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text(encoding="utf-8"))
    spec["services"][0]["log_retention_days"] = 10
    assert any(e.startswith("services/0/log_retention_days: 10 is not one of") for e in errors(spec))


def _properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            out.append((f"{path}.{name}", prop))
        for key, value in node.items():
            out.extend(_properties(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_properties(value, f"{path}[{i}]"))
    return out


def test_every_property_is_described() -> None:
    props = _properties(committed())
    assert len(props) > 150
    undescribed = [p for p, s in props if not s.get("description")]
    assert undescribed == []
