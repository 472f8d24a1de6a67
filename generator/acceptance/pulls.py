"""The "image pulls" check (issue 15 item 5): seeds/001 asks that an image pull complete
within 5 minutes (1.2) and that successful pulls be confirmed through monitoring (5.3).

Answered only by real AWS, once the services are steady: the platform's pull metrics
(``generator.reach.pulls``, the namespace of the stack's PullFailureAlarm) since the run
began must show at least one completed pull when a service runs tasks (metrics arrive a
minute or so after the task starts: waited for, bounded), no failed pull, and none slower
than PullSlowAlarm's threshold (the spec's ``alarms.image_pull_seconds``).

On the emulator it is not applicable: the emulator starts no task, pulls no image and runs
no Lambda function, so no pull is ever measured there and a pass would be unearned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from generator.acceptance.report import FAILED, NOT_APPLICABLE, PASSED, Check
from generator.acceptance.stack import Deployed
from generator.reach.pulls import PULL_ALARMS, PullFigures, pull_figures

GROUP = "image pulls"
EMULATED_PULLS = (
    "the emulator starts no task, pulls no image and runs no Lambda function: pull metrics exist only on AWS"
)


def emulated_check() -> Check:
    return Check(GROUP, "", NOT_APPLICABLE, EMULATED_PULLS)


def alarms(cw: Any, deployed: Deployed) -> dict[str, dict[str, Any]]:
    """The stack's pull alarms by logical id, as CloudWatch describes them."""
    names = {
        r.logical_id: r.physical_id
        for r in deployed.resources
        if r.type == "AWS::CloudWatch::Alarm" and r.logical_id in PULL_ALARMS and r.physical_id
    }
    if not names:
        return {}
    found = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=sorted(names.values())).get("MetricAlarms", [])}
    return {lid: found[name] for lid, name in names.items() if name in found}


def running_services(deployed: Deployed) -> int:
    return sum(1 for s in deployed.services if int(s.live.get("desiredCount", 0) or 0) > 0)


def check(
    cw: Any,
    deployed: Deployed,
    since: datetime,
    wait: float = 180.0,
    interval: float = 15.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Check:
    found = alarms(cw, deployed)
    if "PullFailureAlarm" not in found or "PullSlowAlarm" not in found:
        return Check(
            GROUP,
            "",
            FAILED,
            "the stack has no PullFailureAlarm and PullSlowAlarm: its monitoring stack does not measure image pulls",
        )
    ns, limit = found["PullFailureAlarm"]["Namespace"], float(found["PullSlowAlarm"]["Threshold"])
    expect = running_services(deployed)
    start = clock()
    figures: PullFigures = pull_figures(cw, ns, now(), now() - since, limit)
    while expect and figures.pulls == 0 and clock() - start < wait:
        sleep(interval)
        figures = pull_figures(cw, ns, now(), now() - since, limit)
    out = f"{ns} since {since:%H:%M:%S} UTC: {figures.line()}"
    seconds = clock() - start
    if figures.failures:
        return Check(
            GROUP,
            "",
            FAILED,
            f"{figures.failures} image pull(s) failed: read the PullFailure log group "
            "(stack output PullFailureLogGroupName) and run diagnose",
            out,
            seconds,
        )
    if figures.max_seconds is not None and figures.max_seconds > limit:
        return Check(
            GROUP,
            "",
            FAILED,
            f"the slowest pull took {figures.max_seconds:.1f} s, over the {limit:g} s of alarms.image_pull_seconds",
            out,
            seconds,
        )
    if not figures.pulls:
        if not expect:
            return Check(
                GROUP,
                "",
                NOT_APPLICABLE,
                "no service runs a task (scheduled tasks start on their schedule): no pull to measure during the run",
                out,
                seconds,
            )
        return Check(
            GROUP,
            "",
            FAILED,
            f"no completed pull recorded within {wait:.0f} s though {expect} service(s) "
            "run tasks: is the pull timer failing? (PullTimerErrorsAlarm, its log group)",
            out,
            seconds,
        )
    return Check(GROUP, "", PASSED, f"{figures.line()}; none failed, none over {limit:g} s", out, seconds)
