"""`stackgen plan`: one spec change per kind, each with its exact classification."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import plan, synth
from generator.cfn.load import load_dir
from generator.cli import main
from tests.helpers import PLATFORMS, ROOT

BFF = ROOT / "platforms" / "bff-agentcore.yaml"
BFF_TEMPLATES = ROOT / "templates" / "bff-agentcore"


@pytest.fixture(scope="module")
def bff() -> dict[str, Any]:
    return yaml.safe_load(BFF.read_text(encoding="utf-8"))


def plan_of(
    spec: dict[str, Any],
    tmp_path: Path,
    against: Path = BFF_TEMPLATES,
    env: str | None = None,
    values: dict[str, str] | None = None,
) -> plan.Plan:
    path = tmp_path / "bff-agentcore.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    new = synth.synthesize_checked(path).templates
    return plan.compare(load_dir(against), new, env=env, values=values, spec=str(path), against=str(against))


def rows(p: plan.Plan) -> dict[tuple[str, str], plan.Change]:
    return {(s.stack, c.logical_id): c for s in p.stacks for c in s.changes}


def actions(p: plan.Plan) -> dict[tuple[str, str], str]:
    return {k: c.action for k, c in rows(p).items()}


@pytest.mark.parametrize("spec", PLATFORMS, ids=lambda p: p.stem)
def test_no_change_against_the_committed_templates(spec: Path) -> None:
    new = synth.synthesize_checked(spec).templates
    p = plan.compare(load_dir(ROOT / "templates" / spec.stem), new)
    assert not p.changed
    assert p.rows() == [] and p.parameters == []
    assert {s.status for s in p.stacks} == {"unchanged"}


def test_add_a_service(bff: dict[str, Any], tmp_path: Path) -> None:
    spec = copy.deepcopy(bff)
    worker = copy.deepcopy(next(s for s in spec["services"] if s["name"] == "agentcore"))
    worker.update(name="worker")
    for field in ("discovery", "allow_from"):
        worker.pop(field)
    spec["services"].append(worker)
    p = plan_of(spec, tmp_path)
    got = actions(p)
    for key in [
        ("ServicesDatabaseStack", "WorkerService"),
        ("ServicesDatabaseStack", "WorkerTaskDefinition"),
        ("SecurityGroupsDatabaseStack", "WorkerServiceSecurityGroup"),
        ("IamDatabaseStack", "WorkerTaskRole"),
        ("IamDatabaseStack", "WorkerExecutionRole"),
    ]:
        assert got.get(key) == "add", key
    # adding a service replaces and removes nothing: every other row is an addition or an in-place update
    assert set(got.values()) <= {"add", "modify"}, {k: a for k, a in got.items() if a not in ("add", "modify")}
    assert not any(c.needs_confirmation for c in p.rows())
    assert p.summary()["stacks_added"] == 0 and p.changed


def test_create_only_property_of_the_database_replaces_it(bff: dict[str, Any], tmp_path: Path) -> None:
    spec = copy.deepcopy(bff)
    spec["database"]["database_name"] = "appdata"  # DatabaseName: create-only on AWS::RDS::DBCluster
    p = plan_of(spec, tmp_path)
    r = rows(p)
    cluster = r[("DatabaseStack", "DatabaseCluster")]
    assert (cluster.action, cluster.properties, cluster.stateful) == ("replace", ["DatabaseName"], "database")
    assert cluster.needs_confirmation
    # the instance's DBClusterIdentifier (create-only) takes the new cluster's id: replaced too
    instance = r[("DatabaseStack", "DatabaseInstance")]
    assert (instance.action, instance.properties, instance.follows) == (
        "replace",
        ["DBClusterIdentifier"],
        ["DatabaseCluster"],
    )
    # the tasks read the new endpoint through the parent: new task definitions, across stacks
    td = r[("ServicesDatabaseStack", "BffTaskDefinition")]
    assert (td.action, td.follows) == ("replace", ["DatabaseStack/DatabaseCluster"])
    assert r[("ServicesDatabaseStack", "BffService")].action == "modify"
    assert p.summary()["needs_confirmation"] == 2


def test_engine_change_may_replace_the_database(bff: dict[str, Any], tmp_path: Path) -> None:
    spec = copy.deepcopy(bff)
    spec["database"].update(engine="aurora-mysql", engine_version="8.0.mysql_aurora.3.08.2")
    cluster = rows(plan_of(spec, tmp_path))[("DatabaseStack", "DatabaseCluster")]
    assert cluster.action in ("replace", "replace-conditional") and cluster.needs_confirmation


def test_mutable_property_is_an_update_in_place(bff: dict[str, Any], tmp_path: Path) -> None:
    spec = copy.deepcopy(bff)
    spec["database"]["backup_retention_days"] = 14
    p = plan_of(spec, tmp_path)
    assert actions(p) == {("DatabaseStack", "DatabaseCluster"): "modify"}
    cluster = p.rows()[0]
    assert cluster.properties == ["BackupRetentionPeriod"] and not cluster.needs_confirmation
    assert cluster.stateful == "database"  # stateful, but an update in place needs no confirmation


def test_remove_a_bucket(bff: dict[str, Any], tmp_path: Path) -> None:
    spec = copy.deepcopy(bff)
    spec["buckets"] = []
    agent = next(s for s in spec["services"] if s["name"] == "agentcore")
    agent["task_permissions"] = [t for t in agent["task_permissions"] if not t["sid"].startswith("AgentData")]
    p = plan_of(spec, tmp_path)
    r = rows(p)
    bucket = next(c for k, c in r.items() if c.type == "AWS::S3::Bucket" and "AgentData" in k[1])
    assert (bucket.action, bucket.stateful, bucket.needs_confirmation) == ("remove", "bucket", True)
    assert bucket.note == "DeletionPolicy Retain: the old resource is kept, outside the stack"
    assert all(c.action in ("remove", "modify", "replace") for c in r.values())
    # the storage stack held only the buckets: the nested stack goes with them
    assert [(s.stack, s.status) for s in p.stacks if s.status in ("added", "removed")] == [("StorageStack", "removed")]


def test_a_service_moved_between_nested_stacks_is_delete_and_create(tmp_path: Path, bff: dict[str, Any]) -> None:
    against = tmp_path / "against"
    shutil.copytree(BFF_TEMPLATES, against)
    services, autoscaling = against / "services-database.yaml", against / "autoscaling-database.yaml"
    loaded = load_dir(against)
    t_services, t_auto = loaded["services-database.yaml"], loaded["autoscaling-database.yaml"]
    for lid in ("BffService", "BffLogGroup"):  # by hand: the service and its log group lived elsewhere
        t_auto["Resources"][lid] = t_services["Resources"].pop(lid)
    services.write_text(json.dumps(t_services), encoding="utf-8")
    autoscaling.write_text(json.dumps(t_auto), encoding="utf-8")
    p = plan_of(copy.deepcopy(bff), tmp_path, against=against)
    r = rows(p)
    assert r[("AutoscalingDatabaseStack", "BffService")].action == "move-out"
    assert r[("ServicesDatabaseStack", "BffService")].action == "move-in"
    assert not r[("ServicesDatabaseStack", "BffService")].needs_confirmation  # a service holds no data
    log_out = r[("AutoscalingDatabaseStack", "BffLogGroup")]
    assert (log_out.action, log_out.stateful, log_out.needs_confirmation) == ("move-out", "log group", True)
    assert r[("ServicesDatabaseStack", "BffLogGroup")].action == "move-in"
    assert log_out.note.startswith("moved to ServicesDatabaseStack: CloudFormation deletes the live resource here")
    assert p.summary()["move-out"] == 2


def test_env_sees_only_its_own_mapping_row(tmp_path: Path, bff: dict[str, Any]) -> None:
    against = tmp_path / "against"
    shutil.copytree(BFF_TEMPLATES, against)
    t = load_dir(against)
    sizing = t["services-database.yaml"]["Mappings"]
    name = next(iter(sizing))
    sizing[name]["prod"] = {k: str(int(v) * 2) for k, v in sizing[name]["prod"].items()}
    (against / "services-database.yaml").write_text(json.dumps(t["services-database.yaml"]), encoding="utf-8")
    spec = copy.deepcopy(bff)
    dev = plan_of(spec, tmp_path, against=against, env="dev")
    assert dev.rows() == []
    assert [(s.stack, s.sections) for s in dev.stacks if s.status != "unchanged"] == [
        ("ServicesDatabaseStack", ["Mappings"])
    ]
    prod = plan_of(spec, tmp_path, against=against, env="prod")
    got = actions(prod)
    assert got[("ServicesDatabaseStack", "BffTaskDefinition")] == "replace"  # Cpu/Memory: create-only
    assert got[("ServicesDatabaseStack", "BffService")] == "modify"
    written = plan_of(spec, tmp_path, against=against)  # no --env: the mapping itself changed, no row
    assert written.rows() == []


def test_type_change_is_refused() -> None:
    old = {"main.yaml": {"Resources": {"X": {"Type": "AWS::SNS::Topic"}}}}
    new = {"main.yaml": {"Resources": {"X": {"Type": "AWS::SQS::Queue"}}}}
    (change,) = plan.compare(old, new).rows()
    assert change.action == "type-change" and "refuses" in change.note


def test_cli_exit_codes_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bff: dict[str, Any]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["plan", str(BFF)]) == 0
    assert "No changes" in capsys.readouterr().out
    assert main(["plan", str(BFF), "--against", "HEAD", "--json"]) == 0  # the committed templates, git show
    assert json.loads(capsys.readouterr().out)["changed"] is False
    spec = copy.deepcopy(bff)
    spec["database"]["database_name"] = "appdata"
    path = tmp_path / "bff-agentcore.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert main(["plan", str(path), "--against", str(BFF_TEMPLATES), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["needs_confirmation"] == 2 and data["changed"] is True
    db = next(s for s in data["stacks"] if s["stack"] == "DatabaseStack")
    assert {c["logical_id"]: c["action"] for c in db["changes"]}["DatabaseCluster"] == "replace"
    assert main(["plan", str(path), "--against", str(BFF_TEMPLATES)]) == 1
    out = capsys.readouterr().out
    assert "DatabaseCluster" in out and "<== STATEFUL DATABASE: needs confirmation" in out
    assert main(["plan", str(BFF), "--against", "no-such-dir-or-ref"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "--against no-such-dir-or-ref: neither a directory nor a git commit, branch or tag"
    )
    assert main(["plan", str(BFF), "--env", "staging"]) == 2
    assert capsys.readouterr().err.strip() == "--env staging: not one of dev, test, prod"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert main(["plan", str(bad), "--against", str(BFF_TEMPLATES)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:") and "Traceback" not in err
