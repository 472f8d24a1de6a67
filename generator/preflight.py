"""Static reachability preflight: can every ECS task start?

Works only from a template set (the parent ``main.yaml`` plus its children), never
from the spec, so it also checks hand-edited templates.  For every task (each
``AWS::ECS::TaskDefinition`` run by an ``AWS::ECS::Service``, an
``AWS::Events::Rule`` target or an ``AWS::Scheduler::Schedule``) it proves:

* **routes**: the task's subnets reach what the start needs: ECR (``ecr.api``,
  ``ecr.dkr``, S3 for image layers) or the public registry of the image, CloudWatch
  Logs, Secrets Manager / SSM when containers have secrets.  A destination is
  reached through a private-DNS interface endpoint (which then takes the traffic
  even when a NAT exists), the S3 gateway endpoint on the subnet's route table, a
  0.0.0.0/0 route to a NAT gateway whose own subnet routes to an attached internet
  gateway, or an internet-gateway route with ``AssignPublicIp: ENABLED``;
* **security groups**: the task's groups allow tcp/443 egress along that path, and
  the endpoint security group admits tcp/443 from the task's groups;
* **IAM**: the execution role allows ``ecr:GetAuthorizationToken``,
  ``ecr:BatchGetImage``, ``ecr:GetDownloadUrlForLayer`` (ECR images),
  ``logs:CreateLogStream``/``logs:PutLogEvents`` on the log group, reads of every
  secret and parameter, and ``kms:Decrypt`` on a customer key that encrypts a
  secret; endpoint policies (S3 gateway, interface) allow the same calls.

Errors mean a task cannot start as templated.  Warnings mean a declared feature
(ECS Exec) is degraded, or something could not be proven statically (a route via a
transit gateway, an external role).  Security groups do not filter traffic to the
VPC resolver, so DNS needs no rule; the VPC needs ``EnableDnsSupport`` and
``EnableDnsHostnames`` for private DNS.  Network ACLs are not evaluated.

Policy conditions and endpoint-policy principals are not evaluated (an Allow with a
condition or a named principal counts as an Allow); a Deny on a matching action and
resource wins.
"""

from __future__ import annotations

import argparse
import fnmatch
import ipaddress
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from generator.analysis import PARENT, Origin, TemplateSet, load_dir, sub_vars

ERROR = "error"
WARNING = "warning"

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

# Values used to render ARNs for matching, and for messages.
MATCH_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "stack", "SUFFIX": "AbCdEf"}
SHOW_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "<region>", "AWS::AccountId": "<account>",
               "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "<stack>", "SUFFIX": "??????"}

ECR_URI = re.compile(r"^(?P<acct>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                     r"(?P<repo>[^:@]+)")
LAYER_BUCKET = "arn:{p}:s3:::prod-{r}-starport-layer-bucket/*"

# The AWS managed execution-role policy (policy version v1, unchanged since 2019).
MANAGED = {
    "AmazonECSTaskExecutionRolePolicy": [{
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                   "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*",
    }],
}

ORDER = ("ecr.api", "ecr.dkr", "s3", "logs", "secretsmanager", "ssm", "ssmmessages", "kms")


@dataclass(frozen=True)
class Finding:
    """One problem. ``service`` names the task ('' for platform-wide findings);
    ``message`` is the full line an engineer reads."""

    service: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- rendering


class Renderer:
    """Render a template value to a string (parameters at their defaults, pseudo
    parameters from ``pseudo``, resource attributes synthesized per type)."""

    def __init__(self, ts: TemplateSet, pseudo: dict[str, str]):
        self.ts = ts
        self.p = pseudo

    def __call__(self, file: str, node: Any, depth: int = 0) -> str | None:  # noqa: C901, PLR0911, PLR0912
        if depth > 25:
            return None
        node = self.ts.branch(file, node)
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, (str, int, float)):
            return str(node)
        if not isinstance(node, dict) or len(node) != 1:
            return None
        (k, v), = node.items()
        if k == "Ref" and isinstance(v, str) and v.startswith("AWS::"):
            return self.p.get(v)
        if k in ("Ref", "Fn::GetAtt"):
            return self.origin_value(self.ts.origin(file, node), depth + 1)
        if k == "Fn::Sub":
            text, variables = sub_vars(node)
            out = []
            pos = 0
            for m in re.finditer(r"\$\{([^}]*)\}", text):
                out.append(text[pos:m.start()])
                pos = m.end()
                name = m.group(1)
                if name.startswith("!"):
                    out.append("${" + name[1:] + "}")
                    continue
                if name in variables:
                    val = self(file, variables[name], depth + 1)
                elif name in self.p:
                    val = self.p[name]
                elif "." in name:
                    val = self(file, {"Fn::GetAtt": name.split(".", 1)}, depth + 1)
                else:
                    val = self(file, {"Ref": name}, depth + 1)
                if val is None:
                    return None
                out.append(val)
            out.append(text[pos:])
            return "".join(out)
        if k == "Fn::Join" and isinstance(v, list) and len(v) == 2 and isinstance(v[1], list):
            parts = [self(file, x, depth + 1) for x in v[1]]
            return None if any(x is None for x in parts) else str(v[0]).join(parts)  # type: ignore[arg-type]
        if k == "Fn::Select" and isinstance(v, list) and len(v) == 2:
            idx = self(file, v[0], depth + 1)
            lst = self.ts.branch(file, v[1])
            if idx is None or not idx.isdigit():
                return None
            if isinstance(lst, list) and int(idx) < len(lst):
                return self(file, lst[int(idx)], depth + 1)
            if isinstance(lst, dict) and "Fn::GetAZs" in lst:
                region = self.p["AWS::Region"]
                return f"{region}{'abcdef'[int(idx) % 6]}"
        return None

    def origin_value(self, o: Origin, depth: int = 0) -> str | None:  # noqa: C901, PLR0911
        if o.kind == "literal":
            return o.name
        if o.kind == "pseudo":
            return self.p.get(o.name)
        if o.kind == "parameter":
            d = self.ts.t.get(o.file, {}).get("Parameters", {}).get(o.name, {}).get("Default")
            return None if d is None else str(d)
        if o.kind != "resource":
            return None
        res = self.ts.resource(o.file, o.name) or {}
        t = res.get("Type", "")
        props = res.get("Properties", {})
        attr = o.attr or "Ref"
        part, region, acct = self.p["AWS::Partition"], self.p["AWS::Region"], self.p["AWS::AccountId"]

        def prop(name: str, default: str) -> str:
            if name in props:
                v = self(o.file, props[name], depth + 1)
                if v is not None:
                    return v
            return default

        if t == "AWS::ECR::Repository":
            name = prop("RepositoryName", o.name.lower())
            return {"Ref": name, "Arn": f"arn:{part}:ecr:{region}:{acct}:repository/{name}",
                    "RepositoryUri": f"{acct}.dkr.ecr.{region}.amazonaws.com/{name}"}.get(attr)
        if t == "AWS::SecretsManager::Secret" and attr in ("Ref", "Id"):
            return f"arn:{part}:secretsmanager:{region}:{acct}:secret:{prop('Name', o.name)}-{self.p['SUFFIX']}"
        if t == "AWS::Logs::LogGroup":
            name = prop("LogGroupName", o.name)
            return {"Ref": name, "Arn": f"arn:{part}:logs:{region}:{acct}:log-group:{name}:*"}.get(attr)
        if t == "AWS::SSM::Parameter" and attr in ("Ref", "Name"):
            return prop("Name", o.name)
        if t == "AWS::KMS::Key":
            return {"Ref": f"<{o.name}>", "KeyId": f"<{o.name}>",
                    "Arn": f"arn:{part}:kms:{region}:{acct}:key/<{o.name}>"}.get(attr)
        if t == "AWS::IAM::Role":
            name = prop("RoleName", o.name)
            return {"Ref": name, "Arn": f"arn:{part}:iam::{acct}:role/{name}"}.get(attr)
        if t == "AWS::S3::Bucket":
            name = prop("BucketName", o.name.lower())
            return {"Ref": name, "Arn": f"arn:{part}:s3:::{name}"}.get(attr)
        return f"<{o.file}:{o.name}.{attr}>"


