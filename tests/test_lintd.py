"""The lint daemon (generator.lintd) never hides or changes a finding: what it answers is what the
in-process lint finds, a stale daemon (changed rule, config line) is never reused, and any
failure (killed mid-request, a corrupt socket file, a garbage answer) falls back to the
in-process lint with one line on stderr. It leaves nothing behind: idle timeout, socket removal.

The suite runs with STACKGEN_LINT_DAEMON=0 (tests/conftest.py); each test here turns it on
with its own cache directory and stops every daemon it started in the fixture's finalizer."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import cli, lint, lintd
from tests.helpers import ROOT
from tests.test_lint_cache import CHILD, CONFIG, DB, MAIN

# Findings of three kinds: a project rule (E9102), a schema error (E3012) and a cross-template
# one (E3043: the child lost the parameter the parent passes).
BROKEN = {
    "main.yaml": MAIN,
    "child.yaml": CHILD.replace("Parameters:\n  Retention: {Type: Number}\n", "").replace("!Ref Retention", "345600"),
    "db.yaml": DB.replace("DeletionProtection: true", "DeletionProtection: false"),
    "queue.yaml": DB.replace("Db:\n    Type: AWS::RDS::DBCluster", "Q:\n    Type: AWS::SQS::Queue").replace(
        "Properties: {Engine: aurora-mysql, BackupRetentionPeriod: 7, DeletionProtection: true}",
        "Properties: {VisibilityTimeout: not-a-number, DelaySeconds: 1}",
    ),
}
EXPECTED_RULES = [("db.yaml", "E9102"), ("main.yaml", "E3043"), ("queue.yaml", "E3012")]


def _wait(what, timeout: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_everything(seen: list[int]) -> None:
    lintd.stop_all()
    for proc in lintd.SPAWNED:
        seen.append(proc.pid)
    for pid in seen:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    for proc in list(lintd.SPAWNED):
        proc.wait(10)
        lintd.SPAWNED.remove(proc)
    assert not [pid for pid in seen if _alive(pid)]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small project (the project rules, a .cfnlintrc, templates with findings) with the
    daemon on and a cache directory of its own; every daemon is stopped afterwards."""
    (tmp_path / "rules").mkdir()
    shutil.copy(ROOT / "cfnlint_rules" / "stackgen.py", tmp_path / "rules" / "stackgen.py")
    (tmp_path / ".cfnlintrc").write_text(CONFIG)
    (tmp_path / "t").mkdir()
    for name, text in BROKEN.items():
        (tmp_path / "t" / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("STACKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(lintd.ENABLE_VARIABLE, "1")
    monkeypatch.delenv("STACKGEN_NO_CACHE", raising=False)
    seen: list[int] = []
    yield tmp_path
    _stop_everything(seen)


def _paths(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "t").glob("*.yaml"))


def _rules(findings: list[lint.Match]) -> list[tuple[str, str]]:
    return [(Path(f.path).name, f.rule) for f in findings]


def _pid() -> int:
    """The daemon's pid, also while it builds its Linter (and does not answer yet)."""
    [(_, _, pid)] = lintd.daemons()
    assert pid is not None
    return pid


def _status() -> dict:
    [(_, status, _)] = lintd.daemons()
    assert status is not None
    return status


def test_on_by_default_off_in_ci_or_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(lintd.ENABLE_VARIABLE, raising=False)
    assert lintd.enabled()
    monkeypatch.setenv("CI", "true")
    assert not lintd.enabled()
    monkeypatch.setenv(lintd.ENABLE_VARIABLE, "1")
    assert lintd.enabled()
    monkeypatch.delenv("CI")
    monkeypatch.setenv(lintd.ENABLE_VARIABLE, "0")
    assert not lintd.enabled()


@pytest.mark.slow
def test_findings_through_the_daemon_are_those_of_the_in_process_lint(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    paths = _paths(project)
    here = lint.lint(paths, use_cache=False, jobs=1, linter=lint.Linter())
    assert _rules(here.findings) == EXPECTED_RULES
    client = lintd.Client(2)
    through = lint.lint(paths, use_cache=False, jobs=2, server=client)
    err = capsys.readouterr().err
    assert err.startswith("stackgen: started a lint daemon (pid ") and err.count("\n") == 1
    # the same matches, in the same order, line, column and message
    assert through.findings == here.findings
    assert [str(f) for f in through.findings] == [str(f) for f in here.findings]
    status = _status()
    assert status["requests"] == 1 and status["cwd"] == str(project)
    # a second request is answered by the same, now warm, daemon, with the same findings
    assert lint.lint(paths, use_cache=False, jobs=1, server=client).findings == here.findings
    assert capsys.readouterr().err == ""
    assert _status()["pid"] == status["pid"] and _status()["requests"] == 2

    # the socket is the user's alone, in a directory of the cache, and the daemon is detached
    path = lintd.socket_path()
    assert path.parent == project / "cache" / "lintd"
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    pid = status["pid"]
    assert os.getsid(pid) == pid  # its own session
    assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull
    assert os.readlink(f"/proc/{pid}/fd/1") == str(path.with_suffix(".log"))


@pytest.mark.slow
def test_a_changed_rule_or_config_line_is_not_served_by_the_stale_daemon(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    paths = _paths(project)
    client = lintd.Client(1)
    assert _rules(lint.lint(paths, server=client).findings) == EXPECTED_RULES
    first = _status()["pid"]

    # A project rule changes (backups of at least 8 days): a fresh daemon lints, with the new verdict.
    rule = project / "rules" / "stackgen.py"
    rule.write_text(rule.read_text().replace("MIN_BACKUP_RETENTION_DAYS = 7", "MIN_BACKUP_RETENTION_DAYS = 8"))
    ruled = lint.lint(paths, server=client)
    assert _rules(ruled.findings) == [("db.yaml", "E9101"), *EXPECTED_RULES]
    second = _status()["pid"]
    assert second != first and not _alive(first)

    # A .cfnlintrc line changes: again a fresh daemon, and the finding it switches off is gone.
    (project / ".cfnlintrc").write_text(CONFIG + "ignore_checks: [E3012]\n")
    configured = lint.lint(paths, server=client)
    assert _rules(configured.findings) == [("db.yaml", "E9101"), ("db.yaml", "E9102"), ("main.yaml", "E3043")]
    assert _status()["pid"] not in (first, second) and not _alive(second)
    assert "unavailable" not in capsys.readouterr().err

    # The same check with nothing to lint (a no-op make templates): the stale daemon makes way.
    (project / ".cfnlintrc").write_text(CONFIG)
    third = _status()["pid"]
    lint.lint(paths, server=client)  # all cached under this environment: only the check runs
    assert _wait(lambda: not _alive(third), 10)
    assert _wait(lambda: bool(lintd.daemons()) and lintd.daemons()[0][2] not in (None, third), 30)


@pytest.mark.slow
def test_a_daemon_killed_mid_request_falls_back_to_the_in_process_lint(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    paths = _paths(project)
    client = lintd.Client(1)
    client.start()
    assert "started a lint daemon" in capsys.readouterr().err
    pid = _pid()
    killed: list[int] = []

    def kill_when_a_worker_runs() -> None:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if _wait(lambda: children.read_text().strip() != "", 120):
            os.killpg(pid, signal.SIGKILL)  # the daemon, its worker and the worker's pool
            killed.append(pid)

    killer = threading.Thread(target=kill_when_a_worker_runs)
    killer.start()
    result = lint.lint(paths, use_cache=False, server=client)
    killer.join()
    assert killed == [pid]
    assert _rules(result.findings) == EXPECTED_RULES
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lint daemon unavailable" in err and "linting in this process" in err


@pytest.mark.slow
def test_a_corrupt_socket_file_or_a_garbage_answer_still_lints(project: Path, capsys: pytest.CaptureFixture) -> None:
    paths = _paths(project)
    path = lintd.socket_path()
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_bytes(b"\x00garbage, not a socket")
    client = lintd.Client(1)
    assert _rules(lint.lint(paths, use_cache=False, server=client).findings) == EXPECTED_RULES
    # the file was replaced by a fresh daemon's socket, which answered
    assert stat.S_ISSOCK(path.stat().st_mode) and _status()["requests"] == 1
    assert "unavailable" not in capsys.readouterr().err
    old = _status()["pid"]

    # Something that listens there but answers garbage: one line, then the in-process lint.
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name("impostor")
    impostor.bind(str(tmp) if len(str(tmp)) < 100 else os.path.relpath(tmp))
    impostor.listen(4)
    os.replace(tmp, path)
    assert _wait(lambda: not _alive(old), 10)  # the daemon whose socket file was replaced exits

    def answer_garbage() -> None:
        impostor.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = impostor.accept()
            except TimeoutError:
                continue
            with conn:
                if conn.recv(65536):  # (not the client's check that something listens)
                    conn.sendall(b"garbage\n")

    done = threading.Event()
    server = threading.Thread(target=answer_garbage)
    server.start()
    try:
        result = lint.lint(paths, use_cache=False, server=client)
    finally:
        done.set()
        server.join(30)
        impostor.close()
    assert _rules(result.findings) == EXPECTED_RULES
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lint daemon unavailable (the daemon's answer is not JSON)" in err


@pytest.mark.slow
def test_the_daemon_ends_when_idle_or_when_its_socket_file_goes(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(lintd.IDLE_VARIABLE, "1")
    lintd.Client(1).start()
    assert "exits after 1 s idle" in capsys.readouterr().err
    pid = _pid()
    assert _wait(lambda: not _alive(pid), 60)
    assert not lintd.socket_path().exists()  # it removed its socket on the way out
    assert "idle for 1s: exiting" in lintd.socket_path().with_suffix(".log").read_text()

    monkeypatch.setenv(lintd.IDLE_VARIABLE, "900")
    lintd.Client(1).start()
    pid = _pid()
    shutil.rmtree(project / "cache")  # rm -rf .cache, make clean
    assert _wait(lambda: not _alive(pid), 60)


@pytest.mark.slow
def test_make_templates_lints_through_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from generator import bench

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STACKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(lintd.ENABLE_VARIABLE, "1")
    monkeypatch.delenv("STACKGEN_NO_CACHE", raising=False)
    seen: list[int] = []
    try:
        spec = tmp_path / "scheduled-file-writer.yaml"
        shutil.copy(ROOT / "platforms" / spec.name, spec)
        out = tmp_path / "out"
        argv = ["templates", str(spec), "--out", str(out), "--jobs", "2"]
        assert cli.main(argv) == 0
        cold = capsys.readouterr()
        assert "(9 linted on 2 cores, 0 unchanged), 0 findings" in cold.out and "preflight passed" in cold.out
        assert "started a lint daemon" in cold.err
        status = _status()
        assert status["requests"] == 1

        bench.one_service_change(spec, spec)
        assert cli.main(argv) == 0
        edit = capsys.readouterr()
        assert "(1 linted on 2 cores, 1 re-checked against changed children, 7 unchanged), 0 findings" in edit.out
        assert edit.out.index("cfn-lint: ") < edit.out.index("preflight passed")  # the usual order
        assert edit.err == "" and _status()["requests"] == 2 and _status()["pid"] == status["pid"]

        assert cli.main(["lintd", "status"]) == 0
        assert f"pid {status['pid']}, {ROOT}," in capsys.readouterr().out
        assert cli.main(["lintd", "stop"]) == 0
        assert capsys.readouterr().out == f"stopped lint daemon pid {status['pid']}\n"
        assert not _alive(status["pid"])
    finally:
        _stop_everything(seen)


def test_the_daemon_sees_a_changed_project_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Besides the lint environment, a daemon compares the sources of the project modules it has
    loaded (lint.py, the kernel modules the project rules import) before each request."""
    import importlib

    from generator import lintd_server

    (tmp_path / "stackgen_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("stackgen_probe_module")
    try:
        sources = lintd_server.project_sources()
        assert str(Path(lint.__file__).resolve()) in sources and str(Path(lintd_server.__file__).resolve()) in sources
        assert str((tmp_path / "stackgen_probe_module.py").resolve()) in sources
        assert lintd_server.digests(sources) == sources
        (tmp_path / "stackgen_probe_module.py").write_text("VALUE = 2\n")
        assert lintd_server.digests(sources) != sources
    finally:
        import sys

        sys.modules.pop("stackgen_probe_module", None)


def test_a_socket_path_longer_than_a_unix_address_still_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "x.sock"
    assert len(str(path)) > 108
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, lintd.address(path) as name:
        server.bind(name)
        server.listen(1)
        assert stat.S_ISSOCK(path.stat().st_mode)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with client, lintd.address(path) as other:
            client.connect(other)
