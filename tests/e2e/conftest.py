"""End-to-end fixtures: a local AWS emulator (ministack) on a free loopback port.

Network safety: the emulator binds 127.0.0.1; the endpoint is asserted to be loopback
before anything runs; every subprocess and in-process client gets dummy credentials,
AWS_EC2_METADATA_DISABLED=true, no AWS config/credential files, and an HTTP(S) proxy on a
closed loopback port, so a call that forgot the endpoint fails at once instead of leaving
the machine.
"""

from __future__ import annotations

import functools
import os

import boto3
import pytest
from botocore.config import Config
from e2e_support import EMULATOR_VENV, REGION, ROOT, Scripts, free_port, safe_env

from generator.deploy import emulator
from generator.deploy._aws import is_loopback_url


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    """Start ministack (patched, see generator/deploy/ministack/) for the session."""
    if not (EMULATOR_VENV / "bin" / "python").exists():
        pytest.fail(
            f"{EMULATOR_VENV} is missing: run `make test` (or make "
            f"{EMULATOR_VENV.relative_to(ROOT)}/.installed) to install ministack"
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert is_loopback_url(url), url  # the hard rule: nothing but 127.0.0.1
    state = tmp_path_factory.mktemp("ministack")
    saved = dict(os.environ)
    safe = safe_env()
    os.environ.clear()
    os.environ.update(safe)
    proc = emulator.spawn(EMULATOR_VENV, "127.0.0.1", port, state, state / "ministack.log")
    try:
        emulator.wait_ready(url, timeout=30, proc=proc)
        yield url
    finally:
        emulator.stop_process(proc.pid)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def aws(endpoint: str):
    """boto3 clients on the emulator, endpoint_url always explicit; one per service for the
    session, from one boto3 session (a new session per client read botocore's data files again:
    about 0.12 s of CPU per client, against 0.03 s, and the e2e tests ask for hundreds)."""
    assert is_loopback_url(endpoint)
    config = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})
    session = boto3.session.Session()

    @functools.cache
    def make(service: str):
        return session.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            config=config,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@pytest.fixture(scope="session")
def scripts(endpoint: str) -> Scripts:
    return Scripts(endpoint)
