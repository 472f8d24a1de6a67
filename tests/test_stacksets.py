"""deploy.sh --stack-set / delete.sh --stack-set (generator.deploy.stacksets), in process
against moto's CloudFormation StackSets.

What moto 5.2.5 has and lacks (so what these tests can and cannot show):
- it has CreateStackSet (TemplateURL read from its S3), Create/Update/DeleteStackInstances,
  UpdateStackSet, DescribeStackInstance (with ParameterOverrides), ListStackInstances,
  DescribeStackSetOperation, ListStackSetOperationResults and DeleteStackSet; a self-managed
  instance is a real moto stack in its region, nested stacks included (their TemplateURL is
  read from moto's S3), so the per-region bucket and the per-region overrides are checked in
  the resources the instance created;
- every operation is SUCCEEDED at once and OperationPreferences are ignored, so the
  preferences are checked in the requests (botocore's before-parameter-build event), and the
  per-instance streaming (RUNNING, FAILED with its reason, a timeout) with a scripted client in
  tests/test_stackset_options.py;
- an instance's stack gets the overrides alone as parameters (AWS merges them with the stack
  set's), so the fixture's other parameters have defaults;
- DescribeStackInstance returns a StackId that names no stack (a new random one each call),
  so the live listing of what an instance of the caller's account leaves behind is not
  reached here; the listing from the stack set's templates is;
- moto's S3 applies the artifact bucket's TLS-only statement (Deny when aws:SecureTransport
  is false) to every request whatever its transport; the requests here are HTTPS as boto3
  sends them, so the fixture leaves that statement out of moto's evaluation.
`aws cloudformation package` (deploy.sh's step) is stood in for by uploading the child
template under its MD5 key and writing its URL into the parent as awscli 1.x writes it
(path style, with the versionId of the versioned bucket).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from generator.deploy import artifacts, stacksets
from generator.deploy._aws import client

ADMIN = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
BUCKET = f"stackgen-artifacts-{ACCOUNT}-{ADMIN}"
NAME = "demo-dev"
REGIONS = ["us-east-1", "eu-west-1"]

MAIN: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Metadata": {
        "stackgen": {
            "images": [
                {
                    "service": "web",
                    "parameter": "WebImageReady",
                    "repository_output": "WebRepositoryUri",
                    "tag_parameter": "WebImageTag",
                }
            ]
        }
    },
    "Parameters": {
        "Environment": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "test", "prod"]},
        "S3PrefixListId": {"Type": "String", "AllowedPattern": "^pl-[0-9a-f]{8,17}$"},
        "WebImageReady": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"]},
        "WebImageTag": {"Type": "String", "Default": "1.0.0"},
        "AlarmEmail": {"Type": "String", "Default": ""},
    },
    "Resources": {
        "AppStack": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": "app.yaml",
                "Parameters": {
                    "S3PrefixListId": {"Ref": "S3PrefixListId"},
                    "AlarmEmail": {"Ref": "AlarmEmail"},
                },
            },
        }
    },
}
APP: dict[str, Any] = {
    "Parameters": {"S3PrefixListId": {"Type": "String"}, "AlarmEmail": {"Type": "String"}},
    "Resources": {
        "PrefixParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/demo/prefix-list", "Type": "String", "Value": {"Ref": "S3PrefixListId"}},
        },
        "EmailParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/demo/email", "Type": "String", "Value": {"Fn::Sub": "to:${AlarmEmail}"}},
        },
        "Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "Properties": {"RetentionInDays": 7}},
    },
}


@pytest.fixture
def aws(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (tests/conftest.py) with no default region (each call names its own), stdin not a
    terminal, and S3 buckets that let moto's https-only policy checks pass."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr("moto.s3.models.FakeBucket.get_permission", https_permission)


def https_permission(bucket: Any, action: str, resource: str) -> Any:
    """moto's bucket policy check for an HTTPS request: a statement conditioned on
    aws:SecureTransport being false (the TLS-only deny) does not apply to it; moto's evaluator
    applies it whatever the context, so it is left out here and the rest evaluated by moto."""
    from moto.iam.access_control import IAMPolicy, PermissionResult  # noqa: PLC0415 - moto's evaluator

    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(bucket.policy.decode())
    policy["Statement"] = [
        s for s in policy["Statement"] if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))
    ]
    if not policy["Statement"]:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


class Recorder:
    """The CloudFormation requests, in order, as botocore builds them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == operation]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def recorder(aws) -> Iterator[Recorder]:
    rec = Recorder()
    cfn = client("cloudformation", region=ADMIN)
    cfn.meta.events.register("before-parameter-build.cloudformation", rec)
    yield rec
    cfn.meta.events.unregister("before-parameter-build.cloudformation", rec)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def platform(tmp_path: Path, aws) -> Path:
    """templates (main.yaml + app.yaml), parameters/demo/dev.json and dev.eu-west-1.json, and
    the parent packaged into the admin region's bucket."""
    tdir = tmp_path / "templates"
    write_json(tdir / "main.yaml", MAIN)
    write_json(tdir / "app.yaml", APP)
    write_json(tmp_path / "parameters" / "demo" / "dev.json", ["Environment=dev"])
    write_json(tmp_path / "parameters" / "demo" / "dev.eu-west-1.json", ["AlarmEmail=ops-eu@example.com"])
    package(tmp_path)
    return tmp_path


