"""Offline tests of the deploy helpers and the scripts' argument handling (no emulator)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from e2e_support import ROOT, safe_env

from generator.deploy import nested, params
from generator.deploy._aws import is_loopback_url, load_template
from generator.deploy.filled import DEPLOY_FILLED

MAIN = ROOT / "templates" / "mcp-gateway" / "main.yaml"
ENVS = ("dev", "test", "prod")
MODULES = (
    "params",
    "artifacts",
    "changeset",
    "events",
    "outputs",
    "survivors",
    "emulator",
    "endpoint",
    "exposure",
    "filled",
    "images",
    "leftovers",
    "regional",
    "nested",
    "stateful",
    "fresh",
    "validate_templates",
)


# --- parameters files -----------------------------------------------------------------------

PLATFORMS = sorted(p.stem for p in (ROOT / "platforms").glob("*.yaml"))


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("env", ENVS)
def test_committed_parameters_files_validate(platform, env):
    path = ROOT / "parameters" / platform / f"{env}.json"
    assert path.exists(), f"{path} is missing (deploy.sh --platform {platform} --env {env})"
    values = params.read_params_file(path)
    assert values["Environment"] == env
    template = load_template(ROOT / "templates" / platform / "main.yaml")
    noecho = {k for k, v in template["Parameters"].items() if str(v.get("NoEcho", "")).lower() == "true"}
    secrets = {f"STACKGEN_PARAM_{k}": "x" * 24 for k in noecho}
    # what deploy.sh fills in (generator.deploy.filled) is not in the files: per region
    filled = {k: "pl-0123abcd" for k in DEPLOY_FILLED if k in template["Parameters"]}
    assert not set(filled) & set(values), "deploy.sh looks these up in the region it deploys to"
    assert params.resolve(template, {**values, **filled}, env=secrets).problems == []
    assert not noecho & set(values)  # no secrets in the files


def test_environments_differ_in_sizing_and_logging():
    files = {env: params.read_params_file(ROOT / "parameters" / "mcp-gateway" / f"{env}.json") for env in ENVS}
    assert len({f["DatabaseMaxAcu"] for f in files.values()}) == 3
    assert float(files["prod"]["DatabaseMinAcu"]) > float(files["dev"]["DatabaseMinAcu"])
    assert files["dev"]["KeycloakLogLevel"] != files["prod"]["KeycloakLogLevel"]


def test_parameters_file_is_the_shape_the_cli_accepts(tmp_path):
    """awscli 1.x `deploy --parameter-overrides file://` reads a JSON list of Key=Value."""
    from awscli.customizations.cloudformation.deploy import DeployCommand

    items = json.loads((ROOT / "parameters" / "mcp-gateway" / "dev.json").read_text())
    parsed = DeployCommand.parse_key_value_arg(None, items, "parameter-overrides")
    assert parsed == params.read_params_file(ROOT / "parameters" / "mcp-gateway" / "dev.json")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"Parameters": {"A": "1"}}', 'expected a JSON list of "Key=Value" strings'),
        ('[{"ParameterKey": "A", "ParameterValue": "1"}]', "expected a JSON list"),
        ('["A=1", "A=2"]', "parameter A is given twice"),
        ('["A"]', 'is not of the form "Key=Value"'),
        ("[", "not valid JSON"),
    ],
)
def test_malformed_parameters_files_are_rejected(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(params.ParamError, match=message.replace("(", r"\(")):
        params.read_params_file(path)


TEMPLATE = {
    "Parameters": {
        "Env": {"Type": "String", "AllowedValues": ["dev", "prod"]},
        "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 8, "Default": 2},
        "Name": {"Type": "String", "AllowedPattern": "^[a-z]+$", "Default": "app"},
        "Password": {"Type": "String", "NoEcho": "true", "MinLength": 12},
    }
}


def test_resolve_reports_every_problem_without_echoing_secrets():
    result = params.resolve(
        TEMPLATE, {"Env": "qa", "Size": "9", "Name": "Bad1", "Extra": "1"}, env={"STACKGEN_PARAM_Password": "tooshort"}
    )
    text = "\n".join(result.problems)
    assert "unknown parameter Extra" in text
    assert "Env: 'qa' is not one of the AllowedValues [dev, prod]" in text
    assert "Size: '9' is above MaxValue 8" in text
    assert "Name: 'Bad1' does not match AllowedPattern" in text
    assert "Password: the value is shorter than MinLength 12" in text
    assert "tooshort" not in text


def test_secrets_come_from_the_environment_or_the_previous_stack():
    env = {"STACKGEN_PARAM_Password": "long-enough-secret"}
    ok = params.resolve(TEMPLATE, {"Env": "dev"}, env=env)
    assert ok.problems == [] and ok.secrets == {"Password": "long-enough-secret"}
    assert {"ParameterKey": "Password", "ParameterValue": "long-enough-secret"} in ok.api_parameters()
    kept = params.resolve(TEMPLATE, {"Env": "dev"}, env={}, previous={"Password"})
    assert kept.problems == [] and kept.use_previous == ["Password"]
    missing = params.resolve(TEMPLATE, {"Env": "dev"}, env={})
    assert missing.problems == [
        (
            "Password is a NoEcho (secret) parameter with no value: set "
            "STACKGEN_PARAM_Password (stdin is not a terminal, so there is "
            "no prompt)"
        )
    ]
    prompt = params.resolve(TEMPLATE, {"Env": "dev"}, env={}, interactive=True)
    assert prompt.problems == [] and prompt.need_prompt == ["Password"]
    in_file = params.resolve(TEMPLATE, {"Env": "dev", "Password": "x" * 12}, env=env)
    assert any("secrets are never read from files" in p for p in in_file.problems)
    required = params.resolve(TEMPLATE, {}, env=env)
    assert any("required parameter Env" in p for p in required.problems)


# --- nested change prediction ---------------------------------------------------------------

DATA = {
    "Parameters": {
        "DbName": {"Type": "String"},
        "MaxAcu": {"Type": "Number"},
        "Subnets": {"Type": "CommaDelimitedList"},
    },
    "Resources": {
        "SubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "x", "SubnetIds": {"Ref": "Subnets"}},
        },
        "Cluster": {
            "Type": "AWS::RDS::DBCluster",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "DatabaseName": {"Ref": "DbName"},
                "DBSubnetGroupName": {"Ref": "SubnetGroup"},
                "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": {"Ref": "MaxAcu"}},
            },
        },
        "Instance": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {"DBClusterIdentifier": {"Ref": "Cluster"}, "DBInstanceClass": "db.serverless"},
        },
        "Logs": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Sub": "/app/${DbName}"}},
        },
    },
}
OLD = {"DbName": "app", "MaxAcu": "2", "Subnets": "a,b"}


def _by_id(changes):
    return {c["LogicalResourceId"]: c for c in changes}


def test_identical_states_have_no_changes():
    assert nested.diff_templates(DATA, DATA, OLD, dict(OLD)) == []


def test_a_scaling_change_is_an_in_place_modify():
    changes = _by_id(nested.diff_templates(DATA, DATA, OLD, {**OLD, "MaxAcu": "4"}))
    assert set(changes) == {"Cluster"}
    assert changes["Cluster"]["Replacement"] == "False"
    assert changes["Cluster"]["ChangedProperties"] == ["ServerlessV2ScalingConfiguration"]


def test_a_create_only_change_replaces_and_cascades():
    changes = _by_id(nested.diff_templates(DATA, DATA, OLD, {**OLD, "DbName": "other"}))
    assert changes["Cluster"]["Replacement"] == "True"
    assert changes["Cluster"]["PolicyAction"] == "ReplaceAndSnapshot"
    # the instance's DBClusterIdentifier follows the new cluster: create-only too
    assert changes["Instance"]["Replacement"] == "True"
    assert changes["Logs"]["Replacement"] == "True"  # LogGroupName via Fn::Sub
    assert "SubnetGroup" not in changes


def test_removed_and_added_resources_carry_their_policy():
    new = json.loads(json.dumps(DATA))
    del new["Resources"]["Logs"]
    new["Resources"]["Topic"] = {"Type": "AWS::SNS::Topic"}
    changes = _by_id(nested.diff_templates(DATA, new, OLD, dict(OLD)))
    assert changes["Logs"]["Action"] == "Remove" and changes["Logs"]["PolicyAction"] == "Retain"
    assert changes["Topic"]["Action"] == "Add"


def test_evaluate_resolves_what_a_parent_passes_to_a_child():
    outputs = {("Network", "SubnetIds"): "s-1,s-2"}

    def get_att(res, out):
        return outputs[(res, out)]

    typed = {"Env": "dev", "Cidrs": ["10.0.0.0/16", "10.1.0.0/16"]}
    assert nested.evaluate({"Fn::GetAtt": ["Network", "Outputs.SubnetIds"]}, typed, get_att) == "s-1,s-2"
    assert nested.evaluate({"Fn::Join": [",", {"Ref": "Cidrs"}]}, typed, get_att) == "10.0.0.0/16,10.1.0.0/16"
    assert nested.evaluate({"Fn::Sub": "${Env}-${Network.Outputs.SubnetIds}"}, typed, get_att) == "dev-s-1,s-2"
    with pytest.raises(nested.Unresolvable):
        nested.evaluate({"Fn::GetAtt": ["Bucket", "Arn"]}, typed, get_att)


# --- plumbing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, loopback",
    [
        ("http://127.0.0.1:4566", True),
        ("http://localhost:4566", True),
        ("http://[::1]:1", True),
        ("http://127.8.9.1", True),
        ("https://cloudformation.us-east-1.amazonaws.com", False),
        ("http://10.0.0.1:4566", False),
        ("http://127.0.0.1.example.com", False),
    ],
)
def test_loopback_detection_in_python_and_bash(url, loopback):
    assert is_loopback_url(url) is loopback
    script = f'source "{ROOT}/generator/deploy/lib.sh"; is_loopback "$1"'
    proc = subprocess.run(["bash", "-c", script, "_", url], check=False)
    assert (proc.returncode == 0) is loopback


def _setup_tools(root, path: str) -> subprocess.CompletedProcess[str]:
    """lib.sh's setup_tools with ROOT=root and PATH=path: prints PY and AWS, or dies."""
    script = f'PROG=t; ROOT="$1"; source "{ROOT}/generator/deploy/lib.sh"; setup_tools; echo "$PY|$AWS"'
    return subprocess.run(
        ["bash", "-c", script, "_", str(root)], env={"PATH": path}, capture_output=True, text=True, check=False
    )


