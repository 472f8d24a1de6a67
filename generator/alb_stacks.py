"""Which nested stack holds each ALB resource: ``alb.yaml``, then ``alb-2.yaml`` and ``alb-<group>.yaml``.

One alb template holds at most 500 resources and 200 outputs (the quota table,
generator.deployability.quotas), and every target group costs one output (its ARN, read by
its service) and one resource per listener rule besides itself, so one template stops at
about 195 target groups.  What does not fit goes to further alb stacks:

- ``alb`` holds what it always held: the access-log bucket, every declared load balancer's
  shard 1 (generator.lb_placement) with its listeners, the listeners' default target groups,
  then, in spec order, every overflow shard (its ALB, listeners and their DnsName,
  CanonicalHostedZoneId and FullName outputs) and every target group (with its listener rules
  and its ARN output) while it stays within every per-template quota (resources, parameters,
  outputs);
- once a target group does not fit ``alb``, it and every later one go to the alb stack of
  their service's group (generator.placement): ``alb-<group>`` (``alb-default-14``).  That
  stack is deployed by the same root stack as the group's services (generator.roots: a
  ``Part`` child), so a service reads its target group's ARN without a cross-root output;
- an overflow shard that no longer fits ``alb`` goes to ``alb-2`` (a group's name is never
  ``2``), in the base root like ``alb``, since the shared monitoring stack reads every
  shard's FullName;
- a rule whose listener is in another alb stack reads the listener's ARN from that stack's
  output ``<Shard>Listener<port>Arn`` (emitted only when read; every stack counts one output
  per listener it holds against its quota from the start, so the output always fits), and
  ``alb-2`` reads the access-log bucket's name from ``alb`` (``AlbAccessLogBucketName``, one
  output ``alb`` always counts).

Each decision reads only what came before it in spec order (and shard 1 and the default
target groups, fixed by ``load_balancers``, are counted in ``alb`` first), and a service's
group is itself stable under appending (generator.placement), so appending target groups or
services never moves an existing target group, rule, listener or load balancer to another
stack or logical ID: a change set shows the new stacks and resources, and in ``alb`` at most
new listener ARN outputs.  Removing or growing a target group frees or takes room in
``alb``; a later one may then move between ``alb`` and its group's stack (a delete and
re-create of the target group and its rules, which ECS follows with a new deployment of the
service).  A spec whose ALB resources fit one template (every seed and example) has exactly
the ``alb.yaml`` it had.

Limits: an ``alb-<group>`` stack is not split further (a group of services with hundreds of
routes can pass 500 resources: the deployability check refuses it, naming the template), and
the deployability check does not follow a listener ARN across root stacks, so its per-ALB
rule and target-group counts miss the rules of a later root's ``alb-<group>`` stacks; the
shard placement (generator.lb_placement) keeps those within the ALB quotas by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from generator import naming
from generator.deployability.quotas import QUOTAS
from generator.lb_placement import Shard, layout
from generator.spec import LoadBalancer, Platform, TargetGroupSpec
from generator.spec.routing import Route, route_ports
from generator.stacks.security_groups import lb_key

BASE = "alb"
# The access-log bucket and its bucket policy (generator.stacks.alb._access_log_bucket): stack 1 only.
ACCESS_LOG_RESOURCES = 2
# The access-log bucket's name, which stack 1 gives to a later alb stack holding a shard: one
# output stack 1 counts against its quota from the start.
ACCESS_LOG_BUCKET = "AlbAccessLogBucketName"
# A shard's outputs besides its listeners': DnsName, CanonicalHostedZoneId, FullName.
SHARD_OUTPUTS = 3
# Shard 1's outputs of the declared load balancer: Url, Host.
PRIMARY_OUTPUTS = 2


@dataclass(frozen=True)
class AlbStack:
    """One alb nested stack: ``alb``, or ``alb-<group>`` for the target groups of the service
    group ``group`` (generator.placement) that did not fit ``alb``."""

    name: str
    """``alb``, ``alb-2`` (overflow shards) or ``alb-<group>``."""
    group: str
    """The service group whose target groups past ``alb`` it holds; '' for ``alb`` and ``alb-2``."""
    shards: tuple[str, ...]
    """The shards whose ALB and listeners it holds, in layout order."""
    target_groups: tuple[str, ...]
    """The target groups it holds, each with its listener rules, in spec order."""
    inputs: frozenset[str]
    """Its parameters, the listener ARNs it reads from other alb stacks among them."""
    listener_outputs: frozenset[str]
    """The outputs other alb stacks read from it: listener ARNs, and the alb stack's ACCESS_LOG_BUCKET."""

    @property
    def first(self) -> bool:
        return self.name == BASE


