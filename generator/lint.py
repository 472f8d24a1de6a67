"""cfn-lint over template sets: in process, incremental (a per-template cache) and
parallel across the machine's cores.

**The cache key of a template** is the SHA-256 of everything that can change its
verdict (``environment`` + ``jobs_of``):

- the template's bytes (which include its own ``Metadata.cfn-lint`` config);
- for a template with nested stacks (``AWS::CloudFormation::Stack``,
  ``AWS::Serverless::Application``), the findings of the cross-template rules
  (``CROSS_RULES``: E3043 reads the children's Parameters from disk) are kept apart,
  keyed also on the bytes of every template in its directory and of every local
  ``TemplateURL``/``Location`` it names: a changed child re-runs those rules on its
  parent, and the parent's other findings stay cached;
- the installed cfn-lint and the distributions it requires (name, version and the
  pip RECORD of installed files, so an upgrade or an edited install changes it), and
  the Python version;
- ``~/.cfnlintrc`` and ``./.cfnlintrc`` (and their ``.yaml``/``.yml`` forms), every
  file or directory they name in ``append_rules``, ``override_spec``,
  ``custom_rules`` and ``registry_schemas`` (the project rules in
  ``cfnlint_rules/``), ``AWS_REGION``/``AWS_DEFAULT_REGION`` (the default regions),
  this module's source, that of ``generator/cfn/`` (``RULE_IMPORTS``: the project
  rules evaluate conditions with it) and of the cfn-lint shim every Linter applies
  (``generator/cfnlint_shim.py``).

A finding is stored without its path and re-attached to the path linted now, so
the same bytes in another directory are not linted twice.

**Why lint costs what it does** (cfn-lint 1.58, mcp-gateway, ``make bench``): about
80 % of the CPU is cfn-lint's JSON-schema walk of the resource properties, which grows
with the number of property nodes, not resources; a stackgen resource carries about
2.5x the YAML of the reference doc's benchmark resources (IAM policy documents, tags,
rule lists, suppression metadata). E3043 decodes every child again for the parent.
Building cfn-lint's rule set costs about 1 s and is paid once per ``Linter``
(``lint_paths`` used to pay it on every call). The project rules, the region and the
two included I-rules each cost under 2 % (bench: ``lint breakdown``; E9101-E9104 together
take about 0.01 s of mcp-gateway's lint). Every Linter applies :mod:`generator.cfnlint_shim`
(a finding-identical speed-up of cfn-lint 1.58.0's bookkeeping, about a fifth of the lint's
CPU), and a process that only lints raises the GC thresholds (``LINT_GC_THRESHOLD``); one
that does other work too raises them for each batch (``lint_gc``).

**The cold lint with the daemon off** (make templates): the :class:`Server` is forked while
synth runs, builds the Linter, and forks its workers when the jobs come. A warm-up before
that fork (the daemon's: one resource of each type, so the provider schemas are loaded once
for both workers) and ``gc.freeze()`` before it were measured and not kept: the warm-up costs
0.24 s of CPU and the workers' CPU did not go down (4.1-4.5 s with it and without, interleaved
runs); the schemas a worker loads are a small part of its first lint, and with the raised GC
thresholds a worker's collector hardly walks the inherited heap, so freezing it saved less
than the collection before the freeze costs (0.1 s).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from generator import cache
from generator.cfn.load import TEMPLATE_SUFFIXES

NESTED_TYPES = ("AWS::CloudFormation::Stack", "AWS::Serverless::Application")
CONFIG_NAMES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")
# .cfnlintrc keys whose values name files or directories that change a verdict.
CONFIG_PATH_KEYS = ("append_rules", "override_spec", "custom_rules", "registry_schemas")
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
# `TemplateURL: x.yaml` (YAML block style) or `"TemplateURL": "x.yaml"` (JSON).
LOCATION = re.compile(r"""^\s*["']?(?:TemplateURL|Location)["']?\s*:\s*["']?([^"'\s,{}\[\]]+)""", re.M)
PATH_MARK = "\x00path\x00"
# The rules that read files other than the template they lint (cfn-lint 1.58: E3043,
# NestedStackParameters, decodes each local TemplateURL for its Parameters; the project
# rules read none). tests/test_lint_cache.py fails when another rule's source reads files.
CROSS_RULES = frozenset({"E3043"})
ALL, LOCAL, CROSS = "all", "local", "cross"  # which rules a unit of lint work runs
# The kernel package the project rules import (cfnlint_rules/stackgen.py imports
# generator.cfn.conditions, which loads the whole package): its source changes their verdicts.
RULE_IMPORTS = Path(__file__).resolve().parent / "cfn"
Job = tuple[str, str]  # (template path, ALL | LOCAL | CROSS)
# The cfn-lint speed-up every Linter applies (generator.cfnlint_shim): its source is in the key too.
SHIM_SOURCE = Path(__file__).resolve().parent / "cfnlint_shim.py"


@dataclass(frozen=True, order=True)
class Match:
    """One cfn-lint match as `stackgen lint` prints and caches it: cfn-lint's own Match, made
    orderable and picklable (the security gate turns cfn-lint matches into the kernel's
    :class:`generator.cfn.Finding`)."""

    path: str
    line: int
    column: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule} {self.message}"


