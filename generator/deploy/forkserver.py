"""One Python process per deploy.sh / delete.sh run that starts their helpers by forking.

Every helper of generator/deploy/ is a command-line tool. Started as ``python -m`` it pays,
each time, the interpreter, ``import boto3`` (about 0.35 s CPU) and botocore's data files
(endpoints.json, 1.2 MB, and each service's model: 0.05-0.3 s), and a deploy starts about ten
of them. The scripts start this server once::

    python -m generator.deploy.forkserver serve --socket PATH --parent PID [--services S,...]

It imports boto3 and the helpers once and reads botocore's data for the services named
(between requests, so the first helper is not kept waiting), then answers each::

    python -m generator.deploy.forkserver run PATH SERVER_PID MODULE ARGS...

a client of the standard library only (about 30 ms) that hands the server its arguments,
environment, working directory, whether it ignores SIGINT, and its own stdin, stdout and stderr
(SCM_RIGHTS). The server forks a child that runs ``generator.deploy.MODULE`` exactly as
``python -m`` would, on those descriptors (so output, prompts and terminals are the caller's
own), and sends back the child's exit status, which the client exits with, or the signal that
ended it, which the client then dies of (so a script sees a helper killed or interrupted
exactly as it would under ``python -m``). Nothing a user sees changes but the time.

The client runs ``python -m generator.deploy.MODULE ARGS`` itself whenever the server cannot
answer: not started, exited, not Linux (fork after macOS frameworks is unsafe), a message too
large. The server ends when its socket is removed, when its parent (the script) is gone, or
on SIGTERM (the scripts' exit trap).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time

MAX_MESSAGE = 1 << 20  # argv + environment of one request (SOCK_SEQPACKET: one datagram)
WAIT_FOR_SERVER = 10.0  # seconds a client waits for a server that is starting
# Imported by the server before it answers (the helpers' own imports come with them).
HELPERS = (
    "artifacts",
    "changeset",
    "endpoint",
    "events",
    "exposure",
    "filled",
    "images",
    "leftovers",
    "outputs",
    "params",
    "roots",
    "survivors",
)


# --- client -------------------------------------------------------------------------------


def _fallback(module: str, args: list[str]) -> None:
    """Run the helper in this process's place, as the scripts did before the server."""
    os.execv(sys.executable, [sys.executable, "-m", f"generator.deploy.{module}", *args])


def _connect(path: str, server_pid: int) -> socket.socket | None:
    deadline = time.monotonic() + WAIT_FOR_SERVER
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
        try:
            os.kill(server_pid, 0)
        except OSError:
            return None  # the server is gone (or never started)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def run(path: str, server_pid: int, module: str, args: list[str]) -> int:
    if not sys.platform.startswith("linux"):
        _fallback(module, args)
    sock = _connect(path, server_pid)
    if sock is None:
        _fallback(module, args)
        return 1  # (not reached)
    # A caller started with SIGINT ignored (a script run in the background) runs a helper that
    # ignores it too, as python -m does: the child takes this process's disposition.
    ignores_sigint = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    request = json.dumps(
        {"module": module, "argv": args, "env": dict(os.environ), "cwd": os.getcwd(), "ignore_sigint": ignores_sigint}
    ).encode()
    try:
        socket.send_fds(sock, [request], [0, 1, 2])
    except OSError:  # too large, or a descriptor closed: the plain way
        sock.close()
        _fallback(module, args)
    # A Ctrl-C reaches the helper itself (same process group); its status comes back here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reply = sock.recv(64)
    if not reply:
        print(f"{os.environ.get('PROG') or 'stackgen'}: error: the helper server stopped", file=sys.stderr)
        return 1
    code = int(reply)
    if code < 0:  # the helper died of signal -code: so does this process, as under python -m
        die_of(-code)
        return 128 - code  # (a signal that cannot be re-raised here: the shell's number for it)
    return code


def _flush() -> None:
    """Flush stdout and stderr before the process ends without the interpreter's teardown
    (a reader that has gone away is the usual exit's business, not this one's)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def die_of(signum: int) -> None:
    """End this process by signal ``signum``, as the helper it stands for ended."""
    _flush()
    with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signum)


# --- server -------------------------------------------------------------------------------


def _warm_up(services: list[str]) -> list:
    """The server's work before and between requests, in the order the helpers need it."""

    def boto3() -> None:
        from generator.deploy._aws import session  # noqa: PLC0415

        session()

    def imports() -> None:
        import importlib  # noqa: PLC0415

        for name in HELPERS:
            importlib.import_module(f"generator.deploy.{name}")

    def model(service: str):
        def load() -> None:
            from generator.deploy._aws import session  # noqa: PLC0415

            # A client with explicit dummy keys reads every data file a client of the service
            # needs into the shared session's loader (no credentials are looked up, nothing is
            # sent); the helpers' own clients then find them read.
            session().client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

        return load

    # boto3 and the first service's data (the scripts name first the endpoint check's, sts),
    # then the helpers, then the other services: the first request waits for the least.
    models = [model(s) for s in services]
    return [boto3, *models[:1], imports, *models[1:]]


