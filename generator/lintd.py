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
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator import cache, lint

ENABLE_VARIABLE = "STACKGEN_LINT_DAEMON"
IDLE_VARIABLE = "STACKGEN_LINT_DAEMON_IDLE"
DEFAULT_IDLE = 900.0  # seconds
OFF_HINT = f"`stackgen lintd stop` stops it; {ENABLE_VARIABLE}=0 turns it off"
PROTOCOL = "stackgen-lintd-1"
CONNECT_WAIT = 15.0  # seconds a client waits for a daemon it started to bind its socket
ANSWER_WAIT = 900.0  # seconds a client waits for findings before it gives up on the daemon
TICK = 0.5  # seconds between the daemon's checks of its socket file and idle time
# Where the resource types to warm up come from: the committed templates of the working directory.
WARM_GLOB = "templates/**/*.yaml"
TYPE_LINE = re.compile(r"^\s+Type:\s*['\"]?((?:AWS|Custom)::[A-Za-z0-9:]+)", re.M)
MAX_WARM_FILES = 400


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


def directory(cwd: str | None = None) -> Path:
    """``<cache>/lintd`` for the working directory ``cwd`` (a relative cache root is under it)."""
    base = cache.root()
    if not base.is_absolute():
        base = Path(cwd or os.getcwd()) / base
    return base / "lintd"


def socket_path(cwd: str | None = None) -> Path:
    cwd = cwd or os.getcwd()
    return directory(cwd) / f"{cache.digest(b'lintd', cwd)[:16]}.sock"


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
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


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _receive(conn: socket.socket) -> dict[str, Any]:
    with conn.makefile("rb") as f:
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
    """One request to the daemon at ``path`` and its answer (DaemonError when there is none)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        with _address(path) as address:
            conn.connect(address)
        _send(conn, {"protocol": PROTOCOL, **message})
        return _receive(conn)
    except (OSError, ValueError) as exc:
        raise DaemonError(f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()


def _connectable(path: Path) -> bool:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _address(path) as address:
            conn.connect(address)
        return True
    except OSError:
        return False
    finally:
        conn.close()


# --------------------------------------------------------------------------- the client

# Daemons this process started, so that stop_all() can reap them (tests, the bench).
SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn(path: Path, env: str, quiet: bool = False) -> int:
    """Start a daemon for the working directory at ``path`` (detached: its own session, output to
    its log) and wait until it has bound its socket, not until it is warm. Its pid."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time per working directory
        if _connectable(path):  # another client started it meanwhile
            answer = request(path, {"op": "status"}, 2.0)
            return int(answer["pid"])
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a dead daemon's socket, or not a socket at all
        idle = idle_seconds()
        with open(path.with_suffix(".log"), "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "generator.lintd", "--socket", str(path), "--env", env, "--idle", str(idle)],
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
            f"stackgen: started a lint daemon (pid {proc.pid}; exits after {idle / 60:g} min idle; {OFF_HINT})",
            file=sys.stderr,
        )
    return proc.pid


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
        return lint.run_jobs(lint.shared_linter(), jobs, min(self.n, len(jobs)))

    def _run(self, jobs: list[lint.Job], env: str) -> dict[lint.Job, list[lint.Match]]:
        message = {"op": "lint", "env": env, "cwd": self.cwd, "jobs": [list(j) for j in jobs], "n": self.n}
        for attempt in range(2):
            if not _connectable(self.path):
                spawn(self.path, env)
            answer = request(self.path, message, ANSWER_WAIT)
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
        env = self.env or lint.environment()
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
    if pid <= 0:
        return False
    for proc in SPAWNED:
        if proc.pid == pid:
            return proc.poll() is None  # reaps our own child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemons(cwd: str | None = None) -> list[tuple[Path, dict[str, Any] | None]]:
    """Each socket file of the cache directory and its daemon's status (None: nothing answers)."""
    out: list[tuple[Path, dict[str, Any] | None]] = []
    for path in sorted(directory(cwd).glob("*.sock")):
        try:
            out.append((path, request(path, {"op": "status"}, 2.0)))
        except DaemonError:
            out.append((path, None))
    return out


