"""One module per nested stack. ``STACKS`` is the creation order the parent follows;
each module exposes ``NAME``, ``applies(spec)``, ``interface(spec)`` and ``build(spec)``.

``GROUPED`` are the modules built once per service group (``generator.placement``): their
three functions also take the group (``generator.contract.Part``), and the instance for
group ``g`` is the stack ``<NAME>-g`` (``NAME`` for the group ``default``)."""

from __future__ import annotations

from types import ModuleType

from generator.stacks import (
    alb,
    autoscaling,
    certificates,
    database,
    dns,
    ecr,
    ecs_cluster,
    efs,
    iam,
    monitoring,
    network,
    secrets,
    security_groups,
    services,
    storage,
)

STACKS: tuple[ModuleType, ...] = (
    secrets,
    network,
    security_groups,
    efs,
    storage,
    ecr,
    ecs_cluster,
    iam,
    database,
    certificates,
    alb,
    dns,
    services,
    autoscaling,
    monitoring,
)

GROUPED: tuple[ModuleType, ...] = (security_groups, iam, services, autoscaling, monitoring)
