"""Same spec, byte-identical YAML under any PYTHONHASHSEED (run in subprocesses), and the
one-walk encoding of templates (generator.todict) equal to troposphere's own."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from awacs.aws import Action, Allow, PolicyDocument, Principal, Statement
from hypothesis import given, settings
from troposphere import (
    Equals,
    Export,
    FindInMap,
    GetAtt,
    If,
    Join,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    ec2,
    iam,
    sns,
    sqs,
)

from generator import parent
from generator.gcpause import paused
from generator.placement import place
from generator.render import render, write
from generator.spec import Platform, load_spec
from generator.stacks import GROUPED
from generator.todict import template_dict
from tests.helpers import PLATFORMS, ROOT
from tests.strategies import valid_platforms

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _digest(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.yaml"))}


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_byte_identical_under_hash_seeds(spec_path: Path, tmp_path: Path) -> None:
    runs = {}
    for seed in ("0", "12345"):  # both at once: the two processes are independent
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs[seed] = subprocess.Popen(
            [sys.executable, "-m", "generator", "synth", str(spec_path), "--out", str(tmp_path / seed), "--quiet"],
            cwd=ROOT,
            env=env,
        )
    for seed, proc in runs.items():
        assert proc.wait() == 0, seed
    digests = [_digest(tmp_path / seed) for seed in runs]
    assert digests[0] == digests[1]
    assert digests[0], "nothing generated"


# --------------------------------------------------------------------------- generator.todict
# render.synthesize encodes templates with generator.todict.template_dict instead of
# troposphere's Template.to_dict: the same dict, key order included, and the same validation.


def _built(spec: Platform) -> list[Template]:
    """The parent and every child template of SPEC, as troposphere objects."""
    kids = parent.children(spec, place(spec))
    return [parent.build(spec, kids), *(c.template for c in kids)]


def _same_dicts(templates: list[Template]) -> None:
    for t in templates:
        theirs, ours = t.to_dict(), template_dict(t)
        assert ours == theirs
        assert json.dumps(ours) == json.dumps(theirs)  # key order too (the parent's top order)


@pytest.mark.parametrize("spec_path", PLATFORMS + EXAMPLES, ids=[p.stem for p in PLATFORMS + EXAMPLES])
def test_template_dict_is_to_dict_on_every_committed_spec(spec_path: Path) -> None:
    _same_dicts(_built(load_spec(spec_path)))


@settings(max_examples=10, deadline=None)
@given(spec=valid_platforms(12))
def test_template_dict_is_to_dict_on_random_specs(spec: Platform) -> None:
    _same_dicts(_built(spec))


class _OwnToDict:
    """A value with a to_dict of its own (encode_to_dict calls it, then encodes the result)."""

    def to_dict(self) -> Any:
        return {"Fn::Sub": ("${A}", {"A": Ref("AWS::Region")})}


def test_template_dict_is_to_dict_on_every_kind_of_value() -> None:
    """Each branch of todict.encode: awacs (JSONrepr), Tags, a tuple, helper functions in
    helper functions, a resource without properties, attributes, a class with its own
    to_dict, parameters, conditions, mappings, outputs with exports, metadata."""
    t = Template(Description="every kind")
    t.set_version()
    t.set_metadata({"Note": [1, 2.5, True, None, ("a", "b")]})
    p = t.add_parameter(Parameter("Env", Type="String", Default="dev", AllowedValues=["dev", "prod"]))
    t.add_condition("Prod", Equals(Ref(p), "prod"))
    t.add_mapping("Sizes", {"dev": {"Cpu": 256}, "prod": {"Cpu": 1024}})
    topic = t.add_resource(sns.Topic("Topic"))  # no properties
    role = t.add_resource(
        iam.Role(
            "Role",
            AssumeRolePolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Effect=Allow,
                        Action=[Action("sts", "AssumeRole")],
                        Principal=Principal("Service", ["ecs-tasks.amazonaws.com"]),
                    )
                ],
            ),
            Tags=Tags(Name=Sub("${AWS::StackName}-role"), Team="platform"),
            Metadata={"Custom": _OwnToDict()},
            DependsOn=[topic],
            Condition="Prod",
        )
    )
    t.add_resource(
        sqs.Queue(
            "Queue",
            DelaySeconds=If("Prod", FindInMap("Sizes", Ref(p), "Cpu"), Ref("AWS::NoValue")),
            Tags=Tags({"A": "1"}) + Tags(B=Join("-", [Ref(p), GetAtt(role, "Arn")])),
        )
    )
    t.add_output(Output("RoleArn", Value=GetAtt(role, "Arn"), Export=Export(Sub("${AWS::StackName}-RoleArn"))))
    _same_dicts([t])


def test_template_dict_still_validates() -> None:
    """troposphere's validation runs, with its message: a missing required property (on a
    resource and on a property object inside a list), and a class's own validate()."""
    cases = []
    t = Template()
    t.add_resource(ec2.SecurityGroup("Sg"))  # GroupDescription is required
    cases.append(t)
    t = Template()
    t.add_resource(ec2.SecurityGroup("Sg", GroupDescription="x", SecurityGroupIngress=[ec2.SecurityGroupRule()]))
    cases.append(t)
    t = Template()
    t.add_parameter(Parameter("P", Type="String", Default=3))  # Parameter.validate: not a String
    cases.append(t)
    for t in cases:
        with pytest.raises(ValueError) as theirs:
            t.to_dict()
        with pytest.raises(ValueError) as ours:
            template_dict(t)
        assert str(ours.value) == str(theirs.value)


