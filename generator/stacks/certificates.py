"""certificates: an ACM certificate (DNS validation in the hosted zone) per load
balancer with a DNS record, for {record}.{region}.{base_domain} and the record names its
routes' hosts name, and one per overflow shard of it (generator.lb_placement) that serves
record names, for those names.  The parent skips this stack when BaseDomain is empty (the
first stage of a two-stage deploy)."""

from __future__ import annotations

from troposphere import Ref, Template
from troposphere import certificatemanager as acm

from generator import naming
from generator.contract import Interface, StackInterface
from generator.lb_placement import Shard, layout
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
    for shard in _certified(spec):
        what = shard.balancer.dns_record if shard.primary else f"the {shard.name} load balancer"
        i.gives(naming.cert_output(shard.name), f"ACM certificate of {what}")
    return i.freeze(condition=CONDITION)


def build(spec: Platform) -> Template:
    st = Stack(NAME, "ACM certificates with DNS validation", interface(spec))
    for shard in _certified(spec):
        # The record names its routes' hosts name (generator.spec.routing) as alternative names, each
        # spelled out (no wildcard): adding one replaces the certificate (SubjectAlternativeNames is
        # create-only), which CloudFormation does before it deletes the old one.
        own = shard.balancer.dns_record if shard.primary else None
        names = [naming.domain_name(h) for h in [*([own] if own else []), *shard.records]]
        cert = st.add(
            acm.Certificate(
                naming.logical(shard.name, "Certificate"),
                DomainName=names[0],
                ValidationMethod="DNS",
                DomainValidationOptions=[
                    acm.DomainValidationOption(DomainName=n, HostedZoneId=st.ref("HostedZoneId")) for n in names
                ],
                **({"SubjectAlternativeNames": names[1:]} if names[1:] else {}),
                Tags=naming.tags(f"cert-{shard.name}"),
            )
        )
        st.output(naming.cert_output(shard.name), Ref(cert))
    return st.t


def _certified(spec: Platform) -> list[Shard]:
    """The shards with a certificate of their own: shard 1 of a load balancer with a dns_record,
    and an overflow shard of one that serves record names."""
    return [s for s in layout(spec).shards if s.balancer.dns_record and (s.primary or s.records)]
