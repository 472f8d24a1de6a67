"""Spec validation: bad specs fail with one line naming the file and the field,
exit code 2, and nothing written."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.spec import SpecError, json_schema, looks_secret, parse_spec

from tests.helpers import ROOT

BASE = yaml.safe_load((ROOT / "platforms" / "mcp-gateway.yaml").read_text())


def mutate(path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path (list indexes as numbers) in a copy of the MCP spec; DELETE removes it."""
    data = copy.deepcopy(BASE)
    data = {k: v for k, v in data.items() if not k.startswith("x-")}
    parts = path.split(".")
    node: Any = data
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    key: Any = int(last) if isinstance(node, list) else last
    if value == "DELETE":
        del node[key]
    else:
        node[key] = value
    return data


BAD = [
    ("services.2.ports.0.port", 70000, "services[2].ports[0].port: Input should be less than or equal to 65535"),
    ("services.2.ports.0.port", 0, "services[2].ports[0].port: Input should be greater than or equal to 1"),
    ("services.0.cpu", 300, "services[0]: cpu 300 / memory 2048 is not a valid Fargate size"),
    ("services.0.memory", 1000, "services[0]: cpu 1024 / memory 1000 is not a valid Fargate size"),
    ("services.1.name", "Auth_Server", "services[1].name: String should match pattern"),
    ("services.1.name", "registry", "duplicate name 'registry'"),
    ("services.0.cluster", "nope", "services[0].cluster: unknown cluster 'nope'"),
    ("services.0.volumes.0.access_point", "nope", "services[0].volumes: unknown EFS access point 'nope'"),
    ("services.0.secrets.SECRET_KEY", {"secret": "nope"}, "services[0].secrets.SECRET_KEY: unknown secret 'nope'"),
    ("services.0.secrets.SECRET_KEY", {"secret": "secret-key", "ssm": "keycloak-admin"},
     "exactly one of secret / ssm / database is required"),
    ("services.0.health_check", "DELETE", "services[0].health_check: Field required"),
    ("services.0.allow_from.0.service", "ghost", "services[0].allow_from: unknown service 'ghost'"),
    ("services.0.environment.KEYCLOAK_URL", "${lb:nope:url}", "unknown load balancer 'nope'"),
    ("services.0.environment.SECRETISH", "${KeycloakAdminPassword}", "is a secret; pass it through secrets"),
    ("services.0.user", "root", "user: must not be root"),
    ("services.1.user", "DELETE", "user: set a non-root user, or give root_user_reason"),
    ("services.0.writable_root_reason", "DELETE", "writable_root_reason: required"),
    ("services.1.scratch_paths", ["/tmp", "/tmp"], "scratch_paths: paths must be unique"),
    ("services.0.scaling.min", 9, "min must not exceed max"),
    ("services.0.target_groups.0.container_port", 1234, "container_port 1234 is not in ports"),
    ("efs.access_points.0.uid", 0, "efs.access_points[0].uid: Input should be greater than or equal to 1"),
    ("efs.access_points.0.permissions", "999", "efs.access_points[0].permissions: String should match pattern"),
    ("network.vpc_cidr", "10.0.0.0/33", "network.vpc_cidr: not a valid IPv4 network CIDR"),
    ("network.tiers.1.offset", 0, "overlaps tier private"),
    ("network.egress", "teleport", "network.egress: Input should be"),
    ("network.egress", "public-ip", "public_ip_reason: required when egress is 'public-ip'"),
    ("database.backup_retention_days", 1, "database.backup_retention_days: Input should be greater than or equal to 7"),
    ("database.min_acu", 5, "min_acu must not exceed max_acu"),
    ("ingress_cidrs", ["300.0.0.0/8"], "'300.0.0.0/8' is not a valid CIDR"),
    ("parameters.1.no_echo", False, "a secret-looking parameter must set no_echo: true"),
    ("parameters.0.default", None, None),  # a plain parameter may lack a default: valid
    ("repositories.0.immutable_tags", False, "mutable_tags_reason: required"),
    ("load_balancers.0.listeners.0.target_group", "nope", "load_balancers[main].listeners[80]: unknown target group"),
    ("clusters.0.default_strategy.0.provider", "FARGATE_SPOT", None),
    ("unknown_field", 1, "unknown_field: Extra inputs are not permitted"),
    ("load_balancers.1.dns_record", "DELETE", "load_balancers[keycloak].dns_record: required on a platform with a domain"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_bad_spec_names_file_and_field(path: str, value: Any, expected: str | None) -> None:
    data = mutate(path, value)
    if expected is None:
        parse_spec(data, "platforms/x.yaml")
        return
    with pytest.raises(SpecError) as err:
        parse_spec(data, "platforms/x.yaml")
    lines = err.value.lines
    assert all(line.startswith("platforms/x.yaml: ") for line in lines), lines
    assert any(expected in line for line in lines), lines


def test_at_least_fifteen_kinds_of_bad_input() -> None:
    assert len({e for _, _, e in BAD if e}) >= 15


def test_cli_bad_spec_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate("services.2.ports.0.port", 70000)))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "generator", "synth", str(bad), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{bad}: services[2].ports[0].port: Input should be less than or equal to 65535"]
    assert not out.exists()


@pytest.mark.parametrize("text", ["a: [", "- just\n- a list\n"])
def test_unparseable_spec(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "generator", "validate", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}: ")


def test_missing_file() -> None:
    proc = subprocess.run([sys.executable, "-m", "generator", "synth", "platforms/none.yaml"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert "platforms/none.yaml: cannot read" in proc.stderr


def test_secret_word_detection() -> None:
    assert looks_secret("KeycloakAdminPassword")
    assert looks_secret("EmbeddingsApiKey")
    assert looks_secret("ClientSecret")
    assert not looks_secret("KeycloakAdmin")
    assert not looks_secret("KeycloakLogLevel")


def test_json_schema_describes_the_model() -> None:
    schema = json_schema()
    assert schema["title"] == "stackgen platform spec"
    assert {"name", "services", "clusters"} <= set(schema["required"])
    assert "Service" in schema["$defs"]
