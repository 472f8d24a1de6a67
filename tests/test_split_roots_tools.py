"""Every tool reads every root of a split platform (issue 12 follow-ups).

A platform over the per-operation quota is generated as several root stacks: ``main.yaml``
and ``main-services-N.yaml`` (generator/roots.py).  These tests make a small spec split into
two roots (the test-only ``STACKGEN_TEST_ROOT_BUDGET``, as tests/test_roots.py does) and show
that each tool that reads a template directory sees the second root, not only ``main.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import render, roots
from generator.bench import scale_spec
from generator.deployability import rootset
from generator.deployability.quotas import QUOTAS
from generator.gate import cli as gate_cli
from generator.spec import parse_spec
from tests.helpers import ROOT

VALIDATE = ROOT / "validate.sh"
SECOND = "main-services-2.yaml"


def split_spec() -> dict[str, Any]:
    """12 services; the second half is the group ``later`` (its own root under the test budget)."""
    data = scale_spec(12)
    for i, s in enumerate(data["services"]):
        s["group"] = "later" if i >= 6 else "default"
    data["name"] = "two-roots"
    return data


def write_split(out: Path) -> Path:
    """The templates of a platform in two roots, written to ``out`` as ``make templates`` writes them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(roots.BUDGET_ENV, str(2 * QUOTAS["resources"].value))
        files = render.render(parse_spec(split_spec()))
    render.write(files, out)
    assert rootset.root_files(rootset.load_roots(out)) == ["main.yaml", SECOND]
    return out


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_split(tmp_path_factory.mktemp("split") / "two-roots")


# ---- python -m generator.gate roots ------------------------------------------------------------


def test_the_gate_lists_every_root_in_deploy_order(split_dir: Path) -> None:
    assert gate_cli.roots([str(split_dir)]) == [split_dir / "main.yaml", split_dir / SECOND]
    # a file is listed when it is a root of its folder, and only then
    assert gate_cli.roots([str(split_dir / SECOND)]) == [split_dir / SECOND]
    assert gate_cli.roots([str(split_dir / "services-later.yaml")]) == []
    # the seeds: one root each
    seeds = gate_cli.roots([str(ROOT / "templates")])
    assert seeds and all(p.name == "main.yaml" for p in seeds)


# ---- validate.sh --bucket ----------------------------------------------------------------------

FAKE_AWS = """#!/usr/bin/env bash
# A stand-in for the aws CLI: records each call; `cloudformation package` copies the template.
printf '%s\\n' "$*" >>"$FAKE_AWS_LOG"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --template-file) src=${args[i + 1]} ;;
    --output-template-file) dst=${args[i + 1]} ;;
  esac
done
if [[ " $* " == *" package "* ]]; then cp "$src" "$dst"; fi
exit 0
"""


