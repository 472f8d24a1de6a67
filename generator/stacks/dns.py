"""dns: Route 53 alias records {record}.{region}.{base_domain} -> load balancer, for each
load balancer's dns_record and for each record name its routes' hosts name
(generator.spec.routing: ``hosts: [api]``, record ``<Host>HostRecord``), each pointing at
the load balancer shard that serves the host (generator.lb_placement).
Skipped by the parent's HasDomain condition when BaseDomain is empty."""

from __future__ import annotations

from troposphere import Template, route53

from generator import naming
from generator.contract import Interface, StackInterface
from generator.lb_placement import layout
from generator.spec import Platform
from generator.stacks._base import Stack
from generator.stacks.certificates import CONDITION

NAME = "dns"


def applies(spec: Platform) -> bool:
    return spec.has_domain


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("BaseDomain")
    i.takes("HostedZoneId")
    for lb in spec.load_balancers:
        if lb.dns_record:
            i.takes(naming.lb_output(lb.name, "DnsName"))
            i.takes(naming.lb_output(lb.name, "CanonicalHostedZoneId"))
            i.gives(naming.pascal(lb.name, "DomainName"), f"DNS name of the {lb.name} load balancer", public=True)
    for shard in layout(spec).overflow():
        if shard.records:
            i.takes(naming.lb_output(shard.name, "DnsName"))
            i.takes(naming.lb_output(shard.name, "CanonicalHostedZoneId"))
    return i.freeze(condition=CONDITION)


def build(spec: Platform) -> Template:
    st = Stack(NAME, "Route 53 alias records", interface(spec))
    for shard in layout(spec).shards:
        lb = shard.balancer
        if not lb.dns_record:
            continue
        if shard.primary:
            st.add(_alias(st, naming.logical(lb.name, "AliasRecord"), lb.dns_record, shard.name))
            st.output(naming.pascal(lb.name, "DomainName"), naming.domain_name(lb.dns_record))
        for host in shard.records:
            st.add(_alias(st, naming.logical(host, "Host", "Record"), host, shard.name))
    return st.t


def _alias(st: Stack, lid: str, record: str, shard: str) -> route53.RecordSetType:
    """The A alias record ``<record>.<region>.<BaseDomain>`` -> load balancer (shard) ``shard``."""
    return route53.RecordSetType(
        lid,
        HostedZoneId=st.ref("HostedZoneId"),
        Name=naming.domain_name(record),
        Type="A",
        AliasTarget=route53.AliasTarget(
            DNSName=st.ref(naming.lb_output(shard, "DnsName")),
            HostedZoneId=st.ref(naming.lb_output(shard, "CanonicalHostedZoneId")),
            EvaluateTargetHealth=True,
        ),
    )
