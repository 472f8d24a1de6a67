"""One acceptance run, in order: deploy, what was created, steady and healthy, probes,
diagnose, delete, survivors. The delete runs whatever happened before it (unless
``--keep-stack``), as widdix's acceptance tests delete in ``finally``."""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from generator.acceptance import probes, pulls, services
from generator.acceptance.report import FAILED, NOT_RUN, PASSED, Check, Report
from generator.acceptance.scripts import Run, Scripts
from generator.acceptance.stack import Deployed, discover
from generator.deploy import emulator
from generator.deploy._aws import client, describe, is_loopback_url
from generator.diagnose import Diagnose, run_roots

OK_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


class DeployRefused(Exception):
    """deploy.sh refused its input (exit 2): nothing was created; a usage error of the run."""


@dataclass
class Options:
    platform: str
    env: str
    stack: str
    region: str
    endpoint: str | None = None
    params_file: str | None = None
    wait_timeout: float = 900.0
    poll_interval: float = 10.0
    probe_window: float = 60.0
    pull_wait: float = 180.0
    keep_stack: bool = False
    interval: float | None = None  # deploy.sh's and delete.sh's --interval; None: their default

    @property
    def emulated(self) -> bool:
        """A loopback endpoint is the local emulator: it runs no containers and its load
        balancers are not network endpoints."""
        return bool(self.endpoint) and is_loopback_url(self.endpoint or "")


@dataclass
class Outcome:
    report: Report
    survivors: list[dict] = field(default_factory=list)
    bug: str = ""


def emulator_environment(environ: dict[str, str]) -> dict[str, str]:
    """What deploy.sh sets for a loopback endpoint, for this process's clients too: dummy
    credentials (never the user's), no instance metadata, and a proxy on a closed loopback
    port so a request that misses the endpoint fails at once instead of reaching AWS."""
    env = {k: v for k, v in environ.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTP_PROXY": emulator.DEAD_PROXY,
            "HTTPS_PROXY": emulator.DEAD_PROXY,
            "http_proxy": emulator.DEAD_PROXY,
            "https_proxy": emulator.DEAD_PROXY,
            "NO_PROXY": emulator.NO_PROXY,
            "no_proxy": emulator.NO_PROXY,
        }
    )
    return env


def deploy_check(opts: Options, r: Run, status: str | None) -> Check:
    if r.code == 0 and status in OK_STATUSES:
        return Check("deploy", "", PASSED, f"./deploy.sh --yes: {opts.stack} {status}", r.output, r.seconds)
    why = f"./deploy.sh exit {r.code}, stack {status or 'absent'}: {root_cause(r)}"
    return Check("deploy", "", FAILED, why, r.output, r.seconds)


