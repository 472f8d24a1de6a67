"""The parent stack: root Parameters, one AWS::CloudFormation::Stack per child, and
all wiring derived from the children's declared interfaces.

An input named X is fed by the one earlier child that declares output X, or else
by the parent parameter X, or else by the parent's derived value X (``derived``: values
the parent computes, like StackUid).  Generation fails on an input nobody feeds, an input
two sources could feed, an output two children declare, a parent parameter no
child consumes, and (via ``contract.check_built``) a child whose template does not
match its declaration."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import ModuleType

from troposphere import Equals, GetAtt, If, Join, Not, Output, Parameter, Ref, Template, cloudformation

from generator import naming
from generator.contract import ContractError, Part, StackInterface, check_built
from generator.placement import place
from generator.spec import Platform
from generator.stacks import GROUPED, STACKS, alb, network
from generator.stacks._base import keep, suppress
from generator.stacks.services import takes_image_uri

LOCAL_TEMPLATE_URL = (
    "TemplateURL is a local path on purpose: `aws cloudformation package` (deploy.sh) "
    "uploads the child and rewrites it, and cfn-lint can cross-check nested parameters"
)


@dataclass(frozen=True)
class Child:
    """A nested stack: its name, module, declared interface and built template."""

    name: str
    module: ModuleType
    iface: StackInterface
    template: Template
    # The service group of a grouped module's instance (None: not grouped).
    part: Part | None = None

    @property
    def reexports(self) -> bool:
        """Whether the parent re-exports its public outputs: every child's but those of the
        groups that continue a full one (``default-2``, ...), whose per-service outputs stay in
        their own stacks, so the parent's outputs do not grow with the number of services
        (CloudFormation's 200 per template)."""
        return self.part is None or not self.part.overflow


@dataclass(frozen=True)
class Edge:
    """Child ``consumer`` input ``name`` is fed by ``producer`` ('' = parent parameter)."""

    consumer: str
    name: str
    producer: str


def root_parameters(spec: Platform, parts: list[Part] | None = None) -> dict[str, Parameter]:
    """Every deploy-time knob of the platform, with its default (``parts``: the service
    groups, ``placement.place(spec)`` when the caller has not)."""
    parts = parts if parts is not None else place(spec)
    part_of = {n: p for p in parts for n in p.services}
    ps: list[Parameter] = [
        Parameter(
            "Name",
            Type="String",
            Default=spec.name,
            AllowedPattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$",
            Description="Name of the deployment, used in physical resource names",
        ),
        Parameter(
            "Environment",
            Type="String",
            Default=spec.default_environment,
            AllowedValues=list(spec.environments),
            Description="Deployment environment",
        ),
    ]
    prefix = ipaddress.ip_network(spec.network.vpc_cidr).prefixlen
    ps.append(
        Parameter(
            "VpcCidr",
            Type="String",
            Default=spec.network.vpc_cidr,
            AllowedPattern=rf"^(\d{{1,3}}\.){{3}}\d{{1,3}}/{prefix}$",
            Description=f"CIDR block of the existing VPC (a /{prefix}; tasks send DNS to its resolver)"
            if spec.network.existing
            else f"CIDR block for the VPC (a /{prefix}; subnets are carved from it)",
        )
    )
    ps.extend(network.parameters(spec))
    if spec.uses_ingress_cidrs:
        ps.append(
            Parameter(
                "IngressCidrBlocks",
                Type="CommaDelimitedList",
                Default=",".join(spec.ingress_cidrs),
                Description=f"Exactly {len(spec.ingress_cidrs)} CIDR(s), comma-separated, that may reach "
                "the load balancers on ports 80 and 443",
            )
        )
    for name, default, pattern, description in spec.ingress_parameters():
        ps.append(
            Parameter(name, Type="CommaDelimitedList", Default=default, AllowedPattern=pattern, Description=description)
        )
    if spec.has_domain:
        assert spec.domain
        ps.append(
            Parameter(
                "BaseDomain",
                Type="String",
                Default=spec.domain.base_domain,
                Description="Base domain; records are {service}.{region}.{base_domain}. "
                "Empty deploys without DNS and certificates (HTTP only)",
            )
        )
        ps.append(
            Parameter(
                "HostedZoneId",
                Type="String",
                Default="",
                Description="Route 53 public hosted zone ID of BaseDomain (required with a domain)",
            )
        )
    if spec.database:
        ps.append(
            Parameter(
                "DatabaseUsername",
                Type="String",
                Default=spec.database.username,
                Description="Database master username",
            )
        )
        ps.append(
            Parameter(
                "DatabaseMinAcu",
                Type="Number",
                Default=_num(spec.database.min_acu),
                Description="Minimum Aurora Capacity Units",
            )
        )
        ps.append(
            Parameter(
                "DatabaseMaxAcu",
                Type="Number",
                Default=_num(spec.database.max_acu),
                Description="Maximum Aurora Capacity Units",
            )
        )
    if "vpc-endpoints" in spec.network.modes:
        ps.append(
            Parameter(
                "S3PrefixListId",
                Type="String",
                AllowedPattern=r"^pl-[0-9a-f]{8,17}$",
                Description="AWS-managed prefix list of com.amazonaws.<region>.s3 (the only S3 address "
                "range tasks may reach without a NAT); deploy.sh looks it up in the region",
            )
        )
    ps.append(Parameter("AlarmEmail", Type="String", Default="", Description="Email for alarm notifications"))
    for s in spec.services:
        if s.image.repository:
            ps.append(
                Parameter(
                    naming.image_tag_param(s.name),
                    Type="String",
                    Default=s.image.tag,
                    AllowedPattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
                    Description=f"Image tag of {s.name} in the {s.image.repository} repository "
                    "(tags are immutable: push a new tag per build)",
                )
            )
            runs = "runs no task" if s.is_service else "keeps its schedule disabled"
            ps.append(
                Parameter(
                    naming.image_ready_param(s.name),
                    Type="String",
                    Default="true",
                    AllowedValues=["true", "false"],
                    Description=f"false: {s.name} {runs} until its image is pushed to the "
                    f"{s.image.repository} repository, which this stack creates empty; "
                    "false on a first deploy (docs/platforms-post-deploy.md)",
                )
            )
        elif takes_image_uri(part_of[s.name], s):
            desc = f"Container image URI of {s.name}"
            if s.image.fallback:
                desc += f" (empty = {s.image.fallback})"
            ps.append(Parameter(naming.image_param(s.name), Type="String", Default=s.image.default, Description=desc))
    for p in spec.parameters:
        kw: dict[str, object] = {"Type": p.type, "Description": p.description}
        if p.default is not None:
            kw["Default"] = p.default
        if p.allowed_values:
            kw["AllowedValues"] = list(p.allowed_values)
        if p.allowed_pattern is not None:
            kw["AllowedPattern"] = p.allowed_pattern
        if p.constraint_description is not None:
            kw["ConstraintDescription"] = p.constraint_description
        if p.no_echo:
            kw["NoEcho"] = True
        ps.append(Parameter(p.name, **kw))
    return {p.title: p for p in ps}


def metadata(spec: Platform, kids: list[Child] | None = None) -> dict[str, object]:
    """What deploy.sh and delete.sh read from the parent template (Metadata.stackgen), so they
    need not know the spec: the images a first deploy must wait for, and per environment
    whether a delete keeps the platform's data; with more than one service group, each
    group's stacks and services (a platform of one group has only the unsuffixed stacks)."""
    images = [
        {
            "service": s.name,
            "kind": "service" if s.is_service else "scheduled-task",
            "parameter": naming.image_ready_param(s.name),
            "repository": s.image.repository,
            "repository_output": naming.repo_output(s.image.repository, "Uri"),
            "tag_parameter": naming.image_tag_param(s.name),
        }
        for s in spec.services
        if s.image.repository
    ]
    out: dict[str, object] = {
        "images": images,
        "retain_on_delete": {env: spec.retains_data(env) for env in spec.environments},
    }
    parts = place(spec)
    if len(parts) > 1:
        # Where a reviewer finds a service: its group's stacks (generator.placement), and the alb
        # stack of its target groups past the alb stack (generator.alb_stacks).
        built = {c.name for c in kids} if kids is not None else None
        albs = {c.part.group: [c.name] for c in kids or [] if c.module is alb and c.part is not None}
        out["service_groups"] = {
            p.group: {
                "stacks": [p.stack(m.NAME) for m in GROUPED if built is None or p.stack(m.NAME) in built]
                + albs.get(p.group, []),
                "services": list(p.services),
            }
            for p in parts
        }
    return {"stackgen": out}


def derived() -> dict[str, object]:
    """Values the parent computes and passes to the children that declare them as inputs."""
    return {naming.STACK_UID: naming.stack_uid()}


def _is_list(parameter_type: str) -> bool:
    """Whether a parent parameter is a list (CommaDelimitedList or an AWS-specific List<...>, like an
    existing VPC's subnets): the parent passes it to a child's CommaDelimitedList joined by commas."""
    return parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def children(spec: Platform, parts: list[Part] | None = None) -> list[Child]:
    """Every applicable child in creation order; a grouped module once per service group
    (``parts``: ``placement.place(spec)`` when the caller already has it)."""
    parts = parts if parts is not None else place(spec)
    out = []
    for mod in STACKS:
        if mod is alb:  # the alb stack, and one per service group past it (generator.alb_stacks)
            by_group = {p.group: p for p in parts}
            group_of = {n: p.group for p in parts for n in p.services}
            for a in alb.instances(spec, group_of):
                i, t = mod.interface(spec, a), mod.build(spec, a)
                out.append(_child(a.name, mod, i, t, by_group[a.group] if a.group else None))
            continue
        if mod not in GROUPED:
            if mod.applies(spec):
                out.append(_child(mod.NAME, mod, mod.interface(spec), mod.build(spec)))
            continue
        for part in parts:
            if mod.applies(spec, part):
                out.append(_child(part.stack(mod.NAME), mod, mod.interface(spec, part), mod.build(spec, part), part))
    return out


def _child(name: str, mod: ModuleType, iface: StackInterface, template: Template, part: Part | None = None) -> Child:
    check_built(name, iface, template)
    return Child(name, mod, iface, template, part)


def wire(spec: Platform, kids: list[Child], root: dict[str, Parameter] | None = None) -> list[Edge]:
    """Derive every edge; raise ContractError on a missing, ambiguous or unknown one.
    ``root`` is ``root_parameters(spec)`` when the caller already built it."""
    root = root if root is not None else root_parameters(spec)
    computed = derived()
    clash = sorted(set(root) & set(computed))
    if clash:
        raise ContractError(f"parent parameters {clash} have the names of values the parent derives")
    producers: dict[str, str] = {}
    edges: list[Edge] = []
    consumed: set[str] = set()
    for c in kids:
        for i in c.iface.inputs:
            from_child = producers.get(i.name)
            if from_child and (i.name in root or i.name in computed):
                raise ContractError(
                    f"stack {c.name}: input {i.name} is both a parent value and an output of {from_child}"
                )
            if from_child:
                edges.append(Edge(c.name, i.name, from_child))
            elif i.name in root:
                rtype = root[i.name].properties["Type"]
                if _is_list(rtype) != (i.type == "CommaDelimitedList"):
                    raise ContractError(
                        f"stack {c.name}: input {i.name} is {i.type} but the parent parameter is {rtype}"
                    )
                edges.append(Edge(c.name, i.name, ""))
                consumed.add(i.name)
            elif i.name in computed:
                if i.type != "String":
                    raise ContractError(f"stack {c.name}: input {i.name} is {i.type} but the parent derives a String")
                edges.append(Edge(c.name, i.name, ""))
            else:
                raise ContractError(
                    f"stack {c.name}: input {i.name} is fed by no earlier stack's output and no parent parameter"
                )
        for o in c.iface.outputs:
            if o.name in producers:
                raise ContractError(f"output {o.name} is declared by both {producers[o.name]} and {c.name}")
            producers[o.name] = c.name
    unused = sorted(set(root) - consumed)
    if unused:
        raise ContractError(f"parent parameters no stack consumes: {unused}")
    return edges


def build(spec: Platform, kids: list[Child] | None = None) -> Template:
    kids = kids if kids is not None else children(spec)
    root = root_parameters(spec)
    edges = wire(spec, kids, root)
    by_name = {c.name: c for c in kids}
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(f"stackgen parent stack of the {spec.name} platform: {spec.description}")
    t.set_metadata(metadata(spec, kids))
    computed = derived()
    for p in root.values():
        t.add_parameter(p)
    if any(c.iface.condition == "HasDomain" for c in kids):
        t.add_condition("HasDomain", Not(Equals(Ref("BaseDomain"), "")))
        # Fail before anything is created: certificates cannot validate without the zone.
        t.add_rule(
            "DomainNeedsHostedZone",
            {
                "RuleCondition": Not(Equals(Ref("BaseDomain"), "")),
                "Assertions": [
                    {
                        "Assert": Not(Equals(Ref("HostedZoneId"), "")),
                        "AssertDescription": "With BaseDomain set, HostedZoneId must name its public "
                        "Route 53 hosted zone (DNS validation and alias records).",
                    }
                ],
            },
        )
    # each child's edges and each producer's declared outputs, looked up once
    read_by: dict[str, list[Edge]] = {}
    for e in edges:
        read_by.setdefault(e.consumer, []).append(e)
    declared = {c.name: set(c.iface.output_names) for c in kids}
    for c in kids:
        params: dict[str, object] = {}
        deps = set()
        for e in read_by.get(c.name, []):
            if e.producer:
                prod = by_name[e.producer]
                if e.name not in declared[e.producer] or e.name not in prod.template.outputs:
                    raise ContractError(f"{c.name} reads {e.producer}.Outputs.{e.name}, which it does not emit")
                value: object = GetAtt(naming.stack_id(e.producer), f"Outputs.{e.name}")
                if prod.iface.condition and prod.iface.condition != c.iface.condition:
                    value = If(prod.iface.condition, value, "")
                deps.add(e.producer)
            elif e.name in computed:
                value = computed[e.name]
            elif _is_list(root[e.name].properties["Type"]):
                value = Join(",", Ref(e.name))
            else:
                value = Ref(e.name)
            params[e.name] = value
        kw: dict[str, object] = {}
        order_only = sorted(set(c.iface.after) & set(by_name) - deps)
        if order_only:
            kw["DependsOn"] = [naming.stack_id(d) for d in order_only]
        if c.iface.condition:
            kw["Condition"] = c.iface.condition
        if params:
            kw["Parameters"] = dict(sorted(params.items()))
        child = t.add_resource(
            cloudformation.Stack(
                naming.stack_id(c.name),
                TemplateURL=naming.stack_file(c.name),
                TimeoutInMinutes=60,
                Tags=naming.tags(f"stack-{c.name}"),
                **kw,
            )
        )
        suppress(child, cfn_lint={"W3002": LOCAL_TEMPLATE_URL})
        # A nested stack holds no data itself; its stateful resources carry their own
        # Retain/Snapshot policies, so deleting the stack resource is explicit and safe.
        keep(child, "Delete")
        for o in c.iface.outputs:
            if o.public and c.reexports:
                okw: dict[str, object] = {}
                if c.iface.condition:
                    okw["Condition"] = c.iface.condition
                t.add_output(
                    Output(
                        o.name,
                        Description=o.description,
                        Value=GetAtt(naming.stack_id(c.name), f"Outputs.{o.name}"),
                        **okw,
                    )
                )
    return t