@dataclass
class Result:
    findings: list[Match] = field(default_factory=list)
    linted: list[str] = field(default_factory=list)  # linted in this run
    crossed: list[str] = field(default_factory=list)  # only the cross-template rules ran
    cached: list[str] = field(default_factory=list)  # answered from the cache
    jobs: int = 1
    seconds: float = 0.0

    def summary(self) -> str:
        crossed = f", {len(self.crossed)} re-checked against changed children" if self.crossed else ""
        return (
            f"cfn-lint: {len(self.linted) + len(self.crossed) + len(self.cached)} templates "
            f"({len(self.linted)} linted{f' on {self.jobs} cores' if self.jobs > 1 else ''}{crossed}, "
            f"{len(self.cached)} unchanged), {len(self.findings)} findings ({self.seconds:.1f}s)"
        )


# --------------------------------------------------------------------------- cache keys


def _cfnlint_dists() -> list[str]:
    return sorted({"cfn-lint", "aws-sam-translator", *cache.requirements("cfn-lint")})


def _config_paths(config: Path) -> list[str]:
    """The files and directories a .cfnlintrc names under CONFIG_PATH_KEYS."""
    import yaml

    try:
        data = yaml.load(config.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, dict):
        return []
    out: list[str] = []
    for key in CONFIG_PATH_KEYS:
        value = data.get(key)
        values = value if isinstance(value, list) else [value]
        out += [str(v) for v in values if isinstance(v, str | os.PathLike)]
    return out


def environment(cwd: str | os.PathLike[str] | None = None) -> str:
    """Digest of everything outside a template that can change its verdict."""
    from generator import cfnlint_shim  # noqa: PLC0415 - (a light import: the standard library only)

    here = Path(cwd or os.getcwd())
    parts: list[bytes | str] = [b"lint-env", cache.dist_digest(*_cfnlint_dists()), cache.file_digest(__file__)]
    # The shim's source and whether it is switched off: a verdict cached by a linter with it
    # is never served as one without it, nor the reverse (tests/test_cfnlint_shim.py compares
    # the two). Whether it fits the installed cfn-lint follows from cfn-lint's dist digest
    # above and the shim's source.
    parts += [cache.file_digest(SHIM_SOURCE), f"shim-off={cfnlint_shim.switched_off()}"]
    parts += [cache.tree_digest(RULE_IMPORTS, (".py",))]
    for var in REGION_VARIABLES:
        parts += [var, os.environ.get(var, "\x00unset")]
    for base in (Path.home(), here):
        for name in CONFIG_NAMES:
            config = base / name
            parts += [str(config), cache.file_digest(config)]
            if config.is_file():
                for ref in _config_paths(config):
                    target = Path(os.path.expanduser(ref))
                    target = target if target.is_absolute() else here / target
                    parts += [ref, cache.tree_digest(target)]
    return cache.digest(*parts)


def _is_template(p: Path) -> bool:
    return p.suffix in TEMPLATE_SUFFIXES and p.is_file()


