"""Load-balancer shards: which Application Load Balancer serves each target group.

A declared load balancer (``load_balancers[]``) is one logical load balancer to the user.
When the target groups that name it (``target_groups[].load_balancer``) and their listener
rules (one per route and listener, generator.spec.routing) would pass a quota of one ALB,
it becomes *shards*: shard 1 is the declared load balancer itself (name ``<name>``), the
overflow shards are ``<name>-2``, ``<name>-3``, ... (logical IDs ``<Name>2LoadBalancer``,
``<Name>2Listener<port>Rule<priority>``: from the shard's number, never from a position
that appending could shift).  A shard holds at most, counted as the alb stack emits them
and the deployability check counts them (generator.deployability.service_limits):

- ``target_groups_per_alb`` target groups (the quota table, generator.deployability.quotas);
- ``rules_per_alb`` listener rules besides the listeners' default rules (every rule of a
  route on every listener it names, an upper bound over the stages of the deploy);
- ``NAMES_PER_CERTIFICATE`` record names of the domain (generator.awsfacts: ACM's
  domain names per certificate), counting the declared ``dns_record`` on shard 1: each
  shard's listeners present one certificate covering the record names it serves;
- ``certificates_per_alb`` is never approached: a shard's one certificate is its
  listeners' default certificate, which that quota does not count.

Every shard has the declared listeners (same ports, modes and sources), the same security
group (generator.stacks.security_groups: one group per declared load balancer, so
``sources``, ``allow_from_services`` and ``allow_from_nat`` admit the same clients to every
shard and the tasks admit every shard), idle timeout, access logs (prefix: the shard's
name) and alarms of its own.  ``${lb:NAME:url}`` and ``:host`` stay the declared load
balancer's.  An overflow shard's listeners answer a request no rule matches with a fixed
404 (its default action); their certificate is the shard's own when it serves record
names, else the declared one's.

Placement, per declared load balancer, walks its target groups in spec order (services,
then each service's target groups) and decides each from what came before it only:

1. *Pinned* to shard 1: a listener's default target group, and a target group with a
   route without hosts.  Requests for the load balancer's own name reach only shard 1.
2. *Bound* to the shard of the first of its hosts (a record name or a full host pattern)
   that an earlier target group already placed: DNS resolves a host to one load balancer,
   so all routes naming a host share a shard.
3. Otherwise *first fit*: the lowest-numbered shard that still has room for its target
   group, its rules and its new record names; a new shard when none has.

The hosts of a target group that were not placed yet go with it.  A pinned or bound target
group is placed even when its shard has no room: the deployability check then refuses the
templates (a quota no split can fix without moving a host that is already served, or a
route that must stay on the declared load balancer), as it refuses a target group whose
hosts are already on two shards (``hosts_on_one_load_balancer``).

Stable under appending: a target group's shard depends only on the target groups before
it, so appending target groups or services never moves an existing one, its rules, its
DNS record or its certificate name.  Removing (or growing) one frees room in its shard,
and a later target group that did not fit there before now does: it moves to the earlier
shard (its rules and its hosts' records are replaced, and a host changes load balancer).
A pure function of the spec cannot avoid this without recording placements, which the
spec does not do; ``stackgen plan`` shows such a move as a delete and a create.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.deployability.quotas import QUOTAS
from generator.spec import LoadBalancer, Platform, TargetGroupSpec
from generator.spec.routing import NAMES_PER_CERTIFICATE, route_ports

TARGET_GROUPS = QUOTAS["target_groups_per_alb"].value
RULES = QUOTAS["rules_per_alb"].value


@dataclass(frozen=True)
class Shard:
    """One Application Load Balancer of a declared load balancer."""

    balancer: LoadBalancer
    """The declared load balancer (its listeners, sources, timeouts)."""
    number: int
    """1 for the declared load balancer itself, 2, 3, ... for the overflow ones."""
    target_groups: tuple[str, ...]
    """Names of the target groups it forwards to, in spec order."""
    rules: int
    """Listener rules besides the default ones."""
    records: tuple[str, ...]
    """Record names of the domain its routes name, sorted (without the declared dns_record)."""

    @property
    def name(self) -> str:
        return shard_name(self.balancer.name, self.number)

    @property
    def primary(self) -> bool:
        return self.number == 1


def shard_name(lb: str, number: int) -> str:
    """``web`` for shard 1 of ``web``, ``web-2`` for shard 2."""
    return lb if number == 1 else f"{lb}-{number}"


@dataclass
class _Open:
    target_groups: list[str] = field(default_factory=list)
    rules: int = 0
    names: set[str] = field(default_factory=set)

    def fits(self, rules: int, names: set[str]) -> bool:
        return (
            len(self.target_groups) + 1 <= TARGET_GROUPS
            and self.rules + rules <= RULES
            and len(self.names | names) <= NAMES_PER_CERTIFICATE
        )


def _hosts(tg: TargetGroupSpec) -> list[str]:
    """A target group's hosts in route order, each once."""
    return list(dict.fromkeys(h for r in tg.routes for h in r.hosts))


def place_balancer(lb: LoadBalancer, tgs: Sequence[TargetGroupSpec]) -> list[Shard]:
    """The shards of ``lb``; ``tgs``: the platform's target groups in spec order."""
    defaults = {x.target_group for x in lb.listeners}
    shards = [_Open(names={lb.dns_record} if lb.dns_record else set())]
    owner: dict[str, int] = {lb.dns_record: 0} if lb.dns_record else {}  # host -> index of its shard
    for tg in tgs:
        if tg.load_balancer != lb.name:
            continue
        hosts = _hosts(tg)
        rules = sum(len(route_ports(lb, r)) for r in tg.routes)
        records = {h for h in hosts if "." not in h}
        bound = next((owner[h] for h in hosts if h in owner), None)
        if tg.name in defaults or any(not r.hosts for r in tg.routes):
            k = 0
        elif bound is not None:
            k = bound
        else:
            k = next((i for i, s in enumerate(shards) if s.fits(rules, records)), len(shards))
            if k == len(shards):
                shards.append(_Open())
        s = shards[k]
        s.target_groups.append(tg.name)
        s.rules += rules
        s.names |= records
        for h in hosts:
            owner.setdefault(h, k)
    return [
        Shard(lb, k + 1, tuple(s.target_groups), s.rules, tuple(sorted(s.names - {lb.dns_record})))
        for k, s in enumerate(shards)
    ]


@dataclass(frozen=True)
class Layout:
    """Every shard of a platform, declared load balancers in spec order, each then its overflow."""

    shards: tuple[Shard, ...]
    by_target_group: dict[str, Shard]

    def of(self, lb: str) -> list[Shard]:
        """The shards of declared load balancer ``lb``, shard 1 first."""
        return [s for s in self.shards if s.balancer.name == lb]

    def serving(self, tg: str) -> Shard:
        """The shard that forwards to target group ``tg``."""
        return self.by_target_group[tg]

    def overflow(self) -> list[Shard]:
        return [s for s in self.shards if not s.primary]


_CACHE: dict[int, tuple[Any, Layout]] = {}


def layout(spec: Platform) -> Layout:
    """The shards of every load balancer of ``spec`` (computed once per spec object)."""
    hit = _CACHE.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    tgs = [tg for s in spec.services for tg in s.target_groups]
    shards = tuple(s for lb in spec.load_balancers for s in place_balancer(lb, tgs))
    out = Layout(shards, {tg: s for s in shards for tg in s.target_groups})
    if len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(spec)] = (spec, out)
    return out
