"""Invariants of task definitions, their logs and health checks, target groups and EFS
access points (seeds/003 Properties 1-5 and 9)."""

from __future__ import annotations

from typing import Any

from generator.cfn.templateset import TemplateSet
from generator.invariants.base import invariant, services, task_of, td_containers
from generator.invariants.routing import lb_attachments
from generator.spec import FARGATE_SIZES, Platform


# 1 ------------------------------------------------------------------------------------
@invariant
def fargate_task_definitions(ts: TemplateSet) -> list[str]:
    """Property 1: FARGATE, awsvpc, and a valid Fargate CPU/memory pair."""
    v = []
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        p = r.get("Properties", {})
        if p.get("RequiresCompatibilities") != ["FARGATE"]:
            v.append(f"{f}:{lid}: RequiresCompatibilities is {p.get('RequiresCompatibilities')}, not [FARGATE]")
        if p.get("NetworkMode") != "awsvpc":
            v.append(f"{f}:{lid}: NetworkMode is {p.get('NetworkMode')}, not awsvpc")
        for cpu, mem in _sizes(ts, f, p.get("Cpu"), p.get("Memory")):
            try:
                ok = int(mem) in FARGATE_SIZES.get(int(cpu), ())
            except (TypeError, ValueError):
                ok = False
            if not ok:
                v.append(f"{f}:{lid}: cpu {cpu} / memory {mem} is not a valid Fargate size")
    return v


def _sizes(ts: TemplateSet, f: str, cpu: Any, mem: Any) -> list[tuple[Any, Any]]:
    """All (cpu, memory) combinations, expanding FindInMap over every top-level key."""
    if isinstance(cpu, dict) and "Fn::FindInMap" in cpu and isinstance(mem, dict) and "Fn::FindInMap" in mem:
        m, _, ckey = cpu["Fn::FindInMap"]
        m2, _, mkey = mem["Fn::FindInMap"]
        table = ts.t[f].get("Mappings", {}).get(m, {})
        table2 = ts.t[f].get("Mappings", {}).get(m2, {})
        return [(table[k].get(ckey), table2.get(k, {}).get(mkey)) for k in sorted(table)] or [(None, None)]
    return [(cpu, mem)]


# 2 ------------------------------------------------------------------------------------
@invariant
def awslogs_logging(ts: TemplateSet) -> list[str]:
    """Property 2: awslogs with group, region and stream prefix; the group exists in the set."""
    v = []
    groups = {(f, lid) for f, lid, _ in ts.resources("AWS::Logs::LogGroup")}
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        for c in td_containers(r):
            where = f"{f}:{lid}/{c.get('Name')}"
            lc = c.get("LogConfiguration") or {}
            if lc.get("LogDriver") != "awslogs":
                v.append(f"{where}: log driver is {lc.get('LogDriver')}, not awslogs")
                continue
            opts = lc.get("Options", {})
            for k in ("awslogs-group", "awslogs-region", "awslogs-stream-prefix"):
                if not opts.get(k):
                    v.append(f"{where}: awslogs option {k} is missing")
            if opts.get("awslogs-group"):
                o = ts.origin(f, opts["awslogs-group"])
                if (o.file, o.name) not in groups:
                    v.append(f"{where}: log group {o} is not a log group of this set")
    return v


