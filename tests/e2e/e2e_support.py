"""Helpers for the e2e tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from generator.deploy import emulator
from generator.deploy._aws import load_template

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EMULATOR_VENV = ROOT / ".tools" / "ministack"
REGION = "us-east-1"
DEAD_PROXY = emulator.DEAD_PROXY
# deploy.sh's local state (recorded stack IDs, locks) of the e2e runs: never the checkout's
STATE_DIR = tempfile.mkdtemp(prefix="stackgen-e2e-state-")
# An image manifest ECR accepts with put-image (what `docker push` leaves in the registry).
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def safe_env(endpoint: str | None = None) -> dict[str, str]:
    """The environment every e2e subprocess runs with."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "STACKGEN_PARAM_"))
        and k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
    }
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_MAX_ATTEMPTS": "2",
            "AWS_PAGER": "",
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": emulator.NO_PROXY,
            "no_proxy": emulator.NO_PROXY,
            "NO_COLOR": "1",
            "STACKGEN_STATE_DIR": STATE_DIR,
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


@dataclass
class Run:
    code: int
    out: str
    seconds: float
    args: list[str] = field(default_factory=list)

    def __str__(self) -> str:  # shown by assertion failures
        return f"$ {' '.join(self.args)}\nexit {self.code} after {self.seconds:.1f} s\n{self.out}"


class Scripts:
    """Runs deploy.sh / delete.sh against the emulator, stdin never a terminal."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def run(
        self, script: str, *args: str, env: dict[str, str] | None = None, endpoint: bool = True, timeout: float = 300
    ) -> Run:
        cmd = [str(ROOT / script), *args]
        if endpoint:
            cmd += ["--endpoint-url", self.endpoint]
        if "--interval" not in args:
            # Poll the emulator's stacks every 0.1 s, not deploy.sh's 0.5 s: what these tests check
            # is the outcome and output of a deploy, not how often it polls (the emulator answers in
            # milliseconds; test_e2e_platforms.py went from 49.7 s to 32.7 s).
            cmd += ["--interval", "0.1"]
        full_env = safe_env()
        full_env.update(env or {})
        start = time.monotonic()
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, time.monotonic() - start, cmd)

    def deploy(self, *args: str, **kw) -> Run:
        return self.run("deploy.sh", *args, **kw)

    def delete(self, *args: str, **kw) -> Run:
        return self.run("delete.sh", *args, **kw)


def stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def pending_change_sets(cfn, name: str) -> list[dict]:
    """Change sets not executed (the emulator keeps executed ones; AWS deletes them)."""
    return [
        c for c in cfn.list_change_sets(StackName=name)["Summaries"] if c.get("ExecutionStatus") != "EXECUTE_COMPLETE"
    ]


def stack_outputs(cfn, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def write_params(path: Path, values: dict[str, str]) -> Path:
    path.write_text(json.dumps([f"{k}={v}" for k, v in values.items()], indent=2))
    return path


def read_params(path: Path) -> dict[str, str]:
    return dict(item.split("=", 1) for item in json.loads(path.read_text()))


def copy_templates(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def inject_broken_resource(template_path: Path, logical_id: str = "BrokenParameter") -> None:
    """Add a resource the emulator rejects at provisioning time (SSM Type 'Bogus')."""
    template = load_template(template_path)
    template["Resources"][logical_id] = {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Type": "Bogus", "Value": "deliberately broken"},
    }
    template_path.write_text(yaml.safe_dump(template, sort_keys=False))


def wait_stack(cfn, name: str, timeout: float = 120) -> str | None:
    """Poll until the stack is no longer *_IN_PROGRESS; its status (None once deleted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stack_status(cfn, name)
        if status is None or not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(0.1)
    raise TimeoutError(f"{name} still in progress after {timeout:.0f} s")


def apply_stack(cfn, name: str, resources: dict, outputs: dict | None = None) -> str | None:
    """Create the stack, or update it when it exists; its final status."""
    body = json.dumps({"Resources": resources, **({"Outputs": outputs} if outputs else {})})
    kwargs = {"StackName": name, "TemplateBody": body, "Capabilities": ["CAPABILITY_NAMED_IAM"]}
    if stack_status(cfn, name) is None:
        cfn.create_stack(**kwargs)
    else:
        cfn.update_stack(**kwargs)
    return wait_stack(cfn, name)


def delete_stack(cfn, name: str) -> str | None:
    cfn.delete_stack(StackName=name)
    return wait_stack(cfn, name)


def failure_reasons(cfn, name: str) -> list[str]:
    """The ResourceStatusReason of every *_FAILED event of the stack."""
    return [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if e["ResourceStatus"].endswith("_FAILED")
    ]


def deployed_resources(cfn, name: str, path: str = "") -> dict[str, str]:
    """Every resource of the stack and of its nested stacks: {"Nested/Logical": type}."""
    found: dict[str, str] = {}
    for res in cfn.describe_stack_resources(StackName=name)["StackResources"]:
        key = f"{path}{res['LogicalResourceId']}"
        found[key] = res["ResourceType"]
        if res["ResourceType"] == "AWS::CloudFormation::Stack":
            found.update(deployed_resources(cfn, res["PhysicalResourceId"], f"{key}/"))
    return found


def push_images(aws, stack: str, template_dir: Path) -> list[str]:
    """Put an image manifest for every Metadata.stackgen.images entry of the parent into its
    repository (the stack's output), as `docker push` would; the image URIs pushed."""
    cfn = aws("cloudformation")
    main = load_template(template_dir / "main.yaml")
    outputs = stack_outputs(cfn, stack)
    params = {
        p["ParameterKey"]: p.get("ParameterValue", "")
        for p in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
    }
    pushed = []
    for entry in main["Metadata"]["stackgen"].get("images", []):
        uri = outputs[entry["repository_output"]]
        tag = params.get(entry["tag_parameter"]) or str(main["Parameters"][entry["tag_parameter"]]["Default"])
        aws("ecr").put_image(repositoryName=uri.split("/", 1)[1], imageTag=tag, imageManifest=MANIFEST)
        pushed.append(f"{uri}:{tag}")
    return pushed


def run_printed(command: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command line exactly as a script printed it (VAR=value prefixes included), from
    the directory the scripts run in, stdin never a terminal."""
    words = shlex.split(command)
    extra = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        extra[key] = value
    full = safe_env()
    # As a user's shell runs it: not inside the make that may run the tests (a sub-make
    # would add "make[1]: Leaving directory" lines and inherit make's flags).
    for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
        full.pop(var, None)
    full.update(env or {})
    full.update(extra)
    return subprocess.run(
        words,
        cwd=ROOT,
        env=full,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
