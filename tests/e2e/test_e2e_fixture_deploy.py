"""deploy.sh / delete.sh end to end on a small hand-made nested-stack set (tests/e2e/fixtures).

The fixture holds what the MCP platform cannot show cheaply: a NoEcho
parameter kept across updates, an SSM value to read back, a database whose replacement is
driven by a parameter, retained EFS/log group/ECR, a final DB snapshot, a failed delete.
"""

from __future__ import annotations

import pytest
from e2e_support import (
    FIXTURES,
    copy_templates,
    inject_broken_resource,
    pending_change_sets,
    read_params,
    run_printed,
    stack_outputs,
    stack_status,
    write_params,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-fixture")]  # ordered lifecycle

FX = FIXTURES / "nested"
PASSWORD = "fixture-Pa55word-never-printed"
STACK = "fx-life"


def _args(params, stack=STACK, template_dir=FX, *extra):
    return [
        "--platform",
        "fixture",
        "--env",
        "dev",
        "--stack-name",
        stack,
        "--template-dir",
        str(template_dir),
        "--params-file",
        str(params),
        *extra,
    ]


@pytest.fixture(scope="module")
def params_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fx-params")


@pytest.fixture(scope="module")
def base_params():
    return read_params(FX / "params" / "dev.json")


class TestLifecycle:
    """Ordered: create, update, review, replace, delete of one stack (the MCP suite covers
    the no-change re-deploy and a plain modify)."""

    def test_create(self, scripts, aws, params_dir, base_params):
        params = write_params(params_dir / "v1.json", base_params)
        run = scripts.deploy(*_args(params), env={"STACKGEN_PARAM_DbMasterPassword": PASSWORD})
        assert run.code == 0, run
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) == "CREATE_COMPLETE"
        outputs = stack_outputs(cfn, STACK)
        assert set(outputs) == {"VpcId", "AppVersionParameter", "DbEndpoint", "FileSystemId"}
        assert all(outputs.values()), outputs
        assert outputs["VpcId"].startswith("vpc-")
        assert f"Outputs of {STACK}" in run.out and outputs["VpcId"] in run.out
        # events of the nested stacks were streamed, with their path
        assert "Network/Vpc" in run.out and "Data/Database" in run.out
        assert PASSWORD not in run.out
        # the artifact bucket is encrypted, private and versioned
        s3 = aws("s3")
        bucket = "stackgen-artifacts-000000000000-us-east-1"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{STACK}/")["Contents"]]
        assert len(keys) == 3 and all(k.endswith(".template") for k in keys), keys

    def test_parameter_change_updates_through_the_service_api(self, scripts, aws, params_dir, base_params):
        params = write_params(params_dir / "v2.json", {**base_params, "AppVersion": "2.0.0"})
        # no STACKGEN_PARAM_DbMasterPassword: an update keeps the previous secret
        run = scripts.deploy(*_args(params))
        assert run.code == 0, run
        assert "1 secret(s) kept from the stack" in run.out
        assert "Network/AppVersionParameter" in run.out  # in the change-set summary
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) == "UPDATE_COMPLETE"
        name = stack_outputs(cfn, STACK)["AppVersionParameter"]
        assert aws("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "2.0.0"

    def test_review_flags_a_replaced_database_and_needs_confirmation(self, scripts, aws, params_dir, base_params):
        params = write_params(params_dir / "v3.json", {**base_params, "AppVersion": "2.0.0", "DatabaseName": "otherdb"})
        rds = aws("rds")
        clusters = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
        run = scripts.deploy(*_args(params, STACK, FX, "--review"))
        assert run.code == 1, run
        line = next(x for x in run.out.splitlines() if "Data/Database " in x)
        assert "Replace" in line and "DatabaseName" in line and "STATEFUL DATABASE" in line
        assert "WARNING: 1 stateful resource(s) would be replaced" in run.out
        assert "confirmation is required and stdin is not a terminal" in run.out
        # --yes (given below) is not enough: the refusal names the flag exactly as typed
        assert "re-run with --accept-replacement Data/Database" in run.out
        # nothing changed, and the change set was cleaned up
        assert {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]} == clusters
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) == "UPDATE_COMPLETE"
        assert not pending_change_sets(cfn, STACK)

    def test_replacement_runs_with_yes_as_predicted(self, scripts, aws, params_dir):
        rds = aws("rds")
        before = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
        run = scripts.deploy(*_args(params_dir / "v3.json", STACK, FX, "--review", "--yes"))
        assert run.code == 1, run  # --yes alone never accepts a stateful replacement
        assert "not executed: stateful resources would be replaced" in run.out
        # the refusal ends with the command to run, flag included: run it as printed
        printed = run.out.split("re-run with --accept-replacement Data/Database: ", 1)[1].splitlines()[0]
        assert printed.endswith(" --accept-replacement Data/Database")
        done = run_printed(printed)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "accepted (--accept-replacement Data/Database)" in done.stdout
        after = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
        assert after != before  # really replaced, as the summary said
        assert any(c["DatabaseName"] == "otherdb" for c in rds.describe_db_clusters()["DBClusters"])
        # UpdateReplacePolicy: Snapshot left a snapshot of the replaced cluster
        snapshots = {s["DBClusterIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]}
        assert before - after <= snapshots, (before - after, snapshots)

    def test_delete_reports_what_survives(self, scripts, aws):
        cfn = aws("cloudformation")
        fs_id = stack_outputs(cfn, STACK)["FileSystemId"]
        run = scripts.delete(
            "--platform", "fixture", "--env", "dev", "--stack-name", STACK, "--yes", "--purge-artifacts"
        )
        assert run.code == 0, run
        assert stack_status(cfn, STACK) is None
        # listed before the delete, checked after it through the service APIs
        assert f"Data/FileSystem (AWS::EFS::FileSystem {fs_id}): retained" in run.out
        assert "Data/Database (AWS::RDS::DBCluster" in run.out
        assert "final snapshot(s): " in run.out
        assert "survivor(s) listed above are as expected" in run.out
        assert run.out.count(f"Data/FileSystem (AWS::EFS::FileSystem {fs_id})") == 1  # listed once
        assert aws("efs").describe_file_systems(FileSystemId=fs_id)["FileSystems"]
        groups = aws("logs").describe_log_groups(logGroupNamePrefix="/stackgen-fixture/fx-life")
        assert groups["logGroups"], "the retained log group is gone"
        assert aws("rds").describe_db_cluster_snapshots()["DBClusterSnapshots"]
        versions = aws("s3").list_object_versions(
            Bucket="stackgen-artifacts-000000000000-us-east-1", Prefix=f"{STACK}/"
        )
        assert not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_broken_nested_template_rolls_back_and_names_the_resource(scripts, aws, tmp_path, base_params):
    broken = copy_templates(FX, tmp_path / "broken")
    inject_broken_resource(broken / "data.yaml")
    params = write_params(tmp_path / "p.json", base_params)
    env = {"STACKGEN_PARAM_DbMasterPassword": PASSWORD}
    run = scripts.deploy(*_args(params, "fx-broken", broken), env=env)
    assert run.code == 1, run
    cfn = aws("cloudformation")
    assert stack_status(cfn, "fx-broken") == "ROLLBACK_COMPLETE"
    assert "Root cause (first failure, in nested stack Data)" in run.out
    cause = run.out.split("Root cause", 1)[1]
    assert "Data/BrokenParameter (AWS::SSM::Parameter): CREATE_FAILED" in cause
    assert "Bogus" in cause
    # the rollback removed what the nested stacks had created
    assert not [p for p in aws("ssm").describe_parameters()["Parameters"] if "fx-broken" in p["Name"]]
    # a fixed template deploys over the ROLLBACK_COMPLETE stack (deleted first)
    run = scripts.deploy(*_args(params, "fx-broken"), env=env)
    assert run.code == 0, run
    assert "is ROLLBACK_COMPLETE" in run.out
    assert stack_status(cfn, "fx-broken") == "CREATE_COMPLETE"


def test_failed_delete_is_reported_and_exits_non_zero(scripts, aws, tmp_path):
    """A repository that is not retained and still holds an image cannot be deleted; both
    it and a deletion-protected database are announced before the delete."""
    tdir = tmp_path / "repo"
    tdir.mkdir()
    (tdir / "main.yaml").write_text(
        "Resources:\n"
        "  Repo:\n"
        "    Type: AWS::ECR::Repository\n"
        "    Properties: {RepositoryName: fx-delete-fails}\n"
        "  Db:\n"
        "    Type: AWS::RDS::DBCluster\n"
        "    Properties: {Engine: aurora-postgresql, MasterUsername: app,\n"
        "                 MasterUserPassword: not-a-secret-1, DeletionProtection: true}\n"
    )
    params = write_params(tmp_path / "p.json", {})
    run = scripts.deploy(
        "--platform",
        "fixture",
        "--env",
        "dev",
        "--stack-name",
        "fx-repo",
        "--template-dir",
        str(tdir),
        "--params-file",
        str(params),
    )
    assert run.code == 0, run
    manifest = (
        '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", '
        '"config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:'
        + "a" * 64
        + '"}, "layers": []}'
    )
    aws("ecr").put_image(repositoryName="fx-delete-fails", imageManifest=manifest, imageTag="v1")
    run = scripts.delete("--platform", "fixture", "--env", "dev", "--stack-name", "fx-repo", "--yes")
    assert run.code == 1, run
    assert "WARNING: Repo (AWS::ECR::Repository fx-delete-fails): holds 1 image(s)" in run.out
    assert "WARNING: Db (AWS::RDS::DBCluster" in run.out and "deletion protection is on" in run.out
    failed = run.out.split("DELETE_FAILED:", 1)[1]
    assert "Repo (AWS::ECR::Repository)" in failed
    assert "Db (AWS::RDS::DBCluster)" in failed and "Cannot delete protected Cluster" in failed
    assert "still exists (DELETE_FAILED)" in run.out
    assert stack_status(aws("cloudformation"), "fx-repo") == "DELETE_FAILED"


def test_unconfirmed_first_deploy_leaves_no_stack_behind(scripts, aws, tmp_path, base_params):
    """--review without a terminal: the CREATE change set and its placeholder stack go."""
    params = write_params(tmp_path / "p.json", base_params)
    run = scripts.deploy(
        *_args(params, "fx-unconfirmed", FX, "--review"), env={"STACKGEN_PARAM_DbMasterPassword": PASSWORD}
    )
    assert run.code == 1, run
    assert "+ Add       Data/Database" in run.out  # the review lists every add
    assert "confirmation is required" in run.out
    assert stack_status(aws("cloudformation"), "fx-unconfirmed") in (None, "DELETE_COMPLETE")
