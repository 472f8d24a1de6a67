"""Start, stop and probe the local AWS emulator (ministack) bound to a loopback address.

  run     run it in the foreground (what `make emulator` does)
  start   start it in the background (pid and log in --state-dir); no-op when it already
          answers on --host:--port. It prints the command that stops it, with the port.
  stop    stop the one `start` started on --port. When none runs there but one started by
          `start` runs on another port (its pid file is in --state-dir), or something else
          answers on the port, it says so and exits 1 instead of claiming there is nothing
  status  print the endpoint and exit 0 when it answers, else exit 1

It runs through ministack/launch.py, which patches ministack to behave like CloudFormation
and AWS (nested stacks, the resource types it lacks, the rules it does not enforce).
The emulator only ever binds a loopback address. Its environment routes any outbound HTTP
it might attempt to a closed loopback port, and points DOCKER_HOST at a missing socket.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from generator.deploy._aws import ROOT, make_command

HEALTH = "/_ministack/health"
DEFAULT_STATE_DIR = ".tools/ministack/run"  # mk/deploy.mk's EMULATOR_STATE
DEFAULT_PORT = 4566
# A closed loopback port: anything that tries a proxy fails at once, without a packet
# leaving the machine.
DEAD_PROXY = "http://127.0.0.1:9"
NO_PROXY = "127.0.0.1,localhost,::1"


def check_loopback(host: str) -> None:
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"error: refusing to bind the emulator to non-loopback {host}")


def is_up(url: str, timeout: float = 0.5) -> bool:
    # A direct opener: never use a proxy for the loopback health probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url.rstrip("/") + HEALTH, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_up(url):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ministack exited with status {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"ministack not ready at {url} after {timeout:.0f} s")


def cfn_schemas() -> str:
    """The directory of the resource schemas cfn-lint ships (found without importing
    cfn-lint), for the emulator's change-set classification; "" when cfn-lint is absent."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.origin:
        return ""
    schemas = Path(spec.origin).parent / "data" / "schemas"
    return str(schemas) if (schemas / "providers" / "us-east-1.json").exists() else ""


def emulator_env(host: str, port: int, state_dir: Path) -> dict[str, str]:
    tmp = state_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["STACKGEN_CFN_SCHEMAS"] = cfn_schemas()
    env.update(
        {
            "BIND_HOST": host,
            "GATEWAY_PORT": str(port),
            "MINISTACK_HOST": host,
            "TMPDIR": str(tmp),
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": NO_PROXY,
            "no_proxy": NO_PROXY,
            "DOCKER_HOST": f"unix://{tmp}/no-docker.sock",
        }
    )
    return env


LAUNCHER = Path(__file__).with_name("ministack") / "launch.py"


def command(venv: str | Path) -> list[str]:
    """The command that runs ministack (patched) from its venv."""
    python = Path(venv).absolute() / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"error: {python} not found; run: make {Path(venv) / '.installed'}")
    return [str(python), str(LAUNCHER)]


def spawn(venv: str | Path, host: str, port: int, state_dir: Path, log: Path) -> subprocess.Popen:
    """Start ministack in its own process group, output to ``log``."""
    check_loopback(host)
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            command(venv),
            env=emulator_env(host, port, state_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(proc_pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    try:
        os.killpg(proc_pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(proc_pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it when it is our child
            if os.waitpid(proc_pid, os.WNOHANG)[0] == proc_pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.killpg(proc_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running emulator (our launcher; a reused pid is not)."""
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ProcessLookupError, PermissionError, FileNotFoundError, OSError):
        return False
    return LAUNCHER.name.encode() in cmdline


def running(state: Path) -> dict[int, int]:
    """{port: pid} of the emulators `start` started that still run (stale pid files go)."""
    found: dict[int, int] = {}
    for pid_file in sorted(state.glob("ministack-*.pid")):
        try:
            port, pid = int(pid_file.stem.split("-", 1)[1]), int(pid_file.read_text())
        except ValueError:
            continue
        if _alive(pid):
            found[port] = pid
        else:
            pid_file.unlink(missing_ok=True)
    return found


def stop_hint(port: int, state: Path) -> str:
    """The command that stops the emulator on ``port``, as a user types it."""
    words = ["emulator-stop", f"EMULATOR_PORT={port}"]
    if state.resolve() != (ROOT / DEFAULT_STATE_DIR).resolve():
        words.append(f"EMULATOR_STATE={state.resolve()}")
    return make_command(*words)


def stop(state: Path, host: str, port: int) -> int:
    url = f"http://{host}:{port}"
    others = running(state)
    if port in others:
        stop_process(others[port])
        (state / f"ministack-{port}.pid").unlink(missing_ok=True)
        print(f"stopped the emulator on {url}")
        return 0
    if others:
        listed = "; ".join(f"port {p} (pid {pid}): {stop_hint(p, state)}" for p, pid in others.items())
        print(
            f"error: no emulator started in the background runs on port {port}, but one does on {listed}",
            file=sys.stderr,
        )
        return 1
    if is_up(url):
        print(
            f"error: an emulator answers on {url} but was not started in the background (no pid file in "
            f"{state}): stop it where it runs (Ctrl-C in the terminal of `make emulator`)",
            file=sys.stderr,
        )
        return 1
    print(f"no emulator runs on port {port}: nothing to stop")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "start", "stop", "status"])
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    parser.add_argument("--venv", default=".tools/ministack", help="ministack's venv")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    check_loopback(args.host)
    url = f"http://{args.host}:{args.port}"
    state = Path(args.state_dir)
    pid_file = state / f"ministack-{args.port}.pid"
    if args.command == "run":
        state.mkdir(parents=True, exist_ok=True)
        print(f"emulator on {url} (Ctrl-C to stop)", flush=True)
        cmd = command(args.venv)
        os.execve(cmd[0], cmd, emulator_env(args.host, args.port, state))
    if args.command == "status":
        up = is_up(url)
        print(url if up else f"no emulator at {url}")
        return 0 if up else 1
    if args.command == "stop":
        return stop(state, args.host, args.port)
    if is_up(url):
        known = running(state)
        how = (
            f"stop: {stop_hint(args.port, state)}"
            if args.port in known
            else "not started in the background: stop it where it runs"
        )
        print(f"emulator already running at {url} ({how})")
        return 0
    log = state / f"ministack-{args.port}.log"
    proc = spawn(args.venv, args.host, args.port, state, log)
    pid_file.write_text(str(proc.pid))
    try:
        wait_ready(url, proc=proc)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}; see {log}", file=sys.stderr)
        stop_process(proc.pid)
        pid_file.unlink(missing_ok=True)
        return 1
    print(f"emulator running at {url} (pid {proc.pid}, log {log}; stop: {stop_hint(args.port, state)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
