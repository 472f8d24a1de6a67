"""The checks on what runs: ECS services, target groups and schedules.

Answered by the APIs wherever the stack runs (the emulator too):
  service created       the service exists, is ACTIVE, with the template's desired count (or
                        one inside its Application Auto Scaling range)
  target group attached a listener or listener rule forwards to it and an ECS service
                        registers its tasks in it
  schedule              the schedule or rule is ENABLED, its cluster ACTIVE, its task
                        definition ACTIVE

Answered only by real AWS, after waiting (bounded) for them:
  service steady        running = desired, nothing pending, one deployment, COMPLETED
  target group healthy  as many healthy targets as its services' desired counts, none
                        initial or unhealthy

On the emulator the last two are not applicable: it runs no containers, yet reports every
service as running its desired count, so its answer would be a pass nobody earned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from generator.acceptance.report import FAILED, NOT_APPLICABLE, PASSED, Check
from generator.acceptance.stack import Aws, Deployed, Listener, Schedule, Service, TargetGroup, forwards

EMULATED_STEADY = (
    "the emulator runs no containers (it reports runningCount = desiredCount and the "
    "deployment COMPLETED without a task running): checked only on AWS"
)
EMULATED_HEALTH = "the emulator runs no health checks and registers no targets: checked only on AWS"

READY, WAITING, BROKEN = "ready", "waiting", "broken"


def api_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"AWS API error {err.get('Code', '')}: {err.get('Message', str(exc))}"
    return f"AWS API error: {exc}"


def scalable_ranges(aws: Aws, services: list[Service]) -> dict[str, tuple[int, int]]:
    """Application Auto Scaling's (min, max) per service resource id."""
    if not services:
        return {}
    aas = aws("application-autoscaling")
    found: dict[str, tuple[int, int]] = {}
    ids = [s.resource_id for s in services]
    for i in range(0, len(ids), 50):
        pages = aas.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="ecs", ResourceIds=ids[i : i + 50], ScalableDimension="ecs:service:DesiredCount"
        )
        for page in pages:
            for t in page.get("ScalableTargets", []):
                found[t["ResourceId"]] = (int(t["MinCapacity"]), int(t["MaxCapacity"]))
    return found


def service_created(s: Service, ranges: dict[str, tuple[int, int]]) -> Check:
    name = s.path
    if not s.live:
        return Check("service created", name, FAILED, f"ECS has no service {s.arn} (the stack lists it)")
    status, desired = s.live.get("status", ""), int(s.live.get("desiredCount", -1))
    if status != "ACTIVE":
        return Check("service created", name, FAILED, f"service {s.name} is {status or 'without a status'}")
    if s.template_desired is None:
        return Check("service created", name, PASSED, f"ACTIVE, desired count {desired} ({s.template_note})")
    if desired == s.template_desired:
        return Check("service created", name, PASSED, f"ACTIVE, desired count {desired} as in the template")
    low, high = ranges.get(s.resource_id, (None, None))
    if low is not None and high is not None and low <= desired <= high:
        return Check(
            "service created",
            name,
            PASSED,
            f"ACTIVE, desired count {desired}: inside its autoscaling range {low}-{high} "
            f"(the template deploys {s.template_desired})",
        )
    where = f", autoscaling range {low}-{high}" if low is not None else ""
    return Check(
        "service created",
        name,
        FAILED,
        f"desired count {desired}, but the template deploys {s.template_desired}{where}",
    )


def forwarded_by(tg_arn: str, listeners: list[Listener]) -> list[str]:
    """Which listeners (default action) and listener rules forward to the target group."""
    found: list[str] = []
    for ls in listeners:
        if any(tg_arn in forwards(a) for a in ls.default_actions):
            found.append(f"{ls.title} (default action)")
        for rule in ls.rules:
            if any(tg_arn in forwards(a) for a in rule.get("Actions", [])):
                found.append(f"{ls.title} (rule {rule.get('Priority')})")
    return found