def test_the_template_dict_comparison_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """_same_dicts catches an encoding with the same content in another key order, and one
    that leaves a tuple a tuple."""
    t = Template(Description="d")
    t.set_version()
    t.set_metadata({"Pair": ("a", "b")})
    _same_dicts([t])
    for broken in (
        lambda x: dict(sorted(x.to_dict().items())),
        lambda x: {**x.to_dict(), "Metadata": {"Pair": ("a", "b")}},
    ):
        monkeypatch.setitem(globals(), "template_dict", broken)
        with pytest.raises(AssertionError):
            _same_dicts([t])


# --------------------------------------------------------------------------- remembered interfaces


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_remembered_interfaces_are_the_interfaces(spec_path: Path) -> None:
    """A grouped stack's interface is built once per (spec, part) (stacks._base.remembered):
    the answer is the one the function gives afresh, for each part and after another spec."""
    spec = load_spec(spec_path)
    other = load_spec(EXAMPLES[0])
    for mod in GROUPED:
        fresh = mod.interface.__wrapped__
        for part in place(spec):
            first = mod.interface(spec, part)
            assert mod.interface(spec, part) is first
            assert first == fresh(spec, part)
            assert mod.interface(other) == fresh(other)
            assert mod.interface(spec, part) == fresh(spec, part)


# --------------------------------------------------------------------------- generator.gcpause


def test_paused_turns_the_collector_off_and_back_as_it_was() -> None:
    import gc

    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still wants it off
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused():
        raise RuntimeError("a failure inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


# --------------------------------------------------------------------------- render.write


def test_write_leaves_the_files_already_in_place_and_replaces_the_rest(tmp_path: Path) -> None:
    """A second write of the same templates touches no file (same inode, same mtime: nothing is
    renamed over them); a file whose bytes differ, one cut short, a link and a missing one are
    written, and a stale generated file is still removed."""
    files = render(load_spec(PLATFORMS[0]))
    out = tmp_path / "out"
    written = write(files, out)
    assert [p.name for p in written] == list(files)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    assert write(files, out) == written
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()} == before

    edited, short, linked, missing = sorted(files)[:4]
    (out / edited).write_text(files[edited].replace("Generated", "Edited"), encoding="utf-8")
    (out / short).write_text(files[short][:-1], encoding="utf-8")
    (tmp_path / "same.yaml").write_text(files[linked], encoding="utf-8")
    (out / linked).unlink()
    (out / linked).symlink_to(tmp_path / "same.yaml")
    (out / missing).unlink()
    (out / "old.yaml").write_text("# Generated by stackgen from x\n", encoding="utf-8")
    write(files, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (out / name).read_text(encoding="utf-8") == text
        assert not (out / name).is_symlink()
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    assert {n for n in files if kept[n] != before[n]} == {edited, short, linked, missing}
