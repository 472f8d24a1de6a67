"""The containers of a task: the models a service's own container and its sidecars share
(image, ports, health check, secret references), the sidecar model, and the checks of a task
with more than one container (names, start order, CPU and memory shares, ports).

``services`` imports this module (``Service.sidecars``) and nothing here imports it back:
the task checks take plain values.

Facts from AWS, with their source:

- ``dependsOn`` conditions, from the ECS API reference, ContainerDependency
  (docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDependency.html): START,
  COMPLETE, SUCCESS, HEALTHY; "COMPLETE ... can't be set on an essential container", the same
  for SUCCESS; HEALTHY "requires that the dependent container has health checks configured".
- The container-level ``cpu`` and ``memory`` of a task's containers must fit in the task-level
  size (ECS API reference, ContainerDefinition ``cpu``/``memory``: "the total amount of memory
  reserved for all containers within a task must be lower than the task memory value"), and
  a container's hard memory limit is at least 6 MiB (the same page: "The Docker 20.10.0 or
  later daemon reserves a minimum of 6 MiB of memory for a container").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from generator.spec.base import ENV_NAME, Model, PortNumber, Reason, Slug, new_dict, new_list
from generator.spec.routing import AppProtocol

# A container name (ECS: up to 255 letters, digits, hyphens, underscores; here a slug of up to 63).
CONTAINER_NAME = r"^[a-z][a-z0-9-]{0,62}$"
# Containers per task definition: 10 (ECS service quotas, "Containers per task definition",
# docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html): the service's own and 9 sidecars.
MAX_SIDECARS = 9
# The least hard memory limit of a container, in MiB (see the module doc).
MIN_CONTAINER_MIB = 6
DependencyCondition = Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"]
# Conditions that wait for the container to exit: not allowed on an essential container.
EXIT_CONDITIONS = ("COMPLETE", "SUCCESS")


class ContainerHealthCheck(Model):
    command: str = Field(min_length=1, description="Run with CMD-SHELL inside the container")
    interval: int = Field(default=30, ge=5, le=300)
    """Seconds between container health checks."""
    timeout: int = Field(default=5, ge=2, le=60)
    """Seconds before a check fails."""
    retries: int = Field(default=3, ge=1, le=10)
    """Failures before the container is unhealthy."""
    start_period: int = Field(default=60, ge=0, le=300)
    """Grace period in seconds before failures count."""


class PortSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
    """Port name; discovery and Service Connect refer to it."""
    port: PortNumber
    """Container port (TCP)."""
    app_protocol: AppProtocol | None = None
    """Service Connect application protocol of the port: http, http2 or grpc (protocol-aware proxying and metrics); none: TCP. ECS cannot change it on a running Service Connect service (the service must be re-created)."""


class SecretRef(Model):
    """Where a container secret comes from: exactly one of secret / ssm / database."""

    secret: Slug | None = None
    """A secret of this spec (secrets[].name)."""
    key: str | None = None
    """JSON key to read from the secret (its generate.json_key)."""
    ssm: Slug | None = None
    """An SSM parameter of this spec (ssm_parameters[].name)."""
    database: Literal["username", "password"] | None = None
    """The database master username or password."""

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if sum(x is not None for x in (self.secret, self.ssm, self.database)) != 1:
            raise ValueError("exactly one of secret / ssm / database is required")
        if self.key and not self.secret:
            raise ValueError("key: only valid with secret")
        return self


class Image(Model):
    """The container image: a URI parameter default, with a fallback when it is left empty."""

    default: str = ""
    """Default of the service's ImageUri parameter."""
    fallback: str | None = None
    """Image used when the ImageUri parameter is left empty."""
    repository: Slug | None = Field(default=None, description="an ECR repository in this spec")
    tag: str = "latest"
    """Default of the ImageTag parameter, with repository."""

    @model_validator(mode="after")
    def _some(self) -> Image:
        if not (self.default or self.fallback or self.repository):
            raise ValueError("one of default / fallback / repository is required")
        if self.repository and (self.default or self.fallback):
            raise ValueError("repository excludes default / fallback")
        return self


class DependsOn(Model):
    """A container of the task that must reach ``condition`` before this one starts."""

    container: Annotated[str, Field(pattern=CONTAINER_NAME)]
    """Name of another container of the same task (the service's own, or a sidecar)."""
    condition: DependencyCondition = "START"
    """START (started), COMPLETE (exited), SUCCESS (exited 0) or HEALTHY (its health check passes). COMPLETE and SUCCESS only on a non-essential container, HEALTHY only on one with a health_check."""


