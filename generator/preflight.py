"""``python -m generator check``: the static reachability preflight, as a command.

Proves from the templates alone (a spec synthesized in memory, or ``--templates DIR``)
that every ECS task can start: that its subnets reach ECR (``ecr.api``, ``ecr.dkr``, S3
for image layers) or the public registry of its image, CloudWatch Logs and its secrets,
that its security groups allow the path, and that its roles and the endpoint policies
allow the calls.  The checks live in ``generator.reach`` (``reach.verdicts`` judges,
``reach.tasks``/``reach.needs`` say what a task needs, ``reach.network`` and
``reach.iam`` hold the facts).  This module is the command line, at the CLI layer (it
synthesizes a SPEC with ``render``), and the entry points other code calls: ``run``,
``check``, ``environments``, ``add_arguments`` and ``cmd``.

``check --templates DIR`` replays its answer from ``.cache/check`` when nothing it reads
changed (``--no-cache`` checks again).  Exit 0: passes; 1: findings (errors); 2: usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from generator import cache, cfn
from generator.cfn import ERROR, PARENT, WARNING, Finding
from generator.cfn.load import TEMPLATE_SUFFIXES
from generator.reach.verdicts import RELEVANT, Preflight, check, run

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "Preflight",
    "add_arguments",
    "check",
    "cmd",
    "environments",
    "main",
    "parser",
    "run",
]


def environments(templates: dict[str, dict[str, Any]]) -> list[str | None]:
    """The environments to check separately: the parent's Environment values when a condition
    that depends on the environment decides a networking, ECS or IAM resource; else [None]."""
    return cfn.environments(templates, RELEVANT)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", nargs="?", help="platform spec: synthesize in memory and check")
    p.add_argument("--templates", metavar="DIR", help="check an already generated template set (DIR/main.yaml)")
    p.add_argument(
        "--env",
        metavar="ENV",
        help="check this environment only (default: every environment whose "
        "conditions change networking, ECS or IAM resources; otherwise the parameter defaults)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="also print, per task, the path each need takes")
    p.add_argument("--json", action="store_true", help="print findings as JSON")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="with --templates: check again even if the same template bytes were checked before",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen check",
        description="Static reachability preflight: prove from the templates alone that every ECS task can reach "
        "ECR (ecr.api, ecr.dkr, S3 layers), CloudWatch Logs and its secrets through a NAT, VPC endpoints "
        "or a public IP, that security groups allow it, and that the execution role permits it. "
        "Exit 0: passes; 1: findings (errors); 2: usage error.",
    )
    add_arguments(p)
    return p


def cmd(args: argparse.Namespace) -> int:
    """Entry point for an argparse subcommand built with ``add_arguments``."""
    if bool(args.spec) == bool(args.templates):
        print("stackgen check: give exactly one of SPEC or --templates DIR", file=sys.stderr)
        return EXIT_USAGE
    if args.templates and Path(args.templates).is_dir():
        return _cached(args)
    return _check(args)


def _cached(args: argparse.Namespace) -> int:
    """``check --templates DIR`` answered from ``.cache/check`` when the same bytes of every
    template in DIR were checked with the same options by the same generator source (and
    YAML reader) before: the same output and exit code, replayed.  A usage error is never
    stored."""
    parts: list[bytes | str] = [b"check", cache.generator_digest(), cache.dist_digest("PyYAML")]
    parts += [str(args.env), str(args.verbose), str(args.json), str(Path(args.templates).resolve())]
    for f in sorted(Path(args.templates).glob("*")):
        if f.is_file() and f.name.endswith(TEMPLATE_SUFFIXES):
            parts += [f.name, f.read_bytes()]
    key = cache.digest(*parts)
    store = cache.Store("check", use=not getattr(args, "no_cache", False))
    hit = store.get(key)
    if hit is not None:
        sys.stdout.write(hit["stdout"])
        return int(hit["rc"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = _check(args)
    sys.stdout.write(out.getvalue())
    if rc != EXIT_USAGE:
        store.put(key, {"stdout": out.getvalue(), "rc": rc})
    return rc


def _check(args: argparse.Namespace) -> int:
    # imported here: the deployability package reads the spec model (pydantic), which a
    # cached `check --templates` does not need
    from generator.deployability import rootset, rootset_finding

    if args.templates:
        try:
            templates = rootset.load_roots(args.templates)
        except (OSError, ValueError) as exc:
            print(f"stackgen check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        source = f"{args.templates}/"
    else:
        # render (troposphere) and the spec model (pydantic) are imported here only: a cached
        # `check --templates` does not pay for them
        from generator import render
        from generator.spec import SpecError, load_spec

        try:
            spec = load_spec(args.spec)
        except SpecError as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            return EXIT_USAGE
        templates = render.synthesize(spec)
        source = args.spec
    # Several root stacks (generator.roots) are checked as the one hierarchy they split.
    # A root that reads a value no earlier root gives it fails its create: an error here too.
    templates, problems = rootset.merge(templates)
    if args.env:
        allowed = templates[PARENT].get("Parameters", {}).get("Environment", {}).get("AllowedValues")
        if "Environment" not in templates[PARENT].get("Parameters", {}) or (allowed and args.env not in allowed):
            print(f"stackgen check: environment {args.env!r} is not one of {allowed}", file=sys.stderr)
            return EXIT_USAGE
    findings, pf = check(templates, [args.env] if args.env else None)
    findings = [rootset_finding(p) for p in problems] + findings
    errors = [f for f in findings if f.severity == ERROR]
    warnings = [f for f in findings if f.severity == WARNING]
    if args.json:
        print(
            json.dumps(
                {
                    "source": source,
                    "tasks": pf.task_count,
                    "passed": not errors,
                    "findings": [{"severity": f.severity, "service": f.where, "message": f.problem} for f in findings],
                },
                indent=2,
            )
        )
        return EXIT_FINDINGS if errors else EXIT_OK
    for f in errors + warnings:
        print(f"{f.severity}: {f.problem}")
    if args.verbose:
        for label, proof in pf.proofs.items():
            for line in proof:
                print(f"ok: {label}: {line}")
    verdict = "FAILED" if errors else "passed"
    print(f"preflight {verdict}: {source}: {pf.task_count} tasks, {len(errors)} errors, {len(warnings)} warnings")
    return EXIT_FINDINGS if errors else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return cmd(parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
