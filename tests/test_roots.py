"""Several root stacks for the per-operation quota (generator.roots, deployability.rootset):
which root deploys each service group, stable under appending services; the root
templates and their wiring; the check that catches a broken split; the seeds stay one root."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from generator import deployability, parent, render, roots, synth
from generator.bench import scale_spec
from generator.cfn import ERROR
from generator.contract import ContractError, Part
from generator.deployability import rootset, template_limits
from generator.deployability.base import Inputs
from generator.deployability.quotas import QUOTAS
from generator.placement import place
from generator.spec import load_spec, parse_spec
from tests.helpers import ROOT

Templates = dict[str, dict[str, Any]]


def layout(data: dict[str, Any]) -> dict[str, int]:
    """group -> root of a spec (as data)."""
    spec = parse_spec(data)
    parts = place(spec)
    return roots.assign(parts, roots.group_sizes(parent.children(spec, parts))).of_group


def operations(t: Templates) -> dict[str, int]:
    """Resources per root stack operation."""
    return {r: sum(len(t[f].get("Resources") or {}) for f in rootset.hierarchy(t, r)) for r in rootset.root_files(t)}


@pytest.fixture(scope="module")
def three_hundred() -> Templates:
    return render.synthesize(parse_spec(scale_spec(300)))


def test_300_services_fit_every_root_operation(three_hundred: Templates) -> None:
    ops = operations(three_hundred)
    assert list(ops) == ["main.yaml", "main-services-2.yaml", "main-services-3.yaml"]
    assert all(n <= QUOTAS["hierarchy_resources"].value for n in ops.values()), ops
    assert sum(ops.values()) > QUOTAS["hierarchy_resources"].value  # one root could not hold it
    found = template_limits.check(Inputs(three_hundred))
    assert [f.problem for f in found if f.severity == ERROR] == []
    merged, problems = rootset.merge(three_hundred)
    assert problems == []
    # Merged, the roots are the one hierarchy they split: every nested stack under main.yaml.
    assert set(rootset.children_of(merged["main.yaml"])) == {f for f in three_hundred if not f.startswith("main")}


def test_a_service_set_root_reads_the_base_roots_outputs_and_its_stack_uid(three_hundred: Templates) -> None:
    base = three_hundred["main.yaml"]
    assert base["Metadata"]["stackgen"]["roots"] == rootset.root_files(three_hundred)
    second = three_hundred["main-services-2.yaml"]
    fed = rootset.from_outputs(second)
    assert fed["StackUid"] == "main.yaml" and "PrivateSubnetIds" in fed
    for name, producer in fed.items():
        assert name in three_hundred[producer]["Outputs"], name
        assert "Default" not in second["Parameters"][name] or second["Parameters"][name]["Default"] == ""
    # The base root's StackUid is the one every name derives from: the same expression as before.
    assert base["Outputs"]["StackUid"]["Value"] == {
        "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
    }
    # Root parameters a service-set root's stacks take are declared with the base root's definition.
    assert second["Parameters"]["Environment"] == base["Parameters"]["Environment"]
    # No stack of a service-set root waits on a stack it does not hold.
    for res in second["Resources"].values():
        assert set(res.get("DependsOn", [])) <= set(second["Resources"])


def test_a_root_over_the_operation_quota_is_caught(three_hundred: Templates) -> None:
    broken = copy.deepcopy(three_hundred)
    child = rootset.children_of(broken["main-services-3.yaml"])[0]
    ops = operations(broken)["main-services-3.yaml"]
    extra = QUOTAS["hierarchy_resources"].value - ops + 1
    broken[child]["Resources"].update({f"Extra{i}": {"Type": "AWS::SNS::Topic"} for i in range(extra)})
    errors = [f for f in template_limits.check(Inputs(broken)) if f.severity == ERROR and "operation" in f.problem]
    assert len(errors) == 1
    assert errors[0].where == "main-services-3.yaml"
    assert "main-services-3.yaml and its nested stacks hold 2,501 resources" in errors[0].problem


@pytest.fixture
def two_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 12-service spec whose second half is the group ``later``, and the test-only budget
    that puts that group in a root of its own."""
    data = scale_spec(12)
    # every scale-spec service reads ${db:endpoint} (key 'database' by default): the first half
    # is pinned to 'default', the second half to the group of its own root
    for i, s in enumerate(data["services"]):
        s["group"] = "later" if i >= 6 else "default"
    path = tmp_path / "platforms" / "two-roots.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv(roots.BUDGET_ENV, str(2 * QUOTAS["resources"].value))
    return path