def is_nested(body: bytes) -> bool:
    """A template that names a nested stack type (so the cross-template rules can find something)."""
    return any(t.encode() in body for t in NESTED_TYPES)


def set_digest(path: str | os.PathLike[str], body: bytes) -> str:
    """What the cross-template rules read besides the template: every template in its
    directory and every local TemplateURL/Location target it names."""
    p = Path(path)
    here = p.resolve().parent
    parts: list[bytes | str] = [b"set"]
    for sibling in sorted(x for x in here.iterdir() if _is_template(x) and x.name != p.name):
        parts += [sibling.name, cache.file_digest(sibling)]
    for ref in sorted(set(LOCATION.findall(body.decode("utf-8", "replace")))):
        if "://" not in ref:
            parts += [ref, cache.file_digest(os.path.normpath(os.path.join(here, ref)))]
    return cache.digest(*parts)


def jobs_of(path: str, env: str) -> dict[Job, str]:
    """The units of lint work of one template, each with its cache key. A template without
    nested stacks is one unit (every rule, keyed on its bytes); a parent is two: its own
    rules (keyed on its bytes) and the cross-template rules (keyed on its bytes and the
    set's), so a changed child re-runs only those on the parent."""
    body = Path(path).read_bytes()
    if not is_nested(body):
        return {(path, ALL): cache.digest(b"lint", ALL, env, body)}
    return {
        (path, LOCAL): cache.digest(b"lint", LOCAL, env, body),
        (path, CROSS): cache.digest(b"lint", CROSS, env, body, set_digest(path, body)),
    }


# --------------------------------------------------------------------------- running cfn-lint

# The cyclic GC's thresholds of a process that only lints (``lint_process_gc``). cfn-lint
# allocates millions of short-lived containers (validators, contexts, errors) that reference
# counting frees, next to a large long-lived heap (rules, provider schemas: about 190,000
# objects); at the default (700, 10, 10) the collector ran about 400 times while building the
# rules and about 700 times (3 full passes over that heap) while linting mcp-gateway, 0.22 s of
# the build's 1.0 s CPU and 0.5 s of the lint's (gc.callbacks, make bench's machine). At these
# it runs a few times (0.07 s in the build, about 0.1 s in the lint), and a lint process peaks
# about 10 MB higher (make templates cold: 6.7-8.1 s CPU against 7.6-8.0 s, interleaved runs).
LINT_GC_THRESHOLD = (100_000, 50, 100)


def lint_process_gc() -> None:
    """Set LINT_GC_THRESHOLD in a process that only lints (the lint Server and its workers, the
    lint daemon); a process that does other work has them for each batch only (``lint_gc``)."""
    gc.set_threshold(*LINT_GC_THRESHOLD)


