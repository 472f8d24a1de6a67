"""`validate.sh`'s cache: the security gate (``python -m generator.gate run``) per tool,
re-running only the tools whose inputs changed.

A tool's result (its report section, its counts, its SARIF) is stored under a key of:
the bytes and paths of every template the gate scans, the gate's own source
(``generator/gate/``), ``--verbose``, and that tool's own inputs:

- cfn-lint: the installed cfn-lint and its requirements, ``.cfnlintrc`` and the project
  rules (``generator.lint.environment``);
- checkov: the installed checkov (its pip RECORD in the tool venv) and ``.checkov.yaml``;
- cfn-guard: the cfn-guard binary, the Control Tower rules, the project Guard rules and
  the allow-lists;
- reasons: the allow-lists.

The tools that miss run in one gate process (so the external scanners still overlap
cfn-lint); the report is then put together in the gate's own order and format, with one
summary table over every tool. ``--no-cache`` (``validate.sh --no-cache``) runs them all.
Exit codes are the gate's: 0 clean, 1 findings or a scanner failure, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generator import cache, lint
from generator.cfn.load import TEMPLATE_SUFFIXES

# Not generator.gate.cli or .templates: they import cfn-lint (about 1 s), which an answer
# from the cache does not need; the tools and their defaults live in the light gate.model.
from generator.gate.model import DEFAULTS, TOOLS, ToolResult, relpath, summary_table, write_json

GATE = Path(__file__).resolve().parent / "gate"
SECTION = re.compile(r"^== (\S+) ==$", re.M)
SARIF = {"cfn-lint": "cfn-lint.sarif", "checkov": "checkov.sarif", "cfn-guard": "cfn-guard.sarif"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m generator.gatecache", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("targets", nargs="*", default=["templates"])
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--checkov", default=DEFAULTS["checkov"])
    p.add_argument("--cfn-guard", default=DEFAULTS["cfn_guard"])
    p.add_argument("--ct-rules", default=DEFAULTS["ct_rules"])
    p.add_argument("--rules", action="append", default=None)
    p.add_argument("--allowlist", action="append", default=None)
    p.add_argument("--cfnlintrc", default=DEFAULTS["cfnlintrc"])
    p.add_argument("--checkov-config", default=DEFAULTS["checkov_config"])
    p.add_argument("--reports", default=DEFAULTS["reports"])
    p.add_argument("--verbose", "-v", action="store_true")
    p.add_argument("--no-cache", action="store_true", help="run every tool; ignore .cache/gate")
    return p


def _checkov_install(executable: str) -> str:
    """The RECORD of checkov in the venv that holds the executable (a reinstall changes it)."""
    venv = Path(executable).resolve().parent.parent
    records = sorted(venv.glob("lib/python*/site-packages/checkov-*.dist-info/RECORD"))
    return cache.digest(*[cache.file_digest(r) for r in records]) if records else cache.file_digest(executable)


def tool_inputs(args: argparse.Namespace) -> dict[str, str]:
    """Digest of what each tool's verdict depends on besides the templates."""
    allowlists = [cache.file_digest(a) for a in (args.allowlist or [DEFAULTS["allowlist"]])]
    rules = [cache.tree_digest(r) for r in (args.rules or [DEFAULTS["rules"]])]
    return {
        "cfn-lint": cache.digest(lint.environment(), cache.file_digest(args.cfnlintrc)),
        "checkov": cache.digest(_checkov_install(args.checkov), cache.file_digest(args.checkov_config)),
        "cfn-guard": cache.digest(
            cache.file_digest(args.cfn_guard), cache.tree_digest(args.ct_rules), *rules, *allowlists
        ),
        "reasons": cache.digest(*allowlists),
    }


def candidates(targets: list[str]) -> list[Path]:
    """Every file the gate could scan under the targets (a superset of what it does scan):
    the key covers their bytes, so no scanned template can change unseen."""
    found: set[Path] = set()
    for target in targets:
        p = Path(target)
        found |= {p} if p.is_file() else {x for x in p.rglob("*") if x.is_file() and x.suffix in TEMPLATE_SUFFIXES}
    return sorted(found)


def _sections(stdout: str) -> dict[str, str]:
    """The gate's report split into its per-tool sections (up to the summary)."""
    body = stdout.split("\n== summary ==", 1)[0]
    marks = list(SECTION.finditer(body))
    return {
        m.group(1): body[m.start() : marks[i + 1].start() if i + 1 < len(marks) else len(body)].rstrip("\n")
        for i, m in enumerate(marks)
    }


