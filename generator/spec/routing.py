"""Routing on a load balancer: listener rules (host and path routes of a target group) and
the protocol a target group speaks to its targets.

A target group declares its ``routes``; each route becomes one
``AWS::ElasticLoadBalancingV2::ListenerRule`` per listener of its load balancer (every
listener unless the route names ``listeners``), with host-header and/or path-pattern
conditions and the route's explicit ``priority``.  The listener keeps its default action
(its ``target_group``).  A rule's logical ID is derived from its listener and priority
(``<Lb>Listener<port>Rule<priority>``), so changing a route's priority replaces its rule
instead of updating the priority in place: CloudFormation then never asks ELB to give a rule
a priority another rule still holds (what fails when two rules swap priorities in place, per
the ListenerRule schema's Priority description), and appending routes never renumbers one.

A host is a full host pattern (``api.example.com``, ``*.example.com``: matched as written;
its DNS and certificate are the user's) or a record name of the platform's domain (``api``:
``api.<region>.<BaseDomain>``, which gets an alias record in the dns stack and is an
alternative name of the load balancer's certificate, at most 10 names per certificate).  Without a domain (the first stage of the two-stage
deploy) a record host matches ``<record>.<region>.invalid`` (an RFC 2606 reserved name, so
no real request does; ``curl -H 'Host: ...'`` reaches it) and the rule exists only so its
target group has a load balancer for ECS.

Limits (``check_routes``): a host or path pattern of at most 128 characters of the
characters ELB allows; at most 3 values per condition and 5 per rule, at most 5 wildcards
per rule; priorities 1-50,000, unique per listener; one target group's record hosts fit one
certificate (10 names, with the load balancer's dns_record when the target group must stay
on the declared load balancer).

Past the quotas of one ALB (100 target groups, 100 rules besides the default ones, 10
record names on its certificate) a declared load balancer becomes several ALBs, its shards
(generator.lb_placement): target groups whose routes all have hosts are placed, in spec
order, on ``<name>-2``, ``<name>-3``, ... with their rules, alias records and a certificate
of their own; listeners' default target groups and routes without hosts stay on the
declared one, and a host's routes stay on the shard that serves it.  Appending target
groups or services never moves one already placed: in a change set the new shard and its
resources are added, nothing else is replaced.  Removing or growing a target group can let a
later one move to an earlier shard (its rules and its hosts' alias records are replaced).
What no split fixes (more than 100 host-less rules, one host's routes past a shard's quota,
a target group whose hosts two shards already serve) the deployability check on the
templates refuses (generator.deployability.service_limits), and says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, model_validator

from generator import awsfacts
from generator.awsfacts import NAMES_PER_CERTIFICATE
from generator.spec.base import Model, PortNumber, new_list

# ELB rule conditions ("Rule condition types", Application Load Balancers user guide,
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html,
# and the ListenerRule schema cfn-lint bundles: HostHeaderConfig/PathPatternConfig Values).
PATTERN_MAX = 128
MATCHES_PER_CONDITION = 3
MATCHES_PER_RULE = 5
WILDCARDS_PER_RULE = 5
HOST_CHARS = re.compile(r"^[A-Za-z0-9.*?-]+$")
PATH_CHARS = re.compile(r"^/[A-Za-z0-9_.$/~\"'@:+&*?-]*$")
RECORD = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# The stage-one (no BaseDomain) suffix of a record host: a reserved top-level domain.
NO_DOMAIN_SUFFIX = "invalid"
PRIORITY_MAX = 50000

ProtocolVersion = Literal["HTTP1", "HTTP2", "GRPC"]
# ProtocolVersion values of AWS::ElasticLoadBalancingV2::TargetGroup (cfn-lint's schema:
# "The possible values are GRPC, HTTP1, and HTTP2"); HTTP2 and GRPC are served only through
# HTTPS listeners ("Protocol version", Target groups for your Application Load Balancers,
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-protocol-version).
NEEDS_HTTPS = ("HTTP2", "GRPC")
# Service Connect appProtocol of a port mapping (cfn-lint's AWS::ECS::TaskDefinition schema).
AppProtocol = Literal["http", "http2", "grpc"]

Host = Annotated[str, Field(min_length=1, max_length=PATTERN_MAX)]
Path = Annotated[str, Field(min_length=1, max_length=PATTERN_MAX)]


def host_error(host: str) -> str | None:
    """Why ``host`` is neither a record name of the domain nor a host pattern ELB accepts, or None."""
    if "." not in host:
        return None if RECORD.fullmatch(host) else f"{host!r}: a record name is a DNS label ([a-z][a-z0-9-]*)"
    if not HOST_CHARS.fullmatch(host):
        return f"{host!r}: a host pattern has only A-Z a-z 0-9 - . * ? (ELB host-header condition)"
    if not re.fullmatch(r"[A-Za-z*?]+", host.rsplit(".", 1)[1]):
        return f"{host!r}: only letters (or wildcards) may follow the last '.' (ELB host-header condition)"
    return None


def path_error(path: str) -> str | None:
    if not PATH_CHARS.fullmatch(path):
        return (
            f"{path!r}: a path pattern starts with '/' and has only A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ? "
            "(ELB path-pattern condition)"
        )
    return None


class Route(Model):
    """A listener rule: requests matching its hosts and/or paths go to this target group."""

    priority: int = Field(ge=1, le=PRIORITY_MAX)
    """Rule priority, 1-50000, unique per listener; lower is evaluated first. Explicit, so appending routes never renumbers one; the rule's logical ID is derived from it, so changing it replaces the rule (never a priority swap in place)."""
    hosts: list[Host] = Field(default_factory=new_list, max_length=MATCHES_PER_CONDITION)
    """Host-header values (any matches): a record name of the platform's domain ('api': api.<region>.<BaseDomain>, with an alias record and a name of the load balancer's certificate; adding one replaces the certificate) or a full host pattern ('api.example.com', '*.example.com'; its DNS is yours). At most 3, 128 characters each."""
    paths: list[Path] = Field(default_factory=new_list, max_length=MATCHES_PER_CONDITION)
    """Path-pattern values (any matches), case-sensitive, e.g. /v1/*. At most 3, 128 characters each."""
    listeners: list[PortNumber] = Field(default_factory=new_list)
    """Ports of the load balancer's listeners that get this rule; default: all of them."""

    @model_validator(mode="after")
    def _values(self) -> Route:
        if not self.hosts and not self.paths:
            raise ValueError("a route needs hosts, paths or both")
        for h in self.hosts:
            err = host_error(h)
            if err:
                raise ValueError(f"hosts: {err}")
        for p in self.paths:
            err = path_error(p)
            if err:
                raise ValueError(f"paths: {err}")
        if len(self.hosts) + len(self.paths) > MATCHES_PER_RULE:
            raise ValueError(f"at most {MATCHES_PER_RULE} host and path values per rule (ELB match evaluations)")
        wildcards = sum(v.count("*") + v.count("?") for v in [*self.hosts, *self.paths])
        if wildcards > WILDCARDS_PER_RULE:
            raise ValueError(f"{wildcards} wildcards; ELB allows at most {WILDCARDS_PER_RULE} per rule")
        if len(set(self.listeners)) != len(self.listeners):
            raise ValueError("listeners: ports must be unique")
        if len(set(self.hosts)) != len(self.hosts) or len(set(self.paths)) != len(self.paths):
            raise ValueError("hosts and paths must be unique")
        return self

    @property
    def records(self) -> list[str]:
        """Its hosts that are record names of the platform's domain."""
        return [h for h in self.hosts if "." not in h]