@contextlib.contextmanager
def lint_gc() -> Iterator[None]:
    """LINT_GC_THRESHOLD for one batch of lint work (building the rules, or linting a set of
    templates) in a process that does other work too, and its own thresholds again after the
    batch. Not around each template: restoring the thresholds makes the next allocation
    collect every young object at once, which costs more than one template saves; once a
    batch it does not. Building a Linter and linting scheduled-file-writer's 9 templates in a
    process holding 300,000 other containers (a test worker's heap is larger): 9,162M ->
    8,901M instructions (callgrind), 2.9 % less. The thresholds are the interpreter's: only
    the main thread changes them (two threads' batches could otherwise restore each other's
    raised ones and leave them raised)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = gc.get_threshold()
    gc.set_threshold(*LINT_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class Linter:
    """cfn-lint's configuration (.cfnlintrc in the working directory) and rule set, built
    once (cfn-lint's imports, every rule module executed and its data files parsed: about
    1.7 s of CPU) and reused for every template after that."""

    def __init__(self) -> None:
        from generator import cfnlint_shim

        cfnlint_shim.apply()  # (before the rules are built: finding-identical, about 20 % less CPU)
        from cfnlint.config import ConfigMixIn
        from cfnlint.rules import Rules
        from cfnlint.runner import Runner

        self.cwd = os.getcwd()
        self._config = ConfigMixIn
        with lint_gc():
            every = Runner(ConfigMixIn(["--template", os.devnull])).rules
        cfnlint_shim.apply_to_rules(every)
        self.rules = {
            ALL: every,
            LOCAL: Rules({k: r for k, r in every.items() if k not in CROSS_RULES}),
            CROSS: Rules({k: r for k, r in every.items() if k in CROSS_RULES}),
        }

    def lint_file(self, path: str, part: str = ALL) -> list[Match]:
        """Findings of one template, linted as ``cfn-lint PATH`` does in ``cwd`` (``part``:
        every rule, every rule but the cross-template ones, or only those)."""
        from cfnlint.runner.template.runner import run_template_by_file_paths

        if os.getcwd() != self.cwd:
            raise RuntimeError(f"bug: a Linter built in {self.cwd} used in {os.getcwd()}")
        config = self._config(["--template", path])
        found = {
            Match(m.filename or path, m.linenumber, m.columnnumber, m.rule.id, m.message)
            for m in run_template_by_file_paths(config, self.rules[part])
        }
        return sorted(found)


_SHARED: dict[str, Linter] = {}


def shared_linter() -> Linter:
    """One Linter per working directory for the life of the process."""
    cwd = os.getcwd()
    if cwd not in _SHARED:
        _SHARED[cwd] = Linter()
    return _SHARED[cwd]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Set in a process just before it forks its workers, read by them (shared copy-on-write).
_WORKER_LINTER: Linter | None = None


def _lint_in_worker(job: Job) -> tuple[Job, list[Match]]:
    assert _WORKER_LINTER is not None
    return job, _WORKER_LINTER.lint_file(*job)


def run_jobs(linter: Linter, jobs: list[Job], n: int) -> dict[Job, list[Match]]:
    """Lint ``jobs``, on ``n`` forked workers when that is more than one. Workers are forked
    only from the main thread (make templates waits for the lint daemon in a thread, and a fork
    beside a running thread can copy a lock that thread holds); elsewhere, in this process."""
    global _WORKER_LINTER
    import threading

    if n <= 1 or len(jobs) <= 1 or threading.current_thread() is not threading.main_thread():
        with lint_gc():
            return {j: linter.lint_file(*j) for j in jobs}
    import multiprocessing

    # Largest first, one at a time, so the slow templates do not end up on one core.
    order = sorted(jobs, key=lambda j: (j[1] == CROSS, -os.path.getsize(j[0]), j))
    _WORKER_LINTER = linter
    try:
        with multiprocessing.get_context("fork").Pool(n, initializer=lint_process_gc) as pool:
            return dict(pool.imap_unordered(_lint_in_worker, order, chunksize=1))
    finally:
        _WORKER_LINTER = None


class Runner(Protocol):
    """Where :func:`lint` sends the jobs the cache cannot answer: a :class:`Server`, or the
    lint daemon's client (:class:`generator.lintd.Client`). ``close()`` when there are none."""

    def run(self, jobs: list[Job], env: str) -> dict[Job, list[Match]]: ...

    def close(self) -> None: ...


class Server:
    """A process that builds a Linter while its parent does something else (synth), then
    lints the jobs it is sent on up to ``n`` cores. ``close()`` before ``run()`` stops it."""

    def __init__(self, n: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        # Not a daemon (it forks its own workers); it ends when its pipe closes.
        self._proc = ctx.Process(target=_serve, args=(child, n))
        self._proc.start()
        child.close()

    def run(self, jobs: list[Job], env: str = "") -> dict[Job, list[Match]]:
        try:
            self._conn.send(jobs)
            return self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"bug: the lint process died (exit {self._proc.exitcode})") from None
        finally:
            self.close()

    def close(self) -> None:
        if self._proc.exitcode is None:
            self._proc.terminate()
        self._proc.join()
        self._conn.close()


def _serve(conn: Any, n: int) -> None:
    lint_process_gc()
    linter = Linter()
    try:
        jobs = conn.recv()
    except EOFError:  # the parent went away
        return
    conn.send(run_jobs(linter, jobs, min(n, len(jobs))))


def _store(findings: list[Match], path: str) -> list[list[object]]:
    return [[f.line, f.column, f.rule, f.message.replace(path, PATH_MARK)] for f in findings]