# The stack of the overflow shards that do not fit ``alb`` (a group's name never ends in a digit
# nor is one, generator.placement, so no ``alb-<group>`` is named so).
SHARDS = f"{BASE}-2"


def stack_name(group: str) -> str:
    """``alb-<group>``: the target groups of a service group that did not fit ``alb``."""
    return f"{BASE}-{group}"


def listener_output(shard: str, port: int) -> str:
    """The output of a listener's ARN that a later alb stack reads: ``Edge2Listener443Arn``."""
    return naming.pascal(shard, "Listener", str(port), "Arn")


def capable(spec: Platform, lb: LoadBalancer) -> bool:
    """Whether the load balancer serves HTTPS with a domain (BaseDomain set)."""
    return spec.has_domain and lb.dns_record is not None


def cert_input(shard: Shard) -> str:
    """The certificate a shard's listeners present: its own when it serves record names of the
    domain (generator.stacks.certificates), else the declared load balancer's."""
    return naming.cert_output(shard.name if shard.records and not shard.primary else shard.balancer.name)


def public_subnets(spec: Platform) -> str:
    assert spec.network.public_tier
    return naming.subnets_output(spec.network.public_tier)


def rule_needs_domain(spec: Platform, lb: LoadBalancer, port: int, route: Route) -> bool:
    """Whether the rule of ``route`` on ``lb``'s listener ``port`` reads BaseDomain (condition
    HasDomain, generator.stacks._rules): on an https or redirect listener, or for a record host."""
    if not capable(spec, lb):
        return False
    mode = next(x.mode for x in lb.listeners if x.port == port)
    return mode != "auto" or any("." not in h for h in route.hosts)


def _shard_cost(spec: Platform, shard: Shard) -> tuple[int, int, set[str]]:
    """Resources, outputs (its listeners' ARN outputs counted) and inputs of a shard's ALB and listeners."""
    lb = shard.balancer
    listeners = len(lb.listeners)
    inputs = {"Name", "Environment", public_subnets(spec), naming.sg_output(lb_key(lb.name))}
    if capable(spec, lb):
        inputs |= {"BaseDomain", cert_input(shard)}
    outputs = SHARD_OUTPUTS + listeners + (PRIMARY_OUTPUTS if shard.primary else 0)
    return 1 + listeners, outputs, inputs


def _tg_cost(spec: Platform, tg: TargetGroupSpec, shard: Shard, local: bool) -> tuple[int, int, set[str]]:
    """Resources, outputs and inputs of a target group with its rules; ``local``: whether its shard's
    listeners are in the same stack."""
    lb = shard.balancer
    inputs = {"Name", "Environment", "VpcId"}
    rules = 0
    for r in tg.routes:
        for port in route_ports(lb, r):
            rules += 1
            if not local:
                inputs.add(listener_output(shard.name, port))
            if rule_needs_domain(spec, lb, port, r):
                inputs.add("BaseDomain")
    return 1 + rules, 1, inputs


@dataclass
class _Fill:
    shards: list[str] = field(default_factory=list)
    target_groups: list[str] = field(default_factory=list)
    resources: int = 0
    outputs: int = 0
    inputs: set[str] = field(default_factory=set)

    def fits(self, cost: tuple[int, int, set[str]]) -> bool:
        resources, outputs, inputs = cost
        return (
            self.resources + resources <= QUOTAS["resources"].value
            and self.outputs + outputs <= QUOTAS["outputs"].value
            and len(self.inputs | inputs) <= QUOTAS["parameters"].value
        )

    def take(self, cost: tuple[int, int, set[str]]) -> None:
        self.resources += cost[0]
        self.outputs += cost[1]
        self.inputs |= cost[2]