def package(root: Path) -> None:
    args = argparse.Namespace(bucket=BUCKET, region=ADMIN, endpoint_url=None)
    assert artifacts.ensure(args) == 0
    body = (root / "templates" / "app.yaml").read_bytes()
    key = f"{NAME}/{hashlib.md5(body).hexdigest()}.template"
    version = client("s3", region=ADMIN).put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
    # as awscli 1.x writes it for a versioned bucket (s3uploader.to_path_style_s3_url)
    url = f"https://s3.{ADMIN}.amazonaws.com/{BUCKET}/{key}?versionId={version}"
    packaged = json.loads((root / "templates" / "main.yaml").read_text())
    packaged["Resources"]["AppStack"]["Properties"]["TemplateURL"] = url
    write_json(root / "packaged.json", packaged)


def deploy_argv(root: Path, *extra: str) -> list[str]:
    return [
        "deploy",
        "--stack-set-name",
        NAME,
        "--template",
        str(root / "templates" / "main.yaml"),
        "--packaged",
        str(root / "packaged.json"),
        "--params-file",
        str(root / "parameters" / "demo" / "dev.json"),
        "--params-dir",
        str(root / "parameters" / "demo"),
        "--env",
        "dev",
        "--platform",
        "demo",
        "--bucket",
        BUCKET,
        "--region",
        ADMIN,
        "--interval",
        "0",
        "--regions",
        ",".join(REGIONS),
        *extra,
    ]


def prefix_list(region: str) -> str:
    """What describe-prefix-lists itself says for the region's S3 list (the oracle)."""
    ec2 = client("ec2", region=region)
    name = f"com.amazonaws.{region}.s3"
    [found] = [p for p in ec2.describe_prefix_lists()["PrefixLists"] if p["PrefixListName"] == name]
    return str(found["PrefixListId"])


def overrides(region: str) -> dict[str, str]:
    inst = client("cloudformation", region=ADMIN).describe_stack_instance(
        StackSetName=NAME, StackInstanceAccount=ACCOUNT, StackInstanceRegion=region
    )["StackInstance"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in inst["ParameterOverrides"]}


def ssm_value(region: str, name: str) -> str:
    return str(client("ssm", region=region).get_parameter(Name=name)["Parameter"]["Value"])


