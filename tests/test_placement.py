"""Placement of services into service groups (generator.placement): appending services never
moves one to another nested stack, the moves the module documents happen and ``plan`` shows
them, and every group's templates stay within CloudFormation's per-template quotas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from generator import critical_path, placement, plan, render
from generator.bench import scale_spec
from generator.deployability import rootset
from generator.deployability.quotas import QUOTAS
from generator.spec import SpecError, load_spec, parse_spec
from tests.helpers import PLATFORMS

GROUPED = ("security-groups", "iam", "services", "autoscaling", "monitoring")


def where(templates: dict[str, dict[str, Any]]) -> dict[str, str]:
    """logical id -> the file that holds it, over every nested template."""
    out: dict[str, str] = {}
    for file, t in templates.items():
        for lid in t.get("Resources") or {}:
            if file != "main.yaml":
                assert lid not in out, f"{lid} in {out[lid]} and {file}"
                out[lid] = file
    return out


def with_services(n: int, extra: int = 0, **changes: Any) -> dict[str, Any]:
    """scale_spec(n + extra) with its last ``extra`` services seen as appended to scale_spec(n)."""
    data = scale_spec(n + extra)
    data["name"] = "placement"
    # Every service of the scale spec reads ${db:endpoint}, which puts it in the group 'database'
    # by default; these tests are about filling and overflowing one key, pinned to 'default'.
    for svc in data["services"]:
        svc["group"] = "default"
    data.update(changes)
    return data


# The seed platforms' services that use the database (Service.uses_database), by platform.
DATABASE_USERS = {"mcp-gateway": ("keycloak",), "bff-agentcore": ("bff", "agentcore"), "scheduled-file-writer": ()}


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_seed_platforms_put_database_users_in_group_database(path: Any) -> None:
    """The services that use the database are in the group 'database' (services-database, ...),
    the others in the unsuffixed stacks, so these do not wait for Aurora."""
    spec = load_spec(path)
    users = DATABASE_USERS[path.stem]
    assert tuple(s.name for s in spec.services if s.uses_database) == users
    parts = placement.place(spec)
    want = [("default", 0, tuple(s.name for s in spec.services if s.name not in users))]
    if users:
        want.append(("database", 1, users))
    assert [(p.group, p.index, p.services) for p in parts] == want
    names = set(render.synthesize(spec))
    suffixed = {n for n in names if any(n.startswith(f"{g}-") for g in GROUPED) and n != "security-groups.yaml"}
    assert suffixed == ({f"{g}-database.yaml" for g in GROUPED} if users else set())
    if users:
        finish = critical_path.estimate(render.synthesize(spec)).finish
        assert finish["services-database"] > finish["database"]
        assert finish.get("services", 0) < finish["database"]


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_group_default_keeps_the_layout_before_the_database_group(path: Any) -> None:
    """The upgrade path of a deployed stack: 'group: default' on the database users keeps every
    service in the unsuffixed stacks, as before the default group 'database'."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for svc in data["services"]:
        svc.setdefault("group", "default")
    spec = parse_spec(data, str(path))
    assert [(p.group, p.services) for p in placement.place(spec)] == [("default", tuple(s.name for s in spec.services))]
    names = set(render.synthesize(spec))
    assert not {n for n in names if any(n.startswith(f"{g}-") for g in GROUPED) and n != "security-groups.yaml"}


def test_an_appended_database_user_opens_group_database_and_moves_nothing() -> None:
    """key_of is a function of the service alone: appending a database user opens the group
    'database' after the others and moves none of them."""
    data = with_services(5)
    for svc in data["services"]:  # five services that do not use the database, in the default key
        svc.pop("group")
        svc["environment"] = {k: v for k, v in svc["environment"].items() if "${db:" not in v}
    old = where(render.synthesize(parse_spec(data)))
    extra = copy.deepcopy(data["services"][-1])
    extra.update(name="dbuser", secrets={"DB_PASSWORD": {"database": "password"}})
    extra.pop("allow_from", None)
    data["services"].append(extra)
    spec = parse_spec(data)
    assert placement.mapping(spec)["dbuser"] == "database"
    new = where(render.synthesize(spec))
    assert all(new[lid] == f for lid, f in old.items())
    assert new["DbuserService"] == "services-database.yaml"


