"""The container definitions of a task: environment values with the spec's placeholders,
secrets read through ValueFrom, the awslogs configuration, and the sidecars of a service
(``services[].sidecars``, generator.spec.containers): each in the service's log group under
its own stream prefix, with its essential flag, start order (``DependsOn``), image, share of
the task's CPU and memory, ports, health check, user and read-only root file system.

``generator.stacks.services`` builds the task definition with these; the service's own
container keeps the task's memory less what its sidecars take."""

from __future__ import annotations

import re

from troposphere import FindInMap, Ref, Sub, ecs

from generator import naming
from generator.spec import PLACEHOLDER, ContainerHealthCheck, DependsOn, Platform, PortSpec, SecretRef, Service, Sidecar
from generator.stacks._base import Stack
from generator.stacks.secrets import DB_SECRET

_PH = re.compile(r"\$\{([^}]*)\}")


def placeholder_input(spec: Platform, ph: str) -> str | None:
    """The stack input a spec placeholder reads, or None for pseudo/literal ones."""
    if ph.startswith("AWS::"):
        return None
    kind, _, rest = ph.partition(":")
    if kind == "lb":
        name, _, attr = rest.partition(":")
        return naming.lb_output(name, "Url" if attr == "url" else "Host")
    if kind == "db":
        return {"endpoint": "DatabaseEndpoint", "port": "DatabasePort"}.get(rest)
    if kind == "namespace":
        return None
    if kind == "bucket":
        return naming.bucket_output(rest, "Name")
    return ph


def environment_inputs(spec: Platform, s: Service) -> list[str]:
    """The stack inputs the environment values of every container of ``s`` read, in order."""
    out = []
    for _, env in s.environments_by_field:
        for text in env.values():
            for ph in PLACEHOLDER.findall(text):
                target = placeholder_input(spec, ph)
                if target:
                    out.append(target)
    return out