def stop_all(cwd: str | None = None, timeout: float = 10.0) -> list[int]:
    """Stop every daemon of the cache directory (and any this process started); their pids."""
    stopped = []
    for path, status in daemons(cwd):
        if status is None:
            with contextlib.suppress(OSError):
                path.unlink()  # nothing listens: a dead daemon's file
            continue
        with contextlib.suppress(DaemonError):
            request(path, {"op": "stop"}, 2.0)
        stopped.append(int(status["pid"]))
    deadline = time.monotonic() + timeout
    for pid in stopped:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    for proc in list(SPAWNED):
        if proc.poll() is None and proc.pid in stopped:
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


# --------------------------------------------------------------------------- the daemon


def _project_sources() -> dict[str, str]:
    """Digest of the source file of every loaded module outside site-packages and the
    standard library (this project's: lint.py, this module, the kernel modules the project
    rules import)."""
    skip = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    out: dict[str, str] = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name or not name.endswith(".py"):
            continue
        full = str(Path(name).resolve())
        if not full.startswith(skip) and "site-packages" not in full:
            out[full] = cache.file_digest(full)
    return out


def _warm_template(cwd: Path) -> str:
    """A template with one resource of each type the working directory's templates use, so
    their provider schemas are loaded before the first request."""
    types: set[str] = set()
    for n, p in enumerate(sorted(cwd.glob(WARM_GLOB))):
        if n >= MAX_WARM_FILES:
            break
        with contextlib.suppress(OSError, UnicodeDecodeError):
            types.update(TYPE_LINE.findall(p.read_text(encoding="utf-8")))
    body = "".join(
        f"  R{i}:\n    Type: {t}\n    Properties: {{}}\n" for i, t in enumerate(sorted(types or {"AWS::SQS::Queue"}))
    )
    return "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n" + body


