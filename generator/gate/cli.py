"""`python -m generator.gate`: run the security gate.

    python -m generator.gate run [DIR|FILE ...]      all scanners + the reasons audit
    python -m generator.gate templates [DIR ...]     list the templates the gate would scan
    python -m generator.gate roots [DIR|FILE ...]    list the root stacks' templates among them
                                                     (each platform's main.yaml and the
                                                     service-set roots it lists, in deploy order)

Exit codes: 0 clean, 1 findings (or a scanner failed), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from generator.cfn.load import PARENT, TemplateError, load_file
from generator.deployability import rootset
from generator.gate import suppressions
from generator.gate.checkov_runner import CheckovRun
from generator.gate.guard_runner import GuardRun, template_types
from generator.gate.model import DEFAULTS, TOOLS, ToolResult, print_result, relpath, summary_table, write_json
from generator.gate.templates import discover, load


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m generator.gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the gate over templates (default: templates/)")
    run.add_argument(
        "targets", nargs="*", default=["templates"], help="directories (scanned recursively) or template files"
    )
    run.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)} (default: all)"
    )
    run.add_argument("--checkov", default=DEFAULTS["checkov"], help="checkov executable")
    run.add_argument("--cfn-guard", default=DEFAULTS["cfn_guard"], help="cfn-guard executable")
    run.add_argument("--ct-rules", default=DEFAULTS["ct_rules"], help="Control Tower Guard rules directory")
    run.add_argument(
        "--rules",
        action="append",
        default=None,
        help=f"project Guard rules file/dir (repeatable; default: {DEFAULTS['rules']})",
    )
    run.add_argument(
        "--allowlist",
        action="append",
        default=None,
        help=f"Guard allow-list file (repeatable; default: {DEFAULTS['allowlist']})",
    )
    run.add_argument("--cfnlintrc", default=DEFAULTS["cfnlintrc"])
    run.add_argument("--checkov-config", default=DEFAULTS["checkov_config"])
    run.add_argument(
        "--reports", default=DEFAULTS["reports"], help="directory for SARIF and summary.json ('' to write none)"
    )
    run.add_argument("--verbose", "-v", action="store_true", help="also list suppressed findings")
    tpl = sub.add_parser("templates", help="list the templates the gate would scan")
    tpl.add_argument("targets", nargs="*", default=["templates"])
    rts = sub.add_parser("roots", help="list the root templates (main.yaml and the service-set roots it lists)")
    rts.add_argument("targets", nargs="*", default=["templates"])
    return p


def roots(targets: list[str]) -> list[Path]:
    """The root templates among the targets, each platform's in deploy order
    (``rootset.root_files``: ``main.yaml``, then ``main-services-2.yaml``, ...).  A directory
    counts every ``main.yaml`` under it; a file counts when it is a root of its folder."""
    found: list[Path] = []
    for target in targets:
        p = Path(target)
        if not p.exists():
            raise UsageError(f"no such file or directory: {target}")
        bases = [p.parent / PARENT] if p.is_file() else sorted(p.rglob(PARENT))
        for base in bases:
            if not base.is_file():
                continue
            try:
                files = rootset.root_files({PARENT: load_file(base)})
            except (TemplateError, OSError, UnicodeDecodeError):
                files = [PARENT]  # the scanners report a main.yaml that does not parse
            for file in files:
                path = base.parent / file
                if (not p.is_file() or path == p) and path not in found:
                    found.append(path)
    return found


def _need(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found at {path}: run `make gate-tools` first")
    return p


def run(args: argparse.Namespace) -> int:
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or not tools:
        raise UsageError(f"unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}")
    for target in args.targets:
        if not Path(target).exists():
            raise UsageError(f"no such file or directory: {target}")
    started = time.monotonic()
    paths = discover(args.targets)
    if not paths:
        raise UsageError(f"no CloudFormation templates under {' '.join(args.targets)}")
    reports = Path(args.reports) if args.reports else None
    sarif = (lambda name: reports / name) if reports else (lambda name: None)
    allowlist = suppressions.load_allowlists([Path(a) for a in (args.allowlist or [DEFAULTS["allowlist"]])])
    loaded = {relpath(p): load(p) for p in paths}
    print(f"security gate: {len(paths)} template(s) under {' '.join(args.targets)}")

    # Start the external scanners first, so they overlap with cfn-lint (in process).
    guard = checkov = None
    if "cfn-guard" in tools:
        rules = [_need(args.ct_rules, "Control Tower rules")] + [
            _need(r, "project Guard rules") for r in (args.rules or [DEFAULTS["rules"]])
        ]
        types = {p: template_types(loaded[relpath(p)]) for p in paths}
        guard = GuardRun(_need(args.cfn_guard, "cfn-guard"), rules, paths, types)
    if "checkov" in tools:
        checkov = CheckovRun(
            _need(args.checkov, "checkov"),
            _need(args.checkov_config, ".checkov.yaml"),
            paths,
            sarif("checkov.sarif"),
        )

    results: list[ToolResult] = []
    parse_errors = [f"{name}: {t.error}" for name, t in loaded.items() if t.error]
    if "cfn-lint" in tools:
        # (cfn-lint's import, about 0.6 s with sympy and networkx, only when it runs: validate.sh
        # reruns only the tools whose inputs changed, generator/gatecache.py)
        from generator.gate import cfnlint_runner  # noqa: PLC0415

        results.append(cfnlint_runner.run(paths, _need(args.cfnlintrc, ".cfnlintrc"), sarif("cfn-lint.sarif")))
    if checkov:
        results.append(checkov.result())
    if guard:
        results.append(guard.result(loaded, allowlist, sarif("cfn-guard.sarif")))
    if "reasons" in tools:
        audit, declared = suppressions.audit(list(loaded.values()), allowlist)
        audit.errors += parse_errors
        results.append(audit)

    for result in results:
        print_result(result, verbose=args.verbose)
    elapsed = time.monotonic() - started
    print("\n== summary ==")
    print(summary_table(results))
    ok = all(r.ok for r in results)
    print(f"\nsecurity gate: {'PASS' if ok else 'FAIL'} in {elapsed:.1f}s")
    if reports:
        write_json(
            reports / "gate-summary.json",
            {
                "ok": ok,
                "seconds": round(elapsed, 2),
                "templates": list(loaded),
                "results": [r.as_dict() for r in results],
            },
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "templates":
            for target in args.targets:
                if not Path(target).exists():
                    raise UsageError(f"no such file or directory: {target}")
            for p in discover(args.targets):
                print(p)
            return 0
        if args.command == "roots":
            for p in roots(args.targets):
                print(p)
            return 0
        return run(args)
    except UsageError as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return 2
