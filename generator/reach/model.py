"""The model both sides of the reachability checks share: what a task is, what it needs
to reach, the permissions it needs, and the network facts a path is judged on.

The preflight (``generator.reach.preflight``) fills it from templates; the live
diagnostics (``generator.reach.live``) from a deployed account.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from generator.cfn.finding import ERROR
from generator.cfn.templateset import Origin

# The order destinations are listed in messages.
ORDER = ("ecr.api", "ecr.dkr", "s3", "logs", "secretsmanager", "ssm", "ssmmessages", "kms")


@dataclass
class Need:
    """Something the task must reach at start (or, for ECS Exec, when used)."""

    dest: str  # AWS service endpoint name (ecr.api, s3, ...) or a public registry host
    label: str  # how messages name it
    internet_only: bool = False  # a public registry: no VPC endpoint can serve it
    severity: str = ERROR


@dataclass
class Perm:
    """A permission of the execution (or task) role that the task needs."""

    actions: tuple[str, ...]
    resource: str | None  # rendered for matching (None: only "*" or the same resource matches)
    shown: str  # rendered for messages
    origin: tuple[str, str] | None  # resource identity in the template set, matched against policy resources
    why: str
    role: str = "execution"  # execution | task
    severity: str = ERROR
    context: dict[str, str] | None = None  # the request's condition keys, when known (a data path's KMS call)


@dataclass
class Task:
    """One task that must start: an ECS service's, an EventBridge rule's or a schedule's."""

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
    """A VPC endpoint of the template set."""

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
    """One security-group rule: protocol, port range and one peer (a CIDR, a group, a prefix list)."""

    proto: str
    lo: int
    hi: int
    cidr: ipaddress.IPv4Network | None = None
    sg: Any = None  # the peer group: (file, logical id) in templates, a group id live
    prefix_list: str | None = None  # the peer prefix list ('' when its id is not known)
    cidr_ipv6: str | None = None  # an IPv6 peer (its text; '' when not known)

    @property
    def families(self) -> tuple[str, ...]:
        """The address families the rule counts in against a group's quota: a group or
        prefix-list peer counts once for IPv4 and once for IPv6."""
        if self.sg is not None or self.prefix_list is not None:
            return ("ipv4", "ipv6")
        return ("ipv6",) if self.cidr_ipv6 is not None else ("ipv4",)

    def allows_443(self) -> bool:
        if self.proto in ("-1", "all"):
            return True
        return self.proto in ("tcp", "6") and self.lo <= 443 <= self.hi


def allows_443(
    rules: list[Rule],
    *,
    peers: AbstractSet[Any] = frozenset(),
    nets: Sequence[ipaddress.IPv4Network] = (),
    prefix_list: str | bool = False,
) -> bool:
    """Whether any rule allows tcp/443 with one of ``peers``, with a CIDR that covers every
    net in ``nets``, or with a prefix list (``True``: any, a string: that id)."""
    for r in rules:
        if not r.allows_443():
            continue
        if r.sg is not None and r.sg in peers:
            return True
        if r.prefix_list is not None and (prefix_list is True or (prefix_list and r.prefix_list == prefix_list)):
            return True
        if r.cidr is not None and nets and all(n.subnet_of(r.cidr) for n in nets):
            return True
    return False


@dataclass
class InternetPath:
    """How a subnet reaches the internet: nat | igw | igw-no-public-ip | none | no-rt | broken | other."""

    kind: str
    rt: str  # route table ('' = the VPC's main route table)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in ("nat", "igw")