def _fake_aws(path, code: int) -> None:
    """An ``aws`` that leaves a mark beside itself when started and exits with ``code``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch '{path}.ran'\nexit {code}\n")
    path.chmod(0o755)


def test_setup_tools_finds_the_python_and_the_cli(tmp_path):
    """The project's python must have boto3, botocore and PyYAML (looked up without importing
    them); a broken aws on PATH falls back to the project's, the project's own is taken
    without being started, and with none the script says to run make venv."""
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    elsewhere = tmp_path / "elsewhere"
    _fake_aws(elsewhere / "aws", 1)  # on PATH but broken: `aws --version` fails
    proc = _setup_tools(tmp_path, f"{elsewhere}:/usr/bin:/bin")
    assert proc.returncode == 1 and "the AWS CLI was not found" in proc.stderr, proc
    _fake_aws(venv / "aws", 7)  # the project's: taken as it is (never run, or it would "fail")
    proc = _setup_tools(tmp_path, f"{elsewhere}:/usr/bin:/bin")
    assert proc.returncode == 0 and proc.stdout.strip() == f"{venv}/python|{venv}/aws", proc
    proc = _setup_tools(tmp_path, f"{venv}:/usr/bin:/bin")
    assert proc.returncode == 0 and proc.stdout.strip() == f"{venv}/python|{venv}/aws", proc
    assert not (venv / "aws.ran").exists() and (elsewhere / "aws.ran").exists()
    _fake_aws(elsewhere / "aws", 0)  # a working one on PATH comes first
    proc = _setup_tools(tmp_path, f"{elsewhere}:/usr/bin:/bin")
    assert proc.returncode == 0 and proc.stdout.strip() == f"{venv}/python|{elsewhere}/aws", proc
    # a python without boto3 (here one without site-packages) is refused with the fix
    (venv / "python").unlink()
    (venv / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    (venv / "python").chmod(0o755)
    proc = _setup_tools(tmp_path, f"{venv}:/usr/bin:/bin")
    assert proc.returncode == 1 and "lacks boto3/PyYAML; run: make venv" in proc.stderr, proc


def test_the_helpers_of_every_deploy_start_without_the_spec_models_or_cfn_lint():
    """deploy.sh and delete.sh start a dozen helpers per run; each one that imported the spec
    models (pydantic, ~0.5 s) or cfn-lint (seconds) would pay it again."""
    mods = ("artifacts", "changeset", "endpoint", "events", "exposure", "filled", "images", "leftovers")
    mods += ("fresh", "outputs", "params", "roots", "survivors")
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module('generator.deploy.' + m)\n"
        "print(sorted(m for m in sys.modules if m in ('pydantic', 'generator.spec', 'cfnlint')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_the_test_environment_cannot_reach_aws():
    """With the e2e environment, a client that forgot the endpoint fails at the closed
    loopback proxy at once: nothing leaves the machine."""
    code = (
        "import boto3, botocore.config as c\n"
        "s = boto3.client('sts', config=c.Config(retries={'max_attempts': 1}))\n"
        "try:\n    s.get_caller_identity()\nexcept Exception as e:\n    print(repr(e))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=safe_env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert "127.0.0.1:9" in proc.stdout, proc.stdout


@pytest.mark.parametrize("script", ["deploy.sh", "delete.sh"])
def test_scripts_have_help(script):
    proc = subprocess.run([str(ROOT / script), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "Usage:" in proc.stdout and "Exit status" in proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_helper_modules_have_help(module):
    proc = subprocess.run(
        [sys.executable, "-m", f"generator.deploy.{module}", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0 and "usage:" in proc.stdout


@pytest.mark.parametrize(
    "script, args, message",
    [
        ("deploy.sh", ["--platform", "mcp-gateway"], "--env is required"),
        ("deploy.sh", ["--env", "dev"], "--platform is required"),
        ("deploy.sh", ["--platform", "mcp-gateway", "--env", "dev", "--bogus"], "unknown argument: --bogus"),
        ("deploy.sh", ["--platform", "mcp-gateway", "--env", "dev", "--profile", "gcp"], "unknown --profile: gcp"),
        ("deploy.sh", ["--platform", "mcp-gateway", "--env", "dev", "--region"], "option --region needs a value"),
        ("deploy.sh", ["--platform", "Bad_Name", "--env", "dev"], "invalid platform name"),
        ("delete.sh", ["--platform", "mcp-gateway", "--env", "qa"], "unknown environment: qa"),
        (
            "delete.sh",
            ["--platform", "mcp-gateway", "--env", "dev"],
            "confirmation is required and stdin is not a terminal: pass --yes",
        ),
    ],
)
def test_usage_errors_exit_2(script, args, message):
    proc = subprocess.run(
        [str(ROOT / script), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=safe_env(),
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None and os.environ.get("STACKGEN_REQUIRE_SHELLCHECK") != "1",
    reason="shellcheck not installed (apt-get install shellcheck); CI sets "
    "STACKGEN_REQUIRE_SHELLCHECK=1 so it cannot be skipped there",
)
def test_scripts_are_shellcheck_clean():
    assert shutil.which("shellcheck"), "shellcheck is required (STACKGEN_REQUIRE_SHELLCHECK=1)"
    proc = subprocess.run(
        ["shellcheck", "-x", "deploy.sh", "delete.sh", "generator/deploy/lib.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_scripts_are_executable():
    for script in ("deploy.sh", "delete.sh"):
        assert os.access(ROOT / script, os.X_OK), script