def test_create_in_two_regions_with_per_region_overrides(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stacksets.main(deploy_argv(platform)) == 0
    out, err = capsys.readouterr()
    # each region's prefix list, looked up there; one region's value is wrong in the other
    assert prefix_list("us-east-1") != prefix_list("eu-west-1")
    for region in REGIONS:
        assert overrides(region)["S3PrefixListId"] == prefix_list(region)
        assert f"{region}: S3PrefixListId={prefix_list(region)}" in err
        # the instance's nested stack ran with it, from the template in its own region's bucket
        assert ssm_value(region, "/demo/prefix-list") == prefix_list(region)
        # a new instance's repository is empty: its service waits for the image
        assert overrides(region)["WebImageReady"] == "false"
    assert overrides("eu-west-1")["AlarmEmail"] == "ops-eu@example.com"
    assert "AlarmEmail" not in overrides("us-east-1")
    assert ssm_value("eu-west-1", "/demo/email") == "to:ops-eu@example.com"
    # one operation per region, in --regions order, each with that region's overrides only
    creates = recorder.named("CreateStackInstances")
    assert [c["Regions"] for c in creates] == [["us-east-1"], ["eu-west-1"]]
    assert [c["Accounts"] for c in creates] == [[ACCOUNT], [ACCOUNT]]
    # the stack set's template names the bucket of the region the stack runs in
    [created] = recorder.named("CreateStackSet")
    assert created["PermissionModel"] == "SELF_MANAGED"
    body = json.loads(
        client("cloudformation", region=ADMIN).describe_stack_set(StackSetName=NAME)["StackSet"]["TemplateBody"]
    )
    url = body["Resources"]["AppStack"]["Properties"]["TemplateURL"]
    assert url["Fn::Sub"].startswith(f"https://stackgen-artifacts-{ACCOUNT}-${{AWS::Region}}.s3.${{AWS::Region}}.")
    key = url["Fn::Sub"].rsplit("}/", 1)[1]
    for region in REGIONS:
        client("s3", region=region).head_object(Bucket=f"stackgen-artifacts-{ACCOUNT}-{region}", Key=key)
    # the summary table lists both instances
    assert out.count(ACCOUNT) >= 2 and "eu-west-1" in out and "SUCCEEDED" in out


def test_update_changes_only_what_changed(platform: Path, recorder: Recorder) -> None:
    assert stacksets.main(deploy_argv(platform)) == 0
    recorder.calls.clear()
    # nothing changed: no operation at all
    assert stacksets.main(deploy_argv(platform)) == 0
    assert not {"UpdateStackSet", "UpdateStackInstances", "CreateStackInstances"} & set(recorder.names())
    # a region file changes: only that region's instances get new overrides
    write_json(platform / "parameters" / "demo" / "dev.eu-west-1.json", ["AlarmEmail=eu-oncall@example.com"])
    assert stacksets.main(deploy_argv(platform)) == 0
    [update] = recorder.named("UpdateStackInstances")
    assert update["Regions"] == ["eu-west-1"]
    assert overrides("eu-west-1")["AlarmEmail"] == "eu-oncall@example.com"
    assert overrides("eu-west-1")["S3PrefixListId"] == prefix_list("eu-west-1")
    assert not recorder.named("UpdateStackSet")
    # the environment's file changes: one stack set update over both regions (needs --yes)
    recorder.calls.clear()
    write_json(platform / "parameters" / "demo" / "dev.json", ["Environment=dev", "WebImageTag=1.0.1"])
    assert stacksets.main(deploy_argv(platform)) == 1  # no terminal, no --yes: refused
    assert not recorder.named("UpdateStackSet")
    assert stacksets.main(deploy_argv(platform, "--yes")) == 0
    [update_set] = recorder.named("UpdateStackSet")
    assert {"ParameterKey": "WebImageTag", "ParameterValue": "1.0.1"} in update_set["Parameters"]
    assert update_set["OperationPreferences"]["RegionOrder"] == REGIONS


def test_a_region_added_later_gets_its_own_instance(platform: Path, recorder: Recorder) -> None:
    argv = deploy_argv(platform)
    argv[argv.index("--regions") + 1] = "us-east-1"
    assert stacksets.main(argv) == 0
    recorder.calls.clear()
    assert stacksets.main(deploy_argv(platform)) == 0
    [create] = recorder.named("CreateStackInstances")
    assert create["Regions"] == ["eu-west-1"]
    assert overrides("eu-west-1")["S3PrefixListId"] == prefix_list("eu-west-1")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--failure-tolerance", "1", "--max-concurrent", "2"], {"FailureToleranceCount": 1, "MaxConcurrentCount": 2}),
        (
            ["--failure-tolerance", "10%", "--max-concurrent", "50%", "--concurrency-mode", "soft"],
            {
                "FailureTolerancePercentage": 10,
                "MaxConcurrentPercentage": 50,
                "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
            },
        ),
    ],
)
def test_failure_tolerance_and_concurrency_are_passed_through(
    platform: Path, recorder: Recorder, options: list[str], expected: dict[str, Any]
) -> None:
    assert stacksets.main(deploy_argv(platform, *options, "--region-concurrency", "parallel")) == 0
    for create, region in zip(recorder.named("CreateStackInstances"), REGIONS, strict=True):
        assert create["OperationPreferences"] == {
            **expected,
            "RegionConcurrencyType": "PARALLEL",
            "RegionOrder": [region],
        }
    write_json(platform / "parameters" / "demo" / "dev.json", ["Environment=test"])
    assert stacksets.main(deploy_argv(platform, *options, "--region-concurrency", "parallel", "--yes")) == 0
    [update] = recorder.named("UpdateStackSet")
    assert update["OperationPreferences"] == {**expected, "RegionConcurrencyType": "PARALLEL", "RegionOrder": REGIONS}