# 3 ------------------------------------------------------------------------------------
@invariant
def container_health_checks(ts: TemplateSet) -> list[str]:
    """Property 3: essential containers have a full health check; ALB services' grace
    period is at least the container start period."""
    v = []
    start: dict[tuple[str, str], int] = {}
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        for c in td_containers(r):
            if c.get("Essential", True) is False:
                continue
            hc = c.get("HealthCheck")
            if not hc or not hc.get("Command"):
                v.append(f"{f}:{lid}/{c.get('Name')}: essential container has no health check")
                continue
            for k in ("Interval", "Timeout", "Retries", "StartPeriod"):
                if k not in hc:
                    v.append(f"{f}:{lid}/{c.get('Name')}: health check lacks {k}")
            start[(f, lid)] = max(start.get((f, lid), 0), int(hc.get("StartPeriod", 0)))
    for f, lid, r in services(ts):
        p = r.get("Properties", {})
        if not p.get("LoadBalancers"):
            continue
        task = task_of(ts, f, r)
        need = start.get((task[0], task[1]), 0) if task else 0
        grace = p.get("HealthCheckGracePeriodSeconds")
        # Under Fn::If (a service that attaches its target groups only with a domain,
        # generator.stacks._rules.attachments) every numeric branch counts.
        values = (
            [b for b in grace["Fn::If"][1:] if not isinstance(b, dict)]
            if isinstance(grace, dict) and "Fn::If" in grace
            else [grace]
        )
        if not values or any(g is None or int(g) < need for g in values):
            v.append(f"{f}:{lid}: HealthCheckGracePeriodSeconds {grace} is below the start period {need}")
    return v


# 4 ------------------------------------------------------------------------------------
@invariant
def target_group_health_checks(ts: TemplateSet) -> list[str]:
    """Property 4: explicit target-group health checks; TG port = registered container port."""
    v = []
    for f, lid, r in ts.resources("AWS::ElasticLoadBalancingV2::TargetGroup"):
        p = r.get("Properties", {})
        if not (p.get("HealthCheckPath") or p.get("HealthCheckPort")):
            v.append(f"{f}:{lid}: no health check path or port")
        for k in ("HealthCheckIntervalSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher"):
            if k not in p:
                v.append(f"{f}:{lid}: health check lacks {k}")
    for f, lid, r in services(ts):
        for lb in lb_attachments(r):
            o = ts.origin(f, lb.get("TargetGroupArn"))
            tg = ts.resource(o.file, o.name)
            if tg is None:
                v.append(f"{f}:{lid}: target group {o} not found")
            elif tg["Properties"].get("Port") != lb.get("ContainerPort"):
                v.append(
                    f"{f}:{lid}: registers container port {lb.get('ContainerPort')} in {o.name} "
                    f"whose port is {tg['Properties'].get('Port')}"
                )
    return v


# 5 ------------------------------------------------------------------------------------
@invariant
def efs_access_points(ts: TemplateSet, permissions: str = "755") -> list[str]:
    """Property 5: non-root POSIX user, creation owner equal to it, permissions 755."""
    v = []
    for f, lid, r in ts.resources("AWS::EFS::AccessPoint"):
        p = r.get("Properties", {})
        pu = p.get("PosixUser") or {}
        ci = (p.get("RootDirectory") or {}).get("CreationInfo") or {}
        uid, gid = str(pu.get("Uid", "")), str(pu.get("Gid", ""))
        if not uid or not gid:
            v.append(f"{f}:{lid}: no PosixUser")
            continue
        if uid == "0" or gid == "0":
            v.append(f"{f}:{lid}: PosixUser {uid}:{gid} is root")
        if (str(ci.get("OwnerUid")), str(ci.get("OwnerGid"))) != (uid, gid):
            v.append(
                f"{f}:{lid}: CreationInfo owner {ci.get('OwnerUid')}:{ci.get('OwnerGid')} != PosixUser {uid}:{gid}"
            )
        if str(ci.get("Permissions")) != permissions:
            v.append(f"{f}:{lid}: CreationInfo permissions {ci.get('Permissions')} != {permissions}")
    return v


