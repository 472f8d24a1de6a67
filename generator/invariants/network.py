"""Invariants of the network: security-group ingress, private services, HTTPS listeners
and the data paths (seeds/003 Property 10 and the project's 15, 18 and 19)."""

from __future__ import annotations

from typing import Any

from generator.cfn.facts import TLS_POLICIES
from generator.cfn.refs import sub_parts
from generator.cfn.templateset import Origin, TemplateSet
from generator.invariants.base import invariant, secret_identity, secrets_read, services, task_of, td_containers
from generator.reach.tasks import TaskReader


# 10 -----------------------------------------------------------------------------------
def _sg_usage(ts: TemplateSet) -> dict[tuple[str, str], set[str]]:
    """Security group (file, lid) -> roles: 'task', 'alb', 'other'."""
    roles: dict[tuple[str, str], set[str]] = {}
    for f, _, r in services(ts):
        cfg = r["Properties"].get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        for o in ts.origins(f, cfg.get("SecurityGroups", [])):
            roles.setdefault((o.file, o.name), set()).add("task")
    for f, _, r in ts.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        for o in ts.origins(f, r["Properties"].get("SecurityGroups", [])):
            roles.setdefault((o.file, o.name), set()).add("alb")
    return roles


def _ingress_rules(ts: TemplateSet) -> list[tuple[tuple[str, str], dict[str, Any], str, str]]:
    """(target SG, rule, file the rule is written in, where) for inline and standalone ingress rules."""
    out = []
    for f, lid, r in ts.resources("AWS::EC2::SecurityGroup"):
        for rule in r.get("Properties", {}).get("SecurityGroupIngress", []):
            out.append(((f, lid), rule, f, f"{f}:{lid}"))
    for f, lid, r in ts.resources("AWS::EC2::SecurityGroupIngress"):
        o = ts.origin(f, r["Properties"].get("GroupId"))
        out.append(((o.file, o.name), r["Properties"], f, f"{f}:{lid}"))
    return out


@invariant
def security_group_ingress(ts: TemplateSet) -> list[str]:
    """Property 10: task SGs admit no CIDR; only ALB SGs admit 0.0.0.0/0 and then only on
    80/443 (literal CIDRs; parameter-fed CIDRs are allowed on ALB SGs only); every ingress
    port is one the target listens on."""
    v = []
    roles = _sg_usage(ts)
    listens = _listening_ports(ts)
    for target, rule, rf, where in _ingress_rules(ts):
        role = roles.get(target, set())
        cidr = rule.get("CidrIp") if "CidrIp" in rule else rule.get("CidrIpv6")
        port = rule.get("FromPort")
        if cidr is not None:
            literal = ts.literal(rf, cidr) if not isinstance(cidr, str) else cidr
            if "task" in role:
                v.append(f"{where}: task security group {target[1]} admits CIDR {literal or cidr}")
            elif literal in ("0.0.0.0/0", "::/0") and not ("alb" in role and port in (80, 443)):
                v.append(f"{where}: {target[1]} admits {literal} on port {port}")
            elif not isinstance(cidr, str) and "alb" not in role and literal is None:
                v.append(f"{where}: {target[1]} admits a parameter-fed CIDR")
        if rule.get("FromPort") != rule.get("ToPort"):
            v.append(f"{where}: {target[1]} admits a port range {rule.get('FromPort')}-{rule.get('ToPort')}")
        ports = listens.get(target)
        if ports is not None and port not in ports:
            v.append(f"{where}: {target[1]} admits port {port}, but its targets listen on {sorted(ports)}")
    return v