def test_delete_removes_the_instances_first_then_the_stack_set(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stacksets.main(deploy_argv(platform)) == 0
    bucket_policy = json.loads(
        client("s3", region="eu-west-1").get_bucket_policy(Bucket=BUCKET.replace(ADMIN, "eu-west-1"))["Policy"]
    )
    capsys.readouterr()
    recorder.calls.clear()
    argv = ["delete", "--stack-set-name", NAME, "--region", ADMIN, "--interval", "0", "--yes"]
    assert stacksets.main(argv) == 0
    out = capsys.readouterr().out
    names = [n for n in recorder.names() if n.startswith("Delete")]
    assert names == ["DeleteStackInstances", "DeleteStackSet"]
    first, second = recorder.names().index("DeleteStackInstances"), recorder.names().index("DeleteStackSet")
    assert "DescribeStackSetOperation" in recorder.names()[first:second]  # waited in between
    [instances] = recorder.named("DeleteStackInstances")
    assert instances["Regions"] == sorted(REGIONS) and instances["RetainStacks"] is False
    # what survives, listed before: the retained log group of each instance (moto's
    # DescribeStackInstance returns a made-up StackId, so the listing comes from the stack
    # set's templates, as for another account's instance)
    for region in REGIONS:
        assert f"{ACCOUNT} {region}: AppStack/Logs (AWS::Logs::LogGroup, Retain)" in out
    assert out.rstrip().endswith(f"==> Deleted stack set {NAME}.")
    with pytest.raises(ClientError, match="StackSetNotFound"):
        client("cloudformation", region=ADMIN).describe_stack_set(StackSetName=NAME)
    # the TLS-only statement of the artifact bucket is kept
    assert any(s.get("Sid") == "DenyInsecureTransport" for s in bucket_policy["Statement"])
    again = json.loads(
        client("s3", region="eu-west-1").get_bucket_policy(Bucket=BUCKET.replace(ADMIN, "eu-west-1"))["Policy"]
    )
    assert any(s.get("Sid") == "DenyInsecureTransport" for s in again["Statement"])


def test_other_accounts_may_read_the_templates_and_nothing_more(platform: Path) -> None:
    other = "210987654321"
    argv = deploy_argv(platform, "--accounts", f"{ACCOUNT},{other}")
    # moto cannot create a stack in another account: the bucket policy is what is checked here
    stacksets.main(argv)
    for region in REGIONS:
        bucket = f"stackgen-artifacts-{ACCOUNT}-{region}"
        policy = json.loads(client("s3", region=region).get_bucket_policy(Bucket=bucket)["Policy"])
        [read] = [s for s in policy["Statement"] if s["Sid"].startswith("StackgenStackSetRead")]
        assert read["Principal"] == {"AWS": [f"arn:aws:iam::{other}:root"]}
        assert read["Action"] == "s3:GetObject"
        assert read["Resource"] == f"arn:aws:s3:::{bucket}/{NAME}/*"


def test_an_unknown_region_file_is_refused_before_anything_is_created(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_json(platform / "parameters" / "demo" / "dev.eu-wset-1.json", ["AlarmEmail=x@example.com"])
    assert stacksets.main(deploy_argv(platform)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dev.eu-wset-1.json: eu-wset-1 is not an AWS region" in err
    assert not [n for n in recorder.names() if n.startswith("Create")]


def test_a_bad_value_in_a_region_file_names_the_file(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_json(platform / "parameters" / "demo" / "dev.eu-west-1.json", ["Environment=staging"])
    assert stacksets.main(deploy_argv(platform)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dev.eu-west-1.json" in err and "Environment: 'staging' is not one of the AllowedValues" in err
    assert not [n for n in recorder.names() if n.startswith("Create")]


def test_service_managed_deploys_to_organizational_units(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    org = client("organizations", region=ADMIN)
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="apps")["OrganizationalUnit"]["Id"]
    member = org.create_account(Email="apps@example.com", AccountName="apps")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    # moto creates a service-managed instance's stack in the member account, whose S3 holds no
    # nested template: this case deploys a parent without nested stacks
    flat = {**MAIN, "Resources": {"Marker": APP["Resources"]["PrefixParameter"]}}
    write_json(platform / "packaged.json", flat)
    role = write_json(platform / "execution-role.json", {"Resources": {}})
    argv = deploy_argv(platform, "--organizational-units", ou, "--execution-role-template", str(role))
    assert stacksets.main(argv) == 0, capsys.readouterr().err
    [created] = recorder.named("CreateStackSet")
    assert created["PermissionModel"] == "SERVICE_MANAGED"
    assert created["AutoDeployment"] == {"Enabled": False}
    assert created["ExecutionRoleTemplateUrl"].startswith(f"https://{BUCKET}.s3.{ADMIN}.amazonaws.com/{NAME}/")
    creates = recorder.named("CreateStackInstances")
    assert [c["DeploymentTargets"] for c in creates] == [{"OrganizationalUnitIds": [ou]}] * 2
    assert not any("Accounts" in c for c in creates)
    for region in REGIONS:
        inst = client("cloudformation", region=ADMIN).describe_stack_instance(
            StackSetName=NAME, StackInstanceAccount=member, StackInstanceRegion=region
        )["StackInstance"]
        values = {p["ParameterKey"]: p["ParameterValue"] for p in inst["ParameterOverrides"]}
        assert values["S3PrefixListId"] == prefix_list(region)
        bucket = f"stackgen-artifacts-{ACCOUNT}-{region}"
        policy = json.loads(client("s3", region=region).get_bucket_policy(Bucket=bucket)["Policy"])
        [read] = [s for s in policy["Statement"] if s["Sid"].startswith("StackgenStackSetRead")]
        assert read["Principal"] == "*"
        assert read["Condition"] == {
            "StringEquals": {"aws:PrincipalOrgID": org_id},
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{org_id}/{root}/{ou}/*"]},
        }
    recorder.calls.clear()
    delete = ["delete", "--stack-set-name", NAME, "--region", ADMIN, "--interval", "0", "--yes"]
    # moto's instance summaries carry no OrganizationalUnitId (AWS's do): the OU is then named
    assert stacksets.main(delete) == 2
    assert "pass --organizational-units" in capsys.readouterr().err
    assert stacksets.main([*delete, "--organizational-units", ou]) == 0
    [deleted] = recorder.named("DeleteStackInstances")
    assert deleted["DeploymentTargets"] == {"OrganizationalUnitIds": [ou]}


def test_image_readiness_is_decided_per_region(aws) -> None:
    """<Service>ImageReady of one region: true where that region's ECR has the tag (an instance
    of the caller's account), false where it has not, the current override for another
    account's instance (not readable here), false for a new instance, the file's value kept."""
    args = argparse.Namespace(endpoint_url=None, region=ADMIN)
    stacks = {}
    for region in REGIONS:
        ecr = client("ecr", region=region)
        uri = ecr.create_repository(repositoryName="demo/web")["repository"]["repositoryUri"]
        template = {
            "Parameters": {"S3PrefixListId": {"Type": "String"}},
            "Resources": {"Marker": APP["Resources"]["PrefixParameter"]},
            "Outputs": {"WebRepositoryUri": {"Value": uri}},
        }
        cfn = client("cloudformation", region=region)
        stacks[region] = cfn.create_stack(
            StackName="instance",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "S3PrefixListId", "ParameterValue": "pl-12345678"}],
        )["StackId"]
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    )
    client("ecr", region="eu-west-1").put_image(repositoryName="demo/web", imageManifest=manifest, imageTag="1.0.0")
    current = {"WebImageReady": "false"}
    pushed, notes = stacksets.image_values(args, MAIN, "eu-west-1", {}, current, stacks["eu-west-1"])
    assert pushed == {"WebImageReady": "true"} and notes == []
    missing, notes = stacksets.image_values(args, MAIN, "us-east-1", {}, current, stacks["us-east-1"])
    assert missing == {"WebImageReady": "false"}
    assert notes == [
        "us-east-1: WebImageReady=false: "
        + f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/demo/web:1.0.0 is not pushed (the service stays at 0)"
    ]
    assert stacksets.image_values(args, MAIN, "us-east-1", {}, {"WebImageReady": "true"}, None)[0] == {
        "WebImageReady": "true"
    }
    assert stacksets.image_values(args, MAIN, "us-east-1", {}, None, None)[0] == {"WebImageReady": "false"}
    assert stacksets.image_values(args, MAIN, "us-east-1", {"WebImageReady": "true"}, None, None)[0] == {}


def test_a_failed_region_stops_the_later_regions(
    platform: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto's operations always succeed: the first region's operation is reported FAILED here
    monkeypatch.setattr(stacksets, "watch_operation", lambda *a, **k: False)
    assert stacksets.main(deploy_argv(platform)) == 1
    assert [c["Regions"] for c in recorder.named("CreateStackInstances")] == [["us-east-1"]]
    err = capsys.readouterr().err
    assert "stackgen: error: stopped after us-east-1; not attempted: eu-west-1\n" in err


def test_public_task_ips_outside_dev_need_confirmation(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    app = json.loads((platform / "templates" / "app.yaml").read_text())
    app["Resources"]["Service"] = {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED", "Subnets": ["subnet-1"]}}
        },
    }
    write_json(platform / "templates" / "app.yaml", app)
    argv = deploy_argv(platform)
    argv[argv.index("--env") + 1] = "test"
    assert stacksets.main(argv) == 1
    err = capsys.readouterr().err
    assert "WARNING: demo (test) gives every task a public IP in a public subnet" in err
    assert "stackgen: error: not deployed: tasks of test would get public IPs" in err
    assert not [n for n in recorder.names() if n.startswith("Create")]


def test_the_org_path_of_a_nested_ou(aws) -> None:
    org = client("organizations", region=ADMIN)
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    outer = org.create_organizational_unit(ParentId=root, Name="outer")["OrganizationalUnit"]["Id"]
    inner = org.create_organizational_unit(ParentId=outer, Name="inner")["OrganizationalUnit"]["Id"]
    args = argparse.Namespace(endpoint_url=None, region=ADMIN)
    assert stacksets.org_path(args, org_id, inner) == f"{org_id}/{root}/{outer}/{inner}/"
    assert stacksets.org_path(args, org_id, root) == f"{org_id}/{root}/"


def test_a_secret_comes_from_the_environment_and_is_kept_on_update(
    platform: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main = json.loads((platform / "templates" / "main.yaml").read_text())
    main["Parameters"]["DbPassword"] = {"Type": "String", "NoEcho": "true", "MinLength": 8}
    write_json(platform / "templates" / "main.yaml", main)
    # no value anywhere (and no terminal): one line, nothing created
    assert stacksets.main(deploy_argv(platform)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DbPassword is a NoEcho (secret) parameter with no value" in err
    assert not [n for n in recorder.names() if n.startswith("Create")]
    monkeypatch.setenv("STACKGEN_PARAM_DbPassword", "s3cret-value")
    assert stacksets.main(deploy_argv(platform)) == 0
    [created] = recorder.named("CreateStackSet")
    assert {"ParameterKey": "DbPassword", "ParameterValue": "s3cret-value"} in created["Parameters"]
    assert "s3cret-value" not in "".join(capsys.readouterr())
    # the next deploy without the variable keeps the stack set's value
    monkeypatch.delenv("STACKGEN_PARAM_DbPassword")
    write_json(platform / "parameters" / "demo" / "dev.json", ["Environment=test"])
    recorder.calls.clear()
    assert stacksets.main(deploy_argv(platform, "--yes")) == 0
    [update] = recorder.named("UpdateStackSet")
    assert {"ParameterKey": "DbPassword", "UsePreviousValue": True} in update["Parameters"]


def test_a_platform_split_into_several_roots_is_refused(
    platform: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stack set deploys one template: the later roots of a split platform (generator.roots)
    would never be created, so deploy.sh --stack-set refuses it before any call."""
    main = json.loads((platform / "templates" / "main.yaml").read_text())
    main.setdefault("Metadata", {}).setdefault("stackgen", {})["roots"] = ["main.yaml", "main-services-2.yaml"]
    write_json(platform / "templates" / "main.yaml", main)
    assert stacksets.main(deploy_argv(platform)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "split into 2 root stacks (main.yaml, main-services-2.yaml)" in err
    assert not [n for n in recorder.names() if n.startswith("Create")]
