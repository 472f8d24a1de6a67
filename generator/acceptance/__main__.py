"""``python -m generator.acceptance``: the command line of ``make acceptance``."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from generator.acceptance import costs
from generator.acceptance.report import EXIT_FAILED, EXIT_USAGE, default_report_path, exit_code, summary, write_junit
from generator.acceptance.run import DeployRefused, Options, process_environment, run, survivor_kinds
from generator.acceptance.scripts import ROOT
from generator.cfn import TemplateError, load_file
from generator.deploy._aws import client, describe
from generator.deployability import rootset

ENVIRONMENTS = ("dev", "test", "prod")  # what deploy.sh accepts
PROG = "python -m generator.acceptance"

DESCRIPTION = """\
Acceptance run of a platform: deploy it with ./deploy.sh --yes, check every ECS service is
created with its desired count, wait (bounded) until each runs its desired count with its
deployment COMPLETED and each target group reports healthy targets, probe every public
listener over HTTP(S) and every health path through the load balancer (a redirect must go to
HTTPS), run diagnose, delete with ./delete.sh --yes and check what survived. Writes a JUnit XML
report (one testcase per check) and prints a one-screen summary with the run's estimated cost.

The stack must not exist: the run creates it and deletes it. Secrets (the NoEcho parameters)
come from STACKGEN_PARAM_<Name>; nothing is prompted. Against the local emulator (a loopback
--endpoint-url) the checks that need running containers or real traffic are reported as not
applicable, never as passed.

Exit status: 0 no check failed; 1 a check failed (or a bug, which says so); 2 usage error
(nothing created)."""


class Usage(Exception):
    """A mistake in the command line or its inputs: one line, exit 2, nothing created."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--platform", required=True, help="platform name (platforms/NAME.yaml), or the spec's path")
    p.add_argument("--env", required=True, help=f"environment: {', '.join(ENVIRONMENTS)}")
    p.add_argument("--stack-name", help="stack to create and delete (default: PLATFORM-ENV); must not exist")
    p.add_argument(
        "--region",
        help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's; us-east-1 with an endpoint)",
    )
    p.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint; a loopback one is the local emulator")
    p.add_argument("--params-file", metavar="FILE", help="parameters file (default: parameters/PLATFORM/ENV.json)")
    p.add_argument("--report", metavar="FILE", help="JUnit XML report (default: reports/acceptance-PLATFORM-ENV.xml)")
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=900.0,
        metavar="S",
        help="how long to wait for steady services and healthy targets (default 900)",
    )
    p.add_argument("--poll-interval", type=float, default=10.0, metavar="S", help="seconds between polls (default 10)")
    p.add_argument(
        "--probe-window", type=float, default=60.0, metavar="S", help="how long a failing probe is retried (default 60)"
    )
    p.add_argument(
        "--interval",
        type=float,
        metavar="S",
        help="seconds between deploy.sh's and delete.sh's event polls (default: theirs: 1, or 0.5 with an endpoint)",
    )
    p.add_argument("--keep-stack", action="store_true", help="do not delete the stack at the end (to inspect it)")
    return p


def platform_name(value: str) -> str:
    name = Path(value).stem if value.endswith((".yaml", ".yml")) else value
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise Usage(f"--platform: invalid platform name {value!r}")
    if not (ROOT / "platforms" / f"{name}.yaml").exists():
        known = " ".join(sorted(p.stem for p in (ROOT / "platforms").glob("*.yaml")))
        raise Usage(f"platforms/{name}.yaml: no such platform (known: {known})")
    return name


def missing_secrets(template: Path, environ: dict[str, str]) -> list[str]:
    """The NoEcho parameters with no STACKGEN_PARAM_<Name> of ``template`` (main.yaml) and of
    every service-set root it lists (generator.roots; deploy.sh deploys each with the same
    parameters file, those fed from earlier roots' outputs aside)."""
    params: dict[str, dict] = {}
    try:
        main = load_file(template)
        for root in rootset.root_files({rootset.BASE: main}):
            t = main if root == rootset.BASE else load_file(template.parent / root)
            fed = rootset.from_outputs(t)
            params.update({k: v for k, v in (t.get("Parameters") or {}).items() if k not in fed})
    except (OSError, TemplateError) as exc:
        raise Usage(f"{template.relative_to(ROOT)}: unreadable: {exc}") from exc
    return sorted(
        name
        for name, spec in params.items()
        if str(spec.get("NoEcho", "")).lower() == "true" and f"STACKGEN_PARAM_{name}" not in environ
    )


def resolve_region(args: argparse.Namespace) -> str:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region and not args.endpoint_url:
        import boto3  # noqa: PLC0415 - the profile's region, as the AWS CLI reads it

        region = boto3.Session().region_name
    region = region or ("us-east-1" if args.endpoint_url else "")
    if not region:
        raise Usage("--region: no region: pass --region or set AWS_REGION")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]+", region):
        raise Usage(f"--region: invalid region {region!r}")
    return region