# 9 ------------------------------------------------------------------------------------
@invariant
def log_groups(ts: TemplateSet, spec: Platform | None = None) -> list[str]:
    """Property 9: every log group has a retention and a KMS key; service groups use the spec's retention."""
    v = []
    for f, lid, r in ts.resources("AWS::Logs::LogGroup"):
        p = r.get("Properties", {})
        if "RetentionInDays" not in p:
            v.append(f"{f}:{lid}: no RetentionInDays")
        if "KmsKeyId" not in p:
            v.append(f"{f}:{lid}: no KmsKeyId")
    if spec is not None:
        want = {s.container: s.log_retention_days for s in spec.services}
        for f, _lid, r in ts.resources("AWS::ECS::TaskDefinition"):
            for c in td_containers(r):
                opts = (c.get("LogConfiguration") or {}).get("Options", {})
                o = ts.origin(f, opts.get("awslogs-group"))
                g = ts.resource(o.file, o.name)
                if g and c.get("Name") in want and g["Properties"].get("RetentionInDays") != want[c["Name"]]:
                    v.append(f"{o}: retention {g['Properties'].get('RetentionInDays')} != spec {want[c['Name']]}")
    return v


# 22 -----------------------------------------------------------------------------------
@invariant
def service_ports_mapped(ts: TemplateSet) -> list[str]:
    """An ECS service routes only to ports its task definition maps: every load-balancer
    attachment names a container and one of its PortMappings, and every Service Connect
    entry a named port mapping (ECS refuses the service otherwise). A worker, whose task maps
    no port, so has no load balancer and no Service Connect entry."""
    v = []
    for f, lid, r in services(ts):
        task = task_of(ts, f, r)
        if task is None:
            continue
        p = r.get("Properties", {})
        mapped = {c.get("Name"): c.get("PortMappings", []) for c in td_containers(task[2])}
        for lb in lb_attachments(r):
            name, port = lb.get("ContainerName"), lb.get("ContainerPort")
            if name not in mapped:
                v.append(f"{f}:{lid}: load balancer attachment names container {name}, not in {task[1]}")
            elif port not in {m.get("ContainerPort") for m in mapped[name]}:
                v.append(f"{f}:{lid}: load balancer attachment to {name}:{port}, a port {task[1]} does not map")
        names = {m.get("Name") for ms in mapped.values() for m in ms}
        for sc in (p.get("ServiceConnectConfiguration") or {}).get("Services", []):
            if sc.get("PortName") not in names:
                v.append(
                    f"{f}:{lid}: Service Connect publishes port {sc.get('PortName')}, which {task[1]} does not map"
                )
    return v


# 24 -----------------------------------------------------------------------------------
@invariant
def desired_within_scaling(ts: TemplateSet) -> list[str]:
    """In every environment (each AllowedValue of the parent's Environment, the other parameters
    at their defaults) a scaled ECS service's DesiredCount lies within its scalable target's
    MinCapacity..MaxCapacity; per-environment values are read through their Mappings. Outside
    it, every deploy sets a count that Application Auto Scaling then moves back."""
    v = []
    envs = ((ts.parent.get("Parameters") or {}).get("Environment") or {}).get("AllowedValues") or [None]
    for env in envs:
        u = ts.under({"Environment": env}) if env else ts
        for f, lid, r in u.resources("AWS::ApplicationAutoScaling::ScalableTarget"):
            p = r.get("Properties", {})
            rid = p.get("ResourceId")
            sub = rid.get("Fn::Sub") if isinstance(rid, dict) else None
            if not (isinstance(sub, list) and isinstance(sub[1], dict) and "Service" in sub[1]):
                continue
            o = u.origin(f, sub[1]["Service"])
            svc = u.typed(o, "AWS::ECS::Service")
            if svc is None:
                continue
            count = _number(u, o.file, svc.get("Properties", {}).get("DesiredCount"))
            lo, hi = _number(u, f, p.get("MinCapacity")), _number(u, f, p.get("MaxCapacity"))
            if None in (count, lo, hi):
                continue
            assert count is not None and lo is not None and hi is not None
            if not lo <= count <= hi:
                v.append(
                    f"{o.file}:{o.name}: DesiredCount {count} is outside {lid}'s {lo}..{hi}"
                    + (f" in environment {env}" if env else "")
                )
    return v


