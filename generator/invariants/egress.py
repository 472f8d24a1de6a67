"""Invariants of the network shapes (issue 12): data stores stay out of public subnets (a
platform whose tasks use public-ip egress without a private tier has no database or EFS), and
every endpoint-only task has no route to the internet (a vpc-endpoints platform's nat tiers
route only the services placed in them).  Both read the templates only."""

from __future__ import annotations

from typing import Any

from generator.cfn.templateset import Origin, TemplateSet
from generator.invariants.base import invariant
from generator.reach.isolation import isolation_problems
from generator.reach.network import Network
from generator.reach.tasks import TaskReader


def _igw_subnets(ts: TemplateSet) -> set[tuple[str, str]]:
    """Subnets whose route table sends 0.0.0.0/0 to an internet gateway (public subnets)."""

    def key(f: str, node: Any) -> tuple[str, str]:
        o = ts.origin(f, node)
        return (o.file, o.name)

    public_rts = {
        key(f, r["Properties"]["RouteTableId"])
        for f, _, r in ts.resources("AWS::EC2::Route")
        if "GatewayId" in r["Properties"] and r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    }
    return {
        key(f, a["Properties"]["SubnetId"])
        for f, _, a in ts.resources("AWS::EC2::SubnetRouteTableAssociation")
        if key(f, a["Properties"]["RouteTableId"]) in public_rts
    }


def _subnet(ts: TemplateSet, f: str, node: Any) -> Origin:
    """The origin of one subnet, also when it is ``Fn::Select`` of a list the parent feeds."""
    node = ts.branch(f, node)
    if isinstance(node, dict) and "Fn::Select" in node and isinstance(node["Fn::Select"][0], int):
        k, items = node["Fn::Select"]
        listed = ts.list_origins(f, items)
        if k < len(listed):
            return listed[k]
    return ts.origin(f, node)


@invariant
def data_stores_private(ts: TemplateSet) -> list[str]:
    """No database subnet group and no EFS mount target uses a subnet routed to an internet gateway."""
    v = []
    public = _igw_subnets(ts)
    for f, lid, r in ts.resources("AWS::RDS::DBSubnetGroup"):
        for o in ts.list_origins(f, r["Properties"].get("SubnetIds")):
            if (o.file, o.name) in public:
                v.append(f"{f}:{lid}: database subnet group uses public subnet {o.name}")
    for f, lid, r in ts.resources("AWS::EFS::MountTarget"):
        o = _subnet(ts, f, r["Properties"].get("SubnetId"))
        if (o.file, o.name) in public:
            v.append(f"{f}:{lid}: EFS mount target in public subnet {o.name}")
    return v


@invariant
def endpoint_only_isolation(ts: TemplateSet) -> list[str]:
    """An endpoint-only task (HTTPS to the S3 prefix list, not to the internet) runs in subnets with
    no 0.0.0.0/0 route to a NAT or internet gateway (reach.isolation; the preflight checks the same)."""
    reader = TaskReader(ts)
    net = Network(ts, reader.match)
    v = []
    for t in reader.tasks():
        known = [s for s in t.subnets if ts.typed(s, "AWS::EC2::Subnet") is not None]
        if len(known) != len(t.subnets) or not known:
            continue  # an existing VPC's subnets: their routes are its owner's
        paths = {s.key: net.internet_path(s, t.public_ip) for s in t.subnets}
        for problem in isolation_problems(net, t, paths):
            v.append(f"{t.file}: {problem}")
    return v
