"""The generation fast paths give the answers of the slow paths they replace, and their
memos never answer for inputs they were not made from (issue 13 item 1, issue 12's scale).

- ``generator.spec.load.read_yaml`` builds plain nodes itself instead of PyYAML's constructor;
- ``generator.contract.Part.members`` keeps its answer with the service objects it read;
- ``generator.roots.split`` copies only what it changes of the one-root parent.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import parent, roots
from generator.bench import scale_spec
from generator.contract import Part
from generator.placement import place
from generator.spec import SpecError, load_spec, parse_spec
from generator.spec.load import read_yaml
from generator.todict import template_dict
from tests.helpers import ROOT

# Every kind of node the builder takes itself or hands to PyYAML: aliases (also of a
# sequence inside itself), merge keys, a value key, ints, floats, bools, nulls, timestamps,
# explicit tags, non-string keys, multi-line strings.
MIXED = """\
x-defaults: &defaults
  cpu: 256
  memory: 0x200
  tags: &tags [a, b]
one:
  <<: *defaults
  cpu: 512
two: *defaults
three: {tags: *tags, '=': value-key}
recursive: &self [1, *self]
values: [yes, no, ~, null, 1.5, .inf, 2001-12-14, 2001-12-14t21:59:43.10-05:00, "007", 007, 0o17]
tagged: [!!str 123, !!int "5", !!float "1", !!binary aGk=]
keys: {1: int, true: bool, null: none, 2.5: float}
odd: {? =: x}
text: |
  line one
  line two
folded: >
  a
  b
