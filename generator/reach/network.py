"""Network facts of a template set: subnets and their CIDRs, route tables, the path to
the internet (NAT gateway or internet gateway), VPC endpoints, and security-group rules.

Everything is read under the set's parameter values and only from resources that are
present (their conditions hold).  Network ACLs are not read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from generator.cfn.facts import FN_CIDR_MAX_COUNT
from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import Renderer
from generator.reach.iam import as_list
from generator.reach.model import Endpoint, InternetPath, Rule, allows_443

Key = tuple[str, str]
ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")


def nth_subnet(base: ipaddress.IPv4Network, prefix: int, idx: int) -> ipaddress.IPv4Network | None:
    """``list(base.subnets(new_prefix=prefix))[idx]`` without listing them (a /16 cut into
    /28s is 4,096 networks), or None where that list has no such entry or cannot be made."""
    if not base.prefixlen <= prefix <= 32 or not 0 <= idx < 1 << (prefix - base.prefixlen):
        return None
    return ipaddress.IPv4Network((int(base.network_address) + (idx << (32 - prefix)), prefix))


class Network:
    def __init__(self, ts: TemplateSet, match: Renderer):
        self.ts = ts
        self.match = match
        self._memo: dict[tuple[Any, ...], Any] = {}
        self.endpoints = self._collect_endpoints()

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ---- subnets and routes

    def cidr(self, file: str, node: Any, depth: int = 0) -> ipaddress.IPv4Network | None:
        """Evaluate a CIDR value (literal, parameter default, Select over Fn::Cidr)."""
        node = self.ts.branch(file, node)
        if depth > 10:
            return None
        cut = self._select_cidr(file, node, depth) if isinstance(node, dict) else None
        if cut is not None:
            idx, base, n, b = cut
            return None if base is None or n is None or b is None or idx >= n else nth_subnet(base, 32 - b, idx)
        text = self.match(file, node)
        if text is None:
            return None
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        return net if isinstance(net, ipaddress.IPv4Network) else None

    def cut_problem(self, file: str, node: Any) -> str | None:
        """Why CloudFormation cannot evaluate a CIDR written ``Fn::Select [i, Fn::Cidr [block,
        count, bits]]`` (the stack fails), or None: it can, it is not of that form, or its
        inputs are not known here. Fn::Cidr (AWS CloudFormation Template Reference, Fn::Cidr)
        makes ``count`` (1 to 256) blocks of ``bits`` host bits each, inside ``block``."""
        node = self.ts.branch(file, node)
        select = self._select_cidr(file, node, 0) if isinstance(node, dict) else None
        if select is None:
            return None
        idx, base, n, b = select
        if base is None or n is None or b is None:
            return None
        cut = f"Fn::Cidr [{base}, {n}, {b}]"
        if not 1 <= n <= FN_CIDR_MAX_COUNT:
            return f"{cut} asks for {n} blocks; Fn::Cidr makes 1 to {FN_CIDR_MAX_COUNT}"
        host_bits = 32 - base.prefixlen
        if not 0 <= b <= host_bits:
            return f"{cut} asks for blocks of {b} host bits; a /{base.prefixlen} has {host_bits}"
        room = 1 << (host_bits - b)
        if n > room:
            return f"{cut} asks for {n} /{32 - b} blocks; a /{base.prefixlen} holds {room}"
        if not 0 <= idx < n:
            return f"Fn::Select {idx} of {cut}, which makes {n} blocks (indexes 0 to {n - 1})"
        return None

    def _select_cidr(
        self, file: str, node: dict[str, Any], depth: int
    ) -> tuple[int, ipaddress.IPv4Network | None, int | None, int | None] | None:
        """(index, block, count, bits) of ``Fn::Select [index, Fn::Cidr [block, count, bits]]``,
        each of the last three None where it is not known here; None: another form."""
        select = node.get("Fn::Select")
        if not isinstance(select, list) or len(select) != 2 or not isinstance(select[0], int):
            return None
        lst = self.ts.branch(file, select[1])
        args = lst.get("Fn::Cidr") if isinstance(lst, dict) else None
        if not isinstance(args, list) or len(args) != 3:
            return None
        return select[0], self.cidr(file, args[0], depth + 1), self._int(file, args[1]), self._int(file, args[2])

    def _int(self, file: str, node: Any) -> int | None:
        try:
            return int(self.match(file, node) or "")
        except ValueError:
            return None

    def subnet_info(self, o: Origin) -> tuple[Key | None, ipaddress.IPv4Network | None]:
        """(vpc identity, CIDR) of a subnet origin."""
        r = self.ts.typed(o, "AWS::EC2::Subnet")
        if r is None:
            return None, None
        p = r.get("Properties", {})
        return self.vpc_of(o), self.cidr(o.file, p.get("CidrBlock"))

    def vpc_of(self, o: Origin) -> Key | None:
        """The vpc identity of a subnet origin (None: not a subnet of the set)."""
        r = self.ts.typed(o, "AWS::EC2::Subnet")
        return None if r is None else self.ts.origin(o.file, r.get("Properties", {}).get("VpcId")).key

    def route_table_of(self, subnet: Origin) -> Key | None:
        return self._cached(("rt", subnet), lambda: self._route_table_of(subnet))

    def _route_table_of(self, subnet: Origin) -> Key | None:
        for f, _lid, r in self.ts.present_resources("AWS::EC2::SubnetRouteTableAssociation"):
            p = r.get("Properties", {})
            if self.ts.origin(f, p.get("SubnetId")).key == subnet.key:
                return self.ts.origin(f, p.get("RouteTableId")).key
        return None

    def default_route(self, rt: Key) -> tuple[str, dict[str, Any]] | None:
        return self._cached(("dr", rt), lambda: self._default_route(rt))

    def _default_route(self, rt: Key) -> tuple[str, dict[str, Any]] | None:
        for f, _lid, r in self.ts.present_resources("AWS::EC2::Route"):
            p = r.get("Properties", {})
            if self.ts.origin(f, p.get("RouteTableId")).key != rt:
                continue
            if self.match(f, p.get("DestinationCidrBlock")) == "0.0.0.0/0":
                return f, p
        return None

    def igw_attached(self, igw: Key, vpc: Key | None) -> bool:
        for f, _lid, r in self.ts.present_resources("AWS::EC2::VPCGatewayAttachment"):
            p = r.get("Properties", {})
            if self.ts.origin(f, p.get("InternetGatewayId")).key == igw and (
                vpc is None or self.ts.origin(f, p.get("VpcId")).key == vpc
            ):
                return True
        return False

    def internet_path(self, subnet: Origin, public_ip: bool) -> InternetPath:
        """How a subnet reaches the internet, in the words of the preflight's messages (read
        once per subnet and public-IP setting: the tasks of a tier share its subnets)."""
        return self._cached(("ip", subnet, public_ip), lambda: self._internet_path(subnet, public_ip))

    def _internet_path(self, subnet: Origin, public_ip: bool) -> InternetPath:  # noqa: PLR0911
        vpc = self.vpc_of(subnet)
        rt = self.route_table_of(subnet)
        if rt is None:
            return InternetPath("no-rt", "")
        route = self.default_route(rt)
        if route is None:
            return InternetPath("none", rt[1])
        f, p = route
        if "NatGatewayId" in p:
            return self._via_nat(rt, self.ts.origin(f, p["NatGatewayId"]), vpc)
        if "GatewayId" in p:
            g = self.ts.origin(f, p["GatewayId"])
            if self.ts.typed(g, "AWS::EC2::InternetGateway") is not None:
                if not self.igw_attached(g.key, vpc):  # type: ignore[arg-type]
                    return InternetPath(
                        "broken",
                        rt[1],
                        f"route table {rt[1]} sends 0.0.0.0/0 to internet gateway "
                        f"{g.name}, which is not attached to the VPC",
                    )
                if not public_ip:
                    return InternetPath("igw-no-public-ip", rt[1], f"internet gateway {g.name}")
                return InternetPath("igw", rt[1], f"internet gateway {g.name}")
        target = next((k for k in p if k.endswith("Id") and k != "RouteTableId"), "an unknown target")
        return InternetPath("other", rt[1], target)

    def _via_nat(self, rt: Key, nat_o: Origin, vpc: Key | None) -> InternetPath:
        nat = self.ts.typed(nat_o, "AWS::EC2::NatGateway")
        if nat is None:
            return InternetPath(
                "broken",
                rt[1],
                f"route table {rt[1]} sends 0.0.0.0/0 to a NAT gateway that is not in the template set ({nat_o})",
            )
        np = nat.get("Properties", {})
        if self.match(nat_o.file, np.get("ConnectivityType", "public")) == "private":
            return InternetPath(
                "broken",
                rt[1],
                f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                f"{nat_o.name}, which is a private NAT gateway (no internet access)",
            )
        nat_subnet = self.ts.origin(nat_o.file, np.get("SubnetId"))
        nat_rt = self.route_table_of(nat_subnet)
        up = self.default_route(nat_rt) if nat_rt else None
        if up is None or "GatewayId" not in up[1]:
            return InternetPath(
                "broken",
                rt[1],
                f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                f"{nat_o.name}, but the NAT's subnet {nat_subnet.name} has no 0.0.0.0/0 route to an "
                "internet gateway",
            )
        igw = self.ts.origin(up[0], up[1]["GatewayId"]).key
        if not self.igw_attached(igw, vpc) if igw else True:
            return InternetPath(
                "broken",
                rt[1],
                f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                f"{nat_o.name}, whose subnet routes to an internet gateway that is not attached to "
                "the VPC",
            )
        return InternetPath("nat", rt[1], f"NAT gateway {nat_o.name}")

    # ---- VPC endpoints

    def _collect_endpoints(self) -> list[Endpoint]:
        out = []
        for f, lid, r in self.ts.present_resources("AWS::EC2::VPCEndpoint"):
            p = r.get("Properties", {})
            name = self.match(f, p.get("ServiceName")) or ""
            m = re.match(r"^com\.amazonaws\.[a-z0-9-]+\.(.+)$", name)
            svc = m.group(1) if m else name
            kind = self.match(f, p.get("VpcEndpointType", "Gateway")) or "Gateway"
            dns = self.match(f, p.get("PrivateDnsEnabled", False)) == "true"
            out.append(
                Endpoint(
                    f,
                    lid,
                    svc,
                    kind,
                    self.ts.origin(f, p.get("VpcId")).key,
                    dns,
                    self.ts.items(f, p.get("SubnetIds")),
                    self.ts.items(f, p.get("SecurityGroupIds")),
                    [o.key for o in self.ts.items(f, p.get("RouteTableIds"))],
                    self.ts.effective(f, p.get("PolicyDocument")),
                )
            )
        return out

    def interface_endpoint(self, svc: str, vpc: Key | None) -> Endpoint | None:
        for e in self.endpoints:
            if e.kind == "Interface" and e.service == svc and e.private_dns and (vpc is None or e.vpc == vpc):
                return e
        return None

    def gateway_endpoint(self, svc: str, rt: Key | None) -> Endpoint | None:
        for e in self.endpoints:
            if e.kind == "Gateway" and e.service == svc and rt is not None and rt in e.route_tables:
                return e
        return None

    # ---- security groups

    def _rule(self, file: str, p: dict[str, Any], egress: bool) -> Rule:
        proto = str(self.match(file, p.get("IpProtocol", "-1")) or "-1").lower()
        try:
            lo = int(self.match(file, p.get("FromPort", 0)) or 0)
            hi = int(self.match(file, p.get("ToPort", 65535)) or 65535)
        except ValueError:
            lo, hi = 0, 65535
        if lo == -1:
            lo, hi = 0, 65535
        sg_prop = "DestinationSecurityGroupId" if egress else "SourceSecurityGroupId"
        pl_prop = "DestinationPrefixListId" if egress else "SourcePrefixListId"
        rule = Rule(proto, lo, hi)
        if "CidrIp" in p:
            rule.cidr = self.cidr(file, p["CidrIp"])
        if "CidrIpv6" in p:
            rule.cidr_ipv6 = self.match(file, p["CidrIpv6"]) or ""
        if sg_prop in p:
            rule.sg = self.ts.origin(file, p[sg_prop]).key
        if pl_prop in p:
            rule.prefix_list = self.match(file, p[pl_prop]) or ""
        return rule

    def rules(self, sg: Key | None, egress: bool) -> list[Rule]:
        """The rules of one group: inline, standalone, and EC2's default egress when none is inline."""
        return self._cached(("rules", sg, egress), lambda: self._rules(sg, egress))

    def _rules(self, sg: Key | None, egress: bool) -> list[Rule]:
        if sg is None or not self.ts.present(*sg):
            return []
        res = self.ts.resource(*sg) or {}
        if res.get("Type") != "AWS::EC2::SecurityGroup":
            return []
        inline_prop = "SecurityGroupEgress" if egress else "SecurityGroupIngress"
        inline = self.ts.effective(sg[0], res.get("Properties", {}).get(inline_prop))
        out: list[Rule] = []
        if egress and inline is None:
            out.append(Rule("-1", 0, 65535, cidr=ANYWHERE))  # EC2's default egress
        for x in as_list(inline):
            x = self.ts.branch(sg[0], x)
            if isinstance(x, dict) and x.get("Ref") != "AWS::NoValue":
                out.append(self._rule(sg[0], x, egress))
        rtype = "AWS::EC2::SecurityGroupEgress" if egress else "AWS::EC2::SecurityGroupIngress"
        for f, p in self._standalone(rtype).get(sg, []):
            out.append(self._rule(f, p, egress))
        return out

    def _standalone(self, rtype: str) -> dict[Key | None, list[tuple[str, dict[str, Any]]]]:
        """The present standalone rules of a type by the group they belong to (read once: a
        platform of hundreds of groups asks for every group's rules)."""

        def index() -> dict[Key | None, list[tuple[str, dict[str, Any]]]]:
            out: dict[Key | None, list[tuple[str, dict[str, Any]]]] = {}
            for f, _lid, r in self.ts.present_resources(rtype):
                p = r.get("Properties", {})
                out.setdefault(self.ts.origin(f, p.get("GroupId")).key, []).append((f, p))
            return out

        return self._cached(("standalone", rtype), index)

    def egress_allows(
        self,
        sgs: list[Key | None],
        *,
        to_sg: Iterable[Key | None] = (),
        to_nets: Iterable[ipaddress.IPv4Network] = (),
        prefix_list: bool = False,
    ) -> bool:
        rules = [r for sg in sgs for r in self.rules(sg, egress=True)]
        return allows_443(rules, peers={s for s in to_sg if s}, nets=list(to_nets), prefix_list=prefix_list)

    def ingress_admits(
        self, groups: list[Key | None], from_sgs: list[Key | None], from_nets: list[ipaddress.IPv4Network]
    ) -> bool:
        rules = [r for g in groups for r in self.rules(g, egress=False)]
        return allows_443(rules, peers={s for s in from_sgs if s}, nets=from_nets)