@pytest.fixture
def cfn_stub() -> Iterator[tuple[str, list[str]]]:
    """A loopback stand-in for CloudFormation's ValidateTemplate (the query API): every
    request is answered "valid", and each TemplateBody it was sent is recorded."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    bodies: list[str] = []
    ok = (
        b'<ValidateTemplateResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        b"<ValidateTemplateResult><Parameters/></ValidateTemplateResult></ValidateTemplateResponse>"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            assert form["Action"] == ["ValidateTemplate"], form
            bodies.append(form["TemplateBody"][0])
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(ok)))
            self.end_headers()
            self.wfile.write(ok)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def run_validate(
    target: Path, tmp_path: Path, endpoint: str, *extra: str, aws: str = FAKE_AWS
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """validate.sh's remote step over ``target`` with a recording ``aws`` for the packaging
    and ``endpoint`` (the stand-in above) for the validation: nothing leaves the machine."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "aws").write_text(aws)
    (fake / "aws").chmod(0o755)
    log = tmp_path / "aws.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PATH=f"{fake}:{env.get('PATH', '/usr/bin:/bin')}",
        FAKE_AWS_LOG=str(log),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    args = ["--tools", "reasons", "--reports", "", "--endpoint-url", endpoint, *extra, str(target)]
    proc = subprocess.run(
        [str(VALIDATE), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False
    )
    return proc, log.read_text().splitlines()


def _arg(call: str, flag: str) -> str:
    words = shlex.split(call)
    return words[words.index(flag) + 1]


def _validated(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"^validate-template: ok   (\S+)$", proc.stdout, re.MULTILINE)


def test_validate_sh_bucket_packages_and_validates_every_root(
    split_dir: Path, tmp_path: Path, cfn_stub: tuple[str, list[str]]
) -> None:
    endpoint, bodies = cfn_stub
    proc, calls = run_validate(split_dir, tmp_path, endpoint, "--bucket", "artifacts")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    packaged = [c for c in calls if " cloudformation package " in f" {c} "]
    assert sorted(Path(_arg(c, "--template-file")).name for c in packaged) == sorted(["main.yaml", SECOND])
    assert all(_arg(c, "--s3-bucket") == "artifacts" for c in packaged)
    outputs = [_arg(c, "--output-template-file") for c in packaged]
    assert len(set(outputs)) == 2  # one packaged file per root: the second does not overwrite the first
    validated = _validated(proc)
    for out in outputs:
        assert out in validated
    # every template is validated as it is, too, and CloudFormation was sent each one's bytes
    assert {Path(v).name for v in validated} >= {p.name for p in split_dir.glob("*.yaml")}
    assert len(bodies) == len(validated) == len(list(split_dir.glob("*.yaml"))) + 2
    assert (split_dir / SECOND).read_text() in bodies
    assert not [c for c in calls if "validate-template" in c]  # one python process, not a CLI per file


def test_validate_sh_without_bucket_packages_nothing(
    split_dir: Path, tmp_path: Path, cfn_stub: tuple[str, list[str]]
) -> None:
    endpoint, bodies = cfn_stub
    proc, calls = run_validate(split_dir, tmp_path, endpoint)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [c for c in calls if " package " in f" {c} "]
    assert len(_validated(proc)) == len(bodies) == len(list(split_dir.glob("*.yaml")))


def test_a_failed_package_of_the_second_root_fails_validate_sh(
    split_dir: Path, tmp_path: Path, cfn_stub: tuple[str, list[str]]
) -> None:
    """The packaging of a service-set root is checked, not only attempted: a CLI that cannot
    package it (here: the stand-in refuses that one file) fails the run and names the file."""
    refuses = FAKE_AWS.replace("exit 0\n", f'[[ " $* " == *" package "*{SECOND}* ]] && exit 255\nexit 0\n')
    proc, calls = run_validate(split_dir, tmp_path, cfn_stub[0], "--bucket", "artifacts", aws=refuses)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"validate-template: FAIL packaging {split_dir / SECOND}" in proc.stderr
    assert len([c for c in calls if " package " in f" {c} "]) == 2


# ---- stackgen diagnose -------------------------------------------------------------------------


def split_deployment() -> tuple[Any, str]:
    """tests/test_diagnose.py's clean deployment (stack ``file-writer``, service ``writer``) as
    the base root of a split platform: its template lists ``main-services-2.yaml``, and the stack
    ``file-writer-services-2`` runs a second service, ``writer2``, whose security group lets
    nothing out (so a diagnosis that reads that root has a finding to report)."""
    from tests.test_diagnose import build, client

    e = build("endpoints")
    cfn, ecs, ec2 = client("cloudformation"), client("ecs"), client("ec2")
    body = cfn.get_template(StackName="file-writer")["TemplateBody"]
    base = dict(body) if isinstance(body, dict) else json.loads(body)
    base["Metadata"] = {"stackgen": {"roots": ["main.yaml", SECOND]}}
    cfn.update_stack(StackName="file-writer", TemplateBody=json.dumps(base))
    second = {
        "Resources": {
            "Bootstrap": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "bootstrap2",
                    "ContainerDefinitions": [{"Name": "x", "Image": "x", "Memory": 512}],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "ServiceName": "writer2",
                    "Cluster": e.cluster,
                    "TaskDefinition": {"Ref": "Bootstrap"},
                    "DesiredCount": 1,
                },
            },
        }
    }
    cfn.create_stack(StackName="file-writer-services-2", TemplateBody=json.dumps(second))
    closed = ec2.create_security_group(GroupName="closed", Description="closed", VpcId=e.vpc)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=closed, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    td = ecs.describe_services(cluster=e.cluster, services=["writer"])["services"][0]["taskDefinition"]
    ecs.update_service(
        cluster=e.cluster,
        service="writer2",
        taskDefinition=td,
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": e.subnets, "securityGroups": [closed], "assignPublicIp": "DISABLED"}
        },
    )
    return e, closed