def options(args: argparse.Namespace) -> Options:
    """Check every input before anything is created."""
    platform = platform_name(args.platform)
    if args.env not in ENVIRONMENTS:
        raise Usage(f"--env: unknown environment {args.env!r} (one of {', '.join(ENVIRONMENTS)})")
    params = Path(args.params_file) if args.params_file else ROOT / "parameters" / platform / f"{args.env}.json"
    if not params.is_file():
        raise Usage(f"{args.params_file or params.relative_to(ROOT)}: parameters file not found")
    template = ROOT / "templates" / platform / "main.yaml"
    if not template.is_file():
        raise Usage(f"templates/{platform}/main.yaml: missing: run make templates PLATFORM=platforms/{platform}.yaml")
    missing = missing_secrets(template, dict(os.environ))
    if missing:
        names = ", ".join(f"STACKGEN_PARAM_{n}" for n in missing)
        raise Usage(
            f"templates/{platform}/main.yaml: NoEcho parameter(s) {', '.join(missing)}: set {names} "
            "(an acceptance run never prompts)"
        )
    if args.endpoint_url and not re.fullmatch(r"https?://[^/]+/?", args.endpoint_url):
        raise Usage(f"--endpoint-url: invalid {args.endpoint_url!r} (expected http(s)://host:port)")
    for flag in ("wait_timeout", "poll_interval", "probe_window", "interval"):
        if (getattr(args, flag) or 0) < 0:
            raise Usage(f"--{flag.replace('_', '-')}: must not be negative")
    stack = args.stack_name or f"{platform}-{args.env}"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", stack):
        raise Usage(f"--stack-name: invalid stack name {stack!r}")
    # by keyword: positionally, keep_stack once landed in pull_wait (the field after probe_window)
    return Options(
        platform,
        args.env,
        stack,
        resolve_region(args),
        endpoint=args.endpoint_url.rstrip("/") if args.endpoint_url else None,
        params_file=str(params.resolve()) if args.params_file else None,
        wait_timeout=args.wait_timeout,
        poll_interval=args.poll_interval,
        probe_window=args.probe_window,
        keep_stack=args.keep_stack,
        interval=args.interval,
    )


def refuse_existing(opts: Options) -> None:
    """The run deletes its stack at the end, so it never touches one it did not create."""
    try:
        stack = describe(client("cloudformation", endpoint_url=opts.endpoint, region=opts.region), opts.stack)
    except NoCredentialsError as exc:
        raise Usage(
            "no AWS credentials: configure them (aws configure, AWS_PROFILE or the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment)"
        ) from exc
    except (ClientError, BotoCoreError, NoRegionError) as exc:
        raise Usage(f"cannot read stack {opts.stack} in {opts.region}: {exc}") from exc
    if stack is not None:
        raise Usage(
            f"--stack-name: stack {opts.stack} already exists ({stack['StackStatus']}); an acceptance run "
            "creates and deletes its own stack: pass another --stack-name, or delete it first"
        )


def internal_error(exc: BaseException) -> int:
    """A failure the user did not cause: one line that says it is a bug, exit 1."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    print(
        f"acceptance: internal error (a bug in stackgen, please report it): {type(exc).__name__}: {exc}{at}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return accept(args)
    except KeyboardInterrupt:
        print("acceptance: interrupted; the stack may still exist (./delete.sh removes it)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - anything the user did not cause is a bug
        return internal_error(exc)


def accept(args: argparse.Namespace) -> int:
    """Check the inputs, run, write the report and print the summary; the exit status."""
    try:
        opts = options(args)
        environ = process_environment(opts)
        refuse_existing(opts)
    except Usage as exc:
        print(f"acceptance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report_path = Path(args.report) if args.report else ROOT / default_report_path(opts.platform, opts.env)
    try:
        outcome = run(opts, environ)
    except DeployRefused as exc:
        print(f"acceptance: deploy.sh refused its input (nothing was created): {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = outcome.report
    cost = costs.run_cost(Path("platforms") / f"{opts.platform}.yaml", opts.env, opts.region, ROOT)
    extra = cost.lines(report.seconds) if isinstance(cost, costs.RunCost) else [cost]
    if isinstance(cost, costs.RunCost):
        report.properties.update(
            {
                "cost_monthly_low": f"{cost.monthly_low:.2f}",
                "cost_monthly_high": f"{cost.monthly_high:.2f}",
                "cost_run_estimate": f"{cost.for_run(report.seconds)[0]:.4f}",
                "cost_currency": cost.currency,
            }
        )
        line = cost.survivors_line(outcome.survivors)
        if line:
            extra.append(line)
    if outcome.survivors:
        extra.append(
            f"Survivors ({len(outcome.survivors)}): {survivor_kinds(outcome.survivors)}; "
            "cleanup: docs/acceptance.md, 'What survives'"
        )
    try:
        shown = report_path.relative_to(ROOT)
    except ValueError:
        shown = report_path
    extra.append(f"Report: {shown}")
    write_junit(report, report_path)
    print()
    print(summary(report, extra))
    if outcome.bug:
        print(
            f"acceptance: internal error (a bug in stackgen, please report it): {outcome.bug} "
            f"(traceback in {shown}, testcase 'internal error')",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return exit_code(report.checks)


if __name__ == "__main__":
    sys.exit(main())