set: !!set {a, b}
omap: !!omap [a: 1, b: 2]
"""


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - the safe loader, in C


def test_read_yaml_builds_what_pyyaml_builds(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED, encoding="utf-8")
    got, want = read_yaml(path), pyyaml(MIXED)
    assert repr(got) == repr(want)  # repr: the recursive list compares by identity
    assert got["values"][6] == datetime.date(2001, 12, 14) and got["tagged"][3] == b"hi"
    assert (
        got["one"]["cpu"] == 512
        and got["one"]["memory"] == 512
        and got["keys"][2.5] == "float"
        and got["keys"][None] == "none"
    )
    # an alias is the same object, as PyYAML makes it
    assert got["two"] is got["x-defaults"] and got["three"]["tags"] is got["x-defaults"]["tags"]
    assert got["recursive"][1] is got["recursive"]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "platforms").glob("*.yaml"))
    + sorted((ROOT / "examples").glob("*.yaml"))
    + sorted((ROOT / "tests" / "fixtures" / "good_specs").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_read_yaml_reads_every_spec_as_pyyaml_does(path: Path) -> None:
    assert read_yaml(path) == pyyaml(path.read_text(encoding="utf-8"))


def test_read_yaml_still_refuses_a_duplicate_key_and_a_bad_constructor_value(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("a:\n  b: 1\n  b: 2\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"a\.b: duplicate key \(lines 2 and 3\)"):
        read_yaml(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: !!int nope\n", encoding="utf-8")  # PyYAML's own ValueError: a traceback once
    with pytest.raises(SpecError, match=r"bad\.yaml: line 2: invalid YAML: int value 'nope': invalid literal"):
        read_yaml(bad)
    unhashable = tmp_path / "key.yaml"
    unhashable.write_text("? [a, b]\n: c\n", encoding="utf-8")
    with pytest.raises(SpecError, match="unhashable key"):
        read_yaml(unhashable)


def test_part_members_follow_the_spec_they_are_asked_about() -> None:
    spec = parse_spec(scale_spec(8))
    names = [s.name for s in spec.services]
    part = Part("g", 1, (names[1], names[3]))
    assert [s.name for s in part.members(spec)] == [names[1], names[3]]
    # another spec: the same names, other objects, in another order
    other = spec.model_copy(update={"services": [spec.services[3], spec.services[2], spec.services[1]]})
    assert [s.name for s in part.members(other)] == [names[3], names[1]]
    # the same list object changed in place: the memo cannot answer for it
    spec.services[1] = spec.services[0]
    assert [s.name for s in part.members(spec)] == [names[3]]
    del spec.services[3]
    assert part.members(spec) == []
    # the answer is a fresh list each time: a caller's change does not reach the memo
    again = part.members(other)
    again.clear()
    assert len(part.members(other)) == 2


def test_split_leaves_the_one_root_parent_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    data = scale_spec(12)
    for i, s in enumerate(data["services"]):
        s["group"] = "later" if i >= 6 else "default"
    monkeypatch.setenv(roots.BUDGET_ENV, "1000")
    spec = parse_spec(data)
    parts = place(spec)
    kids = parent.children(spec, parts)
    full = template_dict(parent.build(spec, kids))
    before = copy.deepcopy(full)
    layout = roots.assign(parts, roots.group_sizes(kids))
    out = roots.split(full, roots.stack_roots(kids, layout), layout)
    assert len(out) == 2 and full == before
    # the roots share no container: changing one changes neither the other nor the parent
    for name, t in out.items():
        t["Resources"].clear()
        t["Metadata"]["stackgen"].clear()
        assert full == before, name


def test_load_spec_of_the_scale_spec_is_parse_spec_of_its_data(tmp_path: Path) -> None:
    data = scale_spec(30)
    path = tmp_path / "scale.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert load_spec(path) == parse_spec(data, str(path))


def test_the_bench_byte_compiles_the_project_before_timing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under PYTHONDONTWRITEBYTECODE every timed process would compile generator/ again; the
    bench writes the bytecode first (as a user's first run does), and before any timing."""
    import argparse

    from generator import bench

    for folder, name in (("generator", "mod"), ("cfnlint_rules", "rule")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.py").write_text("X = 1\n")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    bench.compile_project()
    assert list((tmp_path / "generator" / "__pycache__").glob("mod.*.pyc"))
    assert list((tmp_path / "cfnlint_rules" / "__pycache__").glob("rule.*.pyc"))

    calls: list[str] = []
    monkeypatch.setattr(bench, "compile_project", lambda: calls.append("compile"))

    def timed(*_: Any) -> list[str]:
        calls.append("timed")
        return []

    monkeypatch.setattr(bench, "synth_at_floor", timed)
    monkeypatch.setattr(bench, "scale_table", lambda *a: [])
    monkeypatch.setattr(bench, "critical_paths", lambda *a: [])
    spec = tmp_path / "p.yaml"
    spec.write_text("{}")
    args = argparse.Namespace(specs=[str(spec)], target=None, scale_only=True, repeat=1)
    assert bench.cmd(args) == 0
    assert calls == ["compile", "timed"]


def test_the_critical_path_lines_stay_readable_at_any_size() -> None:
    """make bench's critical-path report names a few services or stacks whole, in natural
    order (2 before 10); past ``LISTED`` it gives their count with the first and the last,
    so the 300-service platform's line is not 300 names long."""
    from generator.bench import LISTED, named, stable_times

    assert named({"b", "a10", "a2"}) == "a2, a10, b"
    many = {f"svc{i:03d}" for i in range(300)}
    assert named(many) == "300 services (svc000 ... svc299)"
    assert named({f"s{i}" for i in range(LISTED)}).count(",") == LISTED - 1

    few = {"services-database-10": 28.0, "services-database-2": 22.0, "services": 23.0}
    assert stable_times(few) == "services 23.0, services-database-2 22.0, services-database-10 28.0"
    stacks = {"services-database": 22.0, **{f"services-database-{i}": 22.0 + 6 * ((i - 2) // 10) for i in range(2, 31)}}
    line = stable_times(stacks)
    assert line == "30 stacks, the first services-database 22.0, the last services-database-30 34.0"
    assert len(line) < 120
