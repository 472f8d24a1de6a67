"""Gate-clean by construction (issue 11, item 7): a spec the model accepts passes ./validate.sh.

Each spec below is a shape the generator used to emit templates its own gate rejected, or a
shape issue 11 added, rendered with the real generator and run through the real gate
(cfn-lint, checkov, cfn-guard and the reasons audit; `make gate-tools` installs them).

Two shapes once failed (W1028 with NAT per AZ in some environments only; Control Tower
ECS.PR.9 with egress public-ip); both are clean shapes now.  ``public-ip`` passes through
exactly one exemption, the spec's reason written next to each ECS service; the test checks
the gate reports it as a suppression with that reason.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import render
from generator.spec import parse_spec
from tests.gate.conftest import ROOT

WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())


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


def failures(out: str) -> set[tuple[str, str, str, str]]:
    """(shape, rule, template file name, logical id) of every unsuppressed finding."""
    found = set()
    for m in re.finditer(r"^\s+FAIL\s+(\S+)\s+(\S+?):\d+ (\w+):", out, re.M):
        path = Path(m.group(2))
        found.add((path.parent.name, m.group(1), path.name, m.group(3)))
    return found


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory, cfn_guard: Path, checkov: Path) -> tuple[int, str]:
    """One gate run over every shape (the scanners start once): (exit code, output)."""
    out = tmp_path_factory.mktemp("gate-by-construction")
    for name, data in CLEAN_SHAPES.items():
        render.write(render.render(parse_spec(data, f"{name}.yaml")), out / "t" / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"
    )
    proc = subprocess.run(
        [str(ROOT / "validate.sh"), "--no-remote", "--verbose", "--reports", str(out / "r"), str(out / "t")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    assert "+error" not in proc.stdout and "security gate:" in proc.stdout, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.xdist_group("gate-by-construction")  # one worker: the module's one gate run is not made twice
def test_generated_shapes_pass_the_gate(gate_run: tuple[int, str]) -> None:
    _, out = gate_run
    assert len(re.findall(r"^\s+FAIL\s", out, re.M)) == len(failures(out)), "a finding this test cannot attribute"
    assert {f for f in failures(out) if f[0] in CLEAN_SHAPES} == set(), out


@pytest.mark.xdist_group("gate-by-construction")  # one worker: the module's one gate run is not made twice
def test_public_ip_passes_through_the_specs_reason(gate_run: tuple[int, str]) -> None:
    """The ECS.PR.9 finding on the public-ip shape's service is suppressed with the spec's reason."""
    _, out = gate_run
    lines = [x for x in out.splitlines() if "ecs_service_assign_public_ip_disabled_check" in x]
    assert lines and all("public-ip/services.yaml" in x for x in lines), out
    assert any(PUBLIC_IP_REASON in x for x in lines), lines
