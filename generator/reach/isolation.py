"""Isolation of endpoint-only tasks.  An endpoint-only task (in a vpc-endpoints platform, every
task outside a nat tier: network.tiers[].nat) is one whose security groups allow HTTPS to the S3
prefix list (image layers through the gateway endpoint) but not to the whole internet; it must
also have no route to the internet, so the proof does not rest on its security groups alone.  A
subnet whose 0.0.0.0/0 route leads to a NAT gateway or an internet gateway is such a route; one
with no default route (or no route table: the main one of a VPC this set creates has only the
local route) is not.  A task that needs the internet but lacks the egress rule is the preflight's
egress finding, not this one.  Subnets that are not in the template set (an existing VPC) are the
VPC owner's: the preflight already warns that their routes cannot be checked."""

from __future__ import annotations

from generator.reach.model import InternetPath, Task
from generator.reach.network import ANYWHERE, Key, Network

ROUTED = ("nat", "igw", "igw-no-public-ip")


def endpoint_only(net: Network, t: Task) -> bool:
    """Whether the task's security groups allow HTTPS to the S3 prefix list but not to every address."""
    sgs = [o.key for o in t.sgs]
    return net.egress_allows(sgs, prefix_list=True) and not net.egress_allows(sgs, to_nets=[ANYWHERE])


def isolation_problems(net: Network, t: Task, paths: dict[Key | None, InternetPath]) -> list[str]:
    """What breaks the isolation of an endpoint-only task; nothing for any other task."""
    if not endpoint_only(net, t):
        return []
    return [
        f"{t.label}: its security groups allow no HTTPS to the internet (endpoint-only), but subnet "
        f"{s.name} routes 0.0.0.0/0 to {paths[s.key].detail} (route table {paths[s.key].rt}); an "
        "endpoint-only task must have no route to the internet (put the services that need one in a "
        "nat tier: network.tiers[].nat)"
        for s in t.subnets
        if paths[s.key].kind in ROUTED
    ]
