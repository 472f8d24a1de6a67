"""What every invariant module shares: the result type, and reading tasks and secrets."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from generator.cfn.finding import Finding
from generator.cfn.templateset import TemplateSet
from generator.reach.needs import Secret, secret_arn
from generator.reach.tasks import TaskReader

Violations = list[Finding]
SOURCE = "invariants"
_WHERE = re.compile(r"^(?P<file>[\w.-]+\.ya?ml)(?::(?P<lid>[A-Za-z0-9]+))?")


def violation(problem: str, rule: str) -> Finding:
    """A violation message ("file:LogicalId: what is wrong") as a Finding of ``rule``."""
    m = _WHERE.match(problem)
    return Finding(
        problem, m.group("file") if m else "", rule=rule, source=SOURCE, resource=(m.group("lid") or "") if m else ""
    )


def invariant(check: Callable[..., list[str]]) -> Callable[..., Violations]:
    """Turn a checker that lists violation messages into one that returns Findings."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Violations:
        return [violation(p, check.__name__) for p in check(*args, **kwargs)]

    return run


def td_containers(r: dict[str, Any]) -> list[dict[str, Any]]:
    return r.get("Properties", {}).get("ContainerDefinitions", [])


def services(ts: TemplateSet) -> list[tuple[str, str, dict[str, Any]]]:
    return ts.resources("AWS::ECS::Service")


def task_of(ts: TemplateSet, f: str, svc: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    o = ts.origin(f, svc["Properties"]["TaskDefinition"])
    r = ts.resource(o.file, o.name)
    return (o.file, o.name, r) if r else None


def secret_identity(reader: TaskReader, f: str, node: Any) -> str:
    """A comparable identity of a secret or SSM parameter reference: the resource it names,
    else its ARN (JSON keys dropped), else where it comes from."""
    key = reader.named(f, node)
    if key is not None:
        return f"{key[0]}:{key[1]}"
    text = reader.match(f, node)
    arn = secret_arn(text) if text else None
    return arn if arn is not None else str(reader.ts.origin(f, node))


def secrets_read(reader: TaskReader, f: str, lid: str) -> dict[str, Secret]:
    """Identity -> secret, for every secret and SSM parameter a task definition's containers
    read (the facts of ``reach.needs``)."""
    out = {}
    for c in reader.containers(f, lid):
        for s in c.secrets:
            v = s.value_from
            ident = f"{v.origin[0]}:{v.origin[1]}" if v.origin else (secret_arn(v.match) or v.shown or "?")
            out[ident] = s
    return out