class Sidecar(Model):
    """A further container in the service's task: a log router, a proxy, an agent."""

    name: Annotated[str, Field(pattern=CONTAINER_NAME)]
    """Container name, unique in the task (the service's own container included); also its log stream prefix."""
    image: Image
    """Its image: a URI (default), written into the template. repository and fallback are for the service's own container only."""
    cpu: int = Field(default=0, ge=0, le=16384)
    """CPU units reserved for it; the task's containers together fit in the task's cpu."""
    memory: int = Field(ge=MIN_CONTAINER_MIB, le=122880)
    """Hard memory limit in MiB; the sidecars together leave the service's own container at least 6 MiB of the task's memory."""
    essential: bool = True
    """Whether the task stops when this container stops."""
    depends_on: list[DependsOn] = Field(default_factory=new_list)
    """Containers of the task that must reach a condition before this one starts."""
    command: list[str] | None = None
    """Command (exec form) that replaces the image's CMD."""
    environment: dict[str, str] = Field(default_factory=new_dict)
    """Environment variables; values may use the same placeholders as the service's environment."""
    secrets: dict[str, SecretRef] = Field(default_factory=new_dict)
    """Environment variables read from secrets, SSM parameters or the database credentials."""
    ports: list[PortSpec] = Field(default_factory=new_list)
    """Container ports (TCP); names and numbers unique across the task."""
    health_check: ContainerHealthCheck | None = None
    """Its container health check (needed when another container depends on it being HEALTHY)."""
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?$")] | None = None
    """Non-root user (uid or uid:gid) the container runs as."""
    root_user_reason: Reason | None = None
    """Why it must run as root; required when user is not set."""
    readonly_root_filesystem: bool = False
    """Mount the root file system read-only."""
    writable_root_reason: Reason | None = None
    """Why the root file system must be writable; required when readonly_root_filesystem is false."""

    @field_validator("environment", "secrets")
    @classmethod
    def _env_names(cls, v: dict[str, object]) -> dict[str, object]:
        for k in v:
            if not re.fullmatch(ENV_NAME, k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v

    @model_validator(mode="after")
    def _check(self) -> Sidecar:
        if self.image.repository or self.image.fallback:
            raise ValueError(
                "image: a sidecar's image is a URI (default), written into the template; repository "
                "and fallback are for the service's own container"
            )
        overlap = set(self.environment) & set(self.secrets)
        if overlap:
            raise ValueError(f"{sorted(overlap)[0]} is both an environment variable and a secret")
        if self.user is None and not self.root_user_reason:
            raise ValueError("user: set a non-root user, or give root_user_reason")
        if self.user is not None and self.user.split(":")[0] in ("0", "root"):
            raise ValueError("user: must not be root; leave it unset and give root_user_reason")
        if not self.readonly_root_filesystem and not self.writable_root_reason:
            raise ValueError("writable_root_reason: required when readonly_root_filesystem is false")
        if self.essential and self.health_check is None:
            raise ValueError(
                "health_check: required on an essential sidecar (the task stops when it stops; its health "
                "check is how ECS knows it works); or set essential: false"
            )
        return self


def task_error(
    main: str,
    main_ports: Sequence[PortSpec],
    main_depends_on: Sequence[DependsOn],
    sidecars: Sequence[Sidecar],
    sizes: Sequence[tuple[str, int, int]],
) -> str | None:
    """Why a task of the service's own container ``main`` (always essential, always with a
    health check) and ``sidecars`` would not be accepted or could not start, or None.  The
    message starts with the field.  ``sizes`` are the task's (environment, cpu, memory), one per
    environment ('' without per-environment sizing)."""
    names = [main]
    for i, c in enumerate(sidecars):
        if c.name in names:
            return f"sidecars[{i}].name: {c.name!r} is already a container of the task (names are unique)"
        names.append(c.name)
    seen_ports: dict[int, str] = {p.port: main for p in main_ports}
    seen_names: dict[str, str] = {p.name: main for p in main_ports}
    for i, c in enumerate(sidecars):
        for p in c.ports:
            if p.port in seen_ports:
                return f"sidecars[{i}].ports: port {p.port} is already a port of container {seen_ports[p.port]!r}"
            if p.name in seen_names:
                return (
                    f"sidecars[{i}].ports: port name {p.name!r} is already a port of container {seen_names[p.name]!r}"
                )
            seen_ports[p.port], seen_names[p.name] = c.name, p.name
    essential = {main: True, **{c.name: c.essential for c in sidecars}}
    healthy = {main: True, **{c.name: c.health_check is not None for c in sidecars}}
    edges: dict[str, list[str]] = {main: [d.container for d in main_depends_on]}
    lists = [("depends_on", main, main_depends_on)]
    lists += [(f"sidecars[{i}].depends_on", c.name, c.depends_on) for i, c in enumerate(sidecars)]
    for field, own, deps in lists:
        edges[own] = [d.container for d in deps]
        for j, d in enumerate(deps):
            where = f"{field}[{j}]"
            if d.container == own:
                return f"{where}.container: a container cannot depend on itself"
            if d.container not in essential:
                return f"{where}.container: {d.container!r} is not a container of this task ({', '.join(names)})"
            if d.condition in EXIT_CONDITIONS and essential[d.container]:
                return (
                    f"{where}.condition: {d.condition} waits for {d.container!r} to exit, so it must be "
                    "a non-essential container (essential: false)"
                )
            if d.condition == "HEALTHY" and not healthy[d.container]:
                return f"{where}.condition: HEALTHY needs a health_check on {d.container!r}"
        if len({d.container for d in deps}) != len(deps):
            return f"{field}: each container at most once"
    cycle = _cycle(edges)
    if cycle:
        return f"depends_on: the containers wait for each other ({' -> '.join(cycle)}), so none starts"
    cpu = sum(c.cpu for c in sidecars)
    memory = sum(c.memory for c in sidecars)
    for env, task_cpu, task_memory in sizes:
        of = f" in environment {env}" if env else ""
        if cpu > task_cpu:
            return f"sidecars: their cpu ({cpu}) exceeds the task's cpu {task_cpu}{of}"
        if memory + MIN_CONTAINER_MIB > task_memory:
            return (
                f"sidecars: their memory ({memory} MiB) leaves the service's own container less than "
                f"{MIN_CONTAINER_MIB} MiB of the task's {task_memory} MiB{of}"
            )
    return None


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle of the depends-on graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in edges.get(n, []):
            if state.get(m) == 1:
                return path[path.index(m) :] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None
