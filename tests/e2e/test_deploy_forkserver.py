"""The helper server of deploy.sh and delete.sh (generator/deploy/forkserver.py): a helper run
through it is the same command as ``python -m generator.deploy.MODULE`` (arguments,
environment, working directory, stdout, stderr, exit status), the client runs the helper
itself when the server cannot answer, and the server never outlives the script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import FIXTURES, ROOT, safe_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server is Linux only")

FX = FIXTURES / "nested"
SECRET = "STACKGEN_PARAM_DbMasterPassword"


@pytest.fixture
def server(tmp_path: Path):
    """A server as the scripts start it, its parent this test process; (socket, pid)."""
    sock = tmp_path / "helpers.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.deploy.forkserver", "serve", "--socket", str(sock)]
        + ["--parent", str(os.getpid()), "--services", "sts,cloudformation"],
        cwd=ROOT,
        env=safe_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sock.exists(), proc.communicate()[1] if proc.poll() is not None else "no socket"
    yield sock, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _run(how: list[str], module: str, *args: str, env: dict | None = None, cwd: Path = FX):
    full = safe_env()
    full.pop(SECRET, None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", *how, module, *args],
        cwd=cwd,
        env={**full, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CASES = [
    # relative paths (the caller's directory), PROG and a secret from the caller's environment
    (("params", "--template", "main.yaml", "--params-file", "params/dev.json"), {"PROG": "deploy.sh"}),
    (("params", "--template", "main.yaml", "--params-file", "params/dev.json"), {SECRET: "s3cret-Pa55word-x"}),
    (("params", "--template", "main.yaml", "--params-file", "params/missing.json"), {}),
    (("exposure", "--template-dir", ".", "--platform", "fixture", "--env", "prod"), {}),
    (("outputs", "--help"), {}),
    (("events", "watch"), {}),  # argparse: exit 2, usage on stderr
]


@pytest.mark.parametrize(("args", "env"), CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_a_helper_through_the_server_is_the_same_command(server, args, env):
    sock, proc = server
    plain = _run([], f"generator.deploy.{args[0]}", *args[1:], env=env)
    served = _run(["generator.deploy.forkserver", "run", str(sock), str(proc.pid)], args[0], *args[1:], env=env)
    assert (served.returncode, served.stdout, served.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert proc.poll() is None  # still serving


def test_the_secret_and_the_directory_are_the_callers(server):
    """The server was started without the secret and in another directory: a helper that saw
    the server's environment or directory would fail here."""
    sock, proc = server
    how = ["generator.deploy.forkserver", "run", str(sock), str(proc.pid)]
    args = ("--template", "main.yaml", "--params-file", "params/dev.json")
    without = _run(how, "params", *args)
    assert without.returncode == 2 and f"set {SECRET}" in without.stderr, without
    with_secret = _run(how, "params", *args, env={SECRET: "s3cret-Pa55word-x"})
    assert with_secret.returncode == 0 and "1 secret(s) from" in with_secret.stderr, with_secret


def test_without_a_server_the_client_runs_the_helper_itself(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a PID that answers nothing
    args = ("--template", "main.yaml", "--params-file", "params/dev.json")
    plain = _run([], "generator.deploy.params", *args, env={SECRET: "s3cret-Pa55word-x"})
    alone = _run(
        ["generator.deploy.forkserver", "run", str(tmp_path / "none.sock"), str(dead.pid)],
        "params",
        *args,
        env={SECRET: "s3cret-Pa55word-x"},
    )
    assert alone.returncode == plain.returncode == 0
    assert (alone.stdout, alone.stderr) == (plain.stdout, plain.stderr)


def test_the_server_ends_when_its_socket_goes_and_quietly_on_sigterm(server, tmp_path):
    sock, proc = server
    sock.unlink()
    assert proc.wait(timeout=10) == 0
    # SIGTERM at once, and in the middle of the warm-up's imports (boto3, the helpers): a quiet
    # end each time (a handler raising SystemExit there once ended a server with status 1 in CI)
    for delay in (0.0, 0.05, 0.2):
        sock_b = tmp_path / f"b{delay}.sock"
        other = subprocess.Popen(
            [sys.executable, "-m", "generator.deploy.forkserver", "serve", "--socket", str(sock_b)]
            + ["--parent", str(os.getpid())],
            cwd=ROOT,
            env=safe_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not sock_b.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        other.send_signal(signal.SIGTERM)
        _, err = other.communicate(timeout=10)
        assert (other.returncode, err) == (0, ""), delay


def test_deploy_sh_leaves_no_server_behind():
    """deploy.sh against an endpoint where nothing answers: one line, exit 2, and the server
    it started is gone when it returns."""
    env = safe_env()
    proc = subprocess.Popen(
        [str(ROOT / "deploy.sh"), "--platform", "scheduled-file-writer", "--env", "dev"]
        + ["--endpoint-url", "http://127.0.0.1:9"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and len(out.strip().splitlines()) == 1, out
    left = subprocess.run(
        ["pgrep", "-f", f"generator.deploy.forkserver serve .* --parent {proc.pid} "],
        capture_output=True,
        text=True,
        check=False,
    )
    assert left.stdout.strip() == "", left.stdout


# --- a helper ended by a signal ------------------------------------------------------------
# A shell script sees a served helper killed, or interrupted by a Ctrl-C it does not catch,
# exactly as under python -m: its client dies of the same signal (bash stops a script whose
# child died of SIGINT; an exit code of 130 would let it go on).

# A helper that waits 10 s without catching anything: the forkserver module's own client,
# waiting for a server whose socket never appears (the live PID keeps it waiting).
WAITER = ("forkserver", "run", "/nonexistent/helpers.sock", str(os.getpid()), "outputs")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _default_sigint() -> None:
    # A client as a terminal starts it: a test run started in the background inherits SIGINT
    # ignored, and python -m then ignores a Ctrl-C (the plain client waited out its 10 s).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ignored_sigint() -> None:
    # A client as a script run in the background (``cmd &``) starts it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(how: list[str], preexec=_default_sigint) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "generator.deploy.forkserver", *how, *WAITER[1:]],
        cwd=ROOT,
        env={**safe_env(), "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
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


def test_a_helper_whose_caller_ignores_sigint_ignores_it_too(server):
    """A script run in the background starts its helpers with SIGINT ignored, and python -m
    keeps ignoring it: a served helper does the same (it took the server's handler before)."""
    sock, proc = server
    results = {}
    for name, how, srv in (("plain", [], None), ("served", ["run", str(sock), str(proc.pid), "forkserver"], proc)):
        client = _start(how, preexec=_ignored_sigint)
        helper = _helper_pid(client, srv)
        os.kill(helper, signal.SIGINT)
        time.sleep(0.5)
        alive = client.poll() is None and Path(f"/proc/{helper}").exists()
        os.kill(helper, signal.SIGTERM)
        _, err = client.communicate(timeout=60)
        results[name] = (alive, client.returncode)
    assert results["plain"] == (True, -signal.SIGTERM)
    assert results["served"] == results["plain"]