def _load(rows: list[list[object]], path: str) -> list[Match]:
    return [
        Match(path, int(str(line)), int(str(col)), str(rule), str(msg).replace(PATH_MARK, path))
        for line, col, rule, msg in rows
    ]


def split(found: list[Match]) -> tuple[list[Match], list[Match]] | None:
    """A parent's findings of every rule as those of its LOCAL and its CROSS job, or None when
    cfn-lint's runner reported something itself (E0xxx: the template does not parse or
    transform, a rule failed): that appears in each of two separate runs, or in the one whose
    rule failed, so such a parent is linted in two runs. Every other finding belongs to the rule
    that made it (E3043 has no parent or child rules), so the split equals two separate runs
    (tests/test_lint_cache.py shows it)."""
    if any(f.rule.startswith("E0") for f in found):
        return None
    return [f for f in found if f.rule not in CROSS_RULES], [f for f in found if f.rule in CROSS_RULES]


def _run_merged(
    todo: list[Job], env: str, n: int, linter: Linter | None, server: Runner | None
) -> dict[Job, list[Match]]:
    """The findings of ``todo``; a parent with both jobs to do (linted cold) is linted once with
    every rule (one decode, one rule pass) and its findings are split between the two."""
    both = sorted({p for p, part in todo if part == LOCAL and (p, CROSS) in todo})
    batch = [j for j in todo if j[0] not in both] + [(p, ALL) for p in both]
    found = server.run(batch, env) if server is not None else run_jobs(linter or shared_linter(), batch, n)
    again: list[Job] = []
    for p in both:
        parts = split(found.pop((p, ALL)))
        if parts is None:
            again += [(p, LOCAL), (p, CROSS)]
        else:
            found[(p, LOCAL)], found[(p, CROSS)] = parts
    if again:  # (a Server answers once: these run here)
        found.update(run_jobs(linter or shared_linter(), again, min(n, len(again))))
    return found


def lint(
    paths: Sequence[str | os.PathLike[str]],
    *,
    use_cache: bool = True,
    jobs: int | None = None,
    store: cache.Store | None = None,
    linter: Linter | None = None,
    server: Runner | None = None,
) -> Result:
    """Lint ``paths`` in the working directory's cfn-lint configuration. What is cached is
    not linted again; the rest runs on up to ``jobs`` cores (default: all), on ``server``
    (a Server started meanwhile, or the lint daemon) when there is one, else in this process.
    Findings are sorted by path, line, column, rule and message."""
    start = time.perf_counter()
    names = sorted(dict.fromkeys(str(p) for p in paths))
    result = Result()
    store = store or cache.Store("lint", use=use_cache)
    env = environment() if names else ""
    keys = {job: key for p in names for job, key in jobs_of(p, env).items()}
    todo: list[Job] = []
    for job, key in keys.items():
        rows = store.get(key) if use_cache else None
        if rows is None:
            todo.append(job)
        else:
            result.findings += _load(rows, job[0])
    if todo:
        result.jobs = max(1, min(jobs or cores(), len(todo)))
        found = _run_merged(todo, env, result.jobs, linter, server)
        for job in todo:
            store.put(keys[job], _store(found[job], job[0]))
            result.findings += found[job]
    elif server is not None:
        server.close()
    full = {p for p, part in todo if part != CROSS}
    result.linted = sorted(full)
    result.crossed = sorted({p for p, _ in todo} - full)
    result.cached = sorted(set(names) - full - set(result.crossed))
    result.findings.sort()
    result.seconds = time.perf_counter() - start
    return result


def lint_paths(paths: Iterable[str | os.PathLike[str]], use_cache: bool = True) -> list[str]:
    """cfn-lint over ``paths`` in this process on one core, one line per finding:
    ``path:line:column: RULE message``. The rule set is built once per process, and a
    template whose key is in the cache (STACKGEN_CACHE_DIR; the tests get one per run) is
    not linted again: the tests lint the same templates many times (the committed
    platforms, the property tests' seeds, one broken copy at a time)."""
    if use_cache:
        return [str(f) for f in lint(list(paths), jobs=1).findings]
    linter = shared_linter()
    return [str(f) for p in sorted({str(p) for p in paths}) for f in linter.lint_file(p)]