def matcher_error(protocol_version: str, matcher: str) -> str | None:
    """Why ``matcher`` is not a success-code matcher for the protocol version, or None: HTTP codes
    200-499 (Matcher.HttpCode), gRPC status codes 0-99 (Matcher.GrpcCode, cfn-lint's schema of
    AWS::ElasticLoadBalancingV2::TargetGroup), as a list (200,202) or a range (200-299)."""
    lo, hi, what = (
        (0, 99, "gRPC status codes 0-99 (e.g. 12)") if protocol_version == "GRPC" else (200, 499, "HTTP codes 200-499")
    )
    for part in matcher.split(","):
        codes = part.split("-")
        if len(codes) > 2 or not all(c.isdigit() and lo <= int(c) <= hi for c in codes):
            return f"{matcher!r}: protocol_version {protocol_version} takes {what}, as a list or a range"
    return None


# --------------------------------------------------------------------------- cross checks


class Listening(Protocol):
    """What the checks read of a listener (generator.spec.edge.Listener)."""

    @property
    def port(self) -> int: ...

    @property
    def mode(self) -> str: ...

    @property
    def target_group(self) -> str: ...


class Balancer(Protocol):
    """What the checks read of a load balancer (generator.spec.edge.LoadBalancer)."""

    @property
    def name(self) -> str: ...

    @property
    def dns_record(self) -> str | None: ...

    @property
    def listeners(self) -> Sequence[Listening]: ...


def route_ports(lb: Balancer, route: Route) -> list[int]:
    """The listener ports of ``lb`` that get the route's rule, sorted."""
    return sorted(route.listeners or [x.port for x in lb.listeners])


