"""Placement: which service group, and so which nested stacks, hold each service.

A service's security group, roles, log group, task definition, ECS service, scaling and
alarms live in five per-group stacks: ``security-groups``, ``iam``, ``services``,
``autoscaling`` and ``monitoring`` for the group ``default``, and ``<stack>-<group>``
(``services-payments``) for any other group.  Moving a service to another group is a
delete and re-create of the running service, so placement is a pure function of the spec
that never moves a service when services are appended:

- a service's *group key* is its ``group:`` field, else ``database`` for a service that
  uses the database (``Service.uses_database``: its secrets read the credentials, or its
  environment ``${db:...}``), else ``default``.  A services stack waits for the database
  stack only when one of its services uses the database, so keeping those in a group of
  their own lets every other service be created while Aurora is (the estimate:
  ``generator.critical_path``, printed by ``make bench``).  An explicit ``group:`` wins:
  ``group: default`` keeps a database user where it was before this default (CHANGELOG,
  upgrade notes);
- within a key, services fill groups greedily in spec order: a service joins the key's
  last group while the group's estimated size stays within ``BUDGET``, else it opens the
  next group of that key, named ``<key>-2``, ``<key>-3``, ... (names a spec cannot give,
  since a ``group:`` does not end in a digit);
- groups are numbered in order of first appearance, after ``default``, which is always
  group 0 (it also holds the platform-wide resources of each concern: the load balancers'
  and data stores' security groups, the proxy's role, the alarm topic), even when empty.

What moves a service, then: changing its ``group:``; removing or growing (more target
groups, secrets, allow_from edges) a service *before* it in the same key, which can pull it
into the previous group or push it into the next; inserting a service before it.  Appending
services at the end of the list, or to another key, moves none.  ``stackgen plan`` shows
such a move as a move-out of one stack and a move-in to another.

The size estimate per service is an upper bound on what it adds to its group's largest
per-group template (resources, parameters, outputs); ``BUDGET`` keeps every group's
templates at about half of CloudFormation's per-template quotas (``SHARE``), leaving room for rules
later services add to an earlier group (an edge's rules live in the later of its two
groups) and for the shared resources of group 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from generator.contract import Part
from generator.deployability.quotas import QUOTAS
from generator.spec import Platform, Service
from generator.stacks.security_groups import edges, svc_key

DEFAULT = "default"
# The default group key of a service that uses the database (key_of).
DATABASE = "database"
# The share of each per-template quota a group's estimate may fill (see the module doc).  The
# parameter estimate counts a parameter shared by several services (a secret, the cluster,
# the subnets) once per service, so it is looser than the others and gets a larger share.
SHARE = {"resources": 0.5, "parameters": 0.75, "outputs": 0.5}
BUDGET = {k: int(QUOTAS[k].value * share) for k, share in SHARE.items()}


@dataclass(frozen=True)
class Size:
    """Upper bound of what one service adds to its group's largest template."""

    resources: int
    parameters: int
    outputs: int

    def __add__(self, o: Size) -> Size:
        return Size(self.resources + o.resources, self.parameters + o.parameters, self.outputs + o.outputs)

    def fits(self) -> bool:
        return (
            self.resources <= BUDGET["resources"]
            and self.parameters <= BUDGET["parameters"]
            and self.outputs <= BUDGET["outputs"]
        )


def key_of(s: Service) -> str:
    """The group key of a service: its ``group:`` field, else ``database`` when it uses the
    database (so that the other services do not wait for it), else ``default``."""
    if s.group:
        return s.group
    return DATABASE if s.uses_database else DEFAULT


def size(s: Service, rules: int) -> Size:
    """What ``s`` adds to the largest of its group's templates, with ``rules`` the security-
    group edges it brings (each an ingress and an egress resource, and at most one input).

    Per template, the most a service adds: security-groups 1 group + 2 per edge + 2 to the
    endpoints + 1 per egress CIDR and port (NAT and endpoint variants); services a log
    group, task definition, service or schedule and a discovery service, and as inputs
    cluster, subnets, security group, 2 roles, image, tag, ready flag, the scheduler's role
    and cluster ARN, one per target group, secret, environment placeholder and volume;
    monitoring 3 alarms + 1 per target group and 2 inputs per target group."""
    cidrs = 2 * len(s.egress_cidrs)
    resources = max(1 + 2 * rules + 2 + cidrs + 2, 4, 3 + len(s.target_groups))
    placeholders = sum(v.count("${") for v in s.environment.values())
    parameters = max(
        10 + len(s.target_groups) + len(s.secrets) + placeholders + len(s.volumes) + 1,
        rules + len(s.egress_cidrs) + 2,
        3 + 2 * len(s.target_groups),
    )
    return Size(resources, parameters, 5)


def _rules(spec: Platform) -> dict[str, int]:
    """Security-group edges per service, counted on the later of an edge's two services in
    spec order (the earlier one was placed before it existed)."""
    order = {svc_key(s.name): k for k, s in enumerate(spec.services)}
    count = {s.name: 0 for s in spec.services}
    for e in edges(spec):
        ends = [order[k] for k in (e.src, e.dst) if k in order]
        if ends:
            count[spec.services[max(ends)].name] += 1
    return count


def place(spec: Platform) -> list[Part]:
    """The service groups of a platform in creation order, ``default`` first."""
    rules = _rules(spec)
    members: dict[str, list[str]] = {DEFAULT: []}
    order = [DEFAULT]
    current = {DEFAULT: DEFAULT}
    used: dict[str, Size] = {DEFAULT: Size(0, 0, 0)}
    count = {DEFAULT: 1}
    for s in spec.services:
        key = key_of(s)
        if key not in current:
            current[key] = key
            count[key] = 1
            members[key], used[key] = [], Size(0, 0, 0)
            order.append(key)
        g = current[key]
        grown = used[g] + size(s, rules[s.name])
        if members[g] and not grown.fits():
            count[key] += 1
            g = current[key] = f"{key}-{count[key]}"
            members[g], used[g] = [], Size(0, 0, 0)
            order.append(g)
            grown = size(s, rules[s.name])
        members[g].append(s.name)
        used[g] = grown
    group_of = MappingProxyType({n: k for k, g in enumerate(order) for n in members[g]})
    return [Part(g, k, tuple(members[g]), group_of) for k, g in enumerate(order)]


def mapping(spec: Platform) -> Mapping[str, str]:
    """service -> the group it is placed in."""
    return {n: p.group for p in place(spec) for n in p.services}