def _number(ts: TemplateSet, f: str, node: Any) -> int | None:
    """An integer property's value under the set's parameters, through Fn::If and Fn::FindInMap."""
    node = ts.branch(f, node)
    if isinstance(node, dict) and "Fn::FindInMap" in node:
        name, key, attr = node["Fn::FindInMap"]
        key = ts.value(f, key) if isinstance(key, dict) else key
        node = (ts.t[f].get("Mappings") or {}).get(name, {}).get(str(key), {}).get(attr)
    else:
        node = ts.literal(f, node)
    try:
        return int(node) if node is not None else None
    except (TypeError, ValueError):
        return None


# 25 -----------------------------------------------------------------------------------
@invariant
def task_containers(ts: TemplateSet) -> list[str]:  # noqa: C901
    """A task definition of several containers (a service and its sidecars) that ECS accepts
    and that can start: unique container names, at least one essential container, DependsOn
    only on containers of the task, never on itself, with no cycle, COMPLETE/SUCCESS only on a
    non-essential container and HEALTHY only on one with a health check (ECS API reference,
    ContainerDependency), container ports and port names unique across the task, no
    privileged container, and the containers' CPU and memory within the task's (per
    environment through the Sizing Mapping)."""
    v = []
    envs = ((ts.parent.get("Parameters") or {}).get("Environment") or {}).get("AllowedValues") or [None]
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        cs = td_containers(r)
        where = f"{f}:{lid}"
        names = [c.get("Name") for c in cs]
        if len(set(names)) != len(names):
            v.append(f"{where}: container names {names} are not unique")
        essential = {c.get("Name"): c.get("Essential", True) is not False for c in cs}
        if not any(essential.values()):
            v.append(f"{where}: no essential container")
        healthy = {c.get("Name"): bool((c.get("HealthCheck") or {}).get("Command")) for c in cs}
        edges: dict[str, list[str]] = {}
        for c in cs:
            name = str(c.get("Name"))
            edges[name] = []
            for d in c.get("DependsOn") or []:
                dep, cond = str(d.get("ContainerName")), d.get("Condition")
                edges[name].append(dep)
                if dep == name or dep not in essential:
                    v.append(f"{where}/{name}: DependsOn {dep}, not another container of the task")
                elif cond in ("COMPLETE", "SUCCESS") and essential[dep]:
                    v.append(f"{where}/{name}: DependsOn {dep} {cond}, but {dep} is essential")
                elif cond == "HEALTHY" and not healthy[dep]:
                    v.append(f"{where}/{name}: DependsOn {dep} HEALTHY, but {dep} has no health check")
        if _has_cycle(edges):
            v.append(f"{where}: the containers' DependsOn form a cycle")
        ports = [m.get("ContainerPort") for c in cs for m in c.get("PortMappings") or []]
        port_names = [m.get("Name") for c in cs for m in c.get("PortMappings") or [] if m.get("Name")]
        if len(set(ports)) != len(ports) or len(set(port_names)) != len(port_names):
            v.append(f"{where}: container ports {ports} (names {port_names}) are not unique across the task")
        for c in cs:
            if c.get("Privileged") is True:
                v.append(f"{where}/{c.get('Name')}: privileged container")
        for env in envs:
            u = ts.under({"Environment": env}) if env else ts
            of = f" in environment {env}" if env else ""
            p = r.get("Properties", {})
            for prop in ("Cpu", "Memory"):
                task = _number(u, f, p.get(prop))
                parts = [_number(u, f, c.get(prop)) for c in cs if c.get(prop) is not None]
                if task is not None and None not in parts and sum(x for x in parts if x is not None) > task:
                    v.append(
                        f"{where}: the containers' {prop} {sum(x for x in parts if x)} exceeds the task's {task}{of}"
                    )
    return v


def _has_cycle(edges: dict[str, list[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        state[n] = 1
        for m in edges.get(n, []):
            if state.get(m) == 1 or (m in edges and m not in state and visit(m)):
                return True
        state[n] = 2
        return False

    return any(n not in state and visit(n) for n in sorted(edges))