class Daemon:
    def __init__(self, path: Path, env: str, idle: float) -> None:
        self.path, self.env, self.idle = path, env, idle
        self.cwd = os.getcwd()
        self.started = self.last = time.monotonic()
        self.requests = 0
        self.warm = False
        self.sources: dict[str, str] = {}
        self.linter: lint.Linter | None = None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            with _address(tmp) as address:
                self.listener.bind(address)
        finally:
            os.umask(old)
        os.chmod(tmp, 0o600)
        self.listener.listen(16)
        os.replace(tmp, path)  # atomically: a client never finds a socket that does not listen
        self.inode = os.stat(path).st_ino

    def log(self, text: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} lintd[{os.getpid()}] {text}", flush=True)

    def owns_socket(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def prepare(self) -> str:
        """Build the Linter; '' or why this daemon must not serve (its inputs changed meanwhile)."""
        self.linter = lint.Linter()
        now = lint.environment()
        self.sources = _project_sources()
        if now != self.env:
            return "the lint environment changed while the daemon started"
        return ""

    def warm_up(self) -> None:
        import gc
        import tempfile

        assert self.linter is not None
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="stackgen-lintd-warm-") as f:
            f.write(_warm_template(Path(self.cwd)))
            f.flush()
            start = time.process_time()
            self.linter.lint_file(f.name)
        self.warm = True
        gc.collect()
        gc.freeze()  # the warm state stays shared with the workers (no copy-on-write by the GC)
        self.log(f"warm ({time.process_time() - start:.2f}s CPU)")

    def stale(self, message: dict[str, Any]) -> str:
        if message.get("env") != self.env:
            return "the client's lint environment differs (cfn-lint, .cfnlintrc, rules, regions or lint.py)"
        if message.get("cwd") != self.cwd:
            return f"another working directory ({message.get('cwd')})"
        if _project_sources() != self.sources:
            return "a project module it loaded changed"
        return ""

    def status(self) -> dict[str, Any]:
        import resource

        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        now = time.monotonic()
        return {
            "pid": os.getpid(),
            "cwd": self.cwd,
            "env": self.env,
            "up": now - self.started,
            "idle": now - self.last,
            "idle_limit": self.idle,
            "requests": self.requests,
            "warm": self.warm,
            "cpu": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        }

    def serve(self) -> None:
        why = self.prepare()
        if why:
            self.log(why)
            return
        import select

        self.listener.settimeout(TICK)
        while True:
            if not self.warm and not select.select([self.listener], [], [], 0)[0]:
                self.warm_up()  # when no client waits: a request that came first is served first
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                if not self.owns_socket():
                    self.log("socket file removed or replaced: exiting")
                    return
                if time.monotonic() - self.last > self.idle:
                    self.log(f"idle for {self.idle:g}s: exiting")
                    return
                continue
            if not self.handle(conn) or not self.owns_socket():
                return

    def handle(self, conn: socket.socket) -> bool:
        """Answer one request; False when the daemon must exit."""
        with conn:
            conn.settimeout(10.0)
            try:
                message = _receive(conn)
            except (DaemonError, OSError) as exc:
                if not isinstance(exc, EmptyRequest):  # (a client checking that it listens)
                    self.log(f"bad request: {exc}")
                return True
            op = message.get("op")
            if op == "status":
                _send(conn, {"protocol": PROTOCOL, **self.status()})
                return True
            if op == "stop":
                _send(conn, {"protocol": PROTOCOL, "stopped": os.getpid()})
                self.log("stopped by a client")
                return False
            why = self.stale(message)
            if why:
                _send(conn, {"protocol": PROTOCOL, "stale": why, "pid": os.getpid()})
                self.log(f"stale: {why}: exiting")
                return False
            self.last = time.monotonic()
            if op == "ping":
                _send(conn, {"protocol": PROTOCOL, "pid": os.getpid()})
            elif op == "lint":
                self.requests += 1
                self.lint(conn, message)
            else:
                _send(conn, {"protocol": PROTOCOL, "error": f"unknown request {op!r}"})
        return True

    def lint(self, conn: socket.socket, message: dict[str, Any]) -> None:
        """Lint in a forked worker (a crash there is the client's fallback, not the daemon's
        end), and wait for it, so its CPU is in this process's children's usage."""
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                self.listener.close()
                conn.settimeout(None)
                assert self.linter is not None
                jobs = [(str(p), str(part)) for p, part in message["jobs"]]
                found = lint.run_jobs(self.linter, jobs, max(1, min(int(message.get("n", 1)), len(jobs))))
                rows = [
                    [p, part, [[m.path, m.line, m.column, m.rule, m.message] for m in ms]]
                    for (p, part), ms in found.items()
                ]
                _send(conn, {"protocol": PROTOCOL, "found": rows})
            except BaseException as exc:  # noqa: BLE001 - reported to the client, which falls back
                code = 1
                with contextlib.suppress(OSError):
                    _send(conn, {"protocol": PROTOCOL, "error": f"{type(exc).__name__}: {exc}"})
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status:
            self.log(f"worker {pid} ended with status {status}")

    def close(self) -> None:
        if self.owns_socket():
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.listener.close()


def main(argv: list[str] | None = None) -> int:
    """The daemon's entry point (``python -m generator.lintd``; clients start it)."""
    p = argparse.ArgumentParser(prog="python -m generator.lintd")
    p.add_argument("--socket", required=True)
    p.add_argument("--env", required=True, help="the lint environment digest the client computed")
    p.add_argument("--idle", type=float, default=DEFAULT_IDLE)
    args = p.parse_args(argv)
    daemon = Daemon(Path(args.socket), args.env, args.idle)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    daemon.log(f"serving {daemon.cwd} on {daemon.path}")
    try:
        daemon.serve()
    finally:
        daemon.close()
    return 0


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
    for path, status in found:
        print(f"{path}: {describe(status) if status else 'nothing answers (a dead daemon socket)'}")
    if not found:
        print(f"no lint daemon running (sockets: {directory()}/)")
    print(f"lint daemon {'on' if enabled() else 'off'} here (CI / {ENABLE_VARIABLE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
