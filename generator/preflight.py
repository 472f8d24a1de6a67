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

Exit 0: passes; 1: findings (errors); 2: usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from generator import cfn, render
from generator.cfn import ERROR, PARENT, WARNING, Finding
from generator.deployability import rootset
from generator.reach.verdicts import RELEVANT, Preflight, check, run
from generator.spec import SpecError, load_spec

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
    if args.templates:
        try:
            templates = rootset.load_roots(args.templates)
        except (OSError, ValueError) as exc:
            print(f"stackgen check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        source = f"{args.templates}/"
    else:
        try:
            spec = load_spec(args.spec)
        except SpecError as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            return EXIT_USAGE
        templates = render.synthesize(spec)
        source = args.spec
    # Several root stacks (generator.roots) are checked as the one hierarchy they split.
    templates, _ = rootset.merge(templates)
    if args.env:
        allowed = templates[PARENT].get("Parameters", {}).get("Environment", {}).get("AllowedValues")
        if "Environment" not in templates[PARENT].get("Parameters", {}) or (allowed and args.env not in allowed):
            print(f"stackgen check: environment {args.env!r} is not one of {allowed}", file=sys.stderr)
            return EXIT_USAGE
    findings, pf = check(templates, [args.env] if args.env else None)
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
