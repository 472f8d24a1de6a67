"""EventBridge Scheduler expressions and time zones, checked before AWS sees them.

Syntax from the EventBridge Scheduler User Guide ("Schedule types on EventBridge
Scheduler") and the Scheduler API's ScheduleExpression: ``rate(value unit)`` with a
positive integer and minute(s) / hour(s) / day(s); ``cron(minutes hours day-of-month
month day-of-week year)`` with the field ranges and wildcards below, and exactly one of
day-of-month / day-of-week set to ``?``.  Time zones are IANA names (``zoneinfo``; the
``tzdata`` package backs it where the system has no zone database).
"""

from __future__ import annotations

import functools
import re
import zoneinfo

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

# name, lowest, highest, names for 1.., wildcards allowed besides digits, ranges and lists
CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], str], ...] = (
    ("minutes", 0, 59, (), "*/"),
    ("hours", 0, 23, (), "*/"),
    ("day-of-month", 1, 31, (), "*?/LW"),
    ("month", 1, 12, MONTHS, "*/"),
    ("day-of-week", 1, 7, DAYS, "*?/L#"),
    ("year", 1970, 2199, (), "*/"),
)
RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
CRON = re.compile(r"cron\((.*)\)")


def check_expression(expr: str) -> str | None:
    """None when ``expr`` is a valid rate or cron expression, else what is wrong."""
    rate = RATE.fullmatch(expr)
    if rate:
        return None if int(rate.group(1)) >= 1 else "a rate must be a positive number of minutes, hours or days"
    if expr.startswith("rate("):
        return "a rate expression is rate(VALUE UNIT), UNIT one of minute(s), hour(s), day(s), e.g. rate(5 minutes)"
    cron = CRON.fullmatch(expr)
    if not cron:
        return "must be rate(VALUE UNIT) or cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)"
    fields = cron.group(1).split()
    if len(fields) != len(CRON_FIELDS):
        return f"a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {len(fields)}"
    for value, (name, low, high, names, wild) in zip(fields, CRON_FIELDS, strict=True):
        err = _check_field(value, low, high, names, wild)
        if err:
            return f"cron {name} field {value!r}: {err}"
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        return "cron: exactly one of day-of-month and day-of-week must be '?'"
    if "#" in dow and "," in dow:
        return "cron day-of-week: '#' allows a single expression"
    return None


def _number(token: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    if token.upper() in names:
        return None
    if not token.isdigit():
        return f"{token!r} is not a number" + (f" or one of {'/'.join(names)}" if names else "")
    if not low <= int(token) <= high:
        return f"{token} is outside {low}-{high}"
    return None


def _check_field(value: str, low: int, high: int, names: tuple[str, ...], wild: str) -> str | None:
    if value == "?":
        return None if "?" in wild else "'?' is only allowed in day-of-month or day-of-week"
    for item in value.split(","):
        err = _check_item(item, low, high, names, wild)
        if err:
            return err
    return None


def _check_item(item: str, low: int, high: int, names: tuple[str, ...], wild: str) -> str | None:  # noqa: PLR0911
    if not item:
        return "empty list element"
    base, slash, step = item.partition("/")
    if slash:
        if "/" not in wild:
            return "'/' is not allowed here"
        if not step.isdigit() or int(step) < 1:
            return f"increment {step!r} must be a positive number"
    if base == "*":
        return None
    if "L" in wild and base in ("L", "LW" if "W" in wild else "L"):
        return None
    if "W" in wild and base.endswith("W") and not slash:
        return _number(base[:-1], low, high, names)
    if "#" in wild and "#" in base and not slash:
        day, _, nth = base.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            return f"{base!r}: the week number after '#' must be 1-5"
        return _number(day, low, high, names)
    if "L" in wild and "#" in wild and base.endswith("L") and len(base) > 1 and not slash:
        return _number(base[:-1], low, high, names)  # day-of-week: "6L" = last Friday
    start, dash, end = base.partition("-")
    return _number(start, low, high, names) or (_number(end, low, high, names) if dash else None)


@functools.cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(name: str) -> str | None:
    if name in time_zones():
        return None
    return f"{name!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)"
