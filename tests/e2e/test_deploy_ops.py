"""Offline tests of the deploy side's decisions (no emulator): replacement from the resource
schemas, accepted replacements, public-IP tasks, the parent's Rules checked before upload,
one-line errors for a lost endpoint, and the change-set guard against concurrent deploys."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from e2e_support import ROOT

from generator.deploy import _aws, changeset, exposure, images, params
from generator.deploy._aws import load_template

MCP = ROOT / "templates" / "mcp-gateway" / "main.yaml"


# --- 1. replacement from the schemas ----------------------------------------------------------


def _change(rtype: str, props: list[str], replacement: str = "False", evaluation: str = "Static") -> dict:
    return {
        "Action": "Modify",
        "LogicalResourceId": "Thing",
        "ResourceType": rtype,
        "Replacement": replacement,
        "Details": [{"Target": {"Attribute": "Properties", "Name": p}, "Evaluation": evaluation} for p in props],
    }


def test_a_modify_of_a_create_only_property_is_a_replacement() -> None:
    # the change set says Modify / Replacement False; DatabaseName is create-only in the schema
    row = changeset.row_of(_change("AWS::RDS::DBCluster", ["DatabaseName"]), "DatabaseStack", False)
    assert (row.verb, row.stateful) == ("Replace", "database")
    assert "create-only in the resource schema; the change set said Replacement False" in row.note


def test_an_engine_change_may_replace_the_database() -> None:
    # Engine is conditionally create-only (aurora-mysql -> aurora-postgresql replaces)
    row = changeset.row_of(_change("AWS::RDS::DBCluster", ["Engine"]), "DatabaseStack", False)
    assert (row.verb, row.stateful) == ("Replace?", "database")


def test_a_mutable_property_stays_a_modify() -> None:
    row = changeset.row_of(_change("AWS::RDS::DBCluster", ["BackupRetentionPeriod"]), "DatabaseStack", False)
    assert (row.verb, row.stateful) == ("Modify", None)


@pytest.mark.parametrize(
    ("rtype", "prop", "kind"),
    [
        ("AWS::EFS::FileSystem", "Encrypted", "file system"),
        ("AWS::S3::Bucket", "BucketName", "bucket"),
        ("AWS::KMS::Key", "KeySpec", None),  # KeySpec is not create-only: an update in place
        ("AWS::SecretsManager::Secret", "Name", "secret"),
        ("AWS::ECR::Repository", "RepositoryName", "container registry"),
        ("AWS::Logs::LogGroup", "LogGroupName", "log group"),
    ],
)
def test_each_stateful_kind_is_flagged_on_replacement(rtype: str, prop: str, kind: str | None) -> None:
    row = changeset.row_of(_change(rtype, [prop]), "S", False)
    if kind is None:
        assert row.stateful is None
    else:
        assert row.stateful and kind in row.stateful.lower(), (row.stateful, kind)
        assert row.verb == "Replace"


def test_a_removed_stateful_resource_is_a_risk() -> None:
    row = changeset.row_of(
        {"Action": "Remove", "LogicalResourceId": "Key", "ResourceType": "AWS::KMS::Key"}, "SecretsStack", False
    )
    assert row.stateful


def test_accepted_replacements_by_path_or_unique_logical_id() -> None:
    risky = ["DatabaseStack/DatabaseCluster", "DatabaseStack/DatabaseInstance", "A/LogGroup", "B/LogGroup"]
    assert changeset.unaccepted(risky, []) == risky
    assert changeset.unaccepted(risky, ["DatabaseStack/DatabaseCluster,DatabaseInstance"]) == [
        "A/LogGroup",
        "B/LogGroup",
    ]
    # a logical ID that two rows have names neither: the path is needed
    assert changeset.unaccepted(risky, ["LogGroup"]) == risky
    assert changeset.unaccepted(risky, ["A/LogGroup", "B/LogGroup", "DatabaseCluster", "DatabaseInstance"]) == []


# --- 4. images --------------------------------------------------------------------------------


def _images(present: bool | None, uri: str | None = "1.dkr.ecr.us-east-1.amazonaws.com/p/keycloak"):
    entry = {
        "service": "keycloak",
        "parameter": "KeycloakImageReady",
        "repository_output": "KeycloakRepositoryUri",
        "tag_parameter": "KeycloakImageTag",
    }
    return [images.Image(entry, "v1", uri, present)]


def test_first_deploy_sets_every_image_not_ready() -> None:
    d = images.decide(_images(None, None), "NONE", {}, allow_missing=False)
    assert d.values == {"KeycloakImageReady": "false"} and not d.refused


def test_later_deploy_needs_the_image_or_the_flag() -> None:
    assert images.decide(_images(True), "UPDATE_COMPLETE", {}, False).values == {"KeycloakImageReady": "true"}
    refused = images.decide(_images(False), "UPDATE_COMPLETE", {}, False)
    assert refused.refused and not refused.values
    allowed = images.decide(_images(False), "UPDATE_COMPLETE", {}, True)
    assert allowed.values == {"KeycloakImageReady": "false"}
    assert any("scales to 0" in n for n in allowed.notes)
    # "false" in the parameters file is kept as given
    kept = images.decide(_images(False), "UPDATE_COMPLETE", {"KeycloakImageReady": "false"}, False)
    assert not kept.values and not kept.refused


def test_push_commands_name_the_registry_and_the_image() -> None:
    args = argparse.Namespace(region="us-east-1", endpoint_url="http://127.0.0.1:4566")
    lines = images.push_commands(args, _images(False))
    assert lines[1].strip() == (
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws ecr get-login-password "
        "--region us-east-1 --endpoint-url http://127.0.0.1:4566 | docker login --username AWS "
        "--password-stdin 1.dkr.ecr.us-east-1.amazonaws.com"
    )
    assert lines[2].strip() == "docker push 1.dkr.ecr.us-east-1.amazonaws.com/p/keycloak:v1"
    real = images.push_commands(argparse.Namespace(region="eu-west-1", endpoint_url=None), _images(False))
    assert real[1].strip().startswith("aws ecr get-login-password --region eu-west-1 | docker login")


def test_the_committed_metadata_names_existing_parameters_and_outputs() -> None:
    for main_path in sorted((ROOT / "templates").glob("*/main.yaml")):
        main = load_template(main_path)
        for entry in images.entries(main):
            assert entry["parameter"] in main["Parameters"], entry
            assert entry["tag_parameter"] in main["Parameters"], entry
            assert entry["repository_output"] in main["Outputs"], entry


# --- 5. public IPs ----------------------------------------------------------------------------


def _public_ip_dir(tmp_path: Path, assign) -> Path:
    out = tmp_path / "t"
    shutil.copytree(ROOT / "templates" / "scheduled-file-writer", out)
    services = load_template(out / "services.yaml")
    services.setdefault("Conditions", {})["IsDev"] = {"Fn::Equals": [{"Ref": "Environment"}, "dev"]}
    schedule = services["Resources"]["WriterSchedule"]
    net = schedule["Properties"]["Target"]["EcsParameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    net["AssignPublicIp"] = assign
    schedule["Metadata"] = {"stackgen": {"public_ip": {"reason": "no NAT in the dev account yet"}}}
    (out / "services.yaml").write_text(yaml.safe_dump(services, sort_keys=False))
    return out


def test_public_ip_warning_names_the_platform_and_reason(tmp_path: Path) -> None:
    found = exposure.public_ip_tasks(_public_ip_dir(tmp_path, "ENABLED"), "prod")
    assert found == [("services.yaml/WriterSchedule", "no NAT in the dev account yet")]
    assert exposure.warning("sfw", "prod", found) == (
        "WARNING: sfw (prod) gives every task a public IP in a public subnet (network.egress: public-ip): "
        "no NAT in the dev account yet. Tasks are exposed to the internet except as their security groups "
        "allow; prefer vpc-endpoints or a NAT."
    )


def test_public_ip_per_environment(tmp_path: Path) -> None:
    tdir = _public_ip_dir(tmp_path, {"Fn::If": ["IsDev", "ENABLED", "DISABLED"]})
    assert exposure.public_ip_tasks(tdir, "dev")
    assert exposure.public_ip_tasks(tdir, "prod") == []


def test_committed_platforms_give_no_task_a_public_ip() -> None:
    for tdir in sorted((ROOT / "templates").iterdir()):
        assert exposure.public_ip_tasks(tdir, "prod") == [], tdir


# --- 7. errors that are one line --------------------------------------------------------------


def test_domain_without_zone_is_one_line_naming_the_file_and_fields() -> None:
    main = load_template(MCP)
    values = params.read_params_file(ROOT / "parameters" / "mcp-gateway" / "dev.json")
    assert params.rule_problems(main, values, "p.json") == []
    problems = params.rule_problems(main, {**values, "BaseDomain": "example.com", "HostedZoneId": ""}, "p.json")
    assert problems == [
        "p.json: BaseDomain, HostedZoneId: With BaseDomain set, HostedZoneId must name its public "
        "Route 53 hosted zone (DNS validation and alias records) (rule DomainNeedsHostedZone of "
        "the template)"
    ]
    assert params.rule_problems(main, {**values, "BaseDomain": "example.com", "HostedZoneId": "Z123"}, "p.json") == []


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ],
)
def test_a_lost_endpoint_is_one_line_and_exit_3(exc, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PROG", "deploy.sh")
    monkeypatch.setenv("STACKGEN_ON_ENDPOINT_LOSS", "run the same deploy.sh command again")

    def main() -> int:
        raise exc

    assert _aws.guard(main) == _aws.EXIT_ENDPOINT
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("deploy.sh: error: http://127.0.0.1:9 ")
    assert err.rstrip().endswith("run the same deploy.sh command again")


def test_a_bug_says_it_is_a_bug(capsys) -> None:
    def main() -> int:
        raise KeyError("x")

    assert _aws.guard(main) == 1
    err = capsys.readouterr().err
    assert "internal error (a bug in stackgen" in err and len(err.splitlines()) == 1


def test_waits_are_bounded() -> None:
    connect, read, attempts = _aws.TIMEOUTS_LOOPBACK
    assert (connect + read) * attempts <= 60  # a frozen emulator is given up on within a minute


def test_the_default_timeouts_are_what_the_clients_get(monkeypatch) -> None:
    """The product's defaults (docs/deploy.md); the frozen-endpoint e2e test runs with short ones
    (STACKGEN_LOOPBACK_TIMEOUTS), so this pins what a user gets without it."""
    monkeypatch.delenv(_aws.LOOPBACK_TIMEOUTS_ENV, raising=False)
    assert _aws.TIMEOUTS_LOOPBACK == (3, 10, 3) and _aws.TIMEOUTS_AWS == (10, 30, 6)
    assert _aws.timeouts("http://127.0.0.1:4566") == (3, 10, 3)
    assert _aws.timeouts("http://localhost:4566") == (3, 10, 3)
    assert _aws.timeouts(None) == (10, 30, 6)
    assert _aws.timeouts("https://cloudformation.us-east-1.amazonaws.com") == (10, 30, 6)
    # clients are cached per endpoint: a port of this test's own (nothing listens on it)
    config = _aws.client("sts", endpoint_url="http://127.0.0.1:1", region="us-east-1").meta.config
    # botocore keeps ``max_attempts`` (retries) as total_max_attempts, the first call included
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (3, 10, 4)


def test_loopback_timeouts_from_the_environment_reach_the_clients_and_never_aws(monkeypatch) -> None:
    monkeypatch.setenv(_aws.LOOPBACK_TIMEOUTS_ENV, "1,2.5,2")
    assert _aws.timeouts("http://127.0.0.1:4566") == (1.0, 2.5, 2)
    assert _aws.timeouts(None) == _aws.TIMEOUTS_AWS
    assert _aws.timeouts("https://cloudformation.us-east-1.amazonaws.com") == _aws.TIMEOUTS_AWS
    config = _aws.client("sts", endpoint_url="http://127.0.0.1:2", region="us-east-1").meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (1.0, 2.5, 3)


@pytest.mark.parametrize("value", ["3,10", "a,b,c", "0,10,3", "3,10,0", "3,10,1.5", "3,10,3,4"])
def test_malformed_loopback_timeouts_are_one_line_and_exit_2(value, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PROG", "deploy.sh")
    monkeypatch.setenv(_aws.LOOPBACK_TIMEOUTS_ENV, value)
    with pytest.raises(SystemExit) as exc:
        _aws.timeouts("http://127.0.0.1:4566")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"deploy.sh: error: {_aws.LOOPBACK_TIMEOUTS_ENV}=")


class _FakeCfn:
    def __init__(self, summaries):
        self.summaries = summaries

    def list_change_sets(self, StackName):  # noqa: N803 - boto3's name
        return {"Summaries": self.summaries}


def test_a_change_set_of_ours_in_progress_means_another_deploy() -> None:
    busy = _FakeCfn(
        [
            {"ChangeSetName": "stackgen-1", "Status": "CREATE_IN_PROGRESS", "ExecutionStatus": "UNAVAILABLE"},
            {"ChangeSetName": "stackgen-2", "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"},
            {"ChangeSetName": "someone-else", "Status": "CREATE_IN_PROGRESS"},
        ]
    )
    assert changeset.busy_change_sets(busy, "s") == ["stackgen-1 (CREATE_IN_PROGRESS, UNAVAILABLE)"]
    running = _FakeCfn(
        [{"ChangeSetName": "stackgen-3", "Status": "CREATE_COMPLETE", "ExecutionStatus": "EXECUTE_IN_PROGRESS"}]
    )
    assert changeset.busy_change_sets(running, "s") == ["stackgen-3 (CREATE_COMPLETE, EXECUTE_IN_PROGRESS)"]
    assert changeset.busy_change_sets(_FakeCfn([]), "s") == []


# --- 2. retain_on_delete -----------------------------------------------------------------------


def test_retain_on_delete_is_read_per_environment() -> None:
    from generator.deploy import survivors

    main = {"Metadata": {"stackgen": {"retain_on_delete": {"dev": False, "prod": True}}}}
    assert survivors.retain_on_delete(main, "dev") == "false"
    assert survivors.retain_on_delete(main, "prod") == "true"
    assert survivors.retain_on_delete(main, "test") == "unknown"  # not stated: nothing is purged
    assert survivors.retain_on_delete({}, "dev") == "unknown"
