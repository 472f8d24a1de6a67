"""The edge: load balancers and their listeners, who may reach them, the domain, alarm thresholds.

Who may reach a listener: the platform's ``ingress_cidrs`` (the ``IngressCidrBlocks``
parameter) on ports 80 and 443 only, or a named ``ingress_sources`` set (a
CommaDelimitedList parameter of its own) on any port.  ``check_edge`` holds the
cross-section rules: every target group has a listener in both stages of the two-stage
deploy (without and with a domain), only 80/443 may be open to the world, and each load
balancer's security group fits the inbound-rule quota.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from generator.spec.base import Model, PascalName, PortNumber, Slug, dns_name_error, new_list
from generator.spec.routing import NEEDS_HTTPS, check_routes, route_ports

# The only listener ports a load balancer may open to the world (0.0.0.0/0): what Control
# Tower EC2.PR.3 (vpc_sg_open_only_to_authorized_ports_check) and the README's security
# posture allow. Every other port needs declared sources.
WORLD_PORTS = (80, 443)
# Inbound rules per security group (one per CIDR and port, or per referenced group):
# "Inbound or outbound rules per security group", Amazon VPC quotas,
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
SG_INBOUND_RULES_MAX = 60
# AllowedPattern of a source-set parameter, matched by CloudFormation against each CIDR of
# the list: an IPv4 CIDR; WORLD_EXCLUDED refuses /0 for sets that reach other ports.
CIDR_PATTERN = r"^(\d{1,3}\.){3}\d{1,3}/(\d|[12]\d|3[0-2])$"
CIDR_PATTERN_NOT_WORLD = r"^(\d{1,3}\.){3}\d{1,3}/([1-9]|[12]\d|3[0-2])$"


def check_cidr_list(v: list[str]) -> list[str]:
    """A list of IPv4 network CIDRs, each valid and none repeated (ingress_cidrs, a source set's cidrs)."""
    for c in v:
        err = ipv4_cidr_error(c)
        if err:
            raise ValueError(err)
    if len(set(v)) != len(v):
        raise ValueError("CIDRs must be unique")
    return v


def ipv4_cidr_error(cidr: str) -> str | None:
    """Why ``cidr`` is not an IPv4 network CIDR the security-group rules (CidrIp) accept, or None."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return f"{cidr!r} is not a valid CIDR"
    if net.version != 4:
        return f"{cidr!r} is IPv6; load balancer rules take IPv4 CIDRs (CidrIp)"
    return None


class IngressSource(Model):
    """A named set of client CIDRs; it becomes a CommaDelimitedList parameter of its own."""

    name: PascalName
    """Name of the parameter that holds these CIDRs at deploy time (e.g. AdminCidrBlocks); listeners name it in sources."""
    description: str = Field(min_length=1)
    """Who these clients are; the parameter's description."""
    cidrs: list[str] = Field(min_length=1, max_length=SG_INBOUND_RULES_MAX)
    """Default of the parameter. The templates have one rule per CIDR and port, so a deployed value must have exactly this many CIDRs."""

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return check_cidr_list(v)

    @property
    def opens_world(self) -> bool:
        return any(ipaddress.ip_network(c).prefixlen == 0 for c in self.cidrs)

    def parameter_description(self, ports: list[int]) -> str:
        shown = ", ".join(str(p) for p in sorted(set(ports)))
        return (
            f"Exactly {len(self.cidrs)} CIDR(s), comma-separated, that may reach listener port(s) {shown}: "
            f"{self.description}"
        )


class Listener(Model):
    """A listener. mode: https (only with a domain), redirect (HTTP->443 with a domain,
    else HTTP forward), auto (HTTPS with a domain, else HTTP)."""

    port: PortNumber
    """Listener port."""
    mode: Literal["https", "redirect", "auto"]
    """https (needs dns_record), redirect (HTTP to HTTPS with a domain, else HTTP) or auto (HTTPS with a domain, else HTTP)."""
    target_group: Slug
    """The target group (declared on a service) it forwards to."""
    sources: PascalName | None = None
    """The ingress_sources set (its parameter name) that may reach this listener; default: the load balancer's sources, else ingress_cidrs (IngressCidrBlocks), which only ports 80 and 443 may use."""


class LoadBalancer(Model):
    name: Slug
    """Load balancer name (slug); target groups and ${lb:NAME:url} refer to it."""
    dns_record: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    """Record name: the load balancer answers at <dns_record>.<region>.<BaseDomain>."""
    listeners: list[Listener] = Field(min_length=1)
    """Its listeners, one per port."""
    sources: PascalName | None = None
    """The ingress_sources set (its parameter name) its listeners admit unless they name their own."""
    allow_from_services: list[Slug] = Field(default_factory=new_list)
    """Services whose tasks may call this load balancer."""
    allow_from_nat: bool = False
    """Let the platform's NAT gateways' public IPs reach it (tasks calling its public name)."""
    idle_timeout: int = Field(default=60, ge=1, le=4000)
    """Idle connection timeout in seconds."""

    @model_validator(mode="after")
    def _ports(self) -> LoadBalancer:
        ports = [x.port for x in self.listeners]
        if len(set(ports)) != len(ports):
            raise ValueError("listeners: ports must be unique")
        return self

    def sources_of(self, listener: Listener) -> str | None:
        """The ingress_sources set a listener admits, or None for ingress_cidrs (IngressCidrBlocks)."""
        return listener.sources or self.sources

    def ingress(self) -> list[tuple[str | None, int]]:
        """(ingress_sources set, or None for IngressCidrBlocks; port) of each listener, by port."""
        return [(self.sources_of(x), x.port) for x in sorted(self.listeners, key=lambda x: x.port)]


class Domain(Model):
    base_domain: str = Field(default="", description="default of the BaseDomain parameter; '' = no domain")

    @field_validator("base_domain")
    @classmethod
    def _dns(cls, v: str) -> str:
        err = dns_name_error(v) if v else None
        if err:
            raise ValueError(f"{v!r}: {err}")
        return v


class Alarms(Model):
    cpu_high: int = Field(default=85, ge=1, le=100)
    """Alarm when a service's CPU stays above this percentage."""
    memory_high: int = Field(default=85, ge=1, le=100)
    """Alarm when a service's memory stays above this percentage."""
    target_5xx: int = Field(default=10, ge=1)
    """Alarm when targets return more 5xx responses than this per period."""
    response_time_seconds: float = Field(default=1.0, gt=0)
    """Alarm when the target response time exceeds this many seconds."""
    image_pull_seconds: int = Field(default=300, ge=1)
    """Alarm when a task's image pull takes longer than this many seconds (seeds/001 requirement 1.2:
    within 5 minutes); measured from the ECS task state change events' pullStartedAt/pullStoppedAt."""


# --------------------------------------------------------------------------- cross checks


class EdgeSpec(Protocol):
    """What ``check_edge`` reads of the platform (generator.spec.platform.Platform)."""

    load_balancers: list[LoadBalancer]
    ingress_sources: list[IngressSource]
    ingress_cidrs: list[str]

    @property
    def services(self) -> Sequence[Any]: ...

    @property
    def domain(self) -> Domain | None: ...

    @property
    def has_domain(self) -> bool: ...

    def lb_nat_rules(self, lb: LoadBalancer) -> int: ...


def forwards(mode: str, domain_capable: bool) -> tuple[bool, bool]:
    """(forwards without a domain, forwards with a domain) of a listener (generator.stacks.alb):
    on a load balancer that can have a domain, https exists only with one, redirect forwards only
    without one (with one it redirects to 443), auto always forwards; otherwise all forward."""
    if not domain_capable:
        return True, True
    return mode != "https", mode != "redirect"


def lb_inbound_rules(spec: EdgeSpec, lb: LoadBalancer) -> int:
    """Inbound rules of the load balancer's security group, as generator.stacks.security_groups
    emits them: one per CIDR and listener port, per NAT gateway address and port, and per
    calling service and port."""
    sizes = {s.name: len(s.cidrs) for s in spec.ingress_sources}
    cidrs = sum(sizes[src] if src else len(spec.ingress_cidrs) for src, _ in lb.ingress())
    return cidrs + spec.lb_nat_rules(lb) + len(set(lb.allow_from_services)) * len(lb.listeners)


def check_edge(spec: EdgeSpec) -> None:  # noqa: C901, PLR0912 - one pass over the load balancers
    """Raise ValueError (naming the field) on a load balancer that AWS or the gate would refuse."""
    tgs = [
        (f"services[{i}].target_groups[{j}]", tg)
        for i, s in enumerate(spec.services)
        for j, tg in enumerate(s.target_groups)
    ]
    check_routes(spec.load_balancers, tgs, spec.has_domain, spec.domain.base_domain if spec.domain else "")
    sources = {s.name: s for s in spec.ingress_sources}
    if len(sources) != len(spec.ingress_sources):
        raise ValueError("ingress_sources: names must be unique")
    used: dict[str, list[int]] = {}
    for lb in spec.load_balancers:
        where = f"load_balancers[{lb.name}]"
        capable = spec.has_domain and lb.dns_record is not None
        if lb.sources and lb.sources not in sources:
            raise ValueError(f"{where}.sources: unknown ingress_sources set {lb.sources!r}")
        for x in lb.listeners:
            src = lb.sources_of(x)
            if x.sources and x.sources not in sources:
                raise ValueError(f"{where}.listeners[{x.port}].sources: unknown ingress_sources set {x.sources!r}")
            if src is None and x.port not in WORLD_PORTS:
                raise ValueError(
                    f"{where}.listeners[{x.port}].sources: port {x.port} is not 80 or 443, so it cannot admit "
                    "ingress_cidrs (IngressCidrBlocks, the world by default); declare an ingress_sources set "
                    "with the networks that need this port and name it here"
                )
            if src is not None:
                used.setdefault(src, []).append(x.port)
            if capable and x.mode == "redirect" and x.port == 443:
                raise ValueError(
                    f"{where}.listeners[443]: redirect sends clients to HTTPS on 443 once BaseDomain "
                    "is set, so 443 itself cannot redirect; use mode https or auto"
                )
        if (
            capable
            and any(x.mode == "redirect" for x in lb.listeners)
            and not any(x.port == 443 and x.mode in ("https", "auto") for x in lb.listeners)
        ):
            port = next(x.port for x in lb.listeners if x.mode == "redirect")
            raise ValueError(
                f"{where}.listeners[{port}]: redirect sends clients to HTTPS on port 443 once "
                f"BaseDomain is set, but {lb.name!r} has no https or auto listener on 443; "
                "add {port: 443, mode: https, target_group: ...}"
            )
        _check_stages(lb, capable, where, [tg for _, tg in tgs if tg.load_balancer == lb.name])
        rules = lb_inbound_rules(spec, lb)
        if rules > SG_INBOUND_RULES_MAX:
            raise ValueError(
                f"{where}: its security group needs {rules} inbound rules (one per CIDR and listener port, "
                f"NAT gateway address and port, calling service and port), over the {SG_INBOUND_RULES_MAX} "
                "AWS allows per security group (Amazon VPC quotas); give fewer or wider CIDRs, or fewer ports "
                "per source set"
            )
    for name, ports in sorted(used.items()):
        wide = sorted({p for p in ports if p not in WORLD_PORTS})
        if wide and sources[name].opens_world:
            raise ValueError(
                f"ingress_sources[{name}].cidrs: 0.0.0.0/0 would open port {wide[0]} to the world; "
                "only 80 and 443 may be"
            )
    for s in spec.ingress_sources:
        if s.name not in used:
            raise ValueError(f"ingress_sources[{s.name}]: declared but no listener names it in sources")


def _check_stages(lb: LoadBalancer, capable: bool, where: str, mine: list[Any]) -> None:
    """Every target group has a forwarding listener (its default action or a route's rule)
    without a domain and with one (the two stages of the deploy): ECS refuses a service whose
    target group has no load balancer.  An HTTP2/GRPC target group is served only by https
    listeners, so only with a domain (its services attach it only then, generator.stacks.services)."""
    tgs: dict[str, list[Listener]] = {}
    by_port = {x.port: x for x in lb.listeners}
    for x in sorted(lb.listeners, key=lambda x: x.port):
        tgs.setdefault(x.target_group, []).append(x)
    domain_only = {tg.name for tg in mine if tg.protocol_version in NEEDS_HTTPS}
    for tg in mine:
        for r in tg.routes:
            tgs.setdefault(tg.name, []).extend(by_port[p] for p in route_ports(lb, r) if p in by_port)
    for tg, listeners in tgs.items():
        listeners = sorted(set(listeners), key=lambda x: x.port)
        without = tg in domain_only or any(forwards(x.mode, capable)[0] for x in listeners)
        with_domain = any(forwards(x.mode, capable)[1] for x in listeners)
        first = listeners[0]
        if not without:
            raise ValueError(
                f"{where}.listeners[{first.port}]: target group {tg!r} is reached only through https listeners, "
                "which exist only when BaseDomain is set; without a domain its service cannot attach. Add "
                f"{{port: 80, mode: redirect, target_group: {tg}}} (plain HTTP until a domain exists) or use "
                "mode: auto"
            )
        if not with_domain:
            raise ValueError(
                f"{where}.listeners[{first.port}]: target group {tg!r} is reached only through redirect listeners, "
                "which redirect to HTTPS once BaseDomain is set; then no listener forwards to it and its service "
                f"cannot attach. Add {{port: 443, mode: https, target_group: {tg}}} or use mode: auto"
            )


def source_ports(lbs: list[LoadBalancer], name: str) -> list[int]:
    """The listener ports that admit the ingress_sources set ``name``."""
    return sorted({x.port for lb in lbs for x in lb.listeners if lb.sources_of(x) == name})


def parameter_pattern(ports: list[int]) -> str:
    """AllowedPattern of a source set's parameter: /0 only when every port it reaches is 80/443."""
    return CIDR_PATTERN if all(p in WORLD_PORTS for p in ports) else CIDR_PATTERN_NOT_WORLD
