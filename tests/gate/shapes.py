"""The specs of the gate-clean-by-construction tests, gated together in ONE ./validate.sh run
(the scanners start once, not once per test module): fixture ``shapes_gate`` (tests/conftest.py).

- ``CLEAN_SHAPES``: shapes the generator once emitted templates its own gate rejected, or that
  issue 11 added, rendered with ``render`` (tests/gate/test_gate_by_construction.py);
- ``KNOWN_SHAPES``: the two once-known-defect specs, accepted by ``validate``
  (``synth.synthesize_checked``) and written as ``synth`` writes them
  (tests/test_deployability_gate.py).

Each shape is written to ``<run>/<set>/<shape>/`` (set: ``construction`` or ``known``): a FAIL
line names the shape by its template's folder, and a test reads only its own set's lines.
The tests using the run are in xdist group ``shapes-gate`` (one worker, so the run is made once).
"""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import render, synth
from generator.spec import SpecError, parse_spec
from tests.helpers import ROOT

XDIST_GROUP = "shapes-gate"
VALIDATE = ROOT / "validate.sh"
SCANNERS = (ROOT / ".tools" / "checkov" / "bin" / "checkov", ROOT / ".tools" / "cfn-guard" / "bin" / "cfn-guard")
WEB_SPEC = ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml"
WEB = yaml.safe_load(WEB_SPEC.read_text())


def gate_env() -> dict[str, str]:
    """validate.sh without AWS credentials: the remote step is skipped, nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"
    )
    return env


# ---- the construction shapes (rendered) ------------------------------------------------------


def spec(name: str, network: dict[str, Any] | None = None, **platform: Any) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    data["name"] = name
    data["network"] = {**data["network"], **(network or {})}
    data.update(copy.deepcopy(platform))
    return data


def with_sources_and_data(name: str) -> dict[str, Any]:
    """An admin port on its own source set, and a task that reads and writes an SSE-KMS
    bucket and reads a secret at run time (the KMS statements derived from its permissions)."""
    data = spec(
        name,
        ingress_sources=[
            {
                "name": "AdminCidrBlocks",
                "description": "operators' networks",
                "cidrs": ["203.0.113.0/24", "198.51.100.0/24"],
            }
        ],
        buckets=["data"],
        secrets=[{"name": "api-key", "description": "third-party API key", "generate": {"length": 32}}],
    )
    svc = data["services"][0]
    svc["ports"].append({"name": "admin", "port": 9090})
    svc["target_groups"].append({"name": "admin", "load_balancer": "web", "container_port": 9090})
    data["load_balancers"][0]["listeners"].append(
        {"port": 8080, "mode": "auto", "target_group": "admin", "sources": "AdminCidrBlocks"}
    )
    svc["task_permissions"] = [
        {"sid": "DataObjects", "actions": ["s3:GetObject", "s3:PutObject"], "resources": ["${bucket:data}/*"]},
        {"sid": "ApiKey", "actions": ["secretsmanager:GetSecretValue"], "resources": ["${secret:api-key}"]},
    ]
    return data


PUBLIC_IP_REASON = "short-lived demo without NAT or endpoint budget"
CLEAN_SHAPES = {
    # per-environment egress: the S3 prefix-list and internet rules differ by environment
    "endpoints-except-prod": spec(
        "endpoints-except-prod", {"egress": "vpc-endpoints", "egress_by_environment": {"prod": "single-nat"}}
    ),
    "sources-and-data": with_sources_and_data("sources-and-data"),
    # once a gap (cfn-lint W1028): NAT per AZ in some environments, VPC endpoints in others; the AZ 2/3
    # default routes no longer carry an Fn::If whose single-nat branch no environment takes
    "nat-except-dev": spec(
        "nat-except-dev", {"egress": "nat-per-az", "egress_by_environment": {"dev": "vpc-endpoints"}}
    ),
    # once a gap (CT.ECS.PR.9): public IPs with the spec's reason, which the generator writes next to
    # each ECS service as the one exemption the gate accepts for that rule
    "public-ip": spec("public-ip", {"egress": "public-ip", "public_ip_reason": PUBLIC_IP_REASON}),
}


# ---- the once-known-defect shapes (accepted by validate, written as synth writes) --------------


def web(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = yaml.safe_load(WEB_SPEC.read_text())
    edit(data)
    return data


def _public_ip(d: dict[str, Any]) -> None:
    d["network"].update(egress="public-ip", public_ip_reason="a throw-away dev platform")


def _per_environment(d: dict[str, Any]) -> None:
    d["network"].update(egress="vpc-endpoints", egress_by_environment={"prod": "nat-per-az"})
    d["network"]["availability_zones"] = 2


KNOWN_SHAPES: dict[str, Callable[[dict[str, Any]], None]] = {
    "public-ip": _public_ip,
    "per-environment": _per_environment,
}


def accepted(data: dict[str, Any], folder: Path) -> synth.Synthesis | None:
    """``validate`` on a spec written under ``folder/platforms/``: the synthesis, or None if refused."""
    path = folder / "platforms" / "prop.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        return synth.synthesize_checked(path)
    except SpecError:
        return None


# ---- the one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateRun:
    """One ``validate.sh --no-remote --verbose`` over every shape: its exit code and output,
    and the templates folder of each shape of each set."""

    code: int
    output: str
    construction: dict[str, Path]
    known: dict[str, Path]


def run(out: Path) -> GateRun:
    construction = {name: out / "construction" / name for name in CLEAN_SHAPES}
    for name, data in CLEAN_SHAPES.items():
        render.write(render.render(parse_spec(data, f"{name}.yaml")), construction[name])
    known = {}
    for shape, edit in KNOWN_SHAPES.items():
        result = accepted(web(edit), out / "specs" / shape)
        assert result is not None, f"validate refuses the once-known {shape} spec"
        known[shape] = out / "known" / shape
        render.write(result.aws_files or {}, known[shape])
    targets = [str(out / "construction"), str(out / "known")]
    proc = subprocess.run(
        [str(VALIDATE), "--no-remote", "--verbose", "--reports", str(out / "reports"), *targets],
        capture_output=True,
        text=True,
        env=gate_env(),
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    # every scanner ran (a scanner error is "+error" in the summary) and the gate reported
    assert "+error" not in proc.stdout and "security gate:" in proc.stdout, proc.stdout + proc.stderr
    return GateRun(proc.returncode, proc.stdout + proc.stderr, construction, known)