def root_cause(r: Run) -> str:
    """The line after deploy.sh's "Root cause" heading, else its last line."""
    lines = [line.strip() for line in r.output.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("Root cause"):
            return lines[i + 1]
    return r.tail()


def diagnose_check(opts: Options) -> Check:
    """generator.diagnose's checks on the deployed stack: each finding fails the check."""
    import boto3  # noqa: PLC0415 - diagnose takes a session, as `stackgen diagnose` builds it

    start = time.monotonic()
    d = Diagnose(boto3.Session(region_name=opts.region), opts.endpoint)
    try:
        findings = run_roots(d, opts.stack)  # every root stack of a split platform
    except (ClientError, BotoCoreError) as exc:
        return Check("diagnose", "", FAILED, services.api_error(exc), seconds=time.monotonic() - start)
    text = [f"FAIL [{f.rule}] {f.problem}\n     fix: {f.fix}" for f in findings] + [f"note: {n}" for n in d.notes]
    text.append(f"diagnose: stack {opts.stack}: {d.task_count} tasks, {len(findings)} findings")
    seconds = time.monotonic() - start
    if findings:
        return Check(
            "diagnose",
            "",
            FAILED,
            f"{len(findings)} finding(s); first: [{findings[0].rule}] {findings[0].problem}",
            "\n".join(text),
            seconds,
        )
    return Check("diagnose", "", PASSED, f"no findings ({d.task_count} tasks)", "\n".join(text), seconds)


def survivors_check(before: Run, after: Run, listed: list[dict]) -> Check:
    """What survived the delete: the survivors the templates declare must still be there
    (a retained resource that is gone is a failure), nothing may be DELETE_FAILED."""
    out = before.output + "\n" + after.output
    gone = [line.strip() for line in after.output.splitlines() if "GONE:" in line]
    failed = "DELETE_FAILED:" in after.output
    seconds = before.seconds + after.seconds
    if before.code != 0:
        return Check("survivors", "", FAILED, f"survivors before: {before.tail()}", out, seconds)
    if after.code != 0 or gone or failed:
        why = gone[0] if gone else ("resources are DELETE_FAILED" if failed else after.tail())
        return Check("survivors", "", FAILED, why, out, seconds)
    return Check(
        "survivors",
        "",
        PASSED,
        f"{len(listed)} survivor(s), each as its template declares: {survivor_kinds(listed) or 'nothing survives'}",
        out,
        seconds,
    )


def survivor_kinds(listed: list[dict]) -> str:
    """``3 AWS::Logs::LogGroup, 1 AWS::KMS::Key`` (most first)."""
    kinds: dict[str, int] = {}
    for s in listed:
        kinds[s.get("type", "?")] = kinds.get(s.get("type", "?"), 0) + 1
    return ", ".join(f"{n} {t}" for t, n in sorted(kinds.items(), key=lambda x: (-x[1], x[0])))


def _checks_after_deploy(
    opts: Options, aws: Callable[[str], object], say: Callable[[str], None], since: datetime | None = None
) -> list[Check]:
    """Everything between the deploy and the delete; ``since`` is when the run began (image pulls
    are counted from there; default: the last hour)."""
    since = since or datetime.now(UTC) - timedelta(hours=1)
    checks: list[Check] = []
    try:
        deployed: Deployed = discover(aws, opts.stack)
    except (ClientError, BotoCoreError) as exc:
        return [Check("discover", opts.stack, FAILED, services.api_error(exc))]
    say(
        f"==> created: {len(deployed.services)} service(s), {len(deployed.target_groups)} target group(s), "
        f"{len(deployed.listeners)} listener(s), {len(deployed.schedules)} schedule(s)"
    )
    checks += services.created_checks(aws, deployed)
    if opts.emulated:
        checks += services.not_applicable(deployed)
    elif deployed.services or deployed.target_groups:
        say(f"==> waiting (at most {opts.wait_timeout:.0f} s) for services to be steady and targets healthy")
        checks += services.wait_ready(aws, deployed, opts.wait_timeout, opts.poll_interval, say=say)
    if opts.emulated:
        checks.append(pulls.emulated_check())
    else:
        say(f"==> image pulls: the pull metrics since the deploy (waiting at most {opts.pull_wait:.0f} s)")
        try:
            checks.append(pulls.check(aws("cloudwatch"), deployed, since, opts.pull_wait))
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check(pulls.GROUP, "", FAILED, services.api_error(exc)))
    if opts.emulated:
        checks += probes.emulated_checks(deployed)
    else:
        say("==> probing the public listeners and health paths")
        try:
            checks += probes.run(deployed, aws("acm"), window=opts.probe_window)
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check("probe", "", FAILED, services.api_error(exc)))
    say("==> diagnose")
    checks.append(diagnose_check(opts))
    return checks