def target_group_attached(tg: TargetGroup, listeners: list[Listener], services: list[Service]) -> Check:
    if not tg.live:
        return Check(
            "target group attached",
            tg.path,
            FAILED,
            f"Elastic Load Balancing has no target group {tg.arn} (the stack lists it)",
        )
    by = forwarded_by(tg.arn, listeners)
    users = [s.path for s in services if tg.arn in s.target_groups()]
    if not by:
        return Check(
            "target group attached",
            tg.path,
            FAILED,
            "no listener or listener rule forwards to it: requests never reach its targets",
        )
    if not users:
        return Check(
            "target group attached",
            tg.path,
            FAILED,
            f"forwarded by {', '.join(by)}, but no ECS service registers tasks in it",
        )
    return Check(
        "target group attached", tg.path, PASSED, f"forwarded by {', '.join(by)}; targets from {', '.join(users)}"
    )


def schedule_enabled(aws: Aws, sched: Schedule) -> Check:
    what = "schedule" if sched.kind == "schedule" else "EventBridge rule"
    if sched.template_state == "DISABLED" and sched.state == "DISABLED":
        why = f" ({sched.template_note}: its image is not pushed yet)" if sched.template_note else ""
        return Check(
            "schedule",
            sched.path,
            NOT_APPLICABLE,
            f"the template deploys the {what} DISABLED{why}; push the image and deploy again",
        )
    problems = []
    if sched.state != "ENABLED":
        problems.append(f"the {what} is {sched.state or 'without a state'}")
    clusters = aws("ecs").describe_clusters(clusters=[sched.cluster_arn]).get("clusters", [])
    if not clusters or clusters[0].get("status") != "ACTIVE":
        problems.append(f"its cluster {sched.cluster_arn} is {clusters[0].get('status') if clusters else 'missing'}")
    try:
        td = aws("ecs").describe_task_definition(taskDefinition=sched.task_definition)["taskDefinition"]
        if td.get("status") != "ACTIVE":
            problems.append(f"its task definition {sched.task_definition} is {td.get('status')}")
    except ClientError:
        problems.append(f"its task definition {sched.task_definition} does not exist")
    if problems:
        return Check("schedule", sched.path, FAILED, "; ".join(problems))
    return Check("schedule", sched.path, PASSED, f"{what} {sched.name} ENABLED; cluster and task definition ACTIVE")


def created_checks(aws: Aws, deployed: Deployed) -> list[Check]:
    """The checks the emulator answers as well as AWS."""
    checks: list[Check] = []
    try:
        ranges = scalable_ranges(aws, deployed.services)
    except (ClientError, BotoCoreError) as exc:
        ranges = {}
        checks.append(Check("service created", "autoscaling ranges", FAILED, api_error(exc)))
    checks += [service_created(s, ranges) for s in deployed.services]
    checks += [target_group_attached(t, deployed.listeners, deployed.services) for t in deployed.target_groups]
    for sched in deployed.schedules:
        try:
            checks.append(schedule_enabled(aws, sched))
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check("schedule", sched.path, FAILED, api_error(exc)))
    return checks


# --------------------------------------------------------------------------- steady and healthy


def steady_state(live: dict[str, Any]) -> tuple[str, str]:
    """(READY | WAITING | BROKEN, what the service is doing)."""
    if not live:
        return BROKEN, "the service does not exist"
    desired, running = int(live.get("desiredCount", 0)), int(live.get("runningCount", 0))
    pending = int(live.get("pendingCount", 0))
    deployments = live.get("deployments", [])
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    rollout = primary.get("rolloutState", "")
    state = f"running {running} of {desired}, pending {pending}"
    if live.get("status") != "ACTIVE":
        return BROKEN, f"the service is {live.get('status')}"
    if rollout == "FAILED":
        return BROKEN, f"{state}; deployment FAILED: {primary.get('rolloutStateReason', '')}".rstrip(": ")
    if len(deployments) > 1:
        return WAITING, f"{state}; {len(deployments)} deployments (one still replacing another)"
    if rollout and rollout != "COMPLETED":
        return WAITING, f"{state}; deployment {rollout}"
    if running != desired or pending:
        return WAITING, state
    return READY, f"{state}; deployment {rollout or 'done'}"