def _add(a: tuple[int, int, set[str]], b: tuple[int, int, set[str]]) -> tuple[int, int, set[str]]:
    return a[0] + b[0], a[1] + b[1], a[2] | b[2]


_CACHE: dict[int, tuple[Platform, Mapping[str, str], list[AlbStack]]] = {}


def place(spec: Platform, group_of: Mapping[str, str]) -> list[AlbStack]:
    """The alb stacks of a platform in creation order (see the module doc), ``alb`` first; []
    without load balancers.  ``group_of``: service -> its service group (generator.placement.mapping).
    Computed once per spec object."""
    hit = _CACHE.get(id(spec))
    if hit is not None and hit[0] is spec and hit[1] == group_of:
        return hit[2]
    out = _place(spec, group_of) if spec.load_balancers else []
    if len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(spec)] = (spec, dict(group_of), out)
    return out


def _place(spec: Platform, group_of: Mapping[str, str]) -> list[AlbStack]:
    lay = layout(spec)
    tgs = [(s.name, tg) for s in spec.services for tg in s.target_groups]
    defaults = {x.target_group for lb in spec.load_balancers for x in lb.listeners}
    home: dict[str, str] = {}  # shard -> the stack holding its ALB and listeners
    first = _Fill(
        inputs={"Name", "Environment", "VpcId", public_subnets(spec)} | ({"BaseDomain"} if spec.has_domain else set())
    )
    first.resources = ACCESS_LOG_RESOURCES
    first.outputs = 1  # ACCESS_LOG_BUCKET
    for shard in lay.shards:
        if shard.primary:
            first.take(_shard_cost(spec, shard))
            first.shards.append(shard.name)
            home[shard.name] = BASE
    for _, tg in tgs:
        if tg.name in defaults:
            first.take(_tg_cost(spec, tg, lay.serving(tg.name), True))
    fills: dict[str, _Fill] = {BASE: first}
    held: dict[str, str] = dict.fromkeys(defaults, BASE)  # target group -> its stack
    full = False  # once a target group did not fit alb, every later one goes to its group's stack
    for svc, tg in tgs:
        if tg.name in defaults:
            continue
        shard = lay.serving(tg.name)
        if shard.name not in home:
            cost = _add(_shard_cost(spec, shard), (0, 0, {ACCESS_LOG_BUCKET}))
            at = BASE if first.fits(_shard_cost(spec, shard)) else SHARDS
            fills.setdefault(at, _Fill()).take(_shard_cost(spec, shard) if at == BASE else cost)
            fills[at].shards.append(shard.name)
            home[shard.name] = at
        cost = _tg_cost(spec, tg, shard, home[shard.name] == BASE)
        if full or not first.fits(cost):
            full = True
            at = stack_name(group_of.get(svc, "default"))
            cost = _tg_cost(spec, tg, shard, False)
        else:
            at = BASE
        fills.setdefault(at, _Fill()).take(cost)
        held[tg.name] = at
    gives: dict[str, set[str]] = {k: set() for k in fills}
    if SHARDS in fills:
        gives[BASE].add(ACCESS_LOG_BUCKET)
    for _, tg in tgs:
        shard = lay.serving(tg.name)
        if home[shard.name] != held[tg.name]:
            for r in tg.routes:
                gives[home[shard.name]] |= {listener_output(shard.name, p) for p in route_ports(shard.balancer, r)}
    order = {tg.name: n for n, (_, tg) in enumerate(tgs)}
    names = [BASE, *([SHARDS] if SHARDS in fills else []), *(k for k in fills if k not in (BASE, SHARDS))]
    groups = {stack_name(g): g for g in group_of.values()}
    return [
        AlbStack(
            k,
            groups.get(k, "") if k not in (BASE, SHARDS) else "",
            tuple(s.name for s in lay.shards if home.get(s.name) == k),
            tuple(sorted((t for t, at in held.items() if at == k), key=order.__getitem__)),
            frozenset(fills[k].inputs),
            frozenset(gives[k]),
        )
        for k in names
    ]
