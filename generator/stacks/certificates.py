"""certificates: an ACM certificate (DNS validation in the hosted zone) per load
balancer with a DNS record, for {record}.{region}.{base_domain}.  The parent skips
this stack when BaseDomain is empty (the first stage of a two-stage deploy)."""

from __future__ import annotations

from troposphere import Ref, Template
from troposphere import certificatemanager as acm

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.spec.routing import record_hosts
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
        # The record names its routes' hosts name (generator.spec.routing) as alternative names, each
        # spelled out (no wildcard): adding one replaces the certificate (SubjectAlternativeNames is
        # create-only), which CloudFormation does before it deletes the old one.
        hosts = record_hosts(lb, [tg for s in spec.services for tg in s.target_groups])
        names = [naming.domain_name(h) for h in [lb.dns_record, *(h for h in hosts if h != lb.dns_record)]]
        cert = st.add(
            acm.Certificate(
                naming.logical(lb.name, "Certificate"),
                DomainName=naming.domain_name(lb.dns_record),
                ValidationMethod="DNS",
                DomainValidationOptions=[
                    acm.DomainValidationOption(DomainName=n, HostedZoneId=st.ref("HostedZoneId")) for n in names
                ],
                **({"SubjectAlternativeNames": names[1:]} if names[1:] else {}),
                Tags=naming.tags(f"cert-{lb.name}"),
            )
        )
        st.output(naming.cert_output(lb.name), Ref(cert))
    return st.t