def health_state(descriptions: list[dict[str, Any]], expected: int) -> tuple[str, str]:
    """(READY | WAITING, the targets' states) of a target group that should hold ``expected``
    healthy targets (at least one)."""
    states: dict[str, int] = {}
    reasons: list[str] = []
    for d in descriptions:
        th = d.get("TargetHealth", {})
        state = th.get("State", "unknown")
        states[state] = states.get(state, 0) + 1
        if state not in ("healthy", "draining") and th.get("Reason"):
            reasons.append(f"{th['Reason']}: {th.get('Description', '')}".rstrip(": "))
    healthy = states.get("healthy", 0)
    need = max(expected, 1)
    text = f"healthy {healthy} of {need}" + "".join(f", {n} {s}" for s, n in sorted(states.items()) if s != "healthy")
    if reasons:
        text += f" ({'; '.join(dict.fromkeys(reasons))})"
    if healthy >= need and not states.get("initial") and not states.get("unhealthy"):
        return READY, text
    return WAITING, text


def not_applicable(deployed: Deployed) -> list[Check]:
    return [Check("service steady", s.path, NOT_APPLICABLE, EMULATED_STEADY) for s in deployed.services] + [
        Check("target group healthy", t.path, NOT_APPLICABLE, EMULATED_HEALTH) for t in deployed.target_groups
    ]


def wait_ready(
    aws: Aws,
    deployed: Deployed,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> list[Check]:
    """Poll until every service is steady and every target group healthy, or ``timeout``
    seconds have passed; one check per service and per target group."""
    start = clock()
    deadline = start + timeout
    services = {s.path: s for s in deployed.services}
    expected = {
        t.arn: sum(int(s.live.get("desiredCount", 0)) for s in deployed.services if t.arn in s.target_groups())
        for t in deployed.target_groups
    }
    pending = {("service steady", p) for p in services} | {
        ("target group healthy", t.path) for t in deployed.target_groups
    }
    tgs = {t.path: t for t in deployed.target_groups}
    last: dict[tuple[str, str], str] = {}
    done: dict[tuple[str, str], Check] = {}
    while pending:
        for key in sorted(pending):
            group, path = key
            try:
                if group == "service steady":
                    s = services[path]
                    live = aws("ecs").describe_services(cluster=s.cluster, services=[s.arn])["services"]
                    s.live = live[0] if live else {}
                    state, text = steady_state(s.live)
                    if state != READY and s.live.get("events"):
                        text += f"; last event: {s.live['events'][0].get('message', '')}"
                else:
                    t = tgs[path]
                    found = aws("elbv2").describe_target_health(TargetGroupArn=t.arn)["TargetHealthDescriptions"]
                    state, text = health_state(found, expected.get(t.arn, 0))
            except (ClientError, BotoCoreError) as exc:
                state, text = BROKEN, api_error(exc)
            last[key] = text
            if state == READY:
                done[key] = Check(group, path, PASSED, text, seconds=clock() - start)
            elif state == BROKEN:
                done[key] = Check(group, path, FAILED, text, seconds=clock() - start)
        pending -= set(done)
        if not pending:
            break
        if clock() >= deadline:
            for key in pending:
                done[key] = Check(
                    key[0],
                    key[1],
                    FAILED,
                    f"timed out after {timeout:.0f} s (--wait-timeout): {last.get(key, 'no answer')}",
                    seconds=clock() - start,
                )
            break
        say(
            f"waiting for {len(pending)} of {len(last)}: "
            + "; ".join(f"{p}: {last[(g, p)]}" for g, p in sorted(pending))[:300]
        )
        sleep(min(interval, max(deadline - clock(), 0)))
    order = [("service steady", s.path) for s in deployed.services] + [
        ("target group healthy", t.path) for t in deployed.target_groups
    ]
    return [done[k] for k in order]