def _sub_text(spec: Platform, text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        ph = m.group(1)
        if ph == "db:name":
            assert spec.database
            return spec.database.database_name
        if ph == "namespace":
            return spec.namespace or ""
        target = placeholder_input(spec, ph)
        return "${" + (target or ph) + "}"

    return _PH.sub(repl, text)


def env_value(spec: Platform, value: str) -> object:
    if not PLACEHOLDER.search(value):
        return value
    text = _sub_text(spec, value)
    return Sub(text) if "${" in text else text


def secret_value(st: Stack, ref: SecretRef) -> object:
    if ref.ssm:
        return naming.ssm_parameter_arn(ref.ssm)
    if ref.database:
        return Sub(f"${{Arn}}:{ref.database}::", Arn=st.ref(naming.secret_output(DB_SECRET)))
    assert ref.secret
    arn = st.ref(naming.secret_output(ref.secret))
    return Sub(f"${{Arn}}:{ref.key}::", Arn=arn) if ref.key else arn


def environment(spec: Platform, values: dict[str, str]) -> list[ecs.Environment]:
    return [ecs.Environment(Name=k, Value=env_value(spec, v)) for k, v in sorted(values.items())]


def secrets(st: Stack, refs: dict[str, SecretRef]) -> list[ecs.Secret]:
    return [ecs.Secret(Name=k, ValueFrom=secret_value(st, r)) for k, r in sorted(refs.items())]


def log_configuration(group: object, prefix: str) -> ecs.LogConfiguration:
    """awslogs into the service's log group, under the container's own stream prefix."""
    return ecs.LogConfiguration(
        LogDriver="awslogs",
        Options={"awslogs-group": Ref(group), "awslogs-region": Ref("AWS::Region"), "awslogs-stream-prefix": prefix},
    )


def depends_on(deps: list[DependsOn]) -> list[ecs.ContainerDependency]:
    return [ecs.ContainerDependency(ContainerName=d.container, Condition=d.condition) for d in deps]


def own_memory_key(s: Service) -> str:
    """The Sizing Mapping key of the memory of the service's own container (with sidecars)."""
    return naming.pascal(s.name, "ContainerMemory")


def own_memory(st: Stack, s: Service) -> object:
    """The hard memory limit of the service's own container: the task's memory, less what its
    sidecars take (per environment through the Sizing Mapping with ``sizing``)."""
    if s.sizing:
        key = own_memory_key(s) if s.sidecars else naming.pascal(s.name, "Memory")
        return FindInMap("Sizing", st.ref("Environment"), key)
    assert s.memory is not None
    return s.memory - sum(c.memory for c in s.sidecars)


def sizing_entries(s: Service, env: str) -> list[tuple[str, str]]:
    """The Sizing Mapping entries of ``s`` in environment ``env``."""
    assert s.sizing
    size = s.sizing[env]
    out = [(naming.pascal(s.name, "Cpu"), str(size.cpu)), (naming.pascal(s.name, "Memory"), str(size.memory))]
    if s.sidecars:
        out.append((own_memory_key(s), str(size.memory - sum(c.memory for c in s.sidecars))))
    return out


def port_mappings(ports: list[PortSpec]) -> list[ecs.PortMapping]:
    """A container's port mappings (TCP, by port), with its Service Connect app protocol."""
    return [
        ecs.PortMapping(
            Name=p.name,
            ContainerPort=p.port,
            Protocol="tcp",
            **({"AppProtocol": p.app_protocol} if p.app_protocol else {}),
        )
        for p in sorted(ports, key=lambda p: p.port)
    ]


def health_check(hc: ContainerHealthCheck) -> ecs.HealthCheck:
    """A container health check run with CMD-SHELL inside the container."""
    return ecs.HealthCheck(
        Command=["CMD-SHELL", hc.command],
        Interval=hc.interval,
        Timeout=hc.timeout,
        Retries=hc.retries,
        StartPeriod=hc.start_period,
    )


def sidecar(st: Stack, spec: Platform, c: Sidecar, group: object) -> ecs.ContainerDefinition:
    """The container definition of one sidecar."""
    kw: dict[str, object] = {
        "Name": c.name,
        "Image": c.image.default,
        "Essential": c.essential,
        "Cpu": c.cpu,
        "Memory": c.memory,
        "PortMappings": port_mappings(c.ports),
        "LogConfiguration": log_configuration(group, c.name),
        "ReadonlyRootFilesystem": c.readonly_root_filesystem,
        "Privileged": False,
    }
    if c.health_check:
        kw["HealthCheck"] = health_check(c.health_check)
    if c.command:
        kw["Command"] = c.command
    if c.depends_on:
        kw["DependsOn"] = depends_on(c.depends_on)
    if c.environment:
        kw["Environment"] = environment(spec, c.environment)
    if c.secrets:
        kw["Secrets"] = secrets(st, c.secrets)
    if c.user:
        kw["User"] = c.user
    return ecs.ContainerDefinition(**kw)


def exemptions(s: Service) -> dict[str, list[dict[str, object]]]:
    """Metadata.stackgen's per-container exemptions of the task (the gate accepts a writable
    root or a root user only for a container listed here, with the spec's reason)."""
    rows: list[tuple[str, bool, str | None, str | None, str | None]] = [
        (s.container, s.readonly_root_filesystem, s.writable_root_reason, s.user, s.root_user_reason)
    ]
    rows += [
        (c.name, c.readonly_root_filesystem, c.writable_root_reason, c.user, c.root_user_reason) for c in s.sidecars
    ]
    writable: list[dict[str, object]] = [{"container": r[0], "reason": r[2]} for r in rows if not r[1]]
    root: list[dict[str, object]] = [{"container": r[0], "reason": r[4]} for r in rows if r[3] is None]
    out: dict[str, list[dict[str, object]]] = {}
    if writable:
        out["writable_root"] = writable
    if root:
        out["root_user"] = root
    return out
