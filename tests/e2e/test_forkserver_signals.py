"""A helper run through deploy.sh's helper server (generator/deploy/forkserver.py) that is
killed by a signal, or that a Ctrl-C interrupts without the helper catching it, ends its
client exactly as ``python -m generator.deploy.MODULE`` would end: by that signal. A shell
script sees the same status, and bash stops a script whose child died of SIGINT as on Ctrl-C
(an exit code of 130 would let it go on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import ROOT, safe_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server is Linux only")

# A helper that waits 10 s without catching anything: the forkserver module's own client,
# waiting for a server whose socket never appears (the live PID keeps it waiting).
WAITER = ("forkserver", "run", "/nonexistent/helpers.sock", str(os.getpid()), "outputs")


@pytest.fixture
def server(tmp_path: Path):
    sock = tmp_path / "helpers.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.deploy.forkserver", "serve", "--socket", str(sock)]
        + ["--parent", str(os.getpid())],
        cwd=ROOT,
        env=safe_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sock.exists()
    yield sock, proc
    proc.kill()
    proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _start(how: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "generator.deploy.forkserver", *how, *WAITER[1:]],
        cwd=ROOT,
        env={**safe_env(), "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _helper_pid(client: subprocess.Popen, server: subprocess.Popen | None) -> int:
    """The process running the helper: the client itself, or the server's child for it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server is None:
            time.sleep(1.0)  # past its imports, in the wait
            return client.pid
        kids = _children(server.pid)
        if kids:
            time.sleep(0.5)
            return kids[0]
        time.sleep(0.02)
    raise AssertionError("the helper never started")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_helper_ended_by_a_signal_ends_its_client_by_that_signal(server, signum):
    sock, proc = server
    results = {}
    for name, how, srv in (("plain", [], None), ("served", ["run", str(sock), str(proc.pid), "forkserver"], proc)):
        client = _start(how)
        os.kill(_helper_pid(client, srv), signum)
        _, err = client.communicate(timeout=60)
        results[name] = (client.returncode, err.decode().rstrip().rsplit("\n", 1)[-1])
    assert results["plain"][0] == -signum
    assert results["served"] == results["plain"]
    assert proc.poll() is None  # the server goes on serving
