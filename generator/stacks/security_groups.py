"""security-groups: one security group per load balancer, per ECS service and per
data store, with every rule derived from the spec's reachability and described.

SG-to-SG rules are separate Ingress/Egress resources (mutual references between
groups would otherwise form a cycle); CIDR rules are inline.  No task security
group admits a CIDR.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import GetAtt, If, Ref, Select, Sub, Template, ec2

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import PLACEHOLDER, Platform, Service
from generator.stacks._base import Stack, env_condition

NAME = "security-groups"
DB = "database"
DB_PROXY = "database-proxy"
EFS = "file-system"


def applies(spec: Platform) -> bool:
    return True


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


def groups(spec: Platform) -> list[str]:
    out = [lb_key(lb.name) for lb in spec.load_balancers] + [svc_key(s.name) for s in spec.services]
    if spec.database:
        out.append(DB)
        if spec.database.proxy:
            out.append(DB_PROXY)
    if spec.efs:
        out.append(EFS)
    return out


def edges(spec: Platform) -> list[Edge]:
    """Every SG-to-SG edge of the platform, sorted."""
    out: dict[tuple[str, str, int], Edge] = {}

    def add(e: Edge) -> None:
        key = (e.src, e.dst, e.port)
        if key not in out or e.why < out[key].why:
            out[key] = e

    for s in spec.services:
        for tg in s.target_groups:
            lb = lb_key(tg.load_balancer)
            add(Edge(lb, svc_key(s.name), tg.container_port, f"{tg.load_balancer} ALB to {s.name} (target group {tg.name})"))
            if tg.health_check.port and tg.health_check.port != tg.container_port:
                add(Edge(lb, svc_key(s.name), tg.health_check.port, f"{tg.load_balancer} ALB health checks of {s.name}"))
        for a in s.allow_from:
            for p in a.ports:
                add(Edge(svc_key(a.service), svc_key(s.name), p, f"{a.service} to {s.name}"))
    for lb in spec.load_balancers:
        for src in lb.allow_from_services:
            for x in lb.listeners:
                add(Edge(svc_key(src), lb_key(lb.name), x.port, f"{src} to the {lb.name} ALB"))
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


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("VpcId")
    i.takes("VpcCidr")
    i.takes("EndpointSecurityGroupId")
    if spec.load_balancers:
        i.takes("IngressCidrBlocks", "CommaDelimitedList", "CIDRs allowed to reach the load balancers")
    if any(lb.allow_from_nat for lb in spec.load_balancers) and spec.network.nat_count \
            and not spec.network.egress_by_environment:
        i.takes("NatPublicIps", "CommaDelimitedList")
    if "vpc-endpoints" in spec.network.modes:
        i.takes("S3PrefixListId", description="AWS-managed prefix list of com.amazonaws.<region>.s3")
    for s in spec.services:
        for e in s.egress_cidrs:
            i.takes(e.cidr_parameter, description=e.description)
    for g in groups(spec):
        i.gives(naming.sg_output(g), f"Security group of {g}")
    return i.freeze()


def _cidr_rule(proto: str, port: int, cidr: object, desc: str) -> ec2.SecurityGroupRule:
    return ec2.SecurityGroupRule(IpProtocol=proto, FromPort=port, ToPort=port, CidrIp=cidr, Description=desc)


def _egress_cidr(st: Stack, spec: Platform, s: Service, nat_cond: str | None) -> list[object]:
    rules: list[object] = [
        _cidr_rule("udp", 53, Ref("VpcCidr"), "DNS to the VPC resolver"),
        _cidr_rule("tcp", 53, Ref("VpcCidr"), "DNS over TCP to the VPC resolver"),
    ]
    world = _cidr_rule("tcp", 443, "0.0.0.0/0", "HTTPS to AWS APIs and registries through the NAT")
    if "vpc-endpoints" in spec.network.modes:
        # Endpoints only: interface endpoints are reached through the endpoint SG rule; S3
        # layers go through the gateway endpoint, whose prefix list is a deploy-time input.
        prefix = ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=443, ToPort=443,
                                       DestinationPrefixListId=st.ref("S3PrefixListId"),
                                       Description="HTTPS to S3 (ECR image layers) through the gateway endpoint")
        rules.append(If(nat_cond, world, prefix) if nat_cond else prefix)
    else:
        rules.append(world)
    for e in s.egress_cidrs:
        rules.append(_cidr_rule(e.protocol, e.port, st.ref(e.cidr_parameter), e.description))
    if spec.network.egress != "vpc-endpoints":
        for lb_name in lb_clients(spec, s):
            for x in spec.load_balancer(lb_name).listeners:
                if x.port != 443:
                    rules.append(_cidr_rule("tcp", x.port, "0.0.0.0/0", f"{lb_name} ALB public address, port {x.port}"))
    return rules


def build(spec: Platform) -> Template:
    st = Stack(NAME, "security groups and the rules between them", interface(spec))
    nat_envs = [e for e in spec.environments if spec.network.mode(e) != "vpc-endpoints"]
    nat_cond = env_condition(st, spec, nat_envs) if nat_envs and "vpc-endpoints" in spec.network.modes else None
    sgs: dict[str, ec2.SecurityGroup] = {}
    # An inline placeholder rule replaces the default allow-all egress; real egress
    # to other groups is added by the separate SecurityGroupEgress resources below.
    nothing_out = [ec2.SecurityGroupRule(IpProtocol="-1", CidrIp="127.0.0.1/32",
                                         Description="No outbound traffic except the rules below")]

    for lb in spec.load_balancers:
        ingress = []
        for x in sorted(lb.listeners, key=lambda x: x.port):
            for n in range(len(spec.ingress_cidrs)):
                ingress.append(_cidr_rule("tcp", x.port, Select(n, st.ref("IngressCidrBlocks")),
                                          f"Clients (ingress CIDR {n + 1}) to listener {x.port}"))
        sgs[lb_key(lb.name)] = st.add(ec2.SecurityGroup(
            naming.logical(lb_key(lb.name), "SecurityGroup"),
            GroupDescription=f"{lb.name} load balancer",
            VpcId=st.ref("VpcId"),
            SecurityGroupIngress=ingress,
            SecurityGroupEgress=nothing_out,
            Tags=naming.tags(lb_key(lb.name)),
        ))
    for lb in spec.load_balancers:
        if lb.allow_from_nat and "NatPublicIps" in st.iface.input_names:
            # Tasks calling this ALB's public address arrive from the NAT gateways' IPs.
            for x in sorted(lb.listeners, key=lambda x: x.port):
                for k in range(spec.network.nat_count):
                    st.add(ec2.SecurityGroupIngress(
                        naming.logical(lb_key(lb.name), "From", f"nat{k + 1}", str(x.port), "Ingress"),
                        GroupId=GetAtt(sgs[lb_key(lb.name)], "GroupId"), IpProtocol="tcp",
                        FromPort=x.port, ToPort=x.port,
                        CidrIp=Sub("${Ip}/32", Ip=Select(k, st.ref("NatPublicIps"))),
                        Description=f"Tasks through NAT gateway {k + 1} to listener {x.port}"))
    for s in spec.services:
        sgs[svc_key(s.name)] = st.add(ec2.SecurityGroup(
            naming.logical(svc_key(s.name), "SecurityGroup"),
            GroupDescription=f"{s.name} ECS tasks",
            VpcId=st.ref("VpcId"),
            SecurityGroupEgress=_egress_cidr(st, spec, s, nat_cond),
            Tags=naming.tags(svc_key(s.name)),
        ))
    for key, desc in ((DB, "Aurora cluster"), (DB_PROXY, "RDS Proxy"), (EFS, "EFS mount targets")):
        if key in groups(spec):
            sgs[key] = st.add(ec2.SecurityGroup(
                naming.logical(key, "SecurityGroup"),
                GroupDescription=desc,
                VpcId=st.ref("VpcId"),
                SecurityGroupEgress=nothing_out,
                Tags=naming.tags(key),
            ))

    for e in edges(spec):
        src, dst = GetAtt(sgs[e.src], "GroupId"), GetAtt(sgs[e.dst], "GroupId")
        base = naming.logical(e.src, "To", e.dst, str(e.port))
        st.add(ec2.SecurityGroupIngress(base + "Ingress", GroupId=dst, SourceSecurityGroupId=src,
                                        IpProtocol="tcp", FromPort=e.port, ToPort=e.port, Description=e.why))
        st.add(ec2.SecurityGroupEgress(base + "Egress", GroupId=src, DestinationSecurityGroupId=dst,
                                       IpProtocol="tcp", FromPort=e.port, ToPort=e.port, Description=e.why))
    for s in spec.services:
        g = GetAtt(sgs[svc_key(s.name)], "GroupId")
        base = naming.logical(svc_key(s.name), "To", "endpoints")
        st.add(ec2.SecurityGroupIngress(base + "Ingress", GroupId=st.ref("EndpointSecurityGroupId"),
                                        SourceSecurityGroupId=g, IpProtocol="tcp", FromPort=443, ToPort=443,
                                        Description=f"{s.name} tasks to the interface VPC endpoints"))
        st.add(ec2.SecurityGroupEgress(base + "Egress", GroupId=g,
                                       DestinationSecurityGroupId=st.ref("EndpointSecurityGroupId"),
                                       IpProtocol="tcp", FromPort=443, ToPort=443,
                                       Description="HTTPS to the interface VPC endpoints"))
    for key, sg in sgs.items():
        st.output(naming.sg_output(key), GetAtt(sg, "GroupId"))
    return st.t
