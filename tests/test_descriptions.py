"""Field descriptions come from attribute docstrings at schema time (generator.spec.descriptions),
not from pydantic's ``use_attribute_docstrings`` at import: the schema must be the one
pydantic's own reader gives, and the spec import must not read any source."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

from generator.spec import Platform, json_schema
from generator.spec.descriptions import attribute_docstrings, describe, models

ROOT = Path(__file__).resolve().parent.parent

# The schema as pydantic writes it when its own option reads the docstrings at import.
PYDANTIC_WAY = """
import json, pydantic
config = pydantic.ConfigDict
# generator.spec.base's Model (the base of every spec model) gets pydantic's option
pydantic.ConfigDict = lambda **kw: config(**kw, use_attribute_docstrings=True)
from generator.spec import Platform
from generator.spec.descriptions import models
print(json.dumps({
    "schema": Platform.model_json_schema(),
    "fields": {f"{m.__name__}.{n}": f.description for m in models(Platform) for n, f in m.model_fields.items()},
}, sort_keys=True))
"""


def test_schema_descriptions_are_the_ones_pydantic_reads_from_the_docstrings() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PYDANTIC_WAY], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    theirs = json.loads(proc.stdout)
    ours = json_schema()
    for key in ("$schema", "title", "patternProperties"):  # what json_schema adds or renames
        ours.pop(key)
    theirs["schema"].pop("title")
    assert json.loads(json.dumps(ours, sort_keys=True)) == theirs["schema"]
    fields = {f"{m.__name__}.{n}": f.description for m in models(Platform) for n, f in m.model_fields.items()}
    assert fields == theirs["fields"]
    assert sum(1 for d in fields.values() if d) > 100  # the comparison is not of empty sets


def test_importing_the_spec_reads_no_docstring() -> None:
    code = "import linecache, generator.spec\nprint(sum('generator' in name for name in linecache.cache))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    # pydantic's option reads each model's module through linecache (one file per spec module)
    assert proc.stdout.split() == ["0"]


SAMPLE = '''
from __future__ import annotations
from typing import Annotated
from pydantic import BaseModel, ConfigDict, Field

Port = Annotated[int, Field(description="TCP port")]


class Base(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings={on})


class Inner(Base):
    name: str
    """The inner name.

        Indented second paragraph.
            Indented further."""
    port: Port = 80
    """Not used: the type's own description wins."""
    plain: int = 0

    def method(self) -> None:
        x: int = 1
        """Not a field docstring."""


class Outer(Base):
    items: list[Inner] = []
    """The {word} items."""
    one: Inner | None = None
    """An optional inner."""
'''


def _sample(tmp_path: Path, name: str, on: bool, word: str = "listed") -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(SAMPLE.format(on=on, word=word)), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_describe_gives_pydantic_s_schema_on_a_sample(tmp_path: Path) -> None:
    theirs = _sample(tmp_path, "sample_theirs", on=True).Outer.model_json_schema()
    mine = _sample(tmp_path, "sample_mine", on=False)
    sys.modules["sample_mine"] = mine  # attribute_docstrings finds the source by module name
    try:
        before = mine.Outer.model_json_schema()
        assert attribute_docstrings(mine.Inner) == {
            "name": "The inner name.\n\nIndented second paragraph.\n    Indented further.",
            "port": "Not used: the type's own description wins.",
        }
        describe(mine.Outer)
        after = mine.Outer.model_json_schema()
    finally:
        del sys.modules["sample_mine"]
    assert before != theirs  # without describe the docstrings are missing
    assert after == theirs
    assert after["properties"]["items"]["description"] == "The listed items."
    assert after["$defs"]["Inner"]["properties"]["port"]["description"] == "TCP port"


def test_a_docstring_the_schema_does_not_show_is_caught(tmp_path: Path) -> None:
    """The comparison above fails when a docstring and the description disagree."""
    theirs = _sample(tmp_path, "sample_theirs2", on=True, word="listed").Outer.model_json_schema()
    mine = _sample(tmp_path, "sample_mine2", on=False, word="other")
    sys.modules["sample_mine2"] = mine
    try:
        describe(mine.Outer)
    finally:
        del sys.modules["sample_mine2"]
    assert mine.Outer.model_json_schema() != theirs