def _key(o: Origin) -> tuple[str, str] | None:
    """Identity of a resource origin, ignoring the attribute (Ref vs GroupId/Arn)."""
    return (o.file, o.name) if o.kind == "resource" else None


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


# --------------------------------------------------------------------------- the model


@dataclass
class Need:
    """Something the task must reach at start (or, for exec, when used)."""

    dest: str  # AWS service endpoint name (ecr.api, s3, ...) or a public registry host
    label: str  # how messages name it
    internet_only: bool = False
    severity: str = ERROR


@dataclass
class Perm:
    """An execution/task-role permission the task needs."""

    actions: tuple[str, ...]
    resource: str | None  # rendered for matching (None: any resource is fine only with "*")
    shown: str  # rendered for messages
    origin: tuple[str, str] | None  # resource identity, matched against policy resources
    why: str
    role: str = "execution"  # execution | task
    severity: str = ERROR


@dataclass
class Task:
    label: str  # 'service registry', 'scheduled task Nightly', 'schedule Nightly'
    name: str
    file: str
    td_file: str
    td_lid: str
    subnets: list[Origin]
    sgs: list[Origin]
    public_ip: bool
    exec_enabled: bool = False
    cluster: Origin | None = None
    needs: list[Need] = field(default_factory=list)
    perms: list[Perm] = field(default_factory=list)


@dataclass
class Endpoint:
    file: str
    lid: str
    service: str  # 'ecr.dkr', 's3', ...
    kind: str  # Interface | Gateway
    vpc: tuple[str, str] | None
    private_dns: bool
    subnets: list[Origin]
    sgs: list[Origin]
    route_tables: list[tuple[str, str] | None]
    policy: dict[str, Any] | None


@dataclass
class Rule:
    proto: str
    lo: int
    hi: int
    cidr: ipaddress.IPv4Network | None = None
    sg: tuple[str, str] | None = None
    prefix_list: bool = False

    def allows_443(self) -> bool:
        if self.proto in ("-1", "all"):
            return True
        return self.proto in ("tcp", "6") and self.lo <= 443 <= self.hi


@dataclass
class InternetPath:
    kind: str  # nat | igw | igw-no-public-ip | none | no-rt | broken | other
    rt: str  # route table logical id ('' = main route table)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in ("nat", "igw")


# --------------------------------------------------------------------------- the checker