def test_a_cross_root_read_of_a_value_the_base_root_does_not_output_is_caught(two_roots: Path) -> None:
    t = synth.synthesize_checked(two_roots).templates
    assert [f for f in deployability.check(t) if f.severity == ERROR] == []
    broken = copy.deepcopy(t)
    del broken["main.yaml"]["Outputs"]["PrivateSubnetIds"]
    found = [f for f in deployability.check(broken) if f.rule == "roots"]
    assert [f.problem.split(" (AWS:")[0] for f in found] == [
        "main-services-2.yaml: parameter PrivateSubnetIds is fed from the output PrivateSubnetIds of main.yaml, "
        "which declares no such output",
    ]
    assert all(f.severity == ERROR for f in found)
    # A root that names a producer after it (or none) is caught the same way.
    broken = copy.deepcopy(t)
    broken["main-services-2.yaml"]["Metadata"]["stackgen"]["root"]["from_outputs"]["StackUid"] = "main-services-3.yaml"
    problems = [f.problem.split(" (AWS:")[0] for f in deployability.check(broken) if f.rule == "roots"]
    assert problems == [
        "main-services-2.yaml: parameter StackUid is fed from the output StackUid of main-services-3.yaml, "
        "which is not an earlier root"
    ]


def test_a_stack_that_reads_a_later_root_is_refused() -> None:
    data = scale_spec(30)
    for svc in data["services"]:  # one key filling groups default, default-2 (not 'database')
        svc["group"] = "default"
    spec = parse_spec(data)
    parts = place(spec)
    kids = parent.children(spec, parts)
    full = parent.build(spec, kids).to_dict()
    layout = roots.Roots({p.group: min(p.index, 1) for p in parts})
    where = roots.stack_roots(kids, layout)
    assert where["SecurityGroupsDefault2Stack"] == 1
    roots.split(full, where, layout)  # consistent: fine
    moved = {**where, "SecurityGroupsStack": 1}  # the default group's security groups, which base stacks read
    with pytest.raises(ContractError, match="main.yaml: stack .* reads SecurityGroupsStack, which is in a later root"):
        roots.split(full, moved, layout)
    three = roots.Roots({p.group: min(p.index, 2) for p in parts})
    backwards = {**roots.stack_roots(kids, three), "SecurityGroupsDefault2Stack": 2}  # read by root 2's stacks
    with pytest.raises(
        ContractError, match="main-services-2.yaml: stack SecurityGroupsDefault2Stack is in a later root"
    ):
        roots.split(full, backwards, three)


@pytest.mark.parametrize("name", ["mcp-gateway", "bff-agentcore", "scheduled-file-writer"])
def test_the_seed_platforms_stay_one_root_and_byte_identical(name: str) -> None:
    files = render.render(load_spec(ROOT / "platforms" / f"{name}.yaml"))
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "templates" / name).glob("*.yaml")}
    assert files == committed
    assert rootset.root_files({"main.yaml": yaml.safe_load(files["main.yaml"].split("\n", 1)[1])}) == ["main.yaml"]
    assert "roots" not in files["main.yaml"]


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_examples_stay_one_root(path: Path) -> None:
    assert [n for n in render.synthesize(load_spec(path)) if n.startswith("main")] == ["main.yaml"]


# ---- stable under appending ----------------------------------------------------------------


def test_appending_services_never_moves_a_group_to_another_root() -> None:
    before = layout(scale_spec(150))
    after = layout(scale_spec(300))
    assert max(before.values()) >= 1  # the split already exists at 150
    assert {g: after[g] for g in before} == before