def _delete(opts: Options, scripts: Scripts, aws: Callable[[str], object], outcome: Outcome) -> None:
    cfn = aws("cloudformation")
    stack = describe(cfn, opts.stack)
    if stack is None:
        outcome.report.add(
            Check("delete", "", PASSED, f"no stack {opts.stack}: the deploy left nothing to delete"),
            Check("survivors", "", NOT_RUN, "nothing was deployed"),
        )
        return
    with tempfile.TemporaryDirectory(prefix="stackgen-acceptance-") as tmp:
        save = Path(tmp) / "survivors.json"
        before, listed = scripts.survivors_before(save)
        outcome.survivors = listed
        since = scripts.mark()
        r = scripts.delete()
        after_status = (describe(cfn, stack["StackId"]) or {}).get("StackStatus", "DELETE_COMPLETE")
        if r.code == 0 and after_status == "DELETE_COMPLETE":
            outcome.report.add(
                Check("delete", "", PASSED, f"./delete.sh --yes: {opts.stack} DELETE_COMPLETE", r.output, r.seconds)
            )
        else:
            outcome.report.add(
                Check(
                    "delete",
                    "",
                    FAILED,
                    f"./delete.sh exit {r.code}, stack {after_status}: {r.tail(2)}",
                    r.output,
                    r.seconds,
                )
            )
        after = scripts.survivors_after(stack["StackId"], save, since)
        outcome.report.add(survivors_check(before, after, listed))


def run(opts: Options, environ: dict[str, str], say: Callable[[str], None] = print) -> Outcome:
    """The whole run. Raises DeployRefused when deploy.sh rejects its input (nothing created)."""
    start = time.monotonic()
    report = Report(opts.platform, opts.env, opts.stack, opts.region, opts.endpoint or "", opts.emulated)
    outcome = Outcome(report)
    scripts = Scripts(
        opts.platform,
        opts.env,
        opts.stack,
        opts.region,
        opts.endpoint,
        environ,
        opts.params_file,
        echo=lambda line: say(f"    {line}"),
        interval=opts.interval,
    )

    def aws(service: str):
        return client(service, endpoint_url=opts.endpoint, region=opts.region)

    delete_it = not opts.keep_stack
    started = datetime.now(UTC)
    try:
        say(f"==> deploy: ./deploy.sh --platform {opts.platform} --env {opts.env} --stack-name {opts.stack} --yes")
        r = scripts.deploy()
        if r.code == 2:
            delete_it = False  # deploy.sh created nothing
            raise DeployRefused(r.tail())
        status = (describe(aws("cloudformation"), opts.stack) or {}).get("StackStatus")
        deployed = deploy_check(opts, r, status)
        report.add(deployed)
        if deployed.status == PASSED:
            report.add(*_checks_after_deploy(opts, aws, say, started))
        else:
            report.add(Check("diagnose", "", NOT_RUN, "the deploy failed"))
    except DeployRefused:
        raise
    except KeyboardInterrupt:
        delete_it = False
        report.add(Check("interrupted", "", FAILED, "interrupted (Ctrl-C): the stack was not deleted"))
    except Exception as exc:  # noqa: BLE001 - a bug must not leave a stack behind: record it, then delete
        outcome.bug = f"{type(exc).__name__}: {exc}"
        report.add(
            Check("internal error", "", FAILED, f"a bug in stackgen acceptance: {outcome.bug}", traceback.format_exc())
        )
    finally:
        if delete_it:
            say(f"==> delete: ./delete.sh --platform {opts.platform} --env {opts.env} --stack-name {opts.stack} --yes")
            _delete(opts, scripts, aws, outcome)
        else:
            why = "--keep-stack" if opts.keep_stack else "interrupted"
            command = (
                f"./delete.sh --platform {opts.platform} --env {opts.env} --stack-name {opts.stack} "
                f"--region {opts.region}{' --endpoint-url ' + opts.endpoint if opts.endpoint else ''} --yes"
            )
            report.add(
                Check("delete", "", NOT_RUN, f"{why}: the stack stays up (and costs); delete it with: {command}"),
                Check("survivors", "", NOT_RUN, f"{why}: not deleted"),
            )
        report.seconds = time.monotonic() - start
    return outcome


def process_environment(opts: Options) -> dict[str, str]:
    """The environment of the run's subprocesses; for the emulator also set in this process."""
    environ = dict(os.environ)
    if opts.emulated:
        environ = emulator_environment(environ)
        os.environ.clear()
        os.environ.update(environ)
    return environ