def _listening_ports(ts: TemplateSet) -> dict[tuple[str, str], set[int]]:
    """SG -> the ports its members listen on (containers, ALB listeners, DB, EFS, endpoints)."""
    out: dict[tuple[str, str], set[int]] = {}

    def add(f: str, sgs: Any, ports: set[int]) -> None:
        for o in ts.origins(f, sgs):
            out.setdefault((o.file, o.name), set()).update(ports)

    for f, _, r in services(ts):
        task = task_of(ts, f, r)
        if task:
            ports = {m["ContainerPort"] for c in td_containers(task[2]) for m in c.get("PortMappings", [])}
            add(f, r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"], ports)
    for f, lid, r in ts.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        ports = {
            lr["Properties"]["Port"]
            for lf, _, lr in ts.resources("AWS::ElasticLoadBalancingV2::Listener")
            if ts.origin(lf, lr["Properties"]["LoadBalancerArn"]) == Origin("resource", f, lid, "Ref")
        }
        add(f, r["Properties"]["SecurityGroups"], ports)
    for f, _, r in ts.resources("AWS::RDS::DBCluster"):
        add(f, r["Properties"].get("VpcSecurityGroupIds", []), {int(r["Properties"].get("Port", 3306))})
    for f, _, r in ts.resources("AWS::RDS::DBProxy"):
        port = 3306 if r["Properties"].get("EngineFamily") == "MYSQL" else 5432
        add(f, r["Properties"].get("VpcSecurityGroupIds", []), {port})
    for f, _, r in ts.resources("AWS::EFS::MountTarget"):
        add(f, r["Properties"].get("SecurityGroups", []), {2049})
    for f, _, r in ts.resources("AWS::EC2::VPCEndpoint"):
        if r["Properties"].get("VpcEndpointType") == "Interface":
            add(f, r["Properties"].get("SecurityGroupIds", []), {443})
    return out


# 15 -----------------------------------------------------------------------------------
@invariant
def private_services(ts: TemplateSet, allow_public_ip: bool = False) -> list[str]:
    """No public IP; tasks in subnets without an internet-gateway route; circuit breaker with rollback."""
    v = []

    def key(f: str, node: Any) -> tuple[str, str]:
        o = ts.origin(f, node)
        return (o.file, o.name)

    public_rts = {
        key(f, r["Properties"]["RouteTableId"])
        for f, _, r in ts.resources("AWS::EC2::Route")
        if "GatewayId" in r["Properties"]
    }
    public_subnets = {
        key(f, a["Properties"]["SubnetId"])
        for f, _, a in ts.resources("AWS::EC2::SubnetRouteTableAssociation")
        if key(f, a["Properties"]["RouteTableId"]) in public_rts
    }
    for f, lid, r in services(ts):
        p = r["Properties"]
        cfg = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        if not allow_public_ip:
            if cfg.get("AssignPublicIp") != "DISABLED":
                v.append(f"{f}:{lid}: AssignPublicIp is {cfg.get('AssignPublicIp')}, not DISABLED")
            for o in ts.list_origins(f, cfg.get("Subnets")):
                if (o.file, o.name) in public_subnets:
                    v.append(f"{f}:{lid}: runs in public subnet {o.name}")
        cb = (p.get("DeploymentConfiguration") or {}).get("DeploymentCircuitBreaker") or {}
        if cb.get("Enable") is not True or cb.get("Rollback") is not True:
            v.append(f"{f}:{lid}: no deployment circuit breaker with rollback")
    return v


# 18 -----------------------------------------------------------------------------------
@invariant
def listener_tls(ts: TemplateSet) -> list[str]:
    """HTTPS listeners use an allow-listed TLS 1.2+ policy; with a domain, every HTTP
    listener redirects to HTTPS. Evaluated with HasDomain true."""
    v = []
    dom = TemplateSet(ts.t, {"HasDomain": True})
    has_domain = "HasDomain" in ts.parent.get("Conditions", {})
    for f, lid, r in dom.resources("AWS::ElasticLoadBalancingV2::Listener"):
        if r.get("Condition") and not dom.condition(f, r["Condition"]):
            continue
        p = r["Properties"]
        proto = dom.branch(f, p.get("Protocol"))
        if proto == "HTTPS" or p.get("Port") == 443:
            policy = dom.branch(f, p.get("SslPolicy"))
            if policy not in TLS_POLICIES:
                v.append(f"{f}:{lid}: HTTPS listener policy {policy} is not in the TLS 1.2+ allow-list")
        elif has_domain:
            actions = dom.branch(f, p.get("DefaultActions"))
            ok = (
                isinstance(actions, list)
                and actions
                and actions[0].get("Type") == "redirect"
                and actions[0].get("RedirectConfig", {}).get("Protocol") == "HTTPS"
            )
            if not ok:
                v.append(f"{f}:{lid}: HTTP listener on port {p.get('Port')} does not redirect to HTTPS")
    return v


# 19 -----------------------------------------------------------------------------------
@invariant
def data_reachability(ts: TemplateSet) -> list[str]:
    """Services that mount EFS reach the EFS SG on 2049; services with a database secret
    reach the database (or its proxy) SG on its port. Derived from the SG rules."""
    v = []
    allowed = _sg_edges(ts)
    efs_sgs = {
        (o.file, o.name)
        for f, _, r in ts.resources("AWS::EFS::MountTarget")
        for o in ts.origins(f, r["Properties"].get("SecurityGroups", []))
    }
    db_entry: dict[tuple[str, str], int] = {}
    for f, _, r in ts.resources("AWS::RDS::DBProxy"):
        port = 3306 if r["Properties"].get("EngineFamily") == "MYSQL" else 5432
        for o in ts.origins(f, r["Properties"].get("VpcSecurityGroupIds", [])):
            db_entry[(o.file, o.name)] = port
    if not db_entry:
        for f, _, r in ts.resources("AWS::RDS::DBCluster"):
            for o in ts.origins(f, r["Properties"].get("VpcSecurityGroupIds", [])):
                db_entry[(o.file, o.name)] = int(r["Properties"].get("Port", 3306))
    reader = TaskReader(ts)
    db_secrets = {
        secret_identity(reader, f, x)
        for f, _, r in ts.resources("AWS::RDS::DBCluster")
        for x in _sub_values(r["Properties"].get("MasterUserPassword"))
    }
    for f, lid, r in services(ts):
        task = task_of(ts, f, r)
        if not task:
            continue
        sgs = [
            (o.file, o.name)
            for o in ts.origins(f, r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"])
        ]
        if task[2]["Properties"].get("Volumes") and any(
            vol.get("EFSVolumeConfiguration") for vol in task[2]["Properties"]["Volumes"]
        ):
            if not any((s, e, 2049) in allowed for s in sgs for e in efs_sgs):
                v.append(f"{f}:{lid}: mounts EFS but no security group rule lets it reach the EFS SG on 2049")
        uses_db = bool(set(secrets_read(reader, task[0], task[1])) & db_secrets)
        if uses_db and not any((s, e, port) in allowed for s in sgs for e, port in db_entry.items()):
            v.append(f"{f}:{lid}: reads the database secret but cannot reach the database SG")
    return v


def _sub_values(node: Any) -> list[Any]:
    """Variables of a Sub (for dynamic references), else the node."""
    if isinstance(node, dict) and "Fn::Sub" in node:
        return list(sub_parts(node)[1].values())
    return [node] if node is not None else []


def _sg_edges(ts: TemplateSet) -> set[tuple[tuple[str, str], tuple[str, str], int]]:
    """(source SG, destination SG, port) allowed by BOTH the source egress and the destination ingress."""
    ingress = set()
    for target, rule, f, _ in _ingress_rules(ts):
        if "SourceSecurityGroupId" in rule:
            src = ts.origin(f, rule["SourceSecurityGroupId"])
            for p in range(int(rule.get("FromPort", 0)), int(rule.get("ToPort", 0)) + 1):
                ingress.add(((src.file, src.name), target, p))
    egress = set()
    for f, _lid, r in ts.resources("AWS::EC2::SecurityGroupEgress"):
        p = r["Properties"]
        if "DestinationSecurityGroupId" in p:
            src, dst = ts.origin(f, p["GroupId"]), ts.origin(f, p["DestinationSecurityGroupId"])
            for port in range(int(p.get("FromPort", 0)), int(p.get("ToPort", 0)) + 1):
                egress.add(((src.file, src.name), (dst.file, dst.name), port))
    return ingress & egress
