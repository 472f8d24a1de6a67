"""`make bench`: the edit loop's timings, side by side, against two floors.

Every figure is one or more fresh processes, timed from outside (wall clock, and user+sys
CPU and peak RSS of the whole process tree from ``wait4``), with a private cache
directory, so "cold" means an empty ``.cache`` and "warm"/"no-op" means the cache that
the run just before it left. Columns are each platform spec and a generated N-service
spec (``--services N``, default 300; the largest N that generates today is used when N
does not, and the table says so). Ratios are to the ``import troposphere`` floor measured
in the same run and, when ``make bench-anchor`` installed it, to ``cdk synth`` of the
equivalent 8-service CDK app (``scripts/cdk-anchor/app.py``).

The project's bytecode is written first (:func:`compile_project`), as a user's first run
leaves it, so no timed run compiles generator/ under ``PYTHONDONTWRITEBYTECODE``.

Speed targets (issue 13) are checked here and only here, never in timed tests: they hold
on an idle machine, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.bench_run import Sample, measure, measure_with_daemon, run_once

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT / ".tools" / "cdk"
ANCHOR_APP = ROOT / "scripts" / "cdk-anchor"
# Issue 13's targets: (what, row, measure, limit); "floor"/"cdk" limits are ratios.
TARGETS = (
    ("synth wall", "synth", "wall", 0.5),
    ("synth peak RSS (MB)", "synth", "rss", 60.0),
    ("synth / import troposphere (wall)", "synth", "wall/floor", 5.0),
    ("synth / import troposphere (CPU; steadier when loaded)", "synth", "cpu/floor", 5.0),
    ("no-op `make templates` wall", "templates no-op", "wall", 0.5),
    ("gate after a one-service change wall (lint daemon row)", "templates 1-service change, daemon", "wall", 3.0),
    ("cold gate CPU / cdk synth (default) CPU", "templates cold", "cpu/cdk", 0.5),
)
ROWS = (
    "synth",
    "lint cold",
    "lint warm",
    "preflight",
    "templates cold",
    "templates no-op",
    "templates 1-service change",
    "templates 1-service change, daemon",
)
# Every row runs with the lint daemon off (its CPU, in a detached process, is not in wait4's
# usage), except the daemon row, which adds the daemon's CPU for each timed run (its status).
DAEMON_OFF = {"STACKGEN_LINT_DAEMON": "0"}


# --------------------------------------------------------------------------- specs


def scale_spec(n: int) -> dict[str, Any]:
    """An N-service platform in the reference doc's shape: 3 AZs with a NAT each, Aurora,
    EFS with an access point per ten services (the EFS stack outputs one per access point), one
    ALB; every service with a generated secret,
    an EFS volume, Service Connect and CPU/memory auto scaling; the first behind the ALB, and
    the first of every ten admitting the other nine (a hub per ten: one security group holds
    at most 60 rules per direction, so no service can call all 300)."""
    services = []
    for i in range(n):
        name = f"svc{i:03d}"
        svc: dict[str, Any] = {
            "name": name,
            "cluster": "main",
            "image": {"default": f"public.ecr.aws/nginx/nginx:1.27-{i}"},
            "cpu": 256,
            "memory": 512,
            "ports": [{"name": "http", "port": 8080}],
            "health_check": {"command": "curl -f http://localhost:8080/health || exit 1"},
            "user": "1000:1000",
            "readonly_root_filesystem": True,
            "scratch_paths": ["/tmp"],
            "environment": {"DB_HOST": "${db:endpoint}", "SERVICE": name},
            "secrets": {"API_KEY": {"secret": "api-key"}},
            "volumes": [{"access_point": f"ap{i // 10:03d}", "path": "/data"}],
            "discovery": {"name": name, "port": "http"},
            "scaling": {"min": 1, "max": 4, "cpu": 70, "memory": 80},
        }
        if i == 0:
            svc["target_groups"] = [{"name": "web", "load_balancer": "web", "container_port": 8080}]
        elif i % 10:
            svc["allow_from"] = [{"service": f"svc{i - i % 10:03d}", "ports": [8080]}]
        services.append(svc)
    return {
        "name": f"scale-{n}",
        "description": f"{n} services for make bench",
        "network": {"availability_zones": 3, "egress": "nat-per-az"},
        "secrets": [{"name": "api-key", "description": "API key", "generate": {"length": 32}}],
        "efs": {"access_points": [{"name": f"ap{k:03d}", "path": f"/team{k:03d}"} for k in range((n + 9) // 10)]},
        "database": {"engine": "aurora-postgresql", "engine_version": "16.9", "database_name": "app"},
        "clusters": [{"name": "main"}],
        "namespace": "scale.local",
        "load_balancers": [{"name": "web", "listeners": [{"port": 80, "mode": "auto", "target_group": "web"}]}],
        "services": services,
    }


def _generates(data: dict[str, Any]) -> str:
    """'' when the spec validates and synthesizes, else the first line of the error."""
    from generator import render
    from generator.spec import SpecError, parse_spec

    try:
        render.synthesize(parse_spec(data))
    except SpecError as exc:
        return exc.lines[0]
    except Exception as exc:  # noqa: BLE001 - any generation failure counts
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return ""


def largest_scale(n: int) -> tuple[int, str]:
    """The largest k <= n whose scale_spec(k) generates, and why n does not ('' when it does)."""
    why = _generates(scale_spec(n))
    if not why:
        return n, ""
    lo, hi = 1, n  # scale_spec(lo) is assumed to work; hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _generates(scale_spec(mid)):
            hi = mid
        else:
            lo = mid
    return lo, why


def one_service_change(spec_path: Path, dest: Path, value: str = "1") -> Path | None:
    """A copy of the spec with one environment variable (= ``value``) added to its first service
    (a change to that service's task definition only); None without services."""
    import yaml

    data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    if not data.get("services"):
        return None
    changed = copy.deepcopy(data)
    changed["services"][0].setdefault("environment", {})["BENCH_CHANGE"] = value
    dest.write_text(yaml.safe_dump(changed, sort_keys=False), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- the runs


def _resources(out: Path) -> int:
    from generator.cfn.load import load_file

    return sum(len(load_file(p).get("Resources") or {}) for p in out.glob("*.yaml"))


def bench_spec(spec: Path, work: Path, repeat: int) -> tuple[dict[str, Sample], int]:
    py = sys.executable
    cache_dir = work / "cache"
    env = {**os.environ, "STACKGEN_CACHE_DIR": str(cache_dir), **DAEMON_OFF}
    out, made = work / "synth", work / "made"

    def cold() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)

    def fresh() -> None:
        cold()
        shutil.rmtree(made, ignore_errors=True)

    make = ["make", "-s", "--no-print-directory", "templates", f"PLATFORM={spec}", f"OUT={made}"]
    rows: dict[str, Sample] = {}
    rows["synth"] = measure([py, "-m", "generator", "synth", str(spec), "--out", str(out), "--quiet"], env, repeat)
    lint = [py, "-m", "generator", "lint", str(out)]
    rows["lint cold"] = measure(lint, env, repeat, before=cold)
    rows["lint warm"] = measure(lint, env, repeat)
    rows["preflight"] = measure([py, "-m", "generator", "check", "--templates", str(out)], env, repeat)
    rows["templates cold"] = measure(make, env, repeat, before=fresh)
    rows["templates no-op"] = measure(make, env, repeat)
    edited = work / f"{spec.stem}.yaml"
    if one_service_change(spec, edited):
        edit = ["make", "-s", "--no-print-directory", "templates", f"PLATFORM={edited}", f"OUT={made}"]
        runs = iter(range(10**6))

        def baseline(env: dict[str, str] = env) -> None:
            # The unchanged platform, fully cached, before each timed edit; each edit a new value,
            # so its lint is never answered from an earlier edit's cache entry.
            one_service_change(spec, edited, f"edit-{next(runs)}")
            run_once(make, env)

        rows["templates 1-service change"] = measure(edit, env, repeat, before=baseline)
        on = {**env, "STACKGEN_LINT_DAEMON": "1"}
        try:
            rows["templates 1-service change, daemon"] = measure_with_daemon(
                edit, on, repeat, lambda: baseline(on), cache_dir
            )
        finally:
            from generator import lintd  # (not at the top: the scale table times generation's imports only)

            lintd.stop_all(str(ROOT), base=cache_dir)
    return rows, _resources(out)


def bench_anchor(repeat: int) -> dict[str, Sample]:
    """`cdk synth` of the 8-service CDK app, with CDK's validator (default) and without."""
    cdk = ANCHOR / "cli" / "node_modules" / ".bin" / "cdk"
    env = {
        **os.environ,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    cmd = [str(cdk), "synth", "-q", "--no-notices", "--output", str(ANCHOR / "cdk.out")]
    return {
        "cdk synth (default)": measure(cmd, env, repeat, cwd=ANCHOR),
        "cdk synth (CDK_VALIDATION=false)": measure(cmd, {**env, "CDK_VALIDATION": "false"}, repeat, cwd=ANCHOR),
    }


def anchor_installed() -> bool:
    return (ANCHOR / ".installed").is_file() and (ANCHOR / "app.py").is_file()


# --------------------------------------------------------------------------- scale and deploy time

SCALE_NS = (8, 30, 100, 300)
# Issue 12's targets for generating 300 services (render.synthesize and the YAML written;
# the deployability check synthesis runs after it is timed in the synth row above).
SCALE_TARGETS = (("generate 300 services wall (s)", 3.0), ("generate 300 services peak RSS (MB)", 150.0))


def generate(spec_path: str, out: str) -> None:
    """Generate SPEC's templates into OUT without the checks (``python -c`` entry point; this
    module imports nothing at the top that generation does not need, so the scale table
    times generation, not the bench's own imports). Cyclic GC is paused throughout, as in
    ``synth`` (generator.gcpause)."""
    from generator.gcpause import paused

    with paused():
        from generator import render
        from generator.spec import load_spec

        spec = load_spec(spec_path)
        header = render.HEADER.format(name=spec.name)
        Path(out).mkdir(parents=True, exist_ok=True)
        for name, t in sorted(render.synthesize(spec).items()):
            (Path(out) / name).write_text(header + render.to_yaml(t), encoding="utf-8")


def _roots(out: Path) -> int:
    """Root stacks of generated templates (generator.roots: several past one operation's quota)."""
    from generator.cfn.load import load_file
    from generator.deployability import rootset

    return len(rootset.root_files({"main.yaml": load_file(out / "main.yaml")}))


def _largest(out: Path) -> tuple[int, int, str]:
    """(templates, resources, 'file R/P/O/bytes' of the template with the most resources)."""
    from generator.cfn.load import load_file

    rows = []
    for p in sorted(out.glob("*.yaml")):
        t = load_file(p)
        rows.append(
            (
                len(t.get("Resources") or {}),
                len(t.get("Parameters") or {}),
                len(t.get("Outputs") or {}),
                p.stat().st_size,
                p.name,
            )
        )
    big = max(rows)
    return len(rows), sum(r[0] for r in rows), f"{big[4]} {big[0]}/{big[1]}/{big[2]}/{big[3]:,}"


def scale_table(work: Path, repeat: int, ns: tuple[int, ...] = SCALE_NS) -> list[str]:
    """Generation of scale_spec(N) per N: wall, peak RSS, templates, resources, the largest
    template's resources/parameters/outputs/bytes, and t(300)/t(30)."""
    import yaml

    lines = [
        "",
        "scale (generation only: render.synthesize + YAML; largest = most resources, R/P/O/bytes):",
        f"  {'N':>4} {'wall':>7} {'CPU':>7} {'RSS':>7} {'load':>5} {'templates':>9} {'resources':>9} {'roots':>5}"
        "  largest",
    ]
    walls: dict[int, float] = {}
    cpus: dict[int, float] = {}
    for n in ns:
        spec = work / f"gen-{n}.yaml"
        spec.write_text(yaml.safe_dump(scale_spec(n), sort_keys=False), encoding="utf-8")
        out = work / f"gen-{n}"
        # ended as synth ends (generator.cli.NO_TEARDOWN): no interpreter teardown
        code = f"import os; from generator.bench import generate; generate({str(spec)!r}, {str(out)!r}); os._exit(0)"
        s = measure([sys.executable, "-c", code], dict(os.environ), repeat)
        if s.rc:
            lines.append(f"  {n:>4} does not generate: {s.note}")
            continue
        walls[n], cpus[n] = s.wall, s.cpu
        templates, resources, big = _largest(out)
        load = os.getloadavg()[0]
        row = f"  {n:>4} {s.wall:6.2f}s {s.cpu:6.2f}c {s.rss:5.0f}MB {load:5.1f} {templates:>9} {resources:>9}"
        lines.append(f"{row} {_roots(out):>5}  {big}")
        if n == 300:
            for (what, limit), value in zip(SCALE_TARGETS, (s.wall, s.rss), strict=True):
                lines.append(
                    f"       {what}: {value:.2f} (limit {limit:g}) {'ok' if value <= limit else 'MISSED'}"
                    f" (load average {os.getloadavg()[0]:.1f})"
                )
    if 30 in walls and 300 in walls:
        lines.append(
            f"  t(300)/t(30) = {walls[300] / walls[30]:.2f} wall, {cpus[300] / cpus[30]:.2f} CPU "
            "(linear growth would be 10)"
        )
    return lines


def synth_at_floor(spec: Path, work: Path, repeat: int) -> list[str]:
    """The ``import troposphere`` floor and ``synth`` of SPEC against it, with the load
    average (the synth targets of issue 13 without the rest of the bench)."""
    env = dict(os.environ)
    floor = measure([sys.executable, "-c", "import troposphere"], env, max(5, repeat))
    synth = measure(
        [sys.executable, "-m", "generator", "synth", str(spec), "--out", str(work / "synth"), "--quiet"], env, repeat
    )
    load = os.getloadavg()[0]
    return [
        f"import troposphere floor: {floor.wall:.3f}s wall, {floor.cpu:.3f}s CPU, {floor.rss:.0f} MB",
        f"synth {spec.stem}: {synth.cell(floor)} (wall, CPU, RSS, x floor wall, x floor CPU; load average {load:.1f})",
    ]


def critical_paths(specs: list[Path]) -> list[str]:
    """Per platform, the estimated first-create critical path (generator.critical_path) as
    generated (the services that use the database in the group ``database``, generator.placement),
    and with them pinned to ``group: default``: the layout before that default, one services stack."""
    import yaml

    from generator import critical_path, render
    from generator.spec import SpecError, load_spec, parse_spec

    lines = ["", "estimated first create (minutes; generator.critical_path.TYPICAL_MINUTES, sources there):"]
    for path in specs:
        try:
            spec = load_spec(path)
            before = critical_path.estimate(render.synthesize(spec))
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            users = {s.name for s in spec.services if s.uses_database and not s.group}
            for svc in data["services"]:
                if svc["name"] in users:
                    svc["group"] = "default"
            after = critical_path.estimate(render.synthesize(parse_spec(data, str(path)))) if users else before
        except (SpecError, ValueError) as exc:
            lines.append(f"  {path.stem}: does not generate ({str(exc).splitlines()[0]})")
            continue
        lines.append(f"  {path.stem}: {critical_path.describe(before)}")
        lines.append(f"    services stable: {stable_times(before.services_stable())}")
        if users:
            lines.append(f"    with {named(users)} in group default: {critical_path.describe(after)}")
            lines.append(f"    services stable: {stable_times(after.services_stable())}")
    return lines


# A list longer than this is summed up, so each line of the report stays readable at any size.
LISTED = 8


def _natural(name: str) -> tuple[Any, ...]:
    """services-database-2 before services-database-10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def named(names: Iterable[str]) -> str:
    """The names, in natural order; past LISTED, their count with the first and the last."""
    ordered = sorted(names, key=_natural)
    if len(ordered) <= LISTED:
        return ", ".join(ordered)
    return f"{len(ordered)} services ({ordered[0]} ... {ordered[-1]})"


def stable_times(times: dict[str, float]) -> str:
    """Each services stack's estimated minute of stability, in natural order; past LISTED,
    their count with the earliest and the latest."""
    ordered = sorted(times.items(), key=lambda kv: _natural(kv[0]))
    if len(ordered) <= LISTED:
        return ", ".join(f"{k} {v:.1f}" for k, v in ordered)
    first = min(ordered, key=lambda kv: kv[1])
    last = max(reversed(ordered), key=lambda kv: kv[1])  # (of equal times, the last named)
    return f"{len(ordered)} stacks, the first {first[0]} {first[1]:.1f}, the last {last[0]} {last[1]:.1f}"


# --------------------------------------------------------------------------- the report


def _ratio(row: Sample, measure_: str, floor: Sample, cdk: Sample | None) -> float | None:
    if measure_ == "wall":
        return row.wall
    if measure_ == "rss":
        return row.rss
    if measure_ == "wall/floor":
        return row.wall / floor.wall
    if measure_ == "cpu/floor":
        return row.cpu / max(floor.cpu, 1e-3)
    if measure_ == "cpu/cdk":
        return row.cpu / cdk.cpu if cdk and not cdk.rc else None
    raise ValueError(measure_)


def report(
    columns: dict[str, tuple[dict[str, Sample], int]],
    floor: Sample,
    anchor: dict[str, Sample],
    notes: list[str],
    target: str,
) -> list[str]:
    lines = [
        f"import troposphere floor: {floor.wall:.3f}s wall, {floor.cpu:.3f}s CPU, {floor.rss:.0f} MB",
        "cells: wall, user+sys CPU (c), peak RSS, wall / floor wall (x), CPU / floor CPU (xc)",
    ]
    cdk = anchor.get("cdk synth (default)")
    for name, s in anchor.items():
        lines.append(f"{name}: {s.cell(floor)}")
    if not anchor:
        lines.append("cdk synth: not installed (make bench-anchor)")
    width = 46
    header = f"{'':<36}" + "".join(f"{f'{c} ({n} resources)':<{width}}" for c, (_, n) in columns.items())
    lines += ["", header]
    for row in ROWS:
        cells = []
        for rows, _ in columns.values():
            sample = rows.get(row)
            text = sample.cell(floor) if sample else "-"
            if sample and cdk and not sample.rc and not cdk.rc and row.startswith("templates"):
                text += f" {sample.cpu / cdk.cpu:4.2f}cdk"
            cells.append(f"{text:<{width}}")
        lines.append(f"{row:<36}" + "".join(cells))
    lines += ["", *notes, ""]
    if target in columns:
        rows = columns[target][0]
        load = os.getloadavg()[0]
        lines.append(f"targets ({target}; they hold on an idle machine; load average now {load:.1f}):")
        for what, row, measure_, limit in TARGETS:
            found = rows.get(row)
            value = _ratio(found, measure_, floor, cdk) if found and not found.rc else None
            if value is None:
                lines.append(f"  {what:<56} {'n/a':>8}  (limit {limit:g})")
            else:
                verdict = "ok" if value <= limit else "MISSED"
                lines.append(f"  {what:<56} {value:8.2f}  (limit {limit:g}) {verdict}")
    return lines


def lint_breakdown(spec: Path, work: Path, repeat: int) -> list[str]:
    """Where lint's cost goes: plain cfn-lint (no config), cfn-lint with the project's
    .cfnlintrc and rules, the one-Runner in-process lint `lint` used to be, and `lint` now."""
    py = sys.executable
    out = work / "why" / spec.stem
    subprocess.run([py, "-m", "generator", "synth", str(spec), "--out", str(out), "--quiet"], cwd=ROOT, check=True)
    files = sorted(str(p) for p in out.glob("*.yaml"))
    plain_dir = work / "why-plain"  # no .cfnlintrc here or in HOME
    plain_dir.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(plain_dir), "STACKGEN_CACHE_DIR": str(work / "why-cache")}
    cfnlint = str(Path(py).parent / "cfn-lint")
    one_runner = (
        "import sys; from cfnlint.api import ConfigMixIn, Runner; "
        "list(Runner(ConfigMixIn(['--template', *sys.argv[1:]])).run())"
    )
    runs = {
        "cfn-lint --version (start-up)": (measure([cfnlint, "--version"], env, repeat, cwd=plain_dir)),
        "cfn-lint, no config": measure([cfnlint, *files], env, repeat, cwd=plain_dir),
        "cfn-lint, project .cfnlintrc + rules": measure([cfnlint, *files], env, repeat),
        "cfn-lint, project, E3043 off": measure([cfnlint, "--ignore-checks", "E3043", "--", *files], env, repeat),
        "one in-process Runner (old lint)": measure([py, "-c", one_runner, *files], env, repeat),
        "lint --no-cache --jobs 1": measure(
            [py, "-m", "generator", "lint", str(out), "--no-cache", "--jobs", "1"], env, repeat
        ),
        "lint --no-cache (all cores)": measure([py, "-m", "generator", "lint", str(out), "--no-cache"], env, repeat),
    }
    resources = _resources(out)
    size = sum(Path(f).stat().st_size for f in files) / 1024
    plain = runs["cfn-lint, no config"].cpu - runs["cfn-lint --version (start-up)"].cpu
    lines = [
        f"lint breakdown, {spec.stem}: {len(files)} templates, {resources} resources, {size:.0f} KB "
        f"({1024 * size / resources:.0f} B per resource); cfn-lint CPU past start-up: "
        f"{1000 * plain / resources:.1f} ms per resource, {1000 * plain / size:.1f} ms per KB"
    ]
    for name, s in runs.items():
        failed = f"  FAILED: {s.note}" if s.rc else ""
        lines.append(f"  {name:<40} {s.wall:6.2f}s wall {s.cpu:6.2f}s CPU {s.rss:5.0f} MB{failed}")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="*", metavar="SPEC", help="platform specs (default: platforms/*.yaml)")
    p.add_argument(
        "--services",
        type=int,
        default=300,
        metavar="N",
        help="services in the generated scale spec (default 300; 0 leaves it out)",
    )
    p.add_argument("--repeat", type=int, default=3, metavar="K", help="runs per figure (median; default 3)")
    p.add_argument("--no-anchor", action="store_true", help="skip cdk synth even when it is installed")
    p.add_argument("--target", metavar="SPEC", help="the spec the targets are checked on (make bench: PLATFORM)")
    p.add_argument(
        "--scale-only",
        action="store_true",
        help="only the scale table (N = 8, 30, 100, 300) and the critical paths, not the timings",
    )
    p.add_argument(
        "--why",
        action="store_true",
        help="also break lint's cost down on the target spec (plain cfn-lint, config, runner)",
    )


def compile_project() -> None:
    """Byte-compile generator/ and the project's cfn-lint rules before anything is timed: a
    user's first run writes that bytecode and every later run reads it, but under
    PYTHONDONTWRITEBYTECODE (set in CI and on some machines) every timed process would compile
    the project again (about 0.1-0.2 s CPU each) and the figures would time the compiler."""
    import compileall

    for folder in ("generator", "cfnlint_rules"):
        compileall.compile_dir(str(ROOT / folder), quiet=1, workers=0)


def cmd(args: argparse.Namespace) -> int:
    import yaml

    compile_project()
    specs = [Path(s).resolve() for s in args.specs] or sorted((ROOT / "platforms").glob("*.yaml"))
    target = Path(args.target).resolve() if args.target else specs[0]
    if target not in specs:
        specs.insert(0, target)
    env = dict(os.environ)
    notes = []
    if args.scale_only:
        with tempfile.TemporaryDirectory(prefix="stackgen-bench-") as tmp:
            lines = synth_at_floor(target, Path(tmp), args.repeat) + scale_table(Path(tmp), args.repeat)
            print("\n".join(lines + critical_paths(specs)))
        return 0
    floor = measure([sys.executable, "-c", "import troposphere"], env, max(5, args.repeat))
    anchor = bench_anchor(args.repeat) if anchor_installed() and not args.no_anchor else {}
    columns: dict[str, tuple[dict[str, Sample], int]] = {}
    with tempfile.TemporaryDirectory(prefix="stackgen-bench-") as tmp:
        work = Path(tmp)
        if args.services > 0:
            n, refused = largest_scale(args.services)
            if refused:
                notes.append(
                    f"{args.services} services do not generate today ({refused}); the scale column is "
                    f"the largest that does, {n} (the sharding issue lifts this; rerun with "
                    f"--services {args.services})."
                )
            scale = work / f"scale-{n}.yaml"
            scale.write_text(yaml.safe_dump(scale_spec(n), sort_keys=False), encoding="utf-8")
            specs.append(scale)
        for spec in specs:
            spec_work = work / spec.stem
            spec_work.mkdir()
            print(f"bench: {spec.stem} ...", file=sys.stderr, flush=True)
            columns[spec.stem] = bench_spec(spec, spec_work, args.repeat)
        breakdown = lint_breakdown(target, work, args.repeat) if args.why else []
        scale_lines = scale_table(work, args.repeat)
        paths = critical_paths(specs)  # while the scale spec still exists
    print("\n".join(report(columns, floor, anchor, notes, target.stem) + breakdown + scale_lines + paths))
    return 0