def diagnose_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """``stackgen diagnose --stack file-writer --json``: exit code and the JSON it prints."""
    import boto3

    from generator import diagnose
    from tests.test_diagnose import SESSION

    monkeypatch.setattr(boto3, "Session", lambda **kw: SESSION)  # reuse the parsed service models
    rc = diagnose.main(["--stack", "file-writer", "--region", "us-east-1", "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_diagnose_walks_every_root_stack(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, closed = split_deployment()
    rc, out = diagnose_cli(monkeypatch, capsys)
    assert out["tasks"] == 2  # writer (base root) and writer2 (main-services-2.yaml)
    problems = [f["problem"] for f in out["findings"]]
    assert rc == 1 and problems and all(p.startswith("service writer2: ") for p in problems), problems
    assert any(closed in p for p in problems)


def test_diagnose_reports_a_listed_root_stack_that_does_not_exist(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_diagnose import client

    split_deployment()
    client("cloudformation").delete_stack(StackName="file-writer-services-2")
    rc, out = diagnose_cli(monkeypatch, capsys)
    assert rc == 1 and out["tasks"] == 1
    assert [(f["rule"], f["problem"]) for f in out["findings"]] == [
        (
            "discovery",
            "the root stack file-writer-services-2 that stack file-writer lists does not exist: "
            "its services were not diagnosed",
        )
    ]


@pytest.mark.e2e
def test_validate_sh_bucket_on_the_emulator_packages_every_root(split_dir: Path, ministack: str) -> None:
    """The real aws CLI against the emulator: ``cloudformation package`` uploads the nested
    stacks of both roots to the bucket, and both packaged roots pass validate-template."""
    emulator = ministack
    import boto3

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        PATH=f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        # a call that forgot the endpoint goes to a closed loopback port, never to AWS
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=emulator,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="artifacts")
    proc = subprocess.run(
        [str(VALIDATE), "--tools", "reasons", "--reports", "", "--endpoint-url", emulator]
        + ["--bucket", "artifacts", str(split_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for root in ("main", "main-services-2"):
        assert re.search(rf"validate-template: ok   \S+/two-roots-{root}-packaged\.yaml", proc.stdout), proc.stdout
    uploaded = s3.list_objects_v2(Bucket="artifacts", Prefix="validate/two-roots/").get("KeyCount", 0)
    templates = rootset.load_roots(split_dir)
    nested = {c for r in rootset.root_files(templates) for c in rootset.children_of(templates[r])}
    assert uploaded == len(nested) == 16  # 11 under main.yaml, 5 under main-services-2.yaml


def test_the_acceptance_diagnose_check_walks_every_root_stack(moto_aws: None) -> None:
    """make acceptance's diagnose check is stackgen diagnose's: the second root's service is in it."""
    from generator.acceptance import run
    from generator.acceptance.report import FAILED

    split_deployment()
    check = run.diagnose_check(run.Options("file-writer", "dev", "file-writer", "us-east-1"))
    assert check.status == FAILED
    assert "service writer2: " in check.message
    assert "diagnose: stack file-writer: 2 tasks" in check.output


def test_the_acceptance_run_reads_the_services_of_every_root_stack(moto_aws: None) -> None:
    """make acceptance's view of the deployed platform (acceptance.stack.discover) holds the
    services of the service-set roots, so their checks run."""
    from generator.acceptance.stack import discover
    from tests.test_diagnose import client

    split_deployment()
    deployed = discover(client, "file-writer")
    assert sorted(s.name for s in deployed.services) == ["writer", "writer2"]
    assert any("file-writer-services-2" in r.stack_id for r in deployed.resources)


def test_diagnose_by_stack_arn_and_without_get_template(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The base root given by its ARN finds the same roots; a caller without
    cloudformation:GetTemplate diagnoses the base root and is told the rest was not looked for."""
    from botocore.exceptions import ClientError

    from generator import diagnose
    from tests.test_diagnose import SESSION, client

    split_deployment()
    arn = client("cloudformation").describe_stacks(StackName="file-writer")["Stacks"][0]["StackId"]
    d = diagnose.Diagnose(SESSION)
    assert diagnose.later_roots(d, arn) == ["file-writer-services-2"]

    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetTemplate")

    d = diagnose.Diagnose(SESSION)
    monkeypatch.setattr(d.cfn, "get_template", denied)
    assert diagnose.run_roots(d, "file-writer") == [] and d.task_count == 1
    assert d.notes[0] == (
        "stack file-writer: its template could not be read (AccessDenied): the other root stacks of a "
        "platform split into several were not looked for"
    )


@pytest.mark.e2e
def test_diagnose_and_acceptance_read_a_deployed_split_platform(ministack: str, tmp_path: Path) -> None:
    """On the emulator: deploy.sh deploys a platform in two roots (as tests/e2e/test_e2e_roots.py),
    then stackgen diagnose and make acceptance's discovery, reading the deployed templates back
    (YAML text, as deploy.sh packaged them), find the service of the second root too."""
    emulator = ministack
    import boto3
    import yaml

    from generator.acceptance.stack import discover
    from generator.deploy import emulator as launcher

    data = yaml.safe_load((ROOT / "examples" / "queue-worker.yaml").read_text(encoding="utf-8"))
    data["name"] = "two-roots"
    data["services"].append(dict(data["services"][0], name="consumer-b", group="later"))
    spec = tmp_path / "two-roots.yaml"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    params = tmp_path / "dev.json"
    params.write_text(
        json.dumps(
            [
                "OrderQueueArn=arn:aws:sqs:us-east-1:000000000000:orders",
                "OrderQueueUrl=https://sqs.us-east-1.amazonaws.com/000000000000/orders",
            ]
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKGEN_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        HTTP_PROXY=launcher.DEAD_PROXY,
        HTTPS_PROXY=launcher.DEAD_PROXY,
        http_proxy=launcher.DEAD_PROXY,
        https_proxy=launcher.DEAD_PROXY,
        NO_PROXY=launcher.NO_PROXY,
        no_proxy=launcher.NO_PROXY,
        STACKGEN_STATE_DIR=str(tmp_path / "state"),
        PATH=f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        **{roots.BUDGET_ENV: str(2 * roots.GROUP_RESERVE)},
    )
    args = ["--platform", str(spec), "--env", "dev", "--params-file", str(params), "--endpoint-url", emulator]
    deploy = subprocess.run(
        [str(ROOT / "deploy.sh"), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    diag = subprocess.run(
        [str(ROOT / ".venv/bin/stackgen"), "diagnose", "--stack", "two-roots-dev", "--endpoint-url", emulator]
        + ["--region", "us-east-1", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert diag.returncode in (0, 1), diag.stderr  # the emulator's endpoints give findings (see test_e2e_acceptance)
    report = json.loads(diag.stdout)
    assert report["tasks"] == 2, report  # consumer (base root) and consumer-b (main-services-2.yaml)
    assert not [f for f in report["findings"] if f["rule"] == "discovery"]

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    deployed = discover(lambda service: session.client(service, endpoint_url=emulator), "two-roots-dev")
    assert sorted(s.path.rsplit("/", 1)[-1] for s in deployed.services) == ["ConsumerBService", "ConsumerService"]


# ---- stackgen check --templates ----------------------------------------------------------------


def test_check_templates_refuses_roots_that_do_not_fit_together(
    split_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preflight reads the roots as one hierarchy (rootset.merge): a service-set root fed
    from an output the base root no longer declares would fail its create, so the check
    fails and names it (it used to check the merged set silently)."""
    import shutil

    from generator import cli
    from generator.cfn.load import load_file

    broken = tmp_path / "two-roots"
    shutil.copytree(split_dir, broken)
    name, _producer = sorted(rootset.from_outputs(load_file(broken / SECOND)).items())[0]
    main = yaml.safe_load((broken / "main.yaml").read_text())
    del main["Outputs"][name]
    (broken / "main.yaml").write_text(yaml.safe_dump(main, sort_keys=False))
    assert cli.main(["check", "--templates", str(broken), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert (
        f"{SECOND}: parameter {name} is fed from the output {name} of main.yaml, which declares no such output" in out
    )
    assert "preflight FAILED" in out
    assert cli.main(["check", "--templates", str(split_dir), "--no-cache"]) == 0
