"""deploy.sh / delete.sh end to end on the MCP Gateway platform, from the committed
templates/mcp-gateway/ (the bytes that go to AWS); the tests that need a modified template
change a copy of them."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from e2e_support import (
    ROOT,
    copy_templates,
    inject_broken_resource,
    pending_change_sets,
    push_images,
    read_params,
    stack_outputs,
    stack_status,
    write_params,
)

from generator.deploy._aws import load_template
from generator.deploy.nested import condition_value as nested_condition

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-mcp")]  # ordered lifecycle

PLATFORM = "mcp-gateway"
STACK = f"{PLATFORM}-dev"
SECRET = {"STACKGEN_PARAM_KeycloakAdminPassword": "local-Keycloak-admin-9"}
DEV_PARAMS = ROOT / "parameters" / PLATFORM / "dev.json"


@pytest.fixture(scope="module")
def aws_templates(tmp_path_factory):
    out = tmp_path_factory.mktemp("mcp-aws") / "templates"
    shutil.copytree(ROOT / "templates" / PLATFORM, out)
    return out


@pytest.fixture(scope="module")
def updated_params(tmp_path_factory):
    values = read_params(DEV_PARAMS)
    assert values["DatabaseMaxAcu"] != "4"
    return write_params(tmp_path_factory.mktemp("mcp-params") / "dev.json", {**values, "DatabaseMaxAcu": "4"})


def _cluster(aws, stack: str = STACK) -> dict:
    clusters = [
        c for c in aws("rds").describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"].startswith(stack.lower())
    ]
    assert len(clusters) == 1, clusters
    return clusters[0]


@pytest.fixture
def created(aws):
    """The later lifecycle steps need the stack test_create made."""
    if stack_status(aws("cloudformation"), STACK) not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        pytest.fail(f"{STACK} was not deployed: see test_create")


class TestLifecycle:
    """Ordered: create, update, no-op, review, delete, re-create of mcp-gateway-dev."""

    def test_create(self, scripts, aws):
        run = scripts.deploy("--platform", PLATFORM, "--env", "dev", env=SECRET)
        assert run.code == 0, run
        assert f"Templates: templates/{PLATFORM} (fresh)" in run.out
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) == "CREATE_COMPLETE"
        outputs = stack_outputs(cfn, STACK)
        for key in (
            "VpcId",
            "MainClusterArn",
            "KeycloakServiceArn",
            "DatabaseClusterEndpoint",
            "FileSystemId",
            "MainLoadBalancerUrl",
            "KmsKeyArn",
        ):
            assert outputs.get(key), (key, outputs)
        assert f"Outputs of {STACK}" in run.out and outputs["VpcId"] in run.out
        assert SECRET["STACKGEN_PARAM_KeycloakAdminPassword"] not in run.out
        nested = [
            s
            for s in cfn.list_stacks()["StackSummaries"]
            if s["StackName"].startswith(f"{STACK}-") and s["StackStatus"] == "CREATE_COMPLETE"
        ]
        main = load_template(ROOT / "templates" / PLATFORM / "main.yaml")
        values = {k: str(v.get("Default", "")) for k, v in main["Parameters"].items()}
        values.update(read_params(DEV_PARAMS))
        expected = [
            k
            for k, r in main["Resources"].items()
            if "Condition" not in r or nested_condition(r["Condition"], main, values) is not False
        ]
        assert len(nested) == len(expected), (expected, [s["StackName"] for s in nested])
        # what the emulator profile used to leave out is there, through the service APIs
        ec2 = aws("ec2")
        assert len([n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]) == 3
        # physical names carry StackUid: the first block of the UUID in the root stack's ID
        uid = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"].split("/")[2].split("-")[0]
        assert aws("rds").describe_db_proxies(DBProxyName=f"{STACK}-{uid}-db-proxy")["DBProxies"]
        assert aws("rds").describe_db_proxy_targets(DBProxyName=f"{STACK}-{uid}-db-proxy")["Targets"]
        targets = aws("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        assert len([t for t in targets if t["ResourceId"].startswith(f"service/{STACK}-")]) == 8
        assert len(ec2.describe_security_group_rules()["SecurityGroupRules"]) >= 62
        # Keycloak's image comes from the platform's own repository: no task on the first
        # deploy, and the push commands are printed; pushed here as a user would
        assert "KeycloakImageReady=false: first deploy" in run.out
        for image in push_images(aws, STACK, ROOT / "templates" / PLATFORM):
            assert f"docker push {image}" in run.out
        print(f"\nMCP create: {run.seconds:.1f} s")

    def test_parameter_change_is_visible_through_the_rds_api(self, created, scripts, aws, updated_params):
        assert _cluster(aws)["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 2.0
        run = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--params-file", str(updated_params))
        assert run.code == 0, run
        assert stack_status(aws("cloudformation"), STACK) == "UPDATE_COMPLETE"
        assert _cluster(aws)["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 4.0
        line = next(x for x in run.out.splitlines() if "DatabaseStack/DatabaseCluster " in x)
        assert "Modify" in line and "ServerlessV2ScalingConfiguration" in line
        assert "Replace" not in line and "STATEFUL" not in line
        print(f"\nMCP update: {run.seconds:.1f} s")

    def test_identical_redeploy_reports_no_changes(self, created, scripts, aws, updated_params):
        cfn = aws("cloudformation")
        before = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["LastUpdatedTime"]
        run = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--params-file", str(updated_params))
        assert run.code == 0, run
        assert "No changes: mcp-gateway-dev is up to date." in run.out
        assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["LastUpdatedTime"] == before

    def test_review_flags_a_replaced_database(self, created, scripts, aws, tmp_path, aws_templates, updated_params):
        changed = copy_templates(aws_templates, tmp_path / "templates")
        database = load_template(changed / "database.yaml")
        database["Resources"]["DatabaseCluster"]["Properties"]["DatabaseName"] = "keycloak2"
        (changed / "database.yaml").write_text(yaml.safe_dump(database, sort_keys=False))
        cluster = _cluster(aws)["DBClusterIdentifier"]
        run = scripts.deploy(
            "--platform",
            PLATFORM,
            "--env",
            "dev",
            "--review",
            "--template-dir",
            str(changed),
            "--params-file",
            str(updated_params),
        )
        assert run.code == 1, run
        line = next(x for x in run.out.splitlines() if "DatabaseStack/DatabaseCluster " in x)
        assert "Replace" in line and "DatabaseName" in line and "STATEFUL DATABASE" in line
        # the instance follows its cluster (DBClusterIdentifier is create-only)
        line = next(x for x in run.out.splitlines() if "DatabaseStack/DatabaseInstance " in x)
        assert "Replace" in line and "STATEFUL DATABASE" in line
        # the new cluster endpoint reaches Keycloak's task definition through the outputs:
        # in the real nested change set of ServicesDatabaseStack (Keycloak uses the database, so its
        # group is 'database') it may be replaced
        line = next(x for x in run.out.splitlines() if "ServicesDatabaseStack/KeycloakTaskDefinition " in x)
        assert "Replace?" in line and "ContainerDefinitions" in line
        # a new task definition updates the service in place (TaskDefinition is not
        # create-only in the schema; ministack alone called it "may be replaced")
        line = next(x for x in run.out.splitlines() if "ServicesDatabaseStack/KeycloakService " in x)
        assert "Modify" in line and "Replace" not in line
        # outputs that an update in place keeps do not spread: nothing inside is changed
        assert not [x for x in run.out.splitlines() if re.search(r"Autoscaling\w*Stack/", x)]
        # the emulator returned nested change sets: nothing was predicted
        assert "predicted from the deployed and local templates" not in run.out
        assert not [x for x in run.out.splitlines() if "  *  " in x or x.endswith("  *")]
        assert (
            "not executed" in run.out and "re-run with --accept-replacement DatabaseStack/DatabaseCluster," in run.out
        )
        assert _cluster(aws)["DBClusterIdentifier"] == cluster
        assert _cluster(aws)["DatabaseName"] == "keycloak"
        cfn = aws("cloudformation")
        assert not pending_change_sets(cfn, STACK)
        assert stack_status(cfn, STACK) == "UPDATE_COMPLETE"

    def test_delete_reports_what_was_retained(self, created, scripts, aws):
        cfn = aws("cloudformation")
        fs_id = stack_outputs(cfn, STACK)["FileSystemId"]
        run = scripts.delete("--platform", PLATFORM, "--env", "dev", "--yes", "--purge-artifacts")
        assert run.code == 0, run
        assert stack_status(cfn, STACK) is None
        before, after = run.out.split("==> Deleting", 1)
        assert f"EfsStack/FileSystem (AWS::EFS::FileSystem {fs_id}): retained" in before
        assert "DatabaseStack/DatabaseCluster" in before and "final snapshot" in before
        assert "survivor(s) listed above are as expected" in after
        # the survivor list appears once, before the delete (the events name it, not as a survivor)
        assert run.out.count(f"EfsStack/FileSystem (AWS::EFS::FileSystem {fs_id})") == 1
        assert aws("efs").describe_file_systems(FileSystemId=fs_id)["FileSystems"]
        assert aws("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}-")[
            "logGroups"
        ]  # /ecs/<stack>-<StackUid>/...
        print(f"\nMCP delete: {run.seconds:.1f} s")

    def test_recreate_after_delete(self, scripts, aws):
        assert stack_status(aws("cloudformation"), STACK) is None, "test_delete did not run"
        run = scripts.deploy("--platform", PLATFORM, "--env", "dev", env=SECRET)
        assert run.code == 0, run
        # leave the emulator as the failing re-create used to: the tests below deploy other
        # copies of this platform, and ministack refuses a second private DNS namespace of
        # the same name even in another VPC
        run = scripts.delete("--platform", PLATFORM, "--env", "dev", "--yes", "--purge-artifacts")
        assert run.code == 0, run


def test_broken_nested_template_rolls_back(scripts, aws, tmp_path, aws_templates):
    broken = copy_templates(aws_templates, tmp_path / "broken")
    inject_broken_resource(broken / "database.yaml")
    params = write_params(tmp_path / "p.json", {**read_params(DEV_PARAMS), "Name": "mcp-broken"})
    run = scripts.deploy(
        "--platform",
        PLATFORM,
        "--env",
        "dev",
        "--stack-name",
        "mcp-broken",
        "--template-dir",
        str(broken),
        "--params-file",
        str(params),
        env=SECRET,
    )
    assert run.code == 1, run
    cfn = aws("cloudformation")
    assert stack_status(cfn, "mcp-broken") == "ROLLBACK_COMPLETE"
    cause = run.out.split("Root cause (first failure, in nested stack DatabaseStack):", 1)[1]
    assert "DatabaseStack/BrokenParameter (AWS::SSM::Parameter): CREATE_FAILED" in cause
    # the nested stacks it had created were rolled back too
    left = [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackName"].startswith("mcp-broken-") and s["StackStatus"] not in ("DELETE_COMPLETE", "ROLLBACK_COMPLETE")
    ]
    assert not left, left


BAD = "mcp-bad-input"


def _nothing_created(aws) -> None:
    assert stack_status(aws("cloudformation"), BAD) is None
    s3 = aws("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        listed = s3.list_objects_v2(Bucket=bucket["Name"], Prefix=f"{BAD}/")
        assert not listed.get("Contents"), listed


@pytest.mark.parametrize(
    "case",
    [
        "unknown-platform",
        "unknown-env",
        "unknown-key",
        "not-a-list",
        "secret-in-file",
        "missing-secret",
        "domain-without-zone",
    ],
)
def test_bad_input_exits_2_and_creates_nothing(case, scripts, aws, tmp_path):
    params = read_params(DEV_PARAMS)
    platform, env, extra, secret = PLATFORM, "dev", [], SECRET
    if case == "unknown-platform":
        platform, expected = "no-such-platform", "unknown platform: no-such-platform"
    elif case == "unknown-env":
        env, expected = "staging", "unknown environment: staging"
    elif case == "unknown-key":
        extra = ["--params-file", str(write_params(tmp_path / "p.json", {**params, "DatabaseMaxACU": "4"}))]
        expected = "unknown parameter DatabaseMaxACU (did you mean DatabaseMaxAcu?)"
    elif case == "not-a-list":
        bad = tmp_path / "p.json"
        bad.write_text('{"Parameters": {"Environment": "dev"}}')
        extra = ["--params-file", str(bad)]
        expected = 'expected a JSON list of "Key=Value" strings'
    elif case == "secret-in-file":
        extra = [
            "--params-file",
            str(write_params(tmp_path / "p.json", {**params, "KeycloakAdminPassword": "in-a-file-1"})),
        ]
        expected = "secrets are never read from files"
    elif case == "domain-without-zone":
        extra = [
            "--params-file",
            str(write_params(tmp_path / "p.json", {**params, "BaseDomain": "example.com", "HostedZoneId": ""})),
        ]
        expected = (
            f"deploy.sh: error: {tmp_path / 'p.json'}: BaseDomain, HostedZoneId: With BaseDomain set, "
            "HostedZoneId must name its public Route 53 hosted zone"
        )
    else:
        secret = {}
        expected = (
            "KeycloakAdminPassword is a NoEcho (secret) parameter with no value: set "
            "STACKGEN_PARAM_KeycloakAdminPassword (stdin is not a terminal"
        )
    run = scripts.deploy("--platform", platform, "--env", env, "--stack-name", BAD, *extra, env=secret)
    assert run.code == 2, run
    assert expected in run.out, run
    assert "Traceback" not in run.out
    if case == "domain-without-zone":  # one line, before anything is uploaded
        assert [x for x in run.out.splitlines() if x.startswith("deploy.sh:")] == [_line_with(run.out, expected)]
        assert "Packaging" not in run.out
    _nothing_created(aws)


def _line_with(out: str, text: str) -> str:
    return next(x for x in out.splitlines() if text in x)
