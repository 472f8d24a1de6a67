"""How `make bench` times a command: fresh processes timed from outside (wall clock; user+sys
CPU and peak RSS of the whole process tree), the median of several runs, and for the lint
daemon's row the daemon's own CPU added (:mod:`generator.bench` prints the tables)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    wall: float
    cpu: float
    rss: float  # MB, the largest process of the tree
    rc: int = 0
    note: str = ""

    def cell(self, floor: Sample) -> str:
        """wall, CPU, peak RSS, and wall and CPU as multiples of the floor's."""
        if self.rc:
            return f"FAILED (exit {self.rc}: {self.note[:60]})"
        return (
            f"{self.wall:5.2f}s {self.cpu:5.2f}c {self.rss:4.0f}MB "
            f"{self.wall / floor.wall:5.1f}x {self.cpu / max(floor.cpu, 1e-3):5.1f}xc"
        )


# Linux keeps the peak RSS of a process across exec, and a child forked from this process
# starts at this process's size: wait4 on it reports at least what the bench itself holds
# (``import troposphere`` came out at 49 MB, 17 MB on its own). GNU time forks the command
# from a process of a few MB, so its %M is the command's own peak.
GNU_TIME = Path("/usr/bin/time")


def run_once(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> Sample:
    """One process tree: wall, user+sys CPU (children included, from wait4) and peak RSS
    (from GNU time when it is installed, else wait4's)."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss:
        timed = [str(GNU_TIME), "-q", "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME.is_file() else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(timed, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        note = ""
        if rc:
            out.seek(0)
            lines = out.read().decode(errors="replace").strip().splitlines()
            note = lines[-1] if lines else ""
        peak = rss.read().strip().splitlines()
    kb = int(peak[-1]) if peak and peak[-1].isdigit() else usage.ru_maxrss
    return Sample(wall, usage.ru_utime + usage.ru_stime, kb / 1024, rc, note)


def measure(cmd: list[str], env: dict[str, str], repeat: int, before: Any = None, cwd: Path = ROOT) -> Sample:
    """Median wall and CPU, largest RSS, over ``repeat`` runs (``before()`` runs untimed first)."""
    samples = []
    for _ in range(repeat):
        if before:
            before()
        s = run_once(cmd, env, cwd)
        if s.rc:
            return s
        samples.append(s)
    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        max(s.rss for s in samples),
    )


def measure_with_daemon(cmd: list[str], env: dict[str, str], repeat: int, before: Any, cache_dir: Path) -> Sample:
    """As measure, with the lint daemon on: ``before()`` leaves it started, and each run waits
    until it is warm; the daemon's CPU during the run (its own and its reaped workers', from
    its status) is added to the run's."""
    from generator import lintd

    samples = []
    path = lintd.socket_path(str(ROOT), base=cache_dir)
    for _ in range(repeat):
        before()
        deadline = time.monotonic() + 300
        while True:
            try:
                start = lintd.request(path, {"op": "status"}, 60.0)
                if start["warm"]:
                    break
            except lintd.DaemonError:
                pass
            if time.monotonic() > deadline:
                return Sample(0, 0, 0, 1, "the lint daemon did not start")
            time.sleep(0.1)
        s = run_once(cmd, env)
        try:
            end = lintd.request(path, {"op": "status"}, 60.0)
        except lintd.DaemonError as exc:
            return Sample(0, 0, 0, 1, f"the lint daemon went away: {exc}")
        if s.rc or end["pid"] != start["pid"] or end["requests"] != start["requests"] + 1:
            return Sample(s.wall, s.cpu, s.rss, s.rc or 1, s.note or "the edit was not linted by the warm daemon")
        s.cpu += end["cpu"] - start["cpu"]
        samples.append(s)
    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        max(s.rss for s in samples),
    )
