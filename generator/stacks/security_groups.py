"""security-groups: one security group per load balancer, per ECS service and per
data store, with every rule derived from the spec's reachability and described.

SG-to-SG rules are separate Ingress/Egress resources (mutual references between
groups would otherwise form a cycle); CIDR rules are inline, except those that exist
only in some environments (``network.egress_by_environment``): those are separate
Egress resources with a Condition, so every rule keeps a literal Description that
scanners can read.  No task security group admits a CIDR.

A load balancer admits, per listener, one rule per CIDR of its source set: the
``IngressCidrBlocks`` parameter (ports 80 and 443 only) or the listener's own
``ingress_sources`` parameter (generator.spec.edge).

One instance per service group (``generator.contract.Part``): ``security-groups`` holds the
shared groups (load balancers, database, proxy, file system), the groups of the first
service group's services and their rules; ``security-groups-<group>`` the groups of that
group's services and the rules it hosts.  The rules of an edge between two services are
held by the later of their two groups (so a stack only reads groups of earlier stacks, and
no two depend on each other), those of an edge between a service and a shared group by the
service's group.  The first group admits each of its services to the shared groups (the
database or its proxy, the file system, the interface endpoints) with a rule per service,
as a platform of one group always has; every later group admits them through one client
group per target (``<group>-<target>-clients``) that its services carry, so a shared group
gains one rule per service group, not per service, and stays within the 60 inbound rules
of a security group.  Likewise a later group's services behind a load balancer carry one
targets group per load balancer (``<group>-<lb>-targets``) that the load balancer reaches on
each target and health-check port, so the load balancer's group gains outbound rules per
service group and port, not per service (100 services behind one ALB fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from troposphere import GetAtt, Ref, Select, Sub, Template, ec2

from generator import naming
from generator.contract import Interface, Part, StackInterface, whole
from generator.spec import PLACEHOLDER, Platform, Service
from generator.spec.edge import source_ports
from generator.stacks._base import Stack, env_condition, remembered, when

NAME = "security-groups"
DB = "database"
DB_PROXY = "database-proxy"
EFS = "file-system"
ENDPOINTS = "endpoints"
# The parameter that carries a security group a stack reads but does not create, by key
# (every other key ``k``: ``naming.sg_output(k)``).
INPUT_OF = {ENDPOINTS: "EndpointSecurityGroupId"}


def applies(spec: Platform, part: Part | None = None) -> bool:
    return bool(groups(spec, part))


def svc_key(name: str) -> str:
    return f"{name}-service"


def lb_key(name: str) -> str:
    return f"{name}-load-balancer"


@dataclass(frozen=True, order=True)
class Edge:
    """Traffic allowed from group ``src`` to group ``dst`` on ``port``."""

    src: str
    dst: str
    port: int
    why: str


def shared_groups(spec: Platform) -> list[str]:
    """The security groups every service group shares: load balancers and data stores."""
    out = [lb_key(lb.name) for lb in spec.load_balancers]
    if spec.database:
        out.append(DB)
        if spec.database.proxy:
            out.append(DB_PROXY)
    if spec.efs:
        out.append(EFS)
    return out


def groups(spec: Platform, part: Part | None = None) -> list[str]:
    """The security groups one instance creates (the whole platform's without a part)."""
    part = part or whole(spec)
    out = [lb_key(lb.name) for lb in spec.load_balancers] if part.shared else []
    out += [svc_key(s.name) for s in part.members(spec)]
    if part.shared:
        out += [k for k in shared_groups(spec) if k not in out]
    out += [clients_key(part.group, target) for target, _, _ in client_targets(spec, part)]
    out += sorted({e.dst for e in target_edges(spec, part)})
    return out


def db_entry(spec: Platform) -> str:
    """The security group database clients connect to: the proxy's, else the cluster's."""
    assert spec.database
    return DB_PROXY if spec.database.proxy else DB


def clients_key(group: str, target: str) -> str:
    """The client security group through which the services of ``group`` reach ``target``."""
    return f"{group}-{target}-clients"


def _uses_efs(s: Service) -> bool:
    return bool(s.volumes)  # as Platform.efs_clients


def _uses_db(s: Service) -> bool:
    return any(r.database for r in s.secrets.values())  # as Platform.db_clients


def client_targets(spec: Platform, part: Part) -> list[tuple[str, str, int]]:
    """(target, shared security group, port) a later group reaches through client groups: the
    interface endpoints always, the file system and the database when a member uses them."""
    if not part.clients:
        return []
    members = part.members(spec)
    out = [(ENDPOINTS, ENDPOINTS, 443)]
    if spec.efs and any(_uses_efs(s) for s in members):
        out.append((EFS, EFS, 2049))
    if spec.database and any(_uses_db(s) for s in members):
        out.append((DB, db_entry(spec), spec.database.port))
    return out


def client_groups(spec: Platform, part: Part, s: Service) -> list[str]:
    """The client security groups a service of a later group carries (besides its own), and the
    targets groups of the load balancers it is behind."""
    if not part.clients:
        return []
    out = [clients_key(part.group, ENDPOINTS)]
    if spec.efs and _uses_efs(s):
        out.append(clients_key(part.group, EFS))
    if spec.database and _uses_db(s):
        out.append(clients_key(part.group, DB))
    out += [targets_key(part.group, lb) for lb in sorted({tg.load_balancer for tg in s.target_groups})]
    return out


def targets_key(group: str, lb: str) -> str:
    """The security group through which load balancer ``lb`` reaches the tasks of a later service
    group: the load balancer's group gains a rule per group and port, not per service, so
    100 services (its target-group quota) stay within its 60 outbound rules."""
    return f"{group}-{lb}-targets"


def target_edges(spec: Platform, part: Part) -> list[Edge]:
    """(load balancer -> targets group) edges of a later group: one per load balancer and port
    (target port or health-check port) its services are reached on."""
    if not part.clients:
        return []
    out = set()
    for s in part.members(spec):
        for tg in s.target_groups:
            for port in {tg.container_port, tg.health_check.port or tg.container_port}:
                why = f"{tg.load_balancer} ALB to the tasks of group {part.group}"
                out.add(Edge(lb_key(tg.load_balancer), targets_key(part.group, tg.load_balancer), port, why))
    return sorted(out)


def _service_of(key: str) -> str | None:
    return key.removesuffix("-service") if key.endswith("-service") else None


def host(group_of: Mapping[str, int] | Part, e: Edge) -> int:
    """The index of the group whose stack holds an edge's rules: the later of its services' groups."""
    index = group_of.group_of if isinstance(group_of, Part) else group_of
    return max((index[n] for n in (_service_of(e.src), _service_of(e.dst)) if n is not None), default=0)


_BY_HOST: list[tuple[Platform, Mapping[str, int], dict[int, list[Edge]]]] = []


def _edges_by_host(spec: Platform, group_of: Mapping[str, int]) -> dict[int, list[Edge]]:
    """The platform's edges by the index of the group that hosts them, in edges' order
    (remembered for the last spec and placement: each group's stack asks, so the edges are
    not walked once per group)."""
    if _BY_HOST and _BY_HOST[0][0] is spec and _BY_HOST[0][1] is group_of:
        return _BY_HOST[0][2]
    out: dict[int, list[Edge]] = {}
    for e in edges(spec):
        out.setdefault(host(group_of, e), []).append(e)
    _BY_HOST[:] = [(spec, group_of, out)]
    return out


def hosted(spec: Platform, part: Part | None = None) -> list[Edge]:
    """The edges whose rules this instance holds, sorted: the platform's edges it hosts (in a
    later group, its services' edges to the shared data stores become client-group edges),
    its services' endpoint edges, and its client groups' edges."""
    part = part or whole(spec)
    out = []
    stores = {DB, DB_PROXY, EFS}
    lbs = {lb_key(lb.name) for lb in spec.load_balancers}
    for e in _edges_by_host(spec, part.group_of).get(part.index, []):
        if part.clients and e.dst in stores and _service_of(e.src) is not None:
            continue
        if part.clients and e.src in lbs and _service_of(e.dst) is not None:
            continue  # through the group's targets group (target_edges)
        out.append(e)
    if not part.clients:
        out += [
            Edge(svc_key(s.name), ENDPOINTS, 443, f"{s.name} tasks to the interface VPC endpoints")
            for s in part.members(spec)
        ]
    for target, entry, port in client_targets(spec, part):
        what = {ENDPOINTS: "the interface VPC endpoints", EFS: "EFS (NFS)", DB: "the database"}[target]
        out.append(Edge(clients_key(part.group, target), entry, port, f"tasks of group {part.group} to {what}"))
    out += target_edges(spec, part)
    return sorted(out)


def sg_input(key: str) -> str:
    """The stack parameter that carries a security group created elsewhere."""
    return INPUT_OF.get(key) or naming.sg_output(key)


_LAST: list[tuple[Platform, list[Edge]]] = []


def edges(spec: Platform) -> list[Edge]:
    """Every SG-to-SG edge of the platform, sorted (remembered for the last spec asked about:
    every service group's stack reads them)."""
    if _LAST and _LAST[0][0] is spec:
        return list(_LAST[0][1])
    out = _edges(spec)
    _LAST[:] = [(spec, out)]
    return list(out)


def _edges(spec: Platform) -> list[Edge]:
    out: dict[tuple[str, str, int], Edge] = {}

    def add(e: Edge) -> None:
        key = (e.src, e.dst, e.port)
        if key not in out or e.why < out[key].why:
            out[key] = e

    for s in spec.services:
        for tg in s.target_groups:
            lb = lb_key(tg.load_balancer)
            add(
                Edge(
                    lb,
                    svc_key(s.name),
                    tg.container_port,
                    f"{tg.load_balancer} ALB to {s.name} (target group {tg.name})",
                )
            )
            if tg.health_check.port and tg.health_check.port != tg.container_port:
                add(
                    Edge(lb, svc_key(s.name), tg.health_check.port, f"{tg.load_balancer} ALB health checks of {s.name}")
                )
        for a in s.allow_from:
            for p in a.ports:
                add(Edge(svc_key(a.service), svc_key(s.name), p, f"{a.service} to {s.name}"))
    for balancer in spec.load_balancers:
        for caller in balancer.allow_from_services:
            for x in balancer.listeners:
                add(Edge(svc_key(caller), lb_key(balancer.name), x.port, f"{caller} to the {balancer.name} ALB"))
    if spec.database:
        port = spec.database.port
        entry = DB_PROXY if spec.database.proxy else DB
        for s in spec.db_clients():
            add(Edge(svc_key(s.name), entry, port, f"{s.name} to the database"))
        if spec.database.proxy:
            add(Edge(DB_PROXY, DB, port, "RDS Proxy to the Aurora cluster"))
    if spec.efs:
        for s in spec.efs_clients():
            add(Edge(svc_key(s.name), EFS, 2049, f"{s.name} mounts EFS (NFS)"))
    return sorted(out.values())


def lb_clients(spec: Platform, s: Service) -> list[str]:
    """Load balancers a service calls through their public address (from its environment)."""
    names: set[str] = set()
    for v in s.environment.values():
        for ph in PLACEHOLDER.findall(v):
            kind, _, rest = ph.partition(":")
            if kind == "lb":
                names.add(rest.split(":")[0])
    return sorted(names)


@remembered
def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    part = part or whole(spec)
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("VpcId")
    tasks = bool(part.members(spec))  # the tasks' egress rules read VpcCidr (DNS) and S3PrefixListId
    if tasks:
        i.takes("VpcCidr")
    if part.shared:
        if spec.uses_ingress_cidrs:
            i.takes("IngressCidrBlocks", "CommaDelimitedList", "CIDRs allowed to reach ports 80 and 443")
        for src in spec.ingress_sources:
            i.takes(
                src.name, "CommaDelimitedList", src.parameter_description(source_ports(spec.load_balancers, src.name))
            )
        if any(spec.lb_nat_rules(lb) for lb in spec.load_balancers):
            i.takes("NatPublicIps", "CommaDelimitedList")
    if tasks and "vpc-endpoints" in spec.network.modes:
        i.takes("S3PrefixListId", description="AWS-managed prefix list of com.amazonaws.<region>.s3")
    for s in part.members(spec):
        for ec in s.egress_cidrs:
            i.takes(ec.cidr_parameter, description=ec.description)
    own = set(groups(spec, part))
    for e in hosted(spec, part):
        for key in (e.src, e.dst):
            if key not in own:
                i.takes(sg_input(key), description="" if key in INPUT_OF else f"Security group of {key}")
    for g in groups(spec, part):
        i.gives(naming.sg_output(g), f"Security group of {g}")
    return i.freeze()


def _cidr_rule(proto: str, port: int, cidr: object, desc: str) -> ec2.SecurityGroupRule:
    return ec2.SecurityGroupRule(IpProtocol=proto, FromPort=port, ToPort=port, CidrIp=cidr, Description=desc)


@dataclass(frozen=True)
class EgressPlan:
    """A task group's CIDR egress: rules in every environment (inline), and rules that exist
    only in the environments that reach the internet (``nat``) or only use VPC endpoints
    (``endpoints``) when the egress mode differs by environment."""

    always: list[ec2.SecurityGroupRule]
    nat: list[ec2.SecurityGroupRule]
    endpoints: list[ec2.SecurityGroupRule]


def _egress_plan(st: Stack, spec: Platform, s: Service) -> EgressPlan:
    modes = spec.network.modes
    dns = [
        _cidr_rule("udp", 53, Ref("VpcCidr"), "DNS to the VPC resolver"),
        _cidr_rule("tcp", 53, Ref("VpcCidr"), "DNS over TCP to the VPC resolver"),
    ]
    own = [_cidr_rule(e.protocol, e.port, st.ref(e.cidr_parameter), e.description) for e in s.egress_cidrs]
    # Through the internet (a NAT or a public IP): AWS APIs, registries, and the public
    # addresses of the platform's load balancers the service calls; one rule per port (EC2
    # keeps one of two identical rules, and CloudFormation then drifts from the template).
    world = [_cidr_rule("tcp", 443, "0.0.0.0/0", "HTTPS to AWS APIs and registries through the NAT")]
    callers: dict[int, list[str]] = {}
    for lb_name in lb_clients(spec, s):
        for x in spec.load_balancer(lb_name).listeners:
            callers.setdefault(x.port, []).append(lb_name)
    lbs = [
        _cidr_rule("tcp", port, "0.0.0.0/0", f"{' and '.join(names)} ALB public address, port {port}")
        for port, names in sorted(callers.items())
        if port != 443
    ]
    if "vpc-endpoints" not in modes:
        return EgressPlan(dns + world + own + lbs, [], [])
    # Endpoints only: interface endpoints are reached through the endpoint SG rule; S3
    # layers go through the gateway endpoint, whose prefix list is a deploy-time input.
    prefix = [
        ec2.SecurityGroupRule(
            IpProtocol="tcp",
            FromPort=443,
            ToPort=443,
            DestinationPrefixListId=st.ref("S3PrefixListId"),
            Description="HTTPS to S3 (ECR image layers) through the gateway endpoint",
        )
    ]
    if modes == {"vpc-endpoints"}:
        # A service in a nat tier (network.tiers[].nat) also reaches the internet through its NAT.
        internet = world + lbs if spec.subnets_of(s) in spec.network.nat_tiers else []
        return EgressPlan(dns + prefix + own + internet, [], [])
    return EgressPlan(dns + own, world + lbs, prefix)


def _conditional_egress(
    st: Stack, group: ec2.SecurityGroup, owner: str, rules: list[ec2.SecurityGroupRule], cond: str | None
) -> None:
    """Egress rules that exist only under ``cond``, as separate resources with a literal Description."""
    for r in rules:
        p = r.properties
        dest = "s3-prefix-list" if "DestinationPrefixListId" in p else "internet"
        st.add(
            when(
                ec2.SecurityGroupEgress(
                    naming.logical(owner, "To", dest, str(p["FromPort"]), "Egress"),
                    GroupId=GetAtt(group, "GroupId"),
                    **p,
                ),
                cond,
            )
        )


def build(spec: Platform, part: Part | None = None) -> Template:
    part = part or whole(spec)
    st = Stack(part.stack(NAME), "security groups and the rules between them", interface(spec, part))
    sgs: dict[str, ec2.SecurityGroup] = {}
    # An inline placeholder rule replaces the default allow-all egress; real egress
    # to other groups is added by the separate SecurityGroupEgress resources below.
    nothing_out = [
        ec2.SecurityGroupRule(
            IpProtocol="-1", CidrIp="127.0.0.1/32", Description="No outbound traffic except the rules below"
        )
    ]

    sizes = {src.name: len(src.cidrs) for src in spec.ingress_sources}
    lbs = spec.load_balancers if part.shared else []
    for lb in lbs:
        ingress = []
        for src, port in lb.ingress():
            if src is None:
                ingress += [
                    _cidr_rule(
                        "tcp",
                        port,
                        Select(n, st.ref("IngressCidrBlocks")),
                        f"Clients (ingress CIDR {n + 1}) to listener {port}",
                    )
                    for n in range(len(spec.ingress_cidrs))
                ]
            else:
                ingress += [
                    _cidr_rule("tcp", port, Select(n, st.ref(src)), f"{src} CIDR {n + 1} to listener {port}")
                    for n in range(sizes[src])
                ]
        sgs[lb_key(lb.name)] = st.add(
            ec2.SecurityGroup(
                naming.logical(lb_key(lb.name), "SecurityGroup"),
                GroupDescription=f"{lb.name} load balancer",
                VpcId=st.ref("VpcId"),
                SecurityGroupIngress=ingress,
                SecurityGroupEgress=nothing_out,
                Tags=naming.tags(lb_key(lb.name)),
            )
        )
    for lb in lbs:
        if spec.lb_nat_rules(lb):
            # Tasks calling this ALB's public address arrive from the NAT gateways' IPs.
            for x in sorted(lb.listeners, key=lambda x: x.port):
                for k in range(spec.network.nat_count):
                    st.add(
                        ec2.SecurityGroupIngress(
                            naming.logical(lb_key(lb.name), "From", f"nat{k + 1}", str(x.port), "Ingress"),
                            GroupId=GetAtt(sgs[lb_key(lb.name)], "GroupId"),
                            IpProtocol="tcp",
                            FromPort=x.port,
                            ToPort=x.port,
                            CidrIp=Sub("${Ip}/32", Ip=Select(k, st.ref("NatPublicIps"))),
                            Description=f"Tasks through NAT gateway {k + 1} to listener {x.port}",
                        )
                    )
    nat_envs = [e for e in spec.environments if spec.network.mode(e) != "vpc-endpoints"]
    endpoint_envs = [e for e in spec.environments if spec.network.mode(e) == "vpc-endpoints"]
    for s in part.members(spec):
        plan = _egress_plan(st, spec, s)
        group = sgs[svc_key(s.name)] = st.add(
            ec2.SecurityGroup(
                naming.logical(svc_key(s.name), "SecurityGroup"),
                GroupDescription=f"{s.name} ECS tasks",
                VpcId=st.ref("VpcId"),
                SecurityGroupEgress=plan.always,
                Tags=naming.tags(svc_key(s.name)),
            )
        )
        if plan.nat:
            _conditional_egress(st, group, svc_key(s.name), plan.nat, env_condition(st, spec, nat_envs))
        if plan.endpoints:
            _conditional_egress(st, group, svc_key(s.name), plan.endpoints, env_condition(st, spec, endpoint_envs))
    own = groups(spec, part)
    for key, desc in ((DB, "Aurora cluster"), (DB_PROXY, "RDS Proxy"), (EFS, "EFS mount targets")):
        if key in own:
            sgs[key] = st.add(
                ec2.SecurityGroup(
                    naming.logical(key, "SecurityGroup"),
                    GroupDescription=desc,
                    VpcId=st.ref("VpcId"),
                    SecurityGroupEgress=nothing_out,
                    Tags=naming.tags(key),
                )
            )
    for key in sorted({e.dst for e in target_edges(spec, part)}):
        sgs[key] = st.add(
            ec2.SecurityGroup(
                naming.logical(key, "SecurityGroup"),
                GroupDescription=f"Tasks of service group {part.group} behind {key.removeprefix(part.group + '-')}",
                VpcId=st.ref("VpcId"),
                SecurityGroupEgress=nothing_out,
                Tags=naming.tags(key),
            )
        )
    for target, entry, _ in client_targets(spec, part):
        key = clients_key(part.group, target)
        sgs[key] = st.add(
            ec2.SecurityGroup(
                naming.logical(key, "SecurityGroup"),
                GroupDescription=f"Tasks of service group {part.group} that reach {entry}",
                VpcId=st.ref("VpcId"),
                SecurityGroupEgress=nothing_out,
                Tags=naming.tags(key),
            )
        )

    def group_id(key: str) -> object:
        return GetAtt(sgs[key], "GroupId") if key in sgs else st.ref(sg_input(key))

    for e in hosted(spec, part):
        src_id, dst_id = group_id(e.src), group_id(e.dst)
        if e.dst == ENDPOINTS and not part.clients:
            # The first group's endpoint rules, as a platform of one group has always had them.
            base = naming.logical(e.src, "To", "endpoints")
            st.add(
                ec2.SecurityGroupIngress(
                    base + "Ingress",
                    GroupId=dst_id,
                    SourceSecurityGroupId=src_id,
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    Description=e.why,
                )
            )
            st.add(
                ec2.SecurityGroupEgress(
                    base + "Egress",
                    GroupId=src_id,
                    DestinationSecurityGroupId=dst_id,
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    Description="HTTPS to the interface VPC endpoints",
                )
            )
            continue
        base = naming.logical(e.src, "To", e.dst, str(e.port))
        st.add(
            ec2.SecurityGroupIngress(
                base + "Ingress",
                GroupId=dst_id,
                SourceSecurityGroupId=src_id,
                IpProtocol="tcp",
                FromPort=e.port,
                ToPort=e.port,
                Description=e.why,
            )
        )
        st.add(
            ec2.SecurityGroupEgress(
                base + "Egress",
                GroupId=src_id,
                DestinationSecurityGroupId=dst_id,
                IpProtocol="tcp",
                FromPort=e.port,
                ToPort=e.port,
                Description=e.why,
            )
        )
    for key, sg in sgs.items():
        st.output(naming.sg_output(key), GetAtt(sg, "GroupId"))
    return st.t
