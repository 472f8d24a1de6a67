"""The architecture a template set deploys, read for the diagram: network tiers (subnets per
AZ and how each reaches the internet), load balancers and their listeners, tasks (ECS
services and scheduled tasks), data stores, VPC endpoints and NAT gateways, and who may
reach whom (security-group ingress rules, resolved across nested stacks).

A platform split into several root stacks (``generator.roots``) is read as its roots merged
into one hierarchy (``rootset.merge``: a parameter a root takes from an earlier root's output
is that output's value), so every root's boxes and arrows are in it; a task then also says
which root deploys it.

Everything is read from the templates with the parameters' defaults (``TemplateSet``);
a resource behind a condition is kept and labelled with it (the listeners of the two
domain stages both appear).  Nothing here knows a spec.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import Renderer
from generator.deployability import rootset
from generator.reach.network import Network

Key = tuple[str, str]
AZ_SUFFIX = re.compile(r"-az(\d+)$")
ANYWHERE = "anywhere"


@dataclass
class Tier:
    name: str
    subnets: list[tuple[str, str]] = field(default_factory=list)  # (az, cidr)
    egress: str = ""  # how the tier reaches the internet


@dataclass
class Node:
    """A box: ``kind`` is lb, task, database, proxy, efs, endpoints, nat, bucket, repository."""

    id: str
    kind: str
    title: str
    lines: list[str] = field(default_factory=list)
    tier: str | None = None  # the tier it sits in; None outside the VPC


@dataclass
class Architecture:
    name: str
    vpc_cidr: str
    tiers: list[Tier]
    nodes: list[Node]
    edges: dict[tuple[str, str], set[str]]  # (from node, to node) -> port labels
    ingress: dict[str, set[str]]  # node -> ports open to a CIDR (the internet or IngressCidrBlocks)


def _short(lid: str, suffix: str) -> str:
    """``RegistryService`` -> ``registry``, ``AccessLogBucket`` -> ``access-log``."""
    base = lid[: -len(suffix)] if lid.endswith(suffix) and lid != suffix else lid
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", base).lower()


def _ports(lo: int, hi: int, proto: str) -> str:
    if proto in ("-1", "all"):
        return "all traffic"
    text = str(lo) if lo == hi else f"{lo}-{hi}"
    return text if proto in ("tcp", "6") else f"{proto} {text}"


class Reader:
    def __init__(self, templates: dict[str, dict[str, Any]], name: str):
        roots = rootset.root_files(templates)
        # file -> the root whose operation deploys it, when there are several roots
        self.root_of = {f: r for r in roots for f in rootset.hierarchy(templates, r)} if len(roots) > 1 else {}
        self.ts = TemplateSet(rootset.merge(templates)[0])
        self.match = Renderer(
            self.ts,
            {
                "AWS::Region": "us-east-1",
                "AWS::AccountId": "123456789012",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
        )
        self.net = Network(self.ts, self.match)
        self.name = name
        self.subnet_tier: dict[Key, str] = {}
        self.sg_owner: dict[Key, list[str]] = {}
        self.nodes: list[Node] = []

    def origin_keys(self, file: str, node: Any) -> list[Key]:
        return [o.key for o in self.ts.items(file, node) if o.key is not None]

    def tier_of(self, file: str, subnets: Any) -> str | None:
        tiers = sorted({self.subnet_tier[k] for k in self.origin_keys(file, subnets) if k in self.subnet_tier})
        return tiers[0] if tiers else None

    def own(self, node_id: str, file: str, groups: Any) -> None:
        for key in self.origin_keys(file, groups):
            self.sg_owner.setdefault(key, []).append(node_id)

    def add(self, node: Node, file: str, groups: Any = None) -> None:
        self.nodes.append(node)
        if groups is not None:
            self.own(node.id, file, groups)

    # ---- network

    def tiers(self) -> list[Tier]:
        by_name: dict[str, Tier] = {}
        for f, lid, r in self.ts.resources("AWS::EC2::Subnet"):
            p = r.get("Properties") or {}
            tag = next((t.get("Value") for t in p.get("Tags") or [] if t.get("Key") == "stackgen:component"), None)
            m = AZ_SUFFIX.search(tag) if isinstance(tag, str) else None
            tier, az = (tag[: m.start()], f"az{m.group(1)}") if m and isinstance(tag, str) else (lid, "")
            self.subnet_tier[(f, lid)] = tier
            cidr = self.net.cidr(f, p.get("CidrBlock"))
            t = by_name.setdefault(tier, Tier(tier))
            t.subnets.append((az, str(cidr) if cidr else "?"))
            path = self.net.internet_path(Origin("resource", f, lid, "Ref"), public_ip=True)
            egress = {"nat": "internet via NAT gateway", "igw": "internet via internet gateway"}.get(
                path.kind, "no route to the internet"
            )
            if egress not in t.egress:
                t.egress = egress if not t.egress else f"{t.egress}; {egress}"
        for t in by_name.values():
            t.subnets.sort()
        # the tiers with an internet gateway first: they face the internet
        return sorted(by_name.values(), key=lambda t: ("internet gateway" not in t.egress, t.name))

    def vpc_cidr(self) -> str:
        for f, _lid, r in self.ts.resources("AWS::EC2::VPC"):
            cidr = self.net.cidr(f, (r.get("Properties") or {}).get("CidrBlock"))
            if cidr is not None:
                return str(cidr)
        return ""

    # ---- boxes

    def load_balancers(self) -> None:
        listeners: dict[Key, list[str]] = {}
        for f, _lid, r in self.ts.resources("AWS::ElasticLoadBalancingV2::Listener"):
            p = r.get("Properties") or {}
            lb = self.ts.origin(f, p.get("LoadBalancerArn")).key
            if lb is None:
                continue
            # A two-stage listener (generator/stacks/alb.py) is one resource whose protocol and default
            # action are Fn::If on a condition: one line per branch.
            stage = _stage_condition(p)
            stages = (
                [(p, r.get("Condition"))]
                if stage is None
                else [(_branch(p, stage, True), stage), (_branch(p, stage, False), f"not {stage}")]
            )
            for q, cond in stages:
                listeners.setdefault(lb, []).append(self._listener_line(f, q, cond))
        for f, lid, r in self.ts.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            p = r.get("Properties") or {}
            scheme = self.match(f, p.get("Scheme")) or "internet-facing"
            kind = self.match(f, p.get("Type")) or "application"
            title = f"{_short(lid, 'LoadBalancer')} load balancer"
            lines = [f"{kind}, {scheme}", *sorted(listeners.get((f, lid), []), key=_listener_order)]
            self.add(
                Node(f"lb_{lid}", "lb", title, lines, self.tier_of(f, p.get("Subnets"))), f, p.get("SecurityGroups")
            )

    def _listener_line(self, f: str, p: dict[str, Any], cond: str | None) -> str:
        port, proto = self.match(f, p.get("Port")) or "?", self.match(f, p.get("Protocol")) or "?"
        action = ""
        for a in p.get("DefaultActions") or []:
            kind = a.get("Type")
            if kind == "redirect":
                rc = a.get("RedirectConfig") or {}
                action = f"redirect to {self.match(f, rc.get('Protocol')) or ''} {self.match(f, rc.get('Port')) or ''}"
            elif kind == "forward":
                tg = self.ts.origin(f, a.get("TargetGroupArn"))
                action = f"forward to {_short(tg.name, 'TargetGroup')}" if tg.kind == "resource" else "forward"
            elif kind == "fixed-response":
                action = "fixed response"
        return f"{port} {proto}: {action.strip()}" + (f" (if {cond})" if cond else "")

    def tasks(self) -> None:
        for f, lid, r in self.ts.resources("AWS::ECS::Service"):
            p = r.get("Properties") or {}
            net = (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
            ports = sorted(
                {
                    str(lb.get("ContainerPort"))
                    for lb in p.get("LoadBalancers") or []
                    if isinstance(lb, dict) and lb.get("ContainerPort") is not None
                }
            )
            cluster = self.ts.origin(f, p.get("Cluster")).name if "Cluster" in p else ""
            lines = [f"ECS service, cluster {_short(cluster, 'Cluster')}" if cluster else "ECS service"]
            count = self.match(f, p.get("DesiredCount"))
            if count:
                lines.append(f"desired {count} task(s)")
            if ports:
                lines.append(f"target port {', '.join(ports)}")
            if self.root_of:
                lines.append(f"root {self.root_of.get(f, '?')}")
            self.add(
                Node(f"task_{lid}", "task", _short(lid, "Service"), lines, self.tier_of(f, net.get("Subnets"))),
                f,
                net.get("SecurityGroups"),
            )
        for rtype, target in (("AWS::Scheduler::Schedule", "Target"), ("AWS::Events::Rule", "Targets")):
            for f, lid, r in self.ts.resources(rtype):
                p = r.get("Properties") or {}
                targets = p.get(target)
                for t in targets if isinstance(targets, list) else [targets]:
                    ep = (t or {}).get("EcsParameters") if isinstance(t, dict) else None
                    if not ep:
                        continue
                    net = (ep.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
                    when = self.match(f, p.get("ScheduleExpression")) or ""
                    self.add(
                        Node(
                            f"task_{lid}",
                            "task",
                            _short(_short(lid, "Schedule"), "Rule"),
                            ["scheduled ECS task", when],
                            self.tier_of(f, net.get("Subnets")),
                        ),
                        f,
                        net.get("SecurityGroups"),
                    )

    def data_stores(self) -> None:
        for f, lid, r in self.ts.resources("AWS::RDS::DBCluster"):
            p = r.get("Properties") or {}
            group = self.ts.origin(f, p.get("DBSubnetGroupName"))
            subnets = (
                ((self.ts.resource(group.file, group.name) or {}).get("Properties") or {}).get("SubnetIds")
                if group.kind == "resource"
                else None
            )
            engine = self.match(f, p.get("Engine")) or "?"
            scaling = p.get("ServerlessV2ScalingConfiguration")
            lines = [f"Aurora {engine}", f"port {self.match(f, p.get('Port')) or 'default'}"]
            if scaling:
                lines.append(
                    f"Serverless v2, {self.match(f, scaling.get('MinCapacity'))}-"
                    f"{self.match(f, scaling.get('MaxCapacity'))} ACU"
                )
            self.add(
                Node(
                    f"db_{lid}",
                    "database",
                    _short(lid, "Cluster") + " cluster",
                    lines,
                    self.tier_of(group.file, subnets) if subnets else None,
                ),
                f,
                p.get("VpcSecurityGroupIds"),
            )
        for f, lid, r in self.ts.resources("AWS::RDS::DBProxy"):
            p = r.get("Properties") or {}
            tls = self.match(f, p.get("RequireTLS")) == "true"
            lines = [
                f"RDS Proxy ({self.match(f, p.get('EngineFamily')) or '?'})",
                "TLS required" if tls else "TLS optional",
            ]
            self.add(
                Node(
                    f"proxy_{lid}",
                    "proxy",
                    _short(lid, "Proxy") + " proxy",
                    lines,
                    self.tier_of(f, p.get("VpcSubnetIds")),
                ),
                f,
                p.get("VpcSecurityGroupIds"),
            )
        mounts: dict[Key, list[tuple[str, dict[str, Any]]]] = {}
        for f, _lid, r in self.ts.resources("AWS::EFS::MountTarget"):
            p = r.get("Properties") or {}
            fs = self.ts.origin(f, p.get("FileSystemId")).key
            if fs is not None:
                mounts.setdefault(fs, []).append((f, p))
        for f, lid, _r in self.ts.resources("AWS::EFS::FileSystem"):
            mts = mounts.get((f, lid), [])
            points = sum(
                1
                for _f, _l, ap in self.ts.resources("AWS::EFS::AccessPoint")
                if self.ts.origin(_f, (ap.get("Properties") or {}).get("FileSystemId")).key == (f, lid)
            )
            node = Node(
                f"efs_{lid}",
                "efs",
                _short(lid, "FileSystem") + " file system",
                ["EFS, encrypted", f"{len(mts)} mount targets, {points} access points"],
                self.tier_of(mts[0][0], [mt[1].get("SubnetId") for mt in mts]) if mts else None,
            )
            self.add(node, f)
            for mf, mp in mts:
                self.own(node.id, mf, mp.get("SecurityGroups"))
        for f, lid, _r in self.ts.resources("AWS::S3::Bucket"):
            self.add(Node(f"bucket_{lid}", "bucket", _short(lid, "Bucket") + " bucket", ["S3 bucket"]), f)
        for f, lid, _r in self.ts.resources("AWS::ECR::Repository"):
            self.add(
                Node(f"repo_{lid}", "repository", _short(lid, "Repository") + " repository", ["ECR repository"]), f
            )

    def egress_boxes(self) -> None:
        by_tier: dict[tuple[str | None, str], list[str]] = {}
        groups: dict[str | None, list[tuple[str, Any]]] = {}
        for f, _lid, r in self.ts.resources("AWS::EC2::VPCEndpoint"):
            p = r.get("Properties") or {}
            service = (self.match(f, p.get("ServiceName")) or "?").rsplit(".", 1)[-1]
            full = (self.match(f, p.get("ServiceName")) or "").split(".")
            service = ".".join(full[3:]) if len(full) > 3 else service
            kind = self.match(f, p.get("VpcEndpointType")) or "Gateway"
            tier = self.tier_of(f, p.get("SubnetIds")) if kind == "Interface" else None
            by_tier.setdefault((tier, kind), []).append(service)
            if kind == "Interface":
                groups.setdefault(tier, []).append((f, p.get("SecurityGroupIds")))
        for (tier, kind), services in sorted(by_tier.items(), key=lambda x: (str(x[0][0]), x[0][1])):
            ident = f"endpoints_{kind}_{tier or 'vpc'}"
            title = "VPC interface endpoints" if kind == "Interface" else "VPC gateway endpoints"
            node = Node(ident, "endpoints", title, _wrap(sorted(services)), tier)
            self.add(node, "")
            for f, sgs in groups.get(tier, []) if kind == "Interface" else []:
                self.own(ident, f, sgs)
        nats = [(f, lid, r) for f, lid, r in self.ts.resources("AWS::EC2::NatGateway")]
        tiers = sorted({self.tier_of(f, [(r.get("Properties") or {}).get("SubnetId")]) or "" for f, _l, r in nats})
        for tier in tiers:
            count = sum(
                1 for f, _l, r in nats if (self.tier_of(f, [(r.get("Properties") or {}).get("SubnetId")]) or "") == tier
            )
            self.add(
                Node(
                    f"nat_{tier or 'vpc'}",
                    "nat",
                    "NAT gateways" if count > 1 else "NAT gateway",
                    [f"{count} (one per AZ)" if count > 1 else "1, shared by every AZ"],
                    tier or None,
                ),
                "",
            )

    # ---- who may reach whom

    def edges(self) -> tuple[dict[tuple[str, str], set[str]], dict[str, set[str]]]:
        edges: dict[tuple[str, str], set[str]] = {}
        open_to: dict[str, set[str]] = {}
        for sg, owners in sorted(self.sg_owner.items()):
            for rule in self.net.rules(sg, egress=False):
                ports = _ports(rule.lo, rule.hi, rule.proto)
                if rule.sg is not None:
                    for src in self.sg_owner.get(rule.sg, []):
                        for dst in owners:
                            if src != dst:
                                edges.setdefault((src, dst), set()).add(ports)
                elif rule.cidr is not None or rule.prefix_list is None:
                    for dst in owners:
                        cidr = rule.cidr
                        label = ANYWHERE if cidr == ipaddress.IPv4Network("0.0.0.0/0") or cidr is None else str(cidr)
                        if label == ANYWHERE or (cidr is not None and not cidr.is_private):
                            open_to.setdefault(dst, set()).add(ports)
        self.fold_endpoint_edges(edges)
        return edges, open_to

    def fold_endpoint_edges(self, edges: dict[tuple[str, str], set[str]]) -> None:
        """Arrows into an endpoints box become a line in it (every task reaches them: a
        fan of identical arrows would hide the arrows that differ)."""
        tasks = {n.id for n in self.nodes if n.kind == "task"}
        titles = {n.id: n.title for n in self.nodes}
        for n in self.nodes:
            if n.kind != "endpoints":
                continue
            by_ports: dict[str, list[str]] = {}
            for src, dst in sorted(edges):
                if dst == n.id:
                    for ports in edges.pop((src, dst)):
                        by_ports.setdefault(ports, []).append(src)
            for ports, sources in sorted(by_ports.items()):
                who = (
                    "every task"
                    if set(sources) >= tasks and len(tasks) > 1
                    else ", ".join(sorted(titles[s] for s in sources))
                )
                n.lines += _wrap([f"{ports} from {who}"], 48)


def _stage_condition(props: dict[str, Any]) -> str | None:
    """The condition of an Fn::If that chooses a listener's Protocol or DefaultActions, if any."""
    for key in ("Protocol", "DefaultActions"):
        node = props.get(key)
        if isinstance(node, dict) and isinstance(node.get("Fn::If"), list) and node["Fn::If"]:
            return str(node["Fn::If"][0])
    return None