def _child(conn: socket.socket, request: dict, fds: list[int], closing: list[socket.socket], wake: int) -> None:
    """In the forked child: become ``python -m generator.deploy.MODULE ARGV``; never returns."""
    import atexit  # noqa: PLC0415
    import io  # noqa: PLC0415
    import runpy  # noqa: PLC0415

    code, interrupted = 1, False
    try:
        for item in closing:
            item.close()
        conn.close()
        os.close(wake)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN if request.get("ignore_sigint") else signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        encoding = sys.stdout.encoding
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding, line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding=encoding, errors="backslashreplace", line_buffering=True
        )
        sys.argv = ["python", *request["argv"]]
        name = f"generator.deploy.{request['module']}"
        # As under python -m, the module runs as __main__ and is not also in sys.modules by
        # its name (where the server's preloaded copy is).
        sys.modules.pop(name, None)
        try:
            runpy.run_module(name, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException as exc:  # noqa: BLE001 - as the interpreter would: the traceback, exit 1
            import traceback  # noqa: PLC0415

            traceback.print_exc()
            # and an uncaught KeyboardInterrupt ends the interpreter by SIGINT (exit status 130 in
            # a shell, and a script running it stops as on Ctrl-C)
            interrupted = isinstance(exc, KeyboardInterrupt)
            code = 1
        atexit._run_exitfuncs()
        _flush()
    finally:
        if interrupted:
            die_of(signal.SIGINT)
        os._exit(code & 0xFF)


def _quiet_end(*_: object) -> None:
    _flush()
    os._exit(0)


def serve(path: str, parent: int, services: list[str]) -> int:
    import gc  # noqa: PLC0415
    import select  # noqa: PLC0415

    # The scripts' exit trap (SIGTERM) is a quiet end whenever it comes: before the socket
    # appears, and in the middle of the warm-up's imports, where an exception raised by a
    # handler could end the process with a traceback and status 1. The kernel closes the
    # clients' connections: each says the server stopped.
    signal.signal(signal.SIGTERM, _quiet_end)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the running helper's
    signal.signal(signal.SIGCHLD, lambda *_: None)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    # Bound under another name and renamed once listening: a client that finds the path can
    # connect.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(f"{path}.tmp")
    listener.listen(8)
    os.rename(f"{path}.tmp", path)
    waiting: dict[int, socket.socket] = {}  # child pid -> its client
    work = _warm_up(services)
    try:
        while True:
            if os.getppid() != parent or not os.path.exists(path):
                return 0
            ready, _, _ = select.select([listener.fileno(), wake_r], [], [], 0 if work else 1.0)
            if wake_r in ready:
                os.read(wake_r, 512)
            _reap(waiting)
            if listener.fileno() in ready:
                conn, _ = listener.accept()
                _accept(conn, listener, wake_r, waiting)
            elif work and not ready:
                work.pop(0)()
                if not work:
                    gc.freeze()  # what the children share stays shared (no copy on GC)
    finally:
        for conn in waiting.values():
            conn.close()
        listener.close()


def _accept(conn: socket.socket, listener: socket.socket, wake: int, waiting: dict[int, socket.socket]) -> None:
    try:
        data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
        request = json.loads(data)
    except (OSError, ValueError):
        conn.close()
        return
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        _child(conn, request, fds, [listener, *waiting.values()], wake)
    for fd in fds:
        os.close(fd)
    waiting[pid] = conn


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
        try:
            conn.send(str(code).encode())
        except OSError:
            pass
        conn.close()


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # the client: no argparse, nothing but what it needs
        if len(argv) < 4:
            print(
                "usage: python -m generator.deploy.forkserver run SOCKET SERVER_PID MODULE [ARGS...]", file=sys.stderr
            )
            return 2
        return run(argv[1], int(argv[2]), argv[3], argv[4:])
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.forkserver", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="answer the helper requests of one script run")
    p.add_argument("--socket", required=True, help="the Unix socket to listen on (removed: the server ends)")
    p.add_argument("--parent", type=int, required=True, help="the script's PID (gone: the server ends)")
    p.add_argument("--services", default="", help="AWS services whose botocore data to read ahead, comma-separated")
    sub.add_parser("run", help="SOCKET SERVER_PID MODULE [ARGS...]: run a helper through the server")
    args = parser.parse_args(argv)
    return serve(args.socket, args.parent, [s for s in args.services.split(",") if s])


if __name__ == "__main__":
    sys.exit(main())