def _gate_args(args: argparse.Namespace, tools: str, reports: str) -> list[str]:
    out = [
        *args.targets,
        "--tools",
        tools,
        "--reports",
        reports,
        "--checkov",
        args.checkov,
        "--cfn-guard",
        args.cfn_guard,
        "--ct-rules",
        args.ct_rules,
        "--cfnlintrc",
        args.cfnlintrc,
        "--checkov-config",
        args.checkov_config,
    ]
    for r in args.rules or []:
        out += ["--rules", r]
    for a in args.allowlist or []:
        out += ["--allowlist", a]
    return out + (["--verbose"] if args.verbose else [])


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    asked = {t.strip() for t in args.tools.split(",") if t.strip()}
    if not asked or asked - set(TOOLS) or not all(Path(t).exists() for t in args.targets):
        return _delegate(args)  # the gate prints the usage error
    files = candidates(args.targets)
    if not files:
        return _delegate(args)  # the gate says there is nothing to scan
    tools = [t for t in TOOLS if t in asked]  # the gate's order
    inputs = tool_inputs(args)
    common: list[bytes | str] = [b"gate", cache.tree_digest(GATE, (".py",)), str(args.verbose)]
    for p in files:
        common += [relpath(p), p.read_bytes()]
    keys = {t: cache.digest(*common, t, inputs[t]) for t in tools}
    store = cache.Store("gate", use=not args.no_cache)
    entries = {t: store.get(keys[t]) for t in tools}
    missing = [t for t in tools if entries[t] is None]
    if missing:
        with tempfile.TemporaryDirectory(prefix="stackgen-gate-") as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "generator.gate", "run", *_gate_args(args, ",".join(missing), tmp)],
                capture_output=True,
                text=True,
                check=False,
            )
            sys.stderr.write(proc.stderr)
            if proc.returncode == 2:  # usage: e.g. no template among the files
                sys.stdout.write(proc.stdout)
                return 2
            try:
                summary = json.loads((Path(tmp) / "gate-summary.json").read_text())
            except (OSError, ValueError):  # the gate died before its summary: show what it said
                sys.stdout.write(proc.stdout)
                return proc.returncode or 1
            sections = _sections(proc.stdout)
            for result in summary["results"]:
                tool = result["tool"]
                sarif = Path(tmp) / SARIF.get(tool, "-")
                entries[tool] = {
                    "section": sections.get(tool, ""),
                    "result": result,
                    "scanned": summary["templates"],
                    "sarif": sarif.read_text() if sarif.is_file() else None,
                }
                if not result["errors"]:  # a scanner failure may be passing: never replay it
                    store.put(keys[tool], entries[tool])
    return _report(args, tools, entries, missing, started)


def _report(args: argparse.Namespace, tools: list[str], entries: dict, ran: list[str], started: float) -> int:
    scanned = entries[tools[0]]["scanned"]
    print(f"security gate: {len(scanned)} template(s) under {' '.join(args.targets)}")
    results = []
    for tool in tools:
        entry = entries[tool]
        print(f"\n{entry['section']}")
        r = entry["result"]
        results.append(
            ToolResult(
                r["tool"],
                r["templates"],
                r["passed"],
                r["failed"],
                r["suppressed"],
                errors=list(r["errors"]),
                seconds=r["seconds"] if tool in ran else 0.0,
            )
        )
    cached = [t for t in tools if t not in ran]
    print("\n== summary ==")
    print(summary_table(results))
    if cached:
        print(f"\n(unchanged, from .cache/gate: {', '.join(cached)}; validate.sh --no-cache runs them again)")
    ok = all(r.ok for r in results)
    elapsed = time.monotonic() - started
    print(f"\nsecurity gate: {'PASS' if ok else 'FAIL'} in {elapsed:.1f}s")
    if args.reports:
        reports = Path(args.reports)
        for tool in tools:
            sarif = entries[tool]["sarif"]
            if sarif is not None:
                (reports / SARIF[tool]).parent.mkdir(parents=True, exist_ok=True)
                (reports / SARIF[tool]).write_text(sarif)
        write_json(
            reports / "gate-summary.json",
            {
                "ok": ok,
                "seconds": round(elapsed, 2),
                "templates": scanned,
                "results": [entries[t]["result"] for t in tools],
                "cached": cached,
            },
        )
    return 0 if ok else 1


def _delegate(args: argparse.Namespace) -> int:
    return subprocess.run(
        [sys.executable, "-m", "generator.gate", "run", *_gate_args(args, args.tools, args.reports)], check=False
    ).returncode


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
