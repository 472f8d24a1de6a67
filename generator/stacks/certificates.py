"""certificates: an ACM certificate (DNS validation in the hosted zone) per load
balancer with a DNS record, for {record}.{region}.{base_domain}.  The parent skips
this stack when BaseDomain is empty (the first stage of a two-stage deploy)."""

from __future__ import annotations

from troposphere import Ref, Template
from troposphere import certificatemanager as acm

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack

NAME = "certificates"
CONDITION = "HasDomain"


def applies(spec: Platform) -> bool:
    return spec.has_domain


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("BaseDomain", description="Base domain; records are {service}.{region}.{base_domain}")
    i.takes("HostedZoneId", description="Route 53 public hosted zone of BaseDomain")
    for lb in spec.load_balancers:
        if lb.dns_record:
            i.gives(naming.cert_output(lb.name), f"ACM certificate of {lb.dns_record}")
    return i.freeze(condition=CONDITION)


def build(spec: Platform) -> Template:
    st = Stack(NAME, "ACM certificates with DNS validation", interface(spec))
    for lb in spec.load_balancers:
        if not lb.dns_record:
            continue
        cert = st.add(
            acm.Certificate(
                naming.logical(lb.name, "Certificate"),
                DomainName=naming.domain_name(lb.dns_record),
                ValidationMethod="DNS",
                DomainValidationOptions=[
                    acm.DomainValidationOption(
                        DomainName=naming.domain_name(lb.dns_record), HostedZoneId=st.ref("HostedZoneId")
                    )
                ],
                Tags=naming.tags(f"cert-{lb.name}"),
            )
        )
        st.output(naming.cert_output(lb.name), Ref(cert))
    return st.t