def test_a_large_platform_is_split_into_groups_within_the_budget() -> None:
    spec = parse_spec(with_services(120))
    parts = placement.place(spec)
    assert len(parts) > 1
    assert [p.group for p in parts[:3]] == ["default", "default-2", "default-3"]
    assert sorted(n for p in parts for n in p.services) == sorted(s.name for s in spec.services)
    templates = render.synthesize(spec)
    for p in parts:
        for base in GROUPED:
            t = templates.get(f"{p.stack(base)}.yaml")
            if t is None:
                continue
            for key, section in (("resources", "Resources"), ("parameters", "Parameters"), ("outputs", "Outputs")):
                assert len(t.get(section) or {}) <= placement.BUDGET[key], (p.stack(base), section)
    # A reviewer finds a service's stacks from its group.
    svc = parts[1].services[0]
    assert naming_of(svc, "Service") in templates["services-default-2.yaml"]["Resources"]
    assert naming_of(svc, "ServiceSecurityGroup") in templates["security-groups-default-2.yaml"]["Resources"]
    assert naming_of(svc, "TaskRole") in templates["iam-default-2.yaml"]["Resources"]


def naming_of(service: str, suffix: str) -> str:
    from generator import naming

    return naming.logical(service, suffix)


@pytest.mark.parametrize(("n", "extra"), [(100, 40), (57, 1), (1, 60)])
def test_appending_services_moves_no_existing_resource(n: int, extra: int) -> None:
    """Every resource of the smaller platform stays in the same nested stack when services
    are appended (whatever groups the new ones open or join)."""
    before = where(render.synthesize(parse_spec(with_services(n))))
    after = where(render.synthesize(parse_spec(with_services(n, extra))))
    moved = {lid: (f, after.get(lid)) for lid, f in before.items() if after.get(lid) != f}
    # The access point of the platform's last ten services is shared with the appended ones,
    # nothing is removed: every old resource is still there, in the same file.
    assert not moved, moved


def test_appending_to_another_group_key_moves_nothing() -> None:
    data = with_services(30)
    old = where(render.synthesize(parse_spec(data)))
    grown = copy.deepcopy(data)
    for k in range(5):
        extra = copy.deepcopy(grown["services"][-1])
        extra.update(name=f"pay{k}", group="payments")
        extra.pop("allow_from", None)
        grown["services"].append(extra)
    templates = render.synthesize(parse_spec(grown))
    new = where(templates)
    assert all(new[lid] == f for lid, f in old.items())
    assert {
        "security-groups-payments.yaml",
        "iam-payments.yaml",
        "services-payments.yaml",
        "autoscaling-payments.yaml",
        "monitoring-payments.yaml",
    } <= set(templates)
    assert "Pay0Service" in templates["services-payments.yaml"]["Resources"]


def test_pinning_a_deployed_service_to_a_group_moves_it_and_plan_says_so() -> None:
    data = with_services(3)
    old = render.synthesize(parse_spec(data))
    data["services"][2]["group"] = "batch"
    new = render.synthesize(parse_spec(data))
    p = plan.compare(old, new)
    moves = {(c.logical_id, c.action) for c in p.rows() if c.action in ("move-out", "move-in")}
    assert ("Svc002Service", "move-out") in moves and ("Svc002Service", "move-in") in moves
    assert ("Svc002TaskRole", "move-in") in moves and ("Svc002ServiceSecurityGroup", "move-in") in moves
    # Nothing else moves but the rules of its edges (held by the later of an edge's two groups).
    assert {lid for lid, _ in moves if not lid.startswith("Svc002")} == {
        "Svc000ServiceToSvc002Service8080Egress",
        "Svc000ServiceToSvc002Service8080Ingress",
    }


def test_removing_a_service_from_the_middle_moves_only_later_services_of_its_key() -> None:
    """The documented move: removing a service frees room in its group, so later services of
    the same key can fall back into it (and the ones after them follow)."""
    data = with_services(120)
    spec = parse_spec(data)
    before = placement.mapping(spec)
    parts = placement.place(spec)
    victim = parts[0].services[3]
    data["services"] = [s for s in data["services"] if s["name"] != victim]
    for s in data["services"]:  # the hub of the victim's ten keeps no rule to it
        s["allow_from"] = [a for a in s.get("allow_from", []) if a["service"] != victim] or None
        if s["allow_from"] is None:
            del s["allow_from"]
    after = placement.mapping(parse_spec(data))
    order = [s["name"] for s in data["services"]]
    moved = [n for n in order if after[n] != before[n]]
    assert moved, "a full group gained room: the next group's first service moves back into it"
    first = order.index(moved[0])
    assert order.index(victim if victim in order else moved[0]) <= first
    # Services before the victim never move.
    assert all(after[n] == before[n] for n in order[: order.index(parts[0].services[4])])
    # plan shows each moved service's resources as a move-out and a move-in.
    p = plan.compare(render.synthesize(spec), render.synthesize(parse_spec(data)))
    moved_in = {c.logical_id for c in p.rows() if c.action == "move-in"}
    assert naming_of(moved[0], "Service") in moved_in


def test_removing_the_last_service_moves_nothing() -> None:
    data = with_services(60)
    before = placement.mapping(parse_spec(data))
    data["services"].pop()
    after = placement.mapping(parse_spec(data))
    assert all(after[n] == before[n] for n in after)


