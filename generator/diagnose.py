"""``python -m generator diagnose --stack NAME``: live diagnostics of a deployed stack.

Why can't its tasks pull or start?  The checks are the live side of the reachability
model (``generator.reach.live``): VPC endpoints (state, private DNS, the S3 gateway's
route tables and policy), route tables, security groups along the path, execution-role
permissions (IAM policy simulation, or a local evaluation where it is unavailable) and
the latest stopped tasks' reasons, each finding with the fix, and the image pulls of the
last hour (count, failures, maximum and average seconds, from the platform's metric
namespace: ``generator.reach.pulls``; failed or slow pulls are findings).  Read-only.

A platform split into several root stacks (``generator.roots``) is diagnosed whole from its
base root's stack: the service-set root stacks its deployed template lists
(``Metadata.stackgen.roots``: ``NAME-services-2``, ...) are walked too, and a listed one that
does not exist is a finding.

Exit 0 when nothing is wrong, 1 with findings, 2 on usage errors or an unknown stack.
With ``--json`` each finding is the common ``Finding`` (problem, where, fix, severity,
rule = the check, source).
"""

from __future__ import annotations

import argparse
import json
import sys

from generator.cfn import Finding
from generator.cfn.load import load_text
from generator.deployability import rootset
from generator.reach.live import Diagnose
from generator.reach.live_facts import BENIGN, STOP_REASONS, LiveTask

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

__all__ = [
    "BENIGN",
    "STOP_REASONS",
    "Diagnose",
    "Finding",
    "LiveTask",
    "add_arguments",
    "cmd",
    "later_roots",
    "main",
    "parser",
    "run_roots",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="the deployed parent stack")
    p.add_argument("--region", help="AWS region (default: the session's)")
    p.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (a local emulator, e.g. http://127.0.0.1:4566)")
    p.add_argument("--json", action="store_true", help="print findings as JSON")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen diagnose",
        description="Live diagnostics of a deployed stack: VPC endpoints (state, private DNS), route tables, "
        "security groups along the path, execution-role permissions (IAM policy simulation) and the "
        "latest stopped tasks' reasons, each with the fix, and the last hour's image pulls (count, failures, max/avg "
        "seconds). Read-only. Exit 0: nothing wrong; 1: "
        "findings; 2: usage error or unknown stack.",
    )
    add_arguments(p)
    return p


def later_roots(d: Diagnose, stack: str) -> list[str]:
    """The service-set root stacks the deployed base root ``stack`` (a name or an ARN) lists, in
    deploy order (none for a platform of one root).  Without ``cloudformation:GetTemplate``
    there are none, and a note says so; an unknown stack raises, as the walk would."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - as in cmd: only this command needs botocore

    try:
        body = d.cfn.get_template(StackName=stack).get("TemplateBody") or {}
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ValidationError":
            raise
        d.notes.append(
            f"stack {stack}: its template could not be read ({code}): the other root stacks of a platform "
            "split into several were not looked for"
        )
        return []
    template = load_text(body, stack) if isinstance(body, str) else body
    name = stack.split("/")[1] if stack.startswith("arn:") else stack
    return [name + rootset.stack_suffix(f) for f in rootset.root_files({rootset.BASE: template})[1:]]


def run_roots(d: Diagnose, stack: str) -> list[Finding]:
    """``d.run`` over the base root ``stack`` and every service-set root stack it lists."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - as in cmd: only this command needs botocore

    roots = later_roots(d, stack)
    present = []
    for name in roots:
        try:
            d.cfn.describe_stacks(StackName=name)
            present.append(name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            d.add(
                None,
                "discovery",
                f"the root stack {name} that stack {stack} lists does not exist: its services were not diagnosed",
                "deploy the platform with deploy.sh: it deploys every root stack in order",
            )
    return d.run(stack, present)


def cmd(args: argparse.Namespace) -> int:
    """Entry point for an argparse subcommand built with ``add_arguments``."""
    import boto3  # noqa: PLC0415 - boto3 takes a second to import; only this command needs it
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    if session.region_name is None:
        print("stackgen diagnose: no region: pass --region or set AWS_REGION", file=sys.stderr)
        return EXIT_USAGE
    d = Diagnose(session, args.endpoint_url)
    try:
        findings = run_roots(d, args.stack)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        print(f"stackgen diagnose: {code}: {msg}", file=sys.stderr)
        return EXIT_USAGE if code == "ValidationError" else EXIT_FINDINGS
    except BotoCoreError as exc:
        print(f"stackgen diagnose: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(
            json.dumps(
                {
                    "stack": args.stack,
                    "tasks": d.task_count,
                    "findings": [f.as_dict() for f in findings],
                    "image_pulls": d.pulls.as_dict() if d.pulls else None,
                    "notes": d.notes,
                },
                indent=2,
            )
        )
    else:
        for f in findings:
            print(f"FAIL [{f.rule}] {f.problem}")
            print(f"     fix: {f.fix}")
        for n in d.notes:
            print(f"note: {n}")
        print(
            f"diagnose {'found problems' if findings else 'passed'}: stack {args.stack}: {d.task_count} tasks, "
            f"{len(findings)} findings"
        )
    return EXIT_FINDINGS if findings else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return cmd(parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