def test_appending_to_earlier_keys_and_new_keys_moves_no_group() -> None:
    """Services of several keys, appended in turns: an earlier key's open group grows, new
    groups open; no group already placed changes its root."""

    def spec(n: int) -> dict[str, Any]:
        data = scale_spec(n)
        for i, s in enumerate(data["services"]):
            s["group"] = ("alpha", "beta", "gamma")[(i // 7) % 3]
        return data

    previous: dict[str, int] = {}
    for n in (20, 60, 120, 200, 260):
        now = layout(spec(n))
        assert {g: now[g] for g in previous} == previous, n
        previous = now
    assert max(previous.values()) >= 1


def _parts(keys: list[str], per_group: int) -> list[Part]:
    """Groups as placement opens them: services of a key fill its last group up to per_group."""
    order: list[str] = ["default"]
    members: dict[str, int] = {"default": 0}
    last: dict[str, str] = {"default": "default"}
    count: dict[str, int] = {"default": 1}
    for k in keys:
        if k not in last:
            last[k], count[k], members[k] = k, 1, 0
            order.append(k)
        if members[last[k]] == per_group:
            count[k] += 1
            last[k] = f"{k}-{count[k]}"
            members[last[k]] = 0
            order.append(last[k])
        members[last[k]] += 1
    return [Part(g, i, tuple(f"{g}.{j}" for j in range(members[g]))) for i, g in enumerate(order)]


@given(
    keys=st.lists(st.sampled_from(["default", "a", "b", "c"]), min_size=1, max_size=400),
    cut=st.integers(min_value=0, max_value=400),
    per=st.integers(min_value=10, max_value=40),
)
def test_root_assignment_is_stable_under_appending(keys: list[str], cut: int, per: int) -> None:
    size = 15  # resources per service
    full = _parts(keys, per)
    prefix = _parts(keys[:cut], per)
    a = roots.assign(full, {p.group: 5 + size * len(p.services) for p in full}).of_group
    b = roots.assign(prefix, {p.group: 5 + size * len(p.services) for p in prefix}).of_group
    assert {g: a[g] for g in b} == b


# ---- the test-only budget: a small spec in two roots, through the whole check -------------------


def test_a_small_spec_forced_into_two_roots_passes_the_whole_check(
    two_roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = synth.synthesize_checked(two_roots)
    assert rootset.root_files(result.templates) == ["main.yaml", "main-services-2.yaml"]
    second = result.templates["main-services-2.yaml"]
    assert {r["Properties"]["TemplateURL"] for r in second["Resources"].values()} >= {
        "services-later.yaml",
        "security-groups-later.yaml",
    }
    assert set(second["Metadata"]["stackgen"]["service_groups"]) == {"later"}
    monkeypatch.delenv(roots.BUDGET_ENV)
    assert rootset.root_files(synth.synthesize_checked(two_roots).templates) == ["main.yaml"]


# ---- mapping attributes ------------------------------------------------------------------------


def test_a_mapping_over_200_attributes_is_caught() -> None:
    limit = QUOTAS["mapping_attributes"].value

    def t(n: int, top: int = 3) -> Templates:
        m = {f"Env{e}": {f"S{i}": "1" for i in range(n)} for e in range(top)}
        return {"main.yaml": {"Mappings": {"DesiredCount": m}}}

    assert template_limits.check(Inputs(t(limit))) == []
    found = template_limits.check(Inputs(t(limit + 1)))
    assert len(found) == 3 and all(f.severity == ERROR for f in found)
    assert found[0].problem.startswith("main.yaml: mapping DesiredCount has 201 attributes under Env0")
    assert found[0].path == "Mappings.DesiredCount"
    found = template_limits.check(Inputs(t(1, top=limit + 1)))
    assert [f.problem.split(" (AWS")[0] for f in found] == ["main.yaml: mapping DesiredCount has 201 top-level keys"]


def test_the_desired_count_mappings_stay_within_the_attribute_quota_at_300_services() -> None:
    data = scale_spec(300)
    for s in data["services"]:
        s["desired_count_by_environment"] = {"dev": 1}
    t = render.synthesize(parse_spec(data))
    sizes = [len(attrs) for tmpl in t.values() for m in (tmpl.get("Mappings") or {}).values() for attrs in m.values()]
    assert sizes and max(sizes) <= QUOTAS["mapping_attributes"].value
    assert not [f for f in template_limits.check(Inputs(t)) if f.severity == ERROR]


# ---- deploy.sh and delete.sh's helper ------------------------------------------------------------


def test_the_deploy_helper_lists_the_roots_in_order_and_fills_a_roots_parameters(
    two_roots: Path, tmp_path: Path
) -> None:
    from generator.deploy import roots as deploy_roots
    from generator.deploy.params import ParamError

    out = tmp_path / "templates"
    render.write(
        {
            n: render.HEADER.format(name="x") + render.to_yaml(t)
            for n, t in render.synthesize(load_spec(two_roots)).items()
        },
        out,
    )
    assert deploy_roots.listing(out) == [("main.yaml", ""), ("main-services-2.yaml", "-services-2")]
    second = yaml.safe_load((out / "main-services-2.yaml").read_text(encoding="utf-8").split("\n", 1)[1])
    fed = rootset.from_outputs(second)
    outputs = {"main.yaml": {name: f"value-of-{name}" for name in fed} | {"Unrelated": "x"}}
    values = {"Environment": "prod", "DatabaseMinAcu": "1", "Svc000ImageUri": "img"}
    filled = deploy_roots.root_parameters(second, values, outputs)
    # The file's values of what the root declares, the outputs it reads, nothing else.
    assert filled["Environment"] == "prod" and "DatabaseMinAcu" not in filled and "Unrelated" not in filled
    assert {k: filled[k] for k in fed} == {k: f"value-of-{k}" for k in fed}
    assert set(filled) <= set(second["Parameters"])
    del outputs["main.yaml"]["StackUid"]
    with pytest.raises(ParamError, match="parameter StackUid comes from the output StackUid of the root main.yaml"):
        deploy_roots.root_parameters(second, values, outputs)
    one = tmp_path / "one"
    render.write(render.render(load_spec(ROOT / "platforms" / "scheduled-file-writer.yaml")), one)
    assert deploy_roots.listing(one) == [("main.yaml", "")]


def test_the_critical_path_waits_for_each_root_before_the_next(three_hundred: Templates) -> None:
    from generator import critical_path

    e = critical_path.estimate(three_hundred)
    first = [critical_path.base(f.removesuffix(".yaml")) for f in rootset.children_of(three_hundred["main.yaml"])]
    in_root = {
        f: [c.removesuffix(".yaml") for c in rootset.children_of(three_hundred[f])]
        for f in rootset.root_files(three_hundred)
    }
    ends = [max(e.finish[s] for s in stacks) for stacks in in_root.values()]
    starts = [
        min(e.finish[s] - critical_path.TYPICAL_MINUTES[critical_path.base(s)][0] for s in st)
        for st in in_root.values()
    ]
    assert starts[1] == ends[0] and starts[2] == ends[1]
    assert e.minutes == ends[-1] and e.path[0] == "secrets" and "database" in first


def test_the_200_service_spec_once_refused_for_the_operation_quota_now_generates_as_two_roots(
    tmp_path: Path,
) -> None:
    """The former bad-spec fixture 35: 2,606 resources in one hierarchy, refused before roots."""
    path = ROOT / "tests" / "fixtures" / "good_specs" / "two-hundred-services.yaml"
    t = synth.synthesize_checked(path).templates
    ops = operations(t)
    assert list(ops) == ["main.yaml", "main-services-2.yaml"]
    assert all(n <= QUOTAS["hierarchy_resources"].value for n in ops.values())
    merged, problems = rootset.merge(t)
    assert problems == [] and sum(len(x.get("Resources") or {}) for x in merged.values()) == 2_606


def test_plan_reads_every_root_of_a_split_platform(two_roots: Path, tmp_path: Path) -> None:
    """`stackgen plan` compares the whole hierarchy: against its own templates nothing changes,
    and a service appended to the later group shows up in that root's stacks (read back from a
    directory of generated templates, every root included)."""
    from generator import plan
    from generator.plan_sources import read_against

    t = synth.synthesize_checked(two_roots).templates
    out = tmp_path / "templates"
    render.write({name: render.to_yaml(doc) for name, doc in t.items()}, out)
    assert (out / "main-services-2.yaml").is_file()
    old, _ = read_against(str(out), "two-roots")
    assert "main-services-2.yaml" in old
    assert not plan.compare(old, t).changed
    data = yaml.safe_load(two_roots.read_text())
    extra = copy.deepcopy(data["services"][-1])
    extra["name"] = "appended"
    data["services"].append(extra)
    two_roots.write_text(yaml.safe_dump(data), encoding="utf-8")
    p = plan.compare(old, synth.synthesize_checked(two_roots).templates)
    added = {(s.stack, c.logical_id) for s in p.stacks for c in s.changes if c.action == "add"}
    assert ("ServicesLaterStack", "AppendedService") in added, sorted(added)