def rules_of(lb: Balancer, tgs: Sequence[Any]) -> list[tuple[int, Route, Any]]:
    """(listener port, route, target group) of every rule of ``lb``, by port and priority;
    ``tgs``: the platform's target groups (generator.spec.services.TargetGroupSpec)."""
    out = [(port, r, tg) for tg in tgs if tg.load_balancer == lb.name for r in tg.routes for port in route_ports(lb, r)]
    return sorted(out, key=lambda x: (x[0], x[1].priority))


def check_routes(  # noqa: C901, PLR0912 - one pass over the routes
    balancers: Sequence[Balancer], tgs: Sequence[tuple[str, Any]], has_domain: bool, base_domain: str
) -> None:
    """Raise ValueError naming the field on a route or protocol version AWS would refuse;
    ``tgs``: (field path, target group) of every target group of the platform; ``base_domain``:
    the default of BaseDomain."""
    lbs = {lb.name: lb for lb in balancers}
    seen: dict[tuple[str, int, int], str] = {}
    records: dict[str, str] = {lb.dns_record: lb.name for lb in balancers if lb.dns_record}
    for where, tg in tgs:
        lb = lbs.get(tg.load_balancer)
        if lb is None:
            continue
        ports = {x.port: x for x in lb.listeners}
        for k, r in enumerate(tg.routes):
            at = f"{where}.routes[{k}]"
            for p in r.listeners:
                if p not in ports:
                    raise ValueError(f"{at}.listeners: {lb.name!r} has no listener on port {p}")
            for p in route_ports(lb, r):
                other = seen.get((lb.name, p, r.priority))
                if other:
                    raise ValueError(
                        f"{at}.priority: {r.priority} is already the priority of {other} on listener {p} of "
                        f"{lb.name!r}; priorities are unique per listener"
                    )
                seen[(lb.name, p, r.priority)] = at
            for h in r.records:
                if not (has_domain and lb.dns_record):
                    raise ValueError(
                        f"{at}.hosts: {h!r} is a record name of the platform's domain (no '.'), but the platform "
                        "has no domain; declare domain and the load balancer's dns_record, or give a full host name"
                    )
                if not record_host_fits(h, base_domain):
                    raise ValueError(
                        f"{at}.hosts: {h}.{awsfacts.longest_region()}.{base_domain} is over the {PATTERN_MAX} "
                        "characters of an ELB host-header value in the longest region name"
                    )
                owner = records.setdefault(h, lb.name)
                if owner != lb.name:
                    raise ValueError(
                        f"{at}.hosts: {h!r} already names load balancer {owner!r}; a DNS record points at one "
                        "load balancer"
                    )
        if tg.protocol_version in NEEDS_HTTPS:
            forwarding = [x for x in lb.listeners if x.target_group == tg.name] + [
                ports[p] for r in tg.routes for p in route_ports(lb, r) if p in ports
            ]
            plain = sorted({x.port for x in forwarding if not (has_domain and lb.dns_record and x.mode == "https")})
            if plain:
                raise ValueError(
                    f"{where}.protocol_version: {tg.protocol_version} is served only through HTTPS listeners "
                    f"(ELB target group protocol version), but listener {plain[0]} of {lb.name!r} forwards to it "
                    "over plain HTTP (in some stage of the deploy); reach it only through listeners of mode "
                    "https on a load balancer with a dns_record"
                )
        err = matcher_error(tg.protocol_version, tg.health_check.matcher)
        if err:
            raise ValueError(f"{where}.health_check.matcher: {err}")
    for where, tg in tgs:
        lb = lbs.get(tg.load_balancer)
        if lb is None:
            continue
        pinned = any(x.target_group == tg.name for x in lb.listeners) or any(not r.hosts for r in tg.routes)
        names = {h for r in tg.routes for h in r.records}
        if pinned and lb.dns_record:
            names.add(lb.dns_record)
        if len(names) > NAMES_PER_CERTIFICATE:
            raise ValueError(
                f"{where}.routes: they name {len(names)} record names of the domain"
                f"{' (with the dns_record of the load balancer it stays on)' if pinned else ''}, over the "
                f"{NAMES_PER_CERTIFICATE} domain names of one ACM certificate (ACM quotas); a target group is served "
                "by one load balancer with one certificate: use fewer record hosts or full host names"
            )


def record_host_fits(record: str, base_domain: str) -> bool:
    """Whether ``<record>.<region>.<base_domain>`` fits a host-header value in the longest region."""
    return len(f"{record}.{awsfacts.longest_region()}.{base_domain}") <= PATTERN_MAX