def test_a_later_group_reaches_shared_security_groups_through_client_groups() -> None:
    """The database, EFS and endpoint groups get one rule per later service group, not per service."""
    data = with_services(120)
    for svc in data["services"]:
        svc["secrets"]["DB_PASSWORD"] = {"database": "password"}
    spec = parse_spec(data)
    templates = render.synthesize(spec)
    parts = placement.place(spec)
    entry = "DatabaseProxySecurityGroup" if spec.database and spec.database.proxy else "DatabaseSecurityGroup"
    later = templates[f"{parts[1].stack('security-groups')}.yaml"]["Resources"]
    clients = [lid for lid, r in later.items() if r["Type"] == "AWS::EC2::SecurityGroup" and "Clients" in lid]
    assert len(clients) == 3  # endpoints, EFS, database
    svc = templates[f"{parts[1].stack('services')}.yaml"]["Resources"][naming_of(parts[1].services[0], "Service")]
    groups = svc["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert len(groups) == 4 <= QUOTAS["sgs_per_network_interface"].value
    ingress_to_db = [
        r
        for t in templates.values()
        for r in (t.get("Resources") or {}).values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] in ({"Ref": f"{entry}Id"}, {"Fn::GetAtt": [entry, "GroupId"]})
        and r["Properties"]["SourceSecurityGroupId"] != {"Fn::GetAtt": ["DatabaseProxySecurityGroup", "GroupId"]}
    ]
    assert len(ingress_to_db) == len(parts[0].services) + len(parts) - 1 < QUOTAS["inbound_rules_per_sg"].value


def test_group_names_are_checked() -> None:
    data = with_services(2)
    data["services"][0]["group"] = "batch-2"
    with pytest.raises(SpecError, match=r"services.*group"):
        parse_spec(data)


def test_a_service_too_large_for_a_group_opens_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Greedy fill never leaves a group empty: a service over the budget alone gets a group
    of its own (a quota it breaks alone is the template guard's spec error)."""
    monkeypatch.setattr(placement, "size", lambda s, rules: placement.Size(placement.BUDGET["resources"] + 1, 0, 0))
    spec = parse_spec(with_services(3))
    assert [(p.group, p.services) for p in placement.place(spec)] == [
        ("default", ("svc000",)),
        ("default-2", ("svc001",)),
        ("default-3", ("svc002",)),
    ]


def test_the_parents_parameters_and_outputs_do_not_grow_with_overflow_groups() -> None:
    """A service in a group that continues a full one has its image written into its services
    stack, not a root parameter, and its outputs stay in its stack: the parent keeps within
    its 200 parameters and outputs however many services there are."""
    spec = parse_spec(with_services(150))
    templates = render.synthesize(spec)
    parts = placement.place(spec)
    root = templates["main.yaml"]
    first, later = parts[0].services[0], parts[2].services[0]
    assert naming_of(first, "ImageUri") in root["Parameters"]
    assert naming_of(later, "ImageUri") not in root["Parameters"]
    td = templates[f"{parts[2].stack('services')}.yaml"]["Resources"][naming_of(later, "TaskDefinition")]
    image = td["Properties"]["ContainerDefinitions"][0]["Image"]
    assert image == next(s for s in spec.services if s.name == later).image.default
    assert naming_of(later, "ServiceArn") not in root.get("Outputs", {})
    assert naming_of(first, "ServiceArn") in root["Outputs"]
    big = parse_spec(with_services(300))
    grown_set = render.synthesize(big)
    grown = grown_set["main.yaml"]
    assert len(grown["Parameters"]) == len(root["Parameters"])
    # Over one operation's quota the platform is several root stacks (generator.roots): the base
    # root also outputs what later roots read from it, one per shared item they use (here the
    # EFS access points of their services), never one per service.
    extra = set(grown["Outputs"]) - set(root["Outputs"])
    read = {n for f in rootset.root_files(grown_set)[1:] for n in rootset.from_outputs(grown_set[f])}
    assert extra and extra <= read
    assert not [o for o in extra for s in big.services if o.startswith(naming_of(s.name, ""))]


def test_the_parent_maps_each_service_to_its_groups_stacks() -> None:
    spec = parse_spec(with_services(60))
    groups = render.synthesize(spec)["main.yaml"]["Metadata"]["stackgen"]["service_groups"]
    assert groups["default-2"]["stacks"] == [f"{s}-default-2" for s in GROUPED]
    assert sorted(n for g in groups.values() for n in g["services"]) == sorted(s.name for s in spec.services)
    assert "service_groups" not in render.synthesize(parse_spec(with_services(2)))["main.yaml"]["Metadata"]["stackgen"]