def _branch(node: Any, cond: str, value: bool) -> Any:
    """``node`` with every Fn::If on ``cond`` replaced by its branch for ``value``."""
    if (
        isinstance(node, dict)
        and isinstance(node.get("Fn::If"), list)
        and len(node["Fn::If"]) == 3
        and node["Fn::If"][0] == cond
    ):
        return _branch(node["Fn::If"][1 if value else 2], cond, value)
    if isinstance(node, dict):
        return {k: _branch(v, cond, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_branch(v, cond, value) for v in node]
    return node


def _listener_order(text: str) -> tuple[int, str]:
    head = text.split(" ", 1)[0]
    return (int(head) if head.isdigit() else 0, text)


def _wrap(items: list[str], width: int = 40) -> list[str]:
    lines, line = [], ""
    for item in items:
        piece = item if not line else f"{line}, {item}"
        if len(piece) > width and line:
            lines.append(line + ",")
            line = item
        else:
            line = piece
    return lines + ([line] if line else [])


def read(templates: dict[str, dict[str, Any]], name: str) -> Architecture:
    r = Reader(templates, name)
    tiers = r.tiers()
    r.load_balancers()
    r.tasks()
    r.data_stores()
    r.egress_boxes()
    edges, open_to = r.edges()
    return Architecture(name, r.vpc_cidr(), tiers, r.nodes, edges, open_to)
