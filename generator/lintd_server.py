"""The lint daemon's process (:mod:`generator.lintd` describes it, starts it and talks to it):
``python -m generator.lintd_server --socket PATH --env DIGEST``.

It binds its socket first (so a client that started it can connect and wait), builds
cfn-lint's rule set (:class:`generator.lint.Linter`), loads the provider schemas of the
resource types the working directory's templates use (a lint of one resource of each, when
no client is waiting), then answers one request at a time: each lint request in a forked
worker that shares the warm state copy-on-write and that it waits for, so the worker's CPU
is in its own children's usage (``status`` reports both)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from generator import cache, lint, lintd

TICK = 0.5  # seconds between the daemon's checks of its socket file and idle time
# Where the resource types to warm up come from: the committed templates of the working directory.
WARM_GLOB = "templates/**/*.yaml"
TYPE_LINE = re.compile(r"^\s+Type:\s*['\"]?((?:AWS|Custom)::[A-Za-z0-9:]+)", re.M)
MAX_WARM_FILES = 400


def project_sources(known: dict[str, str] | None = None) -> dict[str, str]:
    """Digest of the source file of every loaded module outside site-packages and the
    standard library (this project's: lint.py, this module, the kernel modules the project
    rules import). With ``known``, only the modules not in it are looked up (resolving the
    paths of cfn-lint's hundreds of modules costs about 0.1 s) and their digests added."""
    skip = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    out = dict(known or {})
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name or not name.endswith(".py") or "site-packages" in name:
            continue
        full = str(Path(name).resolve())
        if full not in out and not full.startswith(skip) and "site-packages" not in full:
            out[full] = cache.file_digest(full)
    return out


def digests(files: dict[str, str]) -> dict[str, str]:
    return {name: cache.file_digest(name) for name in files}


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
            with lintd.address(tmp) as name:
                self.listener.bind(name)
        finally:
            os.umask(old)
        os.chmod(tmp, 0o600)
        self.listener.listen(16)
        os.replace(tmp, path)  # atomically: a client never finds a socket that does not listen
        self.inode = os.stat(path).st_ino
        pidfile = path.with_name(f".{path.stem}.pid.{os.getpid()}")
        pidfile.write_text(f"{os.getpid()}\n")
        os.replace(pidfile, path.with_suffix(".pid"))

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
        self.sources = project_sources()
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
        self.sources = project_sources(self.sources)  # (modules the warm-up imported)
        gc.collect()
        gc.freeze()  # the warm state stays shared with the workers (no copy-on-write by the GC)
        self.log(f"warm ({time.process_time() - start:.2f}s CPU)")

    def stale(self, message: dict[str, Any]) -> str:
        if message.get("env") != self.env:
            return "the client's lint environment differs (cfn-lint, .cfnlintrc, rules, regions or lint.py)"
        if message.get("cwd") != self.cwd:
            return f"another working directory ({message.get('cwd')})"
        if digests(self.sources) != self.sources:
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
        """Answer one request; False when the daemon must exit. A client gone away is no error."""
        try:
            return self._handle(conn)
        except OSError as exc:
            self.log(f"client gone: {exc}")
            return True

    def _handle(self, conn: socket.socket) -> bool:
        with conn:
            conn.settimeout(10.0)
            try:
                with conn.makefile("rb") as f:
                    message = lintd.receive(f)
            except (lintd.DaemonError, OSError) as exc:
                if not isinstance(exc, lintd.EmptyRequest):  # (a client checking that it listens)
                    self.log(f"bad request: {exc}")
                return True
            op = message.get("op")
            if op == "status":
                lintd.send(conn, {"protocol": lintd.PROTOCOL, **self.status()})
                return True
            if op == "stop":
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "stopped": os.getpid()})
                self.log("stopped by a client")
                return False
            why = self.stale(message)
            if why:
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "stale": why, "pid": os.getpid()})
                self.log(f"stale: {why}: exiting")
                return False
            self.last = time.monotonic()
            if op == "ping":
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "pid": os.getpid()})
            elif op == "lint":
                self.requests += 1
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "accepted": os.getpid()})
                self.lint(conn, message)
            else:
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "error": f"unknown request {op!r}"})
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
                lintd.send(conn, {"protocol": lintd.PROTOCOL, "found": rows})
            except BaseException as exc:  # noqa: BLE001 - reported to the client, which falls back
                code = 1
                with contextlib.suppress(OSError):
                    lintd.send(conn, {"protocol": lintd.PROTOCOL, "error": f"{type(exc).__name__}: {exc}"})
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status:
            self.log(f"worker {pid} ended with status {status}")

    def close(self) -> None:
        if self.owns_socket():
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError, ValueError):
            if int(self.path.with_suffix(".pid").read_text()) == os.getpid():
                self.path.with_suffix(".pid").unlink()
        self.listener.close()


def main(argv: list[str] | None = None) -> int:
    """The daemon's entry point (``python -m generator.lintd_server``; clients start it)."""
    p = argparse.ArgumentParser(prog="python -m generator.lintd_server")
    p.add_argument("--socket", required=True)
    p.add_argument("--env", required=True, help="the lint environment digest the client computed")
    p.add_argument("--idle", type=float, default=lintd.DEFAULT_IDLE)
    args = p.parse_args(argv)
    lint.lint_process_gc()
    daemon = Daemon(Path(args.socket), args.env, args.idle)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    daemon.log(f"serving {daemon.cwd} on {daemon.path}")
    try:
        daemon.serve()
    finally:
        daemon.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
