"""Shared fixtures. Hypothesis profiles: 'ci' (make test) and 'deep' (make test-deep)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws  # imported first: moto hooks every botocore session created after it

from generator import render
from generator.spec import Platform, load_spec
from tests.gate import shapes
from tests.helpers import PLATFORMS, ROOT

os.environ.setdefault("STACKGEN_LINT_DAEMON", "0")  # no lint daemon unless a test asks (tests/test_lintd.py)

# ci: a fixed seed, so a red CI is reproducible and does not depend on luck;
# deep (make test-deep) explores new random specs on every run.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile(
    "dev", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true", help="rewrite snapshot files")


_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """One result cache (STACKGEN_CACHE_DIR) per test run, shared by every xdist worker and
    every command a test starts, never the developer's .cache/: a run starts cold, and a
    template linted by one test is not linted again by another with the same bytes."""
    if "STACKGEN_CACHE_DIR" not in os.environ:  # xdist workers inherit the controller's
        _OWN_CACHE.append(tempfile.mkdtemp(prefix="stackgen-test-cache-"))
        os.environ["STACKGEN_CACHE_DIR"] = _OWN_CACHE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)


def xdist_groups(item: pytest.Item) -> list[str]:
    return sorted(
        {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each xdist_group on one worker, in order (the e2e lifecycles need it).

    With `--dist loadgroup`, pytest-xdist 3.8 tags a grouped test by assigning
    ``item._nodeid = nodeid + "@group"`` on the worker; pytest 9 builds ``nodeid`` from
    ``item._id`` instead, so the tag is lost and a lifecycle is spread over the workers
    (tests/test_xdist_groups.py shows it). This applies the same tag where pytest 9 reads
    it; it does nothing outside an xdist worker running loadgroup."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = xdist_groups(item)
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.fixture(scope="session")
def mcp_spec() -> Platform:
    return load_spec(ROOT / "platforms" / "mcp-gateway.yaml")


@pytest.fixture(scope="session")
def mcp_templates(mcp_spec: Platform) -> dict[str, dict[str, Any]]:
    return render.synthesize(mcp_spec)


@pytest.fixture(scope="session", params=[p.stem for p in PLATFORMS])
def platform_templates(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict[str, Any]]]:
    spec = load_spec(ROOT / "platforms" / f"{request.param}.yaml")
    return request.param, render.synthesize(spec)


@pytest.fixture(scope="session")
def shapes_gate(tmp_path_factory: pytest.TempPathFactory) -> shapes.GateRun:
    """One validate.sh run over the gate-by-construction shapes and the once-known-defect specs
    (tests/gate/shapes.py), shared read-only by the tests of both; they are in xdist group
    ``shapes.XDIST_GROUP`` so the run is made on one worker, once."""
    if not all(p.exists() for p in shapes.SCANNERS):
        pytest.skip("the gate's scanners are not installed (make gate-tools)")
    return shapes.run(tmp_path_factory.mktemp("shapes-gate"))


@pytest.fixture
def ministack(tmp_path: Path) -> Iterator[str]:
    """The local emulator as deploy.sh runs it (ministack with generator/deploy/ministack/'s
    patches: generator.deploy.emulator) on a free loopback port, for one test; skipped when
    `make test-prereqs` has not installed it. tests/e2e/ has its own per-session one."""
    import socket

    from generator.deploy import emulator

    venv = ROOT / ".tools" / "ministack"
    if not (venv / "bin" / "python").exists():
        pytest.skip(f"ministack not installed at {venv} (run `make test-prereqs`)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert url.startswith("http://127.0.0.1:")  # nothing leaves the machine
    proc = emulator.spawn(venv, "127.0.0.1", port, tmp_path / "ministack-state", tmp_path / "ministack.log")
    try:
        emulator.wait_ready(url, timeout=30, proc=proc)
        yield url
    finally:
        emulator.stop_process(proc.pid)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call served by moto in this process: dummy credentials, region us-east-1
    (AWS_DEFAULT_REGION; a test may unset it), no profile, no instance-metadata lookups.
    moto's EC2 backend does not load its ~1,300 default AMIs (each with an EBS volume and a
    snapshot, made again each time a backend is made or reset: test_diagnose, test_stacksets,
    test_regional and test_image_pulls took 42.6 s of CPU with them, 21-26 s without); the
    platforms run on Fargate, and no code under test reads an EC2 image."""
    for k, v in {
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield
