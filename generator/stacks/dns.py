"""dns: Route 53 alias records {record}.{region}.{base_domain} -> load balancer, for each
load balancer's dns_record and for each record name its routes' hosts name
(generator.spec.routing: ``hosts: [api]``, record ``<Host>HostRecord``).
Skipped by the parent's HasDomain condition when BaseDomain is empty."""

from __future__ import annotations

from troposphere import Template, route53

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.spec.routing import record_hosts
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
    return i.freeze(condition=CONDITION)


def build(spec: Platform) -> Template:
    st = Stack(NAME, "Route 53 alias records", interface(spec))
    for lb in spec.load_balancers:
        if not lb.dns_record:
            continue
        st.add(
            route53.RecordSetType(
                naming.logical(lb.name, "AliasRecord"),
                HostedZoneId=st.ref("HostedZoneId"),
                Name=naming.domain_name(lb.dns_record),
                Type="A",
                AliasTarget=route53.AliasTarget(
                    DNSName=st.ref(naming.lb_output(lb.name, "DnsName")),
                    HostedZoneId=st.ref(naming.lb_output(lb.name, "CanonicalHostedZoneId")),
                    EvaluateTargetHealth=True,
                ),
            )
        )
        st.output(naming.pascal(lb.name, "DomainName"), naming.domain_name(lb.dns_record))
        for host in record_hosts(lb, [tg for s in spec.services for tg in s.target_groups]):
            if host == lb.dns_record:
                continue
            st.add(
                route53.RecordSetType(
                    naming.logical(host, "Host", "Record"),
                    HostedZoneId=st.ref("HostedZoneId"),
                    Name=naming.domain_name(host),
                    Type="A",
                    AliasTarget=route53.AliasTarget(
                        DNSName=st.ref(naming.lb_output(lb.name, "DnsName")),
                        HostedZoneId=st.ref(naming.lb_output(lb.name, "CanonicalHostedZoneId")),
                        EvaluateTargetHealth=True,
                    ),
                )
            )
    return st.t