class Preflight:
    def __init__(self, templates: dict[str, dict[str, Any]]):
        self.ts = TemplateSet(templates)
        self.match = Renderer(self.ts, MATCH_PSEUDO)
        self.show = Renderer(self.ts, SHOW_PSEUDO)
        self.findings: list[Finding] = []
        self.proofs: dict[str, list[str]] = {}
        self._by_type: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self.task_count = 0
        self._endpoints = self._collect_endpoints()
        self._platform_seen: set[str] = set()

    # ---- presence and lookups

    def present(self, file: str, lid: str) -> bool:
        if file != PARENT:
            stack = self.ts.child_of.get(file)
            if stack is not None:
                sres = self.ts.parent.get("Resources", {}).get(stack, {})
                if "Condition" in sres and not self.ts.condition(PARENT, sres["Condition"]):
                    return False
        res = self.ts.resource(file, lid)
        if res is None:
            return False
        cond = res.get("Condition")
        return cond is None or self.ts.condition(file, cond)

    def resources(self, type_: str) -> list[tuple[str, str, dict[str, Any]]]:
        if type_ not in self._by_type:
            self._by_type[type_] = [(f, lid, r) for f, lid, r in self.ts.resources(type_) if self.present(f, lid)]
        return self._by_type[type_]

    def typed(self, o: Origin | None, type_: str) -> dict[str, Any] | None:
        if o is None or o.kind != "resource" or not self.present(o.file, o.name):
            return None
        r = self.ts.resource(o.file, o.name)
        return r if r and r.get("Type") == type_ else None

    def items(self, file: str, node: Any) -> list[Origin]:
        """Origins of a list-valued property (literal list, list parameter, Join output)."""
        node = self.ts.branch(file, node)
        if isinstance(node, list):
            out = []
            for x in node:
                x = self.ts.branch(file, x)
                if isinstance(x, dict) and x.get("Ref") == "AWS::NoValue":
                    continue
                out.append(self.ts.select(file, x) if isinstance(x, dict) and "Fn::Select" in x
                           else self.ts.origin(file, x))
            return out
        if node is None:
            return []
        return self.ts.list_origins(file, node)

    def value(self, file: str, node: Any) -> Any:
        """A property value after Fn::If; None when it is absent or AWS::NoValue."""
        node = self.ts.branch(file, node)
        return None if isinstance(node, dict) and node.get("Ref") == "AWS::NoValue" else node

    def name_of(self, key: tuple[str, str] | None) -> str:
        return key[1] if key else "<unresolved>"

    # ---- networking facts

    def cidr(self, file: str, node: Any, depth: int = 0) -> ipaddress.IPv4Network | None:
        """Evaluate a CIDR value (literal, parameter default, Select over Fn::Cidr)."""
        node = self.ts.branch(file, node)
        if depth > 10:
            return None
        if isinstance(node, dict) and "Fn::Select" in node:
            idx, lst = node["Fn::Select"]
            lst = self.ts.branch(file, lst)
            if isinstance(lst, dict) and "Fn::Cidr" in lst and isinstance(idx, int):
                block, count, bits = lst["Fn::Cidr"]
                base = self.cidr(file, block, depth + 1)
                try:
                    n, b = int(self.match(file, count) or ""), int(self.match(file, bits) or "")
                except ValueError:
                    return None
                if base is None or idx >= n:
                    return None
                subs = list(base.subnets(new_prefix=32 - b))
                return subs[idx] if idx < len(subs) else None
        text = self.match(file, node)
        if text is None:
            return None
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        return net if isinstance(net, ipaddress.IPv4Network) else None

    def subnet_info(self, o: Origin) -> tuple[tuple[str, str] | None, ipaddress.IPv4Network | None]:
        """(vpc identity, CIDR) of a subnet origin."""
        r = self.typed(o, "AWS::EC2::Subnet")
        if r is None:
            return None, None
        p = r.get("Properties", {})
        return _key(self.ts.origin(o.file, p.get("VpcId"))), self.cidr(o.file, p.get("CidrBlock"))

    def route_table_of(self, subnet: Origin) -> tuple[str, str] | None:
        key = ("rt", subnet)
        if key not in self._memo:
            self._memo[key] = self._route_table_of(subnet)
        return self._memo[key]

    def _route_table_of(self, subnet: Origin) -> tuple[str, str] | None:
        k = _key(subnet)
        for f, _lid, r in self.resources("AWS::EC2::SubnetRouteTableAssociation"):
            p = r.get("Properties", {})
            if _key(self.ts.origin(f, p.get("SubnetId"))) == k:
                return _key(self.ts.origin(f, p.get("RouteTableId")))
        return None

    def default_route(self, rt: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
        key = ("dr", rt)
        if key not in self._memo:
            self._memo[key] = self._default_route(rt)
        return self._memo[key]

    def _default_route(self, rt: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
        for f, _lid, r in self.resources("AWS::EC2::Route"):
            p = r.get("Properties", {})
            if _key(self.ts.origin(f, p.get("RouteTableId"))) != rt:
                continue
            if self.match(f, p.get("DestinationCidrBlock")) == "0.0.0.0/0":
                return f, p
        return None

    def igw_attached(self, igw: tuple[str, str], vpc: tuple[str, str] | None) -> bool:
        for f, _lid, r in self.resources("AWS::EC2::VPCGatewayAttachment"):
            p = r.get("Properties", {})
            if _key(self.ts.origin(f, p.get("InternetGatewayId"))) == igw and (
                    vpc is None or _key(self.ts.origin(f, p.get("VpcId"))) == vpc):
                return True
        return False

    def internet_path(self, subnet: Origin, public_ip: bool) -> InternetPath:  # noqa: PLR0911
        vpc, _ = self.subnet_info(subnet)
        rt = self.route_table_of(subnet)
        if rt is None:
            return InternetPath("no-rt", "")
        route = self.default_route(rt)
        if route is None:
            return InternetPath("none", rt[1])
        f, p = route
        if "NatGatewayId" in p:
            nat_o = self.ts.origin(f, p["NatGatewayId"])
            nat = self.typed(nat_o, "AWS::EC2::NatGateway")
            if nat is None:
                return InternetPath("broken", rt[1], f"route table {rt[1]} sends 0.0.0.0/0 to a NAT gateway that "
                                    f"is not in the template set ({nat_o})")
            np = nat.get("Properties", {})
            if self.match(nat_o.file, np.get("ConnectivityType", "public")) == "private":
                return InternetPath("broken", rt[1], f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                                    f"{nat_o.name}, which is a private NAT gateway (no internet access)")
            nat_subnet = self.ts.origin(nat_o.file, np.get("SubnetId"))
            nat_rt = self.route_table_of(nat_subnet)
            up = self.default_route(nat_rt) if nat_rt else None
            if up is None or "GatewayId" not in up[1]:
                return InternetPath("broken", rt[1], f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                                    f"{nat_o.name}, but the NAT's subnet {nat_subnet.name} has no 0.0.0.0/0 route to an "
                                    "internet gateway")
            igw = _key(self.ts.origin(up[0], up[1]["GatewayId"]))
            if not self.igw_attached(igw, vpc) if igw else True:
                return InternetPath("broken", rt[1], f"route table {rt[1]} sends 0.0.0.0/0 to NAT gateway "
                                    f"{nat_o.name}, whose subnet routes to an internet gateway that is not attached to "
                                    "the VPC")
            return InternetPath("nat", rt[1], f"NAT gateway {nat_o.name}")
        if "GatewayId" in p:
            g = self.ts.origin(f, p["GatewayId"])
            if self.typed(g, "AWS::EC2::InternetGateway") is not None:
                if not self.igw_attached(_key(g), vpc):  # type: ignore[arg-type]
                    return InternetPath("broken", rt[1], f"route table {rt[1]} sends 0.0.0.0/0 to internet gateway "
                                        f"{g.name}, which is not attached to the VPC")
                if not public_ip:
                    return InternetPath("igw-no-public-ip", rt[1], f"internet gateway {g.name}")
                return InternetPath("igw", rt[1], f"internet gateway {g.name}")
        target = next((k for k in p if k.endswith("Id") and k != "RouteTableId"), "an unknown target")
        return InternetPath("other", rt[1], target)

    def _collect_endpoints(self) -> list[Endpoint]:
        out = []
        for f, lid, r in self.resources("AWS::EC2::VPCEndpoint"):
            p = r.get("Properties", {})
            name = self.match(f, p.get("ServiceName")) or ""
            m = re.match(r"^com\.amazonaws\.[a-z0-9-]+\.(.+)$", name)
            svc = m.group(1) if m else name
            kind = self.match(f, p.get("VpcEndpointType", "Gateway")) or "Gateway"
            dns = self.match(f, p.get("PrivateDnsEnabled", False)) == "true"
            out.append(Endpoint(
                f, lid, svc, kind, _key(self.ts.origin(f, p.get("VpcId"))), dns,
                self.items(f, p.get("SubnetIds")), self.items(f, p.get("SecurityGroupIds")),
                [_key(o) for o in self.items(f, p.get("RouteTableIds"))],
                self.value(f, p.get("PolicyDocument")),
            ))
        return out

    def interface_endpoint(self, svc: str, vpc: tuple[str, str] | None) -> Endpoint | None:
        for e in self._endpoints:
            if e.kind == "Interface" and e.service == svc and e.private_dns and (vpc is None or e.vpc == vpc):
                return e
        return None

    def gateway_endpoint(self, svc: str, rt: tuple[str, str] | None) -> Endpoint | None:
        for e in self._endpoints:
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
        if sg_prop in p:
            rule.sg = _key(self.ts.origin(file, p[sg_prop]))
        if pl_prop in p:
            rule.prefix_list = True
        return rule

    def rules(self, sg: tuple[str, str] | None, egress: bool) -> list[Rule]:
        key = ("rules", sg, egress)
        if key not in self._memo:
            self._memo[key] = self._rules(sg, egress)
        return self._memo[key]

    def _rules(self, sg: tuple[str, str] | None, egress: bool) -> list[Rule]:
        if sg is None or not self.present(*sg):
            return []
        res = self.ts.resource(*sg) or {}
        if res.get("Type") != "AWS::EC2::SecurityGroup":
            return []
        inline_prop = "SecurityGroupEgress" if egress else "SecurityGroupIngress"
        inline = self.value(sg[0], res.get("Properties", {}).get(inline_prop))
        out: list[Rule] = []
        if egress and inline is None:
            out.append(Rule("-1", 0, 65535, cidr=ipaddress.IPv4Network("0.0.0.0/0")))  # EC2's default egress
        for x in _as_list(inline):
            x = self.ts.branch(sg[0], x)
            if isinstance(x, dict) and x.get("Ref") != "AWS::NoValue":
                out.append(self._rule(sg[0], x, egress))
        rtype = "AWS::EC2::SecurityGroupEgress" if egress else "AWS::EC2::SecurityGroupIngress"
        for f, _lid, r in self.resources(rtype):
            p = r.get("Properties", {})
            if _key(self.ts.origin(f, p.get("GroupId"))) == sg:
                out.append(self._rule(f, p, egress))
        return out

    def egress_allows(self, sgs: list[tuple[str, str] | None], *, to_sg: Iterable[tuple[str, str] | None] = (),
                      to_nets: Iterable[ipaddress.IPv4Network] = (), prefix_list: bool = False) -> bool:
        targets = {s for s in to_sg if s}
        nets = list(to_nets)
        for sg in sgs:
            for r in self.rules(sg, egress=True):
                if not r.allows_443():
                    continue
                if r.sg and r.sg in targets:
                    return True
                if prefix_list and r.prefix_list:
                    return True
                if r.cidr is not None and nets and all(n.subnet_of(r.cidr) for n in nets):
                    return True
        return False

    def ingress_admits(self, groups: list[tuple[str, str] | None], from_sgs: list[tuple[str, str] | None],
                       from_nets: list[ipaddress.IPv4Network]) -> bool:
        sources = {s for s in from_sgs if s}
        for g in groups:
            for r in self.rules(g, egress=False):
                if not r.allows_443():
                    continue
                if r.sg and r.sg in sources:
                    return True
                if r.cidr is not None and from_nets and all(n.subnet_of(r.cidr) for n in from_nets):
                    return True
        return False

    # ---- IAM

    def role_statements(self, role: Origin) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """(file, statement) pairs granted to a role, and managed policies that could not be read."""
        stmts: list[tuple[str, dict[str, Any]]] = []
        unknown: list[str] = []
        res = self.ts.resource(role.file, role.name) or {}
        p = res.get("Properties", {})

        def add_doc(file: str, doc: Any) -> None:
            doc = self.ts.branch(file, doc)
            if isinstance(doc, dict):
                for s in _as_list(self.value(file, doc.get("Statement"))):
                    s = self.value(file, s)
                    if isinstance(s, dict):
                        stmts.append((file, s))

        for pol in _as_list(self.value(role.file, p.get("Policies"))):
            if isinstance(pol, dict):
                add_doc(role.file, pol.get("PolicyDocument"))
        for m in _as_list(self.value(role.file, p.get("ManagedPolicyArns"))):
            o = self.ts.origin(role.file, m)
            mres = self.typed(o, "AWS::IAM::ManagedPolicy")
            if mres is not None:
                add_doc(o.file, mres.get("Properties", {}).get("PolicyDocument"))
                continue
            text = self.match(role.file, m) or str(o)
            name = text.rsplit("/", 1)[-1]
            if text.startswith("arn:aws:iam::aws:policy/") and name in MANAGED:
                stmts.extend(("", s) for s in MANAGED[name])
            else:
                unknown.append(name)
        key = _key(role)
        for t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            for f, _lid, r in self.resources(t):
                rp = r.get("Properties", {})
                roles = [_key(o) for o in self.items(f, rp.get("Roles"))]
                if "RoleName" in rp:
                    roles.append(_key(self.ts.origin(f, rp["RoleName"])))
                if key in roles:
                    add_doc(f, rp.get("PolicyDocument"))
        return stmts, unknown

    def _stmt_matches(self, file: str, s: dict[str, Any], action: str, perm: Perm) -> bool:
        if "NotAction" in s:
            acts = [self.match(file, a) or "" for a in _as_list(s["NotAction"])]
            if any(_glob(a.lower(), action.lower()) for a in acts):
                return False
        else:
            acts = [self.match(file, a) or "" for a in _as_list(self.value(file, s.get("Action")))]
            if not any(_glob(a.lower(), action.lower()) for a in acts):
                return False
        if "NotResource" in s:
            return False  # rare; treated as not matching (conservative)
        for r in _as_list(self.value(file, s.get("Resource"))):
            text = self.match(file, r)
            if text == "*":
                return True
            if perm.origin is not None and _key(self.ts.origin(file, r)) == perm.origin:
                return True
            if text is not None and perm.resource is not None and _glob(text, perm.resource):
                return True
        return False

    def allowed(self, stmts: list[tuple[str, dict[str, Any]]], action: str, perm: Perm) -> bool:
        allow = False
        for f, s in stmts:
            effect = self.match(f, s.get("Effect")) if f else s.get("Effect")
            if not self._stmt_matches(f or PARENT, s, action, perm):
                continue
            if effect == "Deny":
                return False
            allow = True
        return allow

    # ---- tasks

    def tasks(self) -> list[Task]:
        out: list[Task] = []
        for f, lid, r in self.resources("AWS::ECS::Service"):
            p = r.get("Properties", {})
            name = self.match(f, p.get("ServiceName")) or lid
            td = self.ts.origin(f, p.get("TaskDefinition"))
            net = (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
            t = self._task(f"service {name}", name, f, td, net)
            if t is not None:
                t.exec_enabled = self.match(f, p.get("EnableExecuteCommand", False)) == "true"
                t.cluster = self.ts.origin(f, p.get("Cluster")) if "Cluster" in p else None
                out.append(t)
        for f, lid, r in self.resources("AWS::Events::Rule"):
            p = r.get("Properties", {})
            name = self.match(f, p.get("Name")) or lid
            for tgt in _as_list(self.value(f, p.get("Targets"))):
                ep = (tgt or {}).get("EcsParameters")
                if not ep:
                    continue
                net = (ep.get("NetworkConfiguration") or {}).get("AwsVpcConfiguration") or {}
                t = self._task(f"scheduled task {name}", name, f, self.ts.origin(f, ep.get("TaskDefinitionArn")), net)
                if t is not None:
                    t.exec_enabled = self.match(f, ep.get("EnableExecuteCommand", False)) == "true"
                    out.append(t)
        for f, lid, r in self.resources("AWS::Scheduler::Schedule"):
            p = r.get("Properties", {})
            name = self.match(f, p.get("Name")) or lid
            ep = (p.get("Target") or {}).get("EcsParameters")
            if not ep:
                continue
            net = (ep.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
            t = self._task(f"schedule {name}", name, f, self.ts.origin(f, ep.get("TaskDefinitionArn")), net)
            if t is not None:
                t.exec_enabled = self.match(f, ep.get("EnableExecuteCommand", False)) == "true"
                out.append(t)
        return out

    def _task(self, label: str, name: str, file: str, td: Origin, net: dict[str, Any]) -> Task | None:
        if self.typed(td, "AWS::ECS::TaskDefinition") is None:
            self.add(Finding(name, f"{label}: its task definition ({td}) is not in the template set; "
                             "nothing can be checked", WARNING))
            return None
        public_ip = self.match(file, net.get("AssignPublicIp", "DISABLED")) == "ENABLED"
        return Task(label, name, file, td.file, td.name, self.items(file, net.get("Subnets")),
                    self.items(file, net.get("SecurityGroups")), public_ip)

    def requirements(self, t: Task) -> None:  # noqa: C901, PLR0912, PLR0915
        td = self.ts.resource(t.td_file, t.td_lid) or {}
        p = td.get("Properties", {})
        f = t.td_file
        needs: dict[str, Need] = {}

        def need(n: Need) -> None:
            if n.dest not in needs or (needs[n.dest].severity == WARNING and n.severity == ERROR):
                needs[n.dest] = n

        def perm(actions: tuple[str, ...], node: Any, why: str, *, fallback: str | None = None,
                 role: str = "execution", severity: str = ERROR, strip_secret: bool = False) -> None:
            resource = self.match(f, node) if node is not None else fallback
            shown = self.show(f, node) if node is not None else fallback
            if strip_secret:
                resource = _secret_arn(resource)
                shown = _secret_arn(shown)
            o = None
            n = self.ts.branch(f, node)
            if isinstance(n, dict) and ("Ref" in n or "Fn::GetAtt" in n):
                o = _key(self.ts.origin(f, n))
            elif isinstance(n, dict) and "Fn::Sub" in n:
                text, variables = sub_vars(n)
                m = re.match(r"^\$\{([^}!.]+)\}", text)
                if m:
                    v = variables.get(m.group(1), {"Ref": m.group(1)})
                    o = _key(self.ts.origin(f, v))
            t.perms.append(Perm(actions, resource, shown or "<unresolved>", o, why, role, severity))

        for c in _as_list(self.value(f, p.get("ContainerDefinitions"))):
            c = self.value(f, c)
            if not isinstance(c, dict):
                continue
            img = self._image(f, c.get("Image"))
            if img[0] == "public":
                need(Need(img[1], f"{img[1]} (image {img[2]})", internet_only=True))
            else:
                need(Need("ecr.api", "ecr.api"))
                need(Need("ecr.dkr", "ecr.dkr"))
                need(Need("s3", "s3 (image layers)"))
                repo = img[1]
                shown_repo = img[2]
                t.perms.append(Perm(("ecr:GetAuthorizationToken",), "*", "*", None, "the image pull"))
                t.perms.append(Perm(("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"), repo, shown_repo,
                                    img[3], "the image pull"))
            creds = (c.get("RepositoryCredentials") or {}).get("CredentialsParameter")
            if creds is not None:
                need(Need("secretsmanager", "secretsmanager"))
                perm(("secretsmanager:GetSecretValue",), creds, "the private registry credentials", strip_secret=True)
            lc = self.value(f, c.get("LogConfiguration")) or {}
            if self.match(f, lc.get("LogDriver")) == "awslogs":
                need(Need("logs", "logs"))
                opts = lc.get("Options") or {}
                group = self.match(f, opts.get("awslogs-group"))
                shown_group = self.show(f, opts.get("awslogs-group"))
                stream = f"{self.match(f, opts.get('awslogs-stream-prefix')) or 'prefix'}/{c.get('Name', 'c')}/0"
                go = _key(self.ts.origin(f, opts.get("awslogs-group"))) if isinstance(
                    self.ts.branch(f, opts.get("awslogs-group")), dict) else None
                arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:log-stream:{stream}" if group else None
                shown_arn = f"arn:aws:logs:<region>:<account>:log-group:{shown_group or '<unresolved>'}"
                t.perms.append(Perm(("logs:CreateLogStream", "logs:PutLogEvents"), arn, shown_arn, go,
                                    "the awslogs log driver"))
                if self.match(f, opts.get("awslogs-create-group")) == "true":
                    t.perms.append(Perm(("logs:CreateLogGroup",), arn, shown_arn, go, "awslogs-create-group"))
            for s in _as_list(self.value(f, c.get("Secrets"))):
                s = self.value(f, s)
                if not isinstance(s, dict):
                    continue
                vf = s.get("ValueFrom")
                text = self.match(f, vf) or ""
                o = self.ts.origin(f, vf) if isinstance(self.ts.branch(f, vf), dict) else None
                otype = (self.ts.resource(o.file, o.name) or {}).get("Type") if o and o.kind == "resource" else None
                sm = ":secretsmanager:" in text or otype == "AWS::SecretsManager::Secret"
                if sm:
                    need(Need("secretsmanager", "secretsmanager"))
                    perm(("secretsmanager:GetSecretValue",), vf, f"secret {s.get('Name')}", strip_secret=True)
                    self._kms_perm(t, vf, f"secret {s.get('Name')}")
                else:
                    need(Need("ssm", "ssm"))
                    if text.startswith("arn:"):
                        perm(("ssm:GetParameters",), vf, f"parameter {s.get('Name')}")
                    else:
                        name = text.lstrip("/")
                        perm(("ssm:GetParameters",), None, f"parameter {s.get('Name')}",
                             fallback=f"arn:aws:ssm:us-east-1:123456789012:parameter/{name}")
                        t.perms[-1].shown = f"arn:aws:ssm:<region>:<account>:parameter/{name}"
        if t.exec_enabled:
            need(Need("ssmmessages", "ssmmessages (ECS Exec)", severity=WARNING))
            t.perms.append(Perm(("ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                 "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"), "*", "*", None,
                                "ECS Exec", role="task", severity=WARNING))
            cl = self.typed(t.cluster, "AWS::ECS::Cluster") if t.cluster else None
            key = (((cl or {}).get("Properties", {}).get("Configuration") or {})
                   .get("ExecuteCommandConfiguration") or {}).get("KmsKeyId")
            if key is not None and t.cluster is not None:
                need(Need("kms", "kms (ECS Exec session key)", severity=WARNING))
                ko = self.ts.origin(t.cluster.file, key)
                t.perms.append(Perm(("kms:Decrypt",), self.match(t.cluster.file, key),
                                    self.show(t.cluster.file, key) or "<key>", _key(ko), "ECS Exec session encryption",
                                    role="task", severity=WARNING))
        t.needs = sorted(needs.values(), key=lambda n: (ORDER.index(n.dest) if n.dest in ORDER else -1, n.dest))

    def _kms_perm(self, t: Task, vf: Any, why: str) -> None:
        """kms:Decrypt on the customer key of a Secrets Manager secret defined in the set."""
        f = t.td_file
        n = self.ts.branch(f, vf)
        if isinstance(n, dict) and "Fn::Sub" in n:
            text, variables = sub_vars(n)
            m = re.match(r"^\$\{([^}!.]+)\}", text)
            n = variables.get(m.group(1), {"Ref": m.group(1)}) if m else None
        if not isinstance(n, dict):
            return
        o = self.ts.origin(f, n)
        sec = self.typed(o, "AWS::SecretsManager::Secret")
        key = (sec or {}).get("Properties", {}).get("KmsKeyId")
        if key is None or self.match(o.file, key) in ("aws/secretsmanager", "alias/aws/secretsmanager"):
            return
        ko = self.ts.origin(o.file, key)
        if self.typed(ko, "AWS::KMS::Key") is not None:
            ko = Origin("resource", ko.file, ko.name, "Arn")  # a key id and its ARN name the same key
            resource, shown = self.match.origin_value(ko), self.show.origin_value(ko)
        else:
            resource, shown = self.match(o.file, key), self.show(o.file, key)
        t.perms.append(Perm(("kms:Decrypt",), resource, shown or "<key>", _key(ko),
                            f"{why} (encrypted with a customer managed key)"))

    def _image(self, f: str, node: Any) -> tuple[str, Any, Any, Any]:
        """('public', host, image, None) or ('ecr', repo ARN, shown ARN, repo identity)."""
        text = self.match(f, node)
        n = self.ts.branch(f, node)
        if text is None or text == "":
            # Unknown at synth time (e.g. an image parameter without default): assume private ECR.
            return ("ecr", "arn:aws:ecr:us-east-1:123456789012:repository/*",
                    "arn:aws:ecr:<region>:<account>:repository/<any>", None)
        m = ECR_URI.match(text)
        if m:
            repo_key = None
            if isinstance(n, dict) and "Fn::Sub" in n:
                s, variables = sub_vars(n)
                mm = re.match(r"^\$\{([^}!.]+)\}", s)
                if mm:
                    o = self.ts.origin(f, variables.get(mm.group(1), {"Ref": mm.group(1)}))
                    if self.typed(o, "AWS::ECR::Repository"):
                        repo_key = _key(o)
            shown_text = self.show(f, node) or text
            sm = ECR_URI.match(shown_text.replace("<account>", "000000000000").replace("<region>", "region"))
            shown_repo = sm.group("repo") if sm else m.group("repo")
            return ("ecr", f"arn:aws:ecr:{m.group('region')}:{m.group('acct')}:repository/{m.group('repo')}",
                    f"arn:aws:ecr:<region>:<account>:repository/{shown_repo}", repo_key)
        first = text.split("/", 1)[0]
        host = first if "/" in text and ("." in first or ":" in first or first == "localhost") else "docker.io"
        return ("public", host, text, None)

    # ---- checks

    def add(self, f: Finding) -> None:
        if f not in self.findings:
            self.findings.append(f)

    def check(self, t: Task) -> None:  # noqa: C901, PLR0912, PLR0915
        self.requirements(t)
        proof: list[str] = []
        if not t.subnets:
            self.add(Finding(t.name, f"{t.label}: no subnets in its network configuration", ERROR))
            return
        subnet_keys = [_key(s) for s in t.subnets]
        if any(k is None for k in subnet_keys) or any(self.typed(s, "AWS::EC2::Subnet") is None for s in t.subnets):
            unresolved = ", ".join(str(s) for s in t.subnets if self.typed(s, "AWS::EC2::Subnet") is None)
            self.add(Finding(t.name, f"{t.label}: subnets {unresolved} are not defined in the template set; "
                             "their routes cannot be checked (run diagnose after deploying)", WARNING))
            return
        vpc = self.subnet_info(t.subnets[0])[0]
        task_nets = [n for n in (self.subnet_info(s)[1] for s in t.subnets) if n is not None]
        if len(task_nets) != len(t.subnets):
            task_nets = []
        sgs = [_key(o) for o in t.sgs]
        sg_names = ", ".join(self.name_of(s) for s in sgs) or "<none>"
        paths = {_key(s): self.internet_path(s, t.public_ip) for s in t.subnets}

        # Route each need, per subnet.
        failed: list[tuple[Need, tuple[str, str], InternetPath]] = []
        via_endpoint: dict[str, list[Need]] = {}
        via_gateway: dict[str, list[Need]] = {}
        via_internet: dict[str, list[Need]] = {}
        unverified: dict[tuple[str, str], list[Need]] = {}

        def put(d: dict[Any, list[Need]], k: Any, n: Need) -> None:
            if n not in d.setdefault(k, []):
                d[k].append(n)

        for n in t.needs:
            ep = None if n.internet_only else self.interface_endpoint(n.dest, vpc)
            if ep is not None:
                put(via_endpoint, ep.lid, n)
                self._endpoint_policy(t, n, ep)
                continue
            for s in t.subnets:
                sk = _key(s)
                assert sk is not None
                if n.dest == "s3" and not n.internet_only:
                    gw = self.gateway_endpoint("s3", self.route_table_of(s))
                    if gw is not None:
                        put(via_gateway, gw.lid, n)
                        self._endpoint_policy(t, n, gw)
                        continue
                ip = paths[sk]
                if ip.ok:
                    put(via_internet, ip.detail, n)
                elif ip.kind == "other":
                    put(unverified, (ip.rt, ip.detail), n)
                else:
                    failed.append((n, sk, ip))

        # Route failures: one finding per (severity, cause, set of subnets), listing the destinations.
        subnets_of: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        need_of: dict[str, Need] = {}
        for n, sk, ip in failed:
            subnets_of.setdefault((n.dest, ip.kind, ip.detail), set()).add(sk)
            need_of[n.dest] = n
        grouped: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[Need]] = {}
        for (dest, kind, detail), sks in subnets_of.items():
            n = need_of[dest]
            ordered = tuple(k for k in subnet_keys if k in sks)  # type: ignore[misc]
            grouped.setdefault((n.severity, kind, detail, ordered), []).append(n)
        for (sev, kind, detail, sks), ns in grouped.items():
            ns.sort(key=t.needs.index)
            self.add(Finding(t.name, self._route_message(t, ns, kind, detail, list(sks), paths), sev))
        for (rt, target), ns in unverified.items():
            self.add(Finding(t.name, f"{t.label}: cannot prove a route to {_dests(ns)}: route table {rt} sends "
                             f"0.0.0.0/0 to {target}, which the preflight does not follow; make sure it reaches "
                             "the internet, or add VPC endpoints", WARNING))

        # Security groups along each working path.
        by_group: dict[tuple[Any, ...], list[Need]] = {}
        for ep_lid, ns in via_endpoint.items():
            ep = next(e for e in self._endpoints if e.lid == ep_lid)
            ep_nets = [n for n in (self.subnet_info(s)[1] for s in ep.subnets) if n is not None]
            group_key = (tuple(_key(g) for g in ep.sgs), tuple(ep_nets) if len(ep_nets) == len(ep.subnets) else ())
            for n in ns:
                put(by_group, group_key, n)
        for (ep_sgs_t, ep_nets_t), ns in by_group.items():
            ep_sgs = list(ep_sgs_t)
            label = ", ".join(self.name_of(g) for g in ep_sgs) or "<VPC default security group>"
            for group_sev, group in ((ERROR, [n for n in ns if n.severity == ERROR]),
                                     (WARNING, [n for n in ns if n.severity == WARNING])):
                if not group:
                    continue
                if not self.egress_allows(sgs, to_sg=ep_sgs, to_nets=list(ep_nets_t)):
                    self.add(Finding(t.name, f"{t.label}: task security group {sg_names} has no egress rule "
                                     f"allowing tcp/443 to endpoint security group {label} ({_dests(group)})",
                                     group_sev))
                if not ep_sgs:
                    self.add(Finding(t.name, f"{t.label}: the interface endpoints for {_dests(group)} have no "
                                     "security group (the VPC default group applies, which does not admit the tasks)",
                                     group_sev))
                elif not self.ingress_admits(ep_sgs, sgs, task_nets):
                    self.add(Finding(t.name, f"{t.label}: endpoint security group {label} does not admit tcp/443 "
                                     f"from task security group {sg_names} ({_dests(group)})", group_sev))
            proof.append(f"{_dests(ns)} via interface endpoints with private DNS (security group {label})")
            self._vpc_dns(vpc)
        for gw_lid, ns in via_gateway.items():
            if not self.egress_allows(sgs, prefix_list=True, to_nets=[ipaddress.IPv4Network("0.0.0.0/0")]):
                self.add(Finding(t.name, f"{t.label}: task security group {sg_names} has no egress rule allowing "
                                 f"tcp/443 to the S3 prefix list (image layers through the S3 gateway endpoint "
                                 f"{gw_lid})"))
            proof.append(f"{_dests(ns)} via S3 gateway endpoint {gw_lid}")
        for how, ns in via_internet.items():
            for group_sev, group in ((ERROR, [n for n in ns if n.severity == ERROR]),
                                     (WARNING, [n for n in ns if n.severity == WARNING])):
                if group and not self.egress_allows(sgs, to_nets=[ipaddress.IPv4Network("0.0.0.0/0")]):
                    msg = (f"{t.label}: task security group {sg_names} has no egress rule allowing tcp/443 to "
                           f"0.0.0.0/0 ({_dests(group)} through the {'NAT' if how.startswith('NAT') else 'internet'} "
                           "gateway)")
                    self.add(Finding(t.name, msg, group_sev))
        hows_of: dict[str, list[str]] = {}
        for how, ns in via_internet.items():
            for n in ns:
                hows_of.setdefault(n.label, []).append(how)
        by_hows: dict[tuple[str, ...], list[str]] = {}
        for label, hows in hows_of.items():
            by_hows.setdefault(tuple(hows), []).append(label)
        for hows, labels in by_hows.items():
            proof.append(f"{', '.join(labels)} via {', '.join(hows)}")

        self._iam(t)
        self.proofs[t.label] = proof

    def _route_message(self, t: Task, ns: list[Need], kind: str, detail: str, sks: list[Any],
                       paths: dict[Any, InternetPath]) -> str:
        dests = _dests(ns)
        every = len(sks) == len(t.subnets)
        aws = [n for n in ns if not n.internet_only]
        public = [n for n in ns if n.internet_only]
        only_s3 = len(aws) == 1 and aws[0].dest == "s3"
        if every:
            if only_s3:
                alt = " and no com.amazonaws.<region>.s3 gateway endpoint on their route tables"
            elif len(aws) == 1:
                alt = f" and no com.amazonaws.<region>.{aws[0].dest} endpoint"
            else:
                alt = f" and no VPC endpoints for {'them' if not public else _names(aws)}" if aws else ""
        elif only_s3:
            alt = ", and no com.amazonaws.<region>.s3 gateway endpoint is on that route table"
        elif len(aws) == 1:
            alt = f", and the VPC has no com.amazonaws.<region>.{aws[0].dest} endpoint"
        else:
            alt = (f", and the VPC has no endpoint for {'any of them' if not public else _names(aws)}"
                   if aws else "")
        note = ""
        if public:
            hosts = ", ".join(sorted({n.dest for n in public}))
            note = (f" ({hosts} {'has' if len(public) == 1 else 'have'} no VPC endpoint: mirror the image to ECR or "
                    "route through a NAT)")
        rts = ", ".join(sorted({paths[s].rt or "main" for s in sks}))
        if every:
            where = ""
        else:
            where = f" from subnet{'s' if len(sks) > 1 else ''} {', '.join(s[1] for s in sks)}"
        head = f"{t.label}: no route to {dests}{where}: "
        if kind == "none" and every:
            return head + f"private subnets have no NAT{alt}{note}"
        if kind == "none":
            return head + f"route table {rts} has no 0.0.0.0/0 route to a NAT gateway{alt}{note}"
        if kind == "no-rt":
            subj = "its subnets have" if every else "the subnet has"
            return head + (f"{subj} no route table association (the VPC main route table has only the local route)"
                           f"{alt if not every else ''}{note}")
        if kind == "igw-no-public-ip":
            return head + (f"route table {rts} sends 0.0.0.0/0 to {detail} but AssignPublicIp is DISABLED; enable "
                           f"AssignPublicIp (public-ip mode) or route through a NAT or VPC endpoints{note}")
        return head + f"{detail}{note}"

    def _vpc_dns(self, vpc: tuple[str, str] | None) -> None:
        if vpc is None or vpc in self._platform_seen:
            return
        self._platform_seen.add(vpc)
        p = (self.ts.resource(*vpc) or {}).get("Properties", {})
        support = self.match(vpc[0], p.get("EnableDnsSupport", True)) == "true"
        hostnames = self.match(vpc[0], p.get("EnableDnsHostnames", False)) == "true"
        off = [n for n, ok in (("EnableDnsSupport", support), ("EnableDnsHostnames", hostnames)) if not ok]
        if off:
            self.add(Finding("", f"vpc {vpc[1]}: {' and '.join(off)} must be true for the private DNS names of "
                             "interface endpoints; tasks would resolve the public service names and time out"))

    def _endpoint_policy(self, t: Task, n: Need, ep: Endpoint) -> None:
        if not isinstance(ep.policy, dict):
            return
        stmts = [(ep.file, s) for s in _as_list(self.value(ep.file, ep.policy.get("Statement")))
                 if isinstance(s, dict)]
        checks: list[tuple[str, Perm]] = []
        if n.dest == "s3":
            layer = LAYER_BUCKET.format(p="aws", r="us-east-1").replace("*", "sha256/0")
            checks.append(("s3:GetObject", Perm(("s3:GetObject",), layer, LAYER_BUCKET.format(p="aws", r="<region>"),
                                                None, "image layers")))
        else:
            prefix = {"ecr.api": "ecr:", "ecr.dkr": "ecr:", "logs": "logs:", "secretsmanager": "secretsmanager:",
                      "ssm": "ssm:", "ssmmessages": "ssmmessages:", "kms": "kms:"}.get(n.dest)
            wanted = ("ecr:GetAuthorizationToken",) if n.dest == "ecr.api" else ()
            for pm in t.perms:
                for a in pm.actions:
                    if prefix and a.startswith(prefix) and (n.dest != "ecr.api" or a in wanted) and (
                            n.dest != "ecr.dkr" or a != "ecr:GetAuthorizationToken"):
                        checks.append((a, pm))
        for action, pm in checks:
            if not self.allowed(stmts, action, pm):
                self.add(Finding(t.name, f"{t.label}: the policy of {'S3 gateway' if ep.kind == 'Gateway' else 'interface'}"
                                 f" endpoint {ep.lid} does not allow {action} on {pm.shown} ({pm.why})", n.severity))

    def _iam(self, t: Task) -> None:
        td = (self.ts.resource(t.td_file, t.td_lid) or {}).get("Properties", {})
        for role_kind, prop in (("execution", "ExecutionRoleArn"), ("task", "TaskRoleArn")):
            perms = [pm for pm in t.perms if pm.role == role_kind]
            if not perms:
                continue
            if prop not in td:
                sev = ERROR if any(pm.severity == ERROR for pm in perms) else WARNING
                self.add(Finding(t.name, f"{t.label}: the task definition has no {prop}; {perms[0].why} needs "
                                 f"{perms[0].actions[0]}", sev))
                continue
            ro = self.ts.origin(t.td_file, td[prop])
            if self.typed(ro, "AWS::IAM::Role") is None:
                self.add(Finding(t.name, f"{t.label}: {role_kind} role {self.show(t.td_file, td[prop]) or ro} is not "
                                 "defined in the template set; its permissions cannot be checked (run diagnose after "
                                 "deploying)", WARNING))
                continue
            stmts, unknown = self.role_statements(ro)
            missing: dict[tuple[str, str, str], list[str]] = {}
            for pm in perms:
                for a in pm.actions:
                    if not self.allowed(stmts, a, pm):
                        missing.setdefault((pm.severity, pm.shown, pm.why), []).append(a)
            for (sev, shown, why), acts in missing.items():
                note = f" (managed policies not evaluated: {', '.join(unknown)})" if unknown else ""
                self.add(Finding(t.name, f"{t.label}: {role_kind} role {ro.name} does not allow {', '.join(acts)} on "
                                 f"{shown}, needed for {why}{note}", sev))

    def run(self) -> list[Finding]:
        tasks = self.tasks()
        self.task_count = len(tasks)
        for t in tasks:
            self.check(t)
        for e in self._endpoints:
            if e.kind == "Interface" and not e.private_dns:
                self.add(Finding("", f"endpoint {e.lid}: com.amazonaws.<region>.{e.service} has PrivateDnsEnabled "
                                 "false; tasks resolve the public name and do not use it", WARNING))
        if self.resources("AWS::EC2::NetworkAclEntry"):
            self.add(Finding("", "network ACL entries exist; the preflight does not evaluate network ACLs", WARNING))
        return self.findings


def _secret_arn(text: str | None) -> str | None:
    """A Secrets Manager ValueFrom (ARN[:json-key:version-stage:version-id]) -> the secret ARN."""
    if text is None or ":secretsmanager:" not in text:
        return text
    return ":".join(text.split(":")[:7])


def _names(ns: list[Need]) -> str:
    return ", ".join(n.dest for n in ns)


def _dests(ns: list[Need]) -> str:
    return ", ".join(n.label for n in ns)


# --------------------------------------------------------------------------- API and CLI


RELEVANT = ("AWS::EC2::", "AWS::ECS::", "AWS::IAM::", "AWS::Events::Rule", "AWS::Scheduler::Schedule")


def environments(templates: dict[str, dict[str, Any]]) -> list[str | None]:
    """The environments to check separately: the parent's Environment values when a condition
    that depends on the environment decides a networking, ECS or IAM resource; else [None]."""
    env = templates.get(PARENT, {}).get("Parameters", {}).get("Environment", {})
    values = env.get("AllowedValues") or []
    if len(values) < 2:
        return [None]
    for t in templates.values():
        conds = t.get("Conditions", {})
        dependent = {n for n, c in conds.items() if '"Environment"' in json.dumps(c)}
        changed = True
        while changed:  # conditions built on environment-dependent conditions
            more = {n for n, c in conds.items() if n not in dependent and any(f'"{d}"' in json.dumps(c)
                                                                              for d in dependent)}
            dependent |= more
            changed = bool(more)
        if not dependent:
            continue
        for r in t.get("Resources", {}).values():
            if str(r.get("Type", "")).startswith(RELEVANT):
                text = json.dumps(r)
                if any(f'"{d}"' in text for d in dependent):
                    return list(values)
    return [None]


def with_environment(templates: dict[str, dict[str, Any]], env: str) -> dict[str, dict[str, Any]]:
    """The same set with the parent's Environment parameter defaulting to ``env``."""
    main = templates[PARENT]
    params = dict(main.get("Parameters", {}))
    params["Environment"] = {**params["Environment"], "Default": env}
    return {**templates, PARENT: {**main, "Parameters": params}}


def check(templates: dict[str, dict[str, Any]], envs: list[str | None] | None = None
          ) -> tuple[list[Finding], Preflight]:
    """Findings over every environment that changes the answer. A finding that holds in
    only some environments is prefixed with them ("environment prod: ...")."""
    envs = envs or environments(templates)
    runs: list[tuple[str | None, Preflight]] = []
    for env in envs:
        pf = Preflight(with_environment(templates, env) if env else templates)
        pf.run()
        runs.append((env, pf))
    if len(runs) == 1:
        return runs[0][1].findings, runs[0][1]
    merged: list[Finding] = []
    seen: set[Finding] = set()
    for _env, pf in runs:
        for f in pf.findings:
            if f in seen:
                continue
            seen.add(f)
            where = [e for e, other in runs if f in other.findings]
            if len(where) == len(runs):
                merged.append(f)
            else:
                merged.append(Finding(f.service, f"environment {', '.join(str(e) for e in where)}: {f.message}",
                                      f.severity))
    return merged, runs[0][1]


def run(templates: dict[str, dict[str, Any]]) -> list[Finding]:
    """All findings for a template set (dict file name -> template; 'main.yaml' is the parent),
    over every environment whose conditions change the networking, ECS or IAM resources."""
    return check(templates)[0]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", nargs="?", help="platform spec: synthesize in memory and check")
    p.add_argument("--templates", metavar="DIR", help="check an already generated template set (DIR/main.yaml)")
    p.add_argument("--profile", choices=("aws", "emulator"), default="aws",
                   help="synthesis profile when checking a SPEC (default aws)")
    p.add_argument("--env", metavar="ENV", help="check this environment only (default: every environment whose "
                   "conditions change networking, ECS or IAM resources; otherwise the parameter defaults)")
    p.add_argument("--verbose", "-v", action="store_true", help="also print, per task, the path each need takes")
    p.add_argument("--json", action="store_true", help="print findings as JSON")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen check",
        description="Static reachability preflight: prove from the templates alone that every ECS task can reach "
                    "ECR (ecr.api, ecr.dkr, S3 layers), CloudWatch Logs and its secrets through a NAT, VPC endpoints "
                    "or a public IP, that security groups allow it, and that the execution role permits it. "
                    "Exit 0: passes; 1: findings (errors); 2: usage error.")
    add_arguments(p)
    return p


def cmd(args: argparse.Namespace) -> int:
    """Entry point for an argparse subcommand built with ``add_arguments``."""
    if bool(args.spec) == bool(args.templates):
        print("stackgen check: give exactly one of SPEC or --templates DIR", file=sys.stderr)
        return EXIT_USAGE
    if args.templates:
        try:
            templates = load_dir(args.templates)
        except (OSError, ValueError) as exc:
            print(f"stackgen check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        source = f"{args.templates}/"
    else:
        from generator import render
        from generator.spec import SpecError, load_spec

        try:
            spec = load_spec(args.spec)
        except SpecError as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            return EXIT_USAGE
        templates = render.synthesize(spec, args.profile)
        source = args.spec
    if args.env:
        allowed = templates[PARENT].get("Parameters", {}).get("Environment", {}).get("AllowedValues")
        if "Environment" not in templates[PARENT].get("Parameters", {}) or (allowed and args.env not in allowed):
            print(f"stackgen check: environment {args.env!r} is not one of {allowed}", file=sys.stderr)
            return EXIT_USAGE
    findings, pf = check(templates, [args.env] if args.env else None)
    errors = [f for f in findings if f.severity == ERROR]
    warnings = [f for f in findings if f.severity == WARNING]
    if args.json:
        print(json.dumps({"source": source, "tasks": pf.task_count, "passed": not errors,
                          "findings": [{"severity": f.severity, "service": f.service, "message": f.message}
                                       for f in findings]}, indent=2))
        return EXIT_FINDINGS if errors else EXIT_OK
    for f in errors + warnings:
        print(f"{f.severity}: {f.message}")
    if args.verbose:
        for label, proof in pf.proofs.items():
            for line in proof:
                print(f"ok: {label}: {line}")
    verdict = "FAILED" if errors else "passed"
    print(f"preflight {verdict}: {source}: {pf.task_count} tasks, {len(errors)} errors, {len(warnings)} warnings")
    return EXIT_FINDINGS if errors else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return cmd(args)


if __name__ == "__main__":
    raise SystemExit(main())
