"""What a spec runs, in the terms the cost estimate prices (``generator.cost``): the usage
assumptions, each service's task size and task counts per environment, how often a
scheduled task runs, the egress mode of an environment, the interface endpoints a mode
needs, and whether a service pulls its image from a public registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.billing_params import Deployment
from generator.reach.needs import image_source
from generator.spec import Platform, Service

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Usage:
    """Monthly usage assumptions (per running task unless stated)."""

    aws_api_gb_per_task: float = 1.0
    log_gb_per_task: float = 1.0
    public_image_gb_per_task: float = 5.0
    log_stored_ratio: float = 0.15
    flow_log_gb: float = 5.0
    alb_lcu: float = 1.0
    efs_gb: float = 10.0
    database_storage_gb: float = 10.0
    database_io_million: float = 10.0
    scheduled_run_minutes: float = 5.0


def usage_from(prices: dict[str, Any], **overrides: float | None) -> Usage:
    base = dict(prices.get("assumptions", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Usage(**{k: float(v) for k, v in base.items() if k in Usage.__dataclass_fields__})


# --------------------------------------------------------------------------- spec facts


def size_of(s: Service, env: str) -> tuple[float, float]:
    """(vCPU, GB) of a service's task in an environment."""
    if s.sizing:
        size = s.sizing[env]
        return size.cpu / 1024, size.memory / 1024
    assert s.cpu is not None and s.memory is not None
    return s.cpu / 1024, s.memory / 1024


MONTH_DAYS = 730 / 24


def _cron_count(field: str, lo: int, hi: int, names: dict[str, int] | None = None) -> float:
    """How many values of [lo, hi] a cron field selects (approximate for L, W and #)."""
    total = 0.0
    for part in field.split(","):
        for name, num in (names or {}).items():
            part = part.upper().replace(name, str(num))
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = max(1, int(step_text))
        if part in ("*", "?", ""):
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-", 1))
        elif part.isdigit():
            a, b = int(part), (hi if step > 1 else int(part))
        else:
            total += 1  # L, W, 3#2 ...: one day
            continue
        total += len(range(a, b + 1, step))
    return total


def runs_per_month(expression: str) -> float:
    """Approximate runs per month of an EventBridge Scheduler rate(...) / cron(...) expression."""
    body = expression[expression.index("(") + 1 : expression.rindex(")")].strip()
    if expression.startswith("rate"):
        value, unit = body.split()
        minutes = {"minute": 1, "hour": 60, "day": 1440}[unit.rstrip("s")]
        return 730 * 60 / (int(value) * minutes)
    minute, hour, dom, month, dow = body.split()[:5]
    per_day = _cron_count(minute, 0, 59) * _cron_count(hour, 0, 23)
    days = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
    if dom not in ("*", "?"):
        days_per_month = _cron_count(dom, 1, 31) * MONTH_DAYS / 31
    elif dow not in ("*", "?"):
        days_per_month = _cron_count(dow, 1, 7, days) * MONTH_DAYS / 7
    else:
        days_per_month = MONTH_DAYS
    return per_day * days_per_month * _cron_count(month, 1, 12) / 12


def task_counts(s: Service, usage: Usage | None = None, env: str = "") -> tuple[float, float]:
    """(desired, maximum) running tasks in ``env`` (its per-environment counts and scaling range
    when the spec has them); for a scheduled task the average number running."""
    schedule = getattr(s, "schedule", None)
    if schedule:
        avg = runs_per_month(schedule) * (usage or Usage()).scheduled_run_minutes / 60 / 730
        return avg, avg
    desired = s.desired_in(env)
    return desired, (s.scaling_range(env)[1] if s.scaling else desired)


def egress_of(spec: Platform, env: str) -> str:
    """The egress mode of an environment (per-environment overrides when the spec has them)."""
    return spec.network.mode(env)


def endpoints_for(spec: Platform, mode: str) -> list[str]:
    """Interface endpoints of a mode: the generator's own derivation (``Platform.endpoint_services``)."""
    return list(spec.endpoint_services(mode))


def public_image(s: Service, deployed: Deployment | None = None) -> bool:
    """True when the image comes from a public registry (not ECR), at the ImageUri value deployed
    (else the spec's default; an empty value runs the fallback), classified as the preflight
    classifies it (``reach.needs.image_source``)."""
    if s.image.repository:
        return False
    uri = deployed.images.get(s.name, s.image.default) if deployed else s.image.default
    return image_source(uri or s.image.fallback or "").public
