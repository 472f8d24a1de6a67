"""The lint daemon: a per-project background process that keeps cfn-lint warm for the edit loop.

Building cfn-lint's rule set costs about 1.9 s (``import cfnlint`` 1 s, the ~340 rule modules
0.9 s), more than the rest of a one-service ``make templates``. ``stackgen templates`` and
``stackgen lint`` send their lint jobs (:data:`generator.lint.Job`) to a process that has
already paid it, like ``dmypy`` or gradle's daemon:

- **one daemon per working directory and cache directory**: a Unix socket
  ``<cache>/lintd/<id>.sock`` (``cache.root()``, so ``STACKGEN_CACHE_DIR`` moves it; mode
  0600 in a 0700 directory; no network), ``<id>`` a digest of the working directory;
- **never a stale verdict**: every request carries the client's :func:`generator.lint.environment`
  digest (cfn-lint install, ``.cfnlintrc`` and its rules, regions, lint.py's source) and
  working directory, and the daemon checks the source files of every project module it has
  loaded (lint.py, this module, the kernel modules the project rules import) against what it
  loaded; on any difference it answers "stale" and exits, and the client starts a fresh one;
- **a crash in cfn-lint never kills it**: each request is linted in a forked worker (the warm
  state shared copy-on-write), which runs :func:`generator.lint.run_jobs` on several cores;
- **any failure falls back**: a daemon that cannot be started, reached or understood, or dies
  mid-request, costs one line on stderr and the jobs run in this process as without it;
- **no orphan**: it detaches (its own session; stdin from /dev/null, output to
  ``<cache>/lintd/<id>.log``), exits after ``STACKGEN_LINT_DAEMON_IDLE`` seconds without a
  request (default 900) and within a second of its socket file being removed or replaced
  (``rm -rf .cache``, ``make clean``);
- **on by default, off in CI**: off when ``CI`` is set or ``STACKGEN_LINT_DAEMON=0`` (then
  the in-process :class:`generator.lint.Server` runs exactly as before);
  ``STACKGEN_LINT_DAEMON=1`` turns it on even in CI.

``stackgen lintd status`` lists the daemons of the cache directory, ``stackgen lintd stop``
stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from generator import cache, lint

ENABLE_VARIABLE = "STACKGEN_LINT_DAEMON"
IDLE_VARIABLE = "STACKGEN_LINT_DAEMON_IDLE"
DEFAULT_IDLE = 900.0  # seconds
OFF_HINT = f"`stackgen lintd stop` stops it; {ENABLE_VARIABLE}=0 turns it off"
PROTOCOL = "stackgen-lintd-1"
CONNECT_WAIT = 15.0  # seconds a client waits for a daemon it started to bind its socket
# Seconds a client waits for the daemon to take its lint request (a fresh one builds its Linter
# first: about 2 s, 10 s on a loaded machine); after that, until the findings or the end of the
# connection (a daemon or worker that dies closes it).
ACCEPT_WAIT = 60.0


class DaemonError(Exception):
    """The daemon could not answer; the client falls back to linting in process."""


class EmptyRequest(DaemonError):
    """A connection closed before it sent anything."""


def enabled() -> bool:
    """On unless ``CI`` is set or STACKGEN_LINT_DAEMON=0; STACKGEN_LINT_DAEMON=1 wins over CI."""
    value = os.environ.get(ENABLE_VARIABLE, "").strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    return "CI" not in os.environ


def idle_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get(IDLE_VARIABLE, DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def directory(cwd: str | None = None, base: Path | None = None) -> Path:
    """``<cache>/lintd`` for the working directory ``cwd`` (a relative cache root is under it);
    ``base`` instead of ``cache.root()`` (the bench's private caches)."""
    base = base or cache.root()
    if not base.is_absolute():
        base = Path(cwd or os.getcwd()) / base
    return base / "lintd"


def socket_path(cwd: str | None = None, base: Path | None = None) -> Path:
    cwd = cwd or os.getcwd()
    return directory(cwd, base) / f"{cache.digest(b'lintd', cwd)[:16]}.sock"


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """A name to bind or connect ``path`` by: itself, or through /proc/self/fd when it is longer
    than a Unix socket address may be (108 bytes on Linux; pytest's temporary directories)."""
    if len(os.fsencode(str(path))) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def receive(f: BinaryIO) -> dict[str, Any]:
    """The next message from ``f`` (a socket's ``makefile("rb")``)."""
    line = f.readline()
    if not line:
        raise EmptyRequest("the connection closed without a message")
    if not line.endswith(b"\n"):
        raise DaemonError("the connection closed in the middle of a message")
    try:
        message = json.loads(line)
    except ValueError:
        raise DaemonError("the daemon's answer is not JSON") from None
    if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
        raise DaemonError("the daemon's answer is not in its protocol")
    return message


def request(path: Path, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request to the daemon at ``path`` and its answer (DaemonError when there is none).
    ``timeout`` bounds each wait; a daemon that acknowledges a request ("accepted": it is
    working on it) is then waited for until it answers or its connection closes."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        with address(path) as name:
            conn.connect(name)
        send(conn, {"protocol": PROTOCOL, **message})
        with conn.makefile("rb") as f:
            answer = receive(f)
            if "accepted" in answer:
                conn.settimeout(None)
                answer = receive(f)
        return answer
    except (OSError, ValueError) as exc:
        raise DaemonError(f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()


def _connectable(path: Path) -> bool:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(path) as name:
            conn.connect(name)
        return True
    except OSError:
        return False
    finally:
        conn.close()


# --------------------------------------------------------------------------- the client

# Daemons this process started, so that stop_all() can reap them (tests, the bench).
SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn(path: Path, env: str, quiet: bool = False) -> int | None:
    """Start a daemon for the working directory at ``path`` (detached: its own session, output to
    its log) and wait until it has bound its socket, not until it is warm. Its pid (None when
    another client started one meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time per working directory
        if _connectable(path):  # another client started it meanwhile (it may be building still)
            return None
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a dead daemon's socket, or not a socket at all
        idle = idle_seconds()
        with open(path.with_suffix(".log"), "wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "generator.lintd_server",
                    "--socket",
                    str(path),
                    "--env",
                    env,
                    "--idle",
                    str(idle),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        SPAWNED.append(proc)
        deadline = time.monotonic() + CONNECT_WAIT
        while not _connectable(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DaemonError(f"the daemon did not start (see {path.with_suffix('.log')})")
            time.sleep(0.01)
    if not quiet:
        print(
            f"stackgen: started a lint daemon (pid {proc.pid}; exits after {_duration(idle)} idle; {OFF_HINT})",
            file=sys.stderr,
        )
    return proc.pid


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class Client:
    """What :func:`generator.lint.lint` sends its jobs to (a :class:`generator.lint.Runner`):
    the working directory's daemon, started when none answers or the one that answers is stale;
    when that fails, one line on stderr and the jobs run in this process."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.cwd = os.getcwd()
        self.path = socket_path(self.cwd)
        self.env: str | None = None

    def start(self) -> None:
        """Make sure a daemon is up (or starting), without waiting for it: called when a
        command starts, so the daemon warms while synth runs. A failure is not reported here
        (run() falls back and says so)."""
        if _connectable(self.path):
            return
        with contextlib.suppress(DaemonError, OSError):
            self.env = self.env or lint.environment()
            spawn(self.path, self.env)

    def run(self, jobs: list[lint.Job], env: str) -> dict[lint.Job, list[lint.Match]]:
        try:
            return self._run(jobs, env)
        except DaemonError as exc:
            print(f"stackgen: lint daemon unavailable ({exc}); linting in this process", file=sys.stderr)
        return lint.run_jobs(lint.shared_linter(), jobs, min(self.n, len(jobs)))  # (forks only from the main thread)

    def _run(self, jobs: list[lint.Job], env: str) -> dict[lint.Job, list[lint.Match]]:
        message = {"op": "lint", "env": env, "cwd": self.cwd, "jobs": [list(j) for j in jobs], "n": self.n}
        for attempt in range(2):
            if not _connectable(self.path):
                spawn(self.path, env)
            answer = request(self.path, message, ACCEPT_WAIT)
            if "stale" in answer:  # it has exited; a fresh one is started on the next attempt
                if attempt == 0:
                    _wait_gone(self.path)
                    continue
                raise DaemonError(f"a fresh daemon is stale too: {answer['stale']}")
            if "error" in answer:
                raise DaemonError(str(answer["error"]))
            return _findings(answer, jobs)
        raise DaemonError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Nothing to lint this time: check the daemon is current (a stale one exits and a
        fresh one starts warming for the next edit). Waits at most a moment for a busy one."""
        env = lint.environment()
        if not _connectable(self.path):
            with contextlib.suppress(DaemonError, OSError):
                spawn(self.path, env)
            return
        try:
            answer = request(self.path, {"op": "ping", "env": env, "cwd": self.cwd}, 0.3)
        except DaemonError:
            return  # busy warming up or linting for another client: it is there
        if "stale" in answer:
            with contextlib.suppress(DaemonError, OSError):
                _wait_gone(self.path)
                spawn(self.path, env)


def _findings(answer: dict[str, Any], jobs: list[lint.Job]) -> dict[lint.Job, list[lint.Match]]:
    try:
        found = {
            (str(path), str(part)): [lint.Match(str(p), int(li), int(c), str(r), str(m)) for p, li, c, r, m in rows]
            for path, part, rows in answer["found"]
        }
    except (KeyError, TypeError, ValueError):
        raise DaemonError("the daemon's findings are malformed") from None
    if set(found) != set(jobs):
        raise DaemonError("the daemon answered other jobs than were sent")
    return found


def _wait_gone(path: Path, timeout: float = 5.0) -> None:
    """Wait until a daemon that said it exits no longer listens on ``path`` (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _connectable(path):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    """The process runs (not ended, not a zombie); our own children are reaped on the way."""
    for proc in SPAWNED:
        if proc.pid == pid and proc.poll() is not None:
            return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _pid_of(path: Path) -> int | None:
    """The pid in the daemon's pid file beside ``path``, when that process is alive and is the
    daemon of ``path`` (a daemon still building its Linter does not answer requests yet)."""
    try:
        pid = int(path.with_suffix(".pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and b"generator.lintd" in cmdline and os.fsencode(str(path)) in cmdline else None


def daemons(cwd: str | None = None, base: Path | None = None) -> list[tuple[Path, dict[str, Any] | None, int | None]]:
    """Each daemon (or socket file) of the cache directory: its socket, its status (None: it does
    not answer) and its pid (None: no daemon runs there)."""
    out: list[tuple[Path, dict[str, Any] | None, int | None]] = []
    here = directory(cwd, base)
    for stem in sorted({p.stem for p in here.glob("*.sock")} | {p.stem for p in here.glob("*.pid")}):
        path = here / f"{stem}.sock"
        try:
            status: dict[str, Any] | None = request(path, {"op": "status"}, 2.0)
        except DaemonError:
            status = None
        out.append((path, status, int(status["pid"]) if status else _pid_of(path)))
    return out


def stop_all(cwd: str | None = None, timeout: float = 10.0, base: Path | None = None) -> list[int]:
    """Stop every daemon of the cache directory; their pids. One that does not answer (still
    building its Linter) gets SIGTERM, one that does not end within ``timeout`` SIGKILL."""
    stopped = []
    for path, _, pid in daemons(cwd, base):
        if pid is None:
            for dead in (path, path.with_suffix(".pid")):
                with contextlib.suppress(OSError):
                    dead.unlink()  # nothing runs there: a dead daemon's files
            continue
        try:
            request(path, {"op": "stop"}, 2.0)
        except DaemonError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        stopped.append(pid)
    deadline = time.monotonic() + timeout
    for pid in stopped:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    for proc in list(SPAWNED):
        if proc.pid in stopped:
            proc.wait(timeout)
        if proc.poll() is not None:
            SPAWNED.remove(proc)
    return stopped


def describe(status: dict[str, Any]) -> str:
    return (
        f"pid {status['pid']}, {status['cwd']}, up {status['up']:.0f}s, idle {status['idle']:.0f}s "
        f"(exits after {status['idle_limit']:g}s idle), {status['requests']} requests, "
        f"CPU {status['cpu']:.2f}s, {'warm' if status['warm'] else 'warming up'}"
    )


# --------------------------------------------------------------------------- stackgen lintd

HELP = "see or stop the lint daemon (the warm cfn-lint `make templates` and `lint` use)"
MORE = (
    "`make templates` and `stackgen lint` send their lint jobs to a background process per "
    "project that keeps cfn-lint's rule set built (about 2 s saved per run); it exits after "
    f"{DEFAULT_IDLE / 60:g} min idle ({IDLE_VARIABLE}=SECONDS), when its socket under .cache/lintd "
    f"is removed (make clean) or on `stackgen lintd stop`. Off when CI is set or {ENABLE_VARIABLE}=0; "
    f"{ENABLE_VARIABLE}=1 turns it on in CI"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = f"{HELP}. {MORE}."
    p.add_argument("action", choices=("status", "stop"), help="status: list the daemons; stop: stop them")


def cmd(args: argparse.Namespace) -> int:
    if args.action == "stop":
        stopped = stop_all()
        print(f"stopped lint daemon pid {', '.join(map(str, stopped))}" if stopped else "no lint daemon running")
        return 0
    found = daemons()
    for path, status, pid in found:
        state = (
            describe(status) if status else f"pid {pid}, starting or busy" if pid else "no daemon (a dead one's socket)"
        )
        print(f"{path}: {state}")
    if not found:
        print(f"no lint daemon running (sockets: {directory()}/)")
    print(f"lint daemon {'on' if enabled() else 'off'} here (CI / {ENABLE_VARIABLE})")
    return 0
