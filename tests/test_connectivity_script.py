"""scripts/ecr-connectivity-check.sh: shellcheck, usage, host derivation, and the TCP
and auth-token checks against a listener on 127.0.0.1 and a stand-in ``aws`` command.
Nothing here resolves or connects to anything but localhost."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "ecr-connectivity-check.sh"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "ECS_CONTAINER_METADATA_URI_V4"}
    e.update(env or {})
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=e, timeout=60, check=False)


@pytest.fixture
def listener() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def fake_aws(tmp_path: Path, body: str) -> dict[str, str]:
    """PATH with an ``aws`` stand-in first (the script's only AWS call is the auth token)."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "aws").write_text(f"#!/usr/bin/env bash\n{body}\n")
    (d / "aws").chmod(0o755)
    return {"PATH": f"{d}:{os.environ['PATH']}"}


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_shellcheck_clean() -> None:
    r = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout


def test_strict_mode_and_help() -> None:
    assert "set -euo pipefail" in SCRIPT.read_text()
    r = run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: ecr-connectivity-check.sh [options]")
    assert "--no-auth" in r.stdout


@pytest.mark.parametrize(
    "args", [["--bogus"], ["--port", "https"], ["--image", "docker.io/library/nginx"], ["--region"]]
)
def test_usage_errors(args: list[str]) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert "Try 'ecr-connectivity-check.sh --help'." in r.stderr


def test_no_region_is_a_usage_error() -> None:
    r = run("--no-auth")
    assert r.returncode == 2
    assert "no region" in r.stderr


def test_hosts_derived_from_the_image() -> None:
    r = run("--image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/writer:v1", "--services", "logs kms", "--list")
    assert r.returncode == 0
    assert r.stdout.split() == [
        "api.ecr.eu-west-1.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com",
        "logs.eu-west-1.amazonaws.com",
        "kms.eu-west-1.amazonaws.com",
    ]


def test_tcp_open(listener: int) -> None:
    r = run("--hosts", "localhost", "--port", str(listener), "--no-auth", "--timeout", "2")
    assert r.returncode == 0, r.stdout
    assert "ok    dns   localhost -> 127.0.0.1 (loopback)" in r.stdout
    assert f"ok    tcp   localhost:{listener} connected" in r.stdout
    assert r.stdout.rstrip().endswith("ecr-connectivity-check: all checks passed")


def test_tcp_closed(closed_port: int) -> None:
    r = run("--hosts", "localhost", "--port", str(closed_port), "--no-auth", "--timeout", "2")
    assert r.returncode == 1
    assert f"FAIL  tcp   localhost:{closed_port} timed out or was refused" in r.stdout


def test_auth_token_ok(listener: int, tmp_path: Path) -> None:
    env = fake_aws(tmp_path, 'echo "$*" > "$(dirname "$0")/called"; echo 2026-11-24T11:00:00+00:00')
    r = run("--hosts", "localhost", "--port", str(listener), "--region", "eu-west-1", env=env)
    assert r.returncode == 0, r.stdout
    assert "ok    auth  ecr:GetAuthorizationToken returned a token (expires 2026-11-24T11:00:00+00:00)" in r.stdout
    assert (tmp_path / "bin" / "called").read_text().startswith("ecr get-authorization-token --region eu-west-1")


def test_auth_token_denied(listener: int, tmp_path: Path) -> None:
    env = fake_aws(
        tmp_path,
        'echo "An error occurred (AccessDeniedException) when calling the GetAuthorizationToken '
        'operation: not authorized" >&2; exit 254',
    )
    r = run("--hosts", "localhost", "--port", str(listener), "--region", "eu-west-1", env=env)
    assert r.returncode == 1
    assert "FAIL  auth  ecr:GetAuthorizationToken was denied: An error occurred (AccessDeniedException)" in r.stdout
    assert "(grant ecr:GetAuthorizationToken on * to the role)" in r.stdout
