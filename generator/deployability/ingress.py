"""Ingress open to the world on a port other than 80 and 443, parameter-fed sources included.

A security-group ingress rule (inline, or a separate ``SecurityGroupIngress``) whose source
is a literal, a parameter (``Ref``) or an item of a list parameter (``Fn::Select``), in
this template or fed across the parent/child boundary, is evaluated under the parameter
defaults and under each per-environment parameters file (``Inputs.parameter_sets``).  A
source of ``0.0.0.0/0`` or ``::/0`` on anything but tcp/80 or tcp/443 is a finding: the
scanners see a parameter, not what it opens.  The invariants run the same function
(``generator.invariants.security.world_ingress``).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.cfn.finding import Finding
from generator.cfn.templateset import Key, TemplateSet
from generator.cfn.values import MATCH_PSEUDO, Renderer
from generator.deployability.base import Inputs, finding
from generator.reach.network import ANYWHERE, Network

# The ports AWS's own control authorizes for unrestricted ingress by default: Security Hub
# [EC2.18] / AWS Config vpc-sg-open-only-to-authorized-ports, authorizedTcpPorts "80,443".
AUTHORIZED_TCP_PORTS = frozenset({80, 443})
AWS_RULE = (
    "unrestricted ingress only on authorized ports, by default tcp 80 and 443 (Security Hub EC2.18), "
    "https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-18"
)


@dataclass(frozen=True)
class Opening:
    """One ingress rule open to the world on a port that is not authorized."""

    group: Key
    proto: str
    lo: int
    hi: int
    source: str  # 0.0.0.0/0 or ::/0

    @property
    def ports(self) -> str:
        if self.proto in ("-1", "all"):
            return "all traffic"
        return f"{self.proto}/{self.lo}" if self.lo == self.hi else f"{self.proto}/{self.lo}-{self.hi}"


def openings(ts: TemplateSet) -> list[Opening]:
    """The world-open ingress rules of a template set under its parameter values."""
    net = Network(ts, Renderer(ts, MATCH_PSEUDO))
    out: list[Opening] = []
    for f, lid, _r in ts.present_resources("AWS::EC2::SecurityGroup"):
        for rule in net.rules((f, lid), egress=False):
            source = "0.0.0.0/0" if rule.cidr == ANYWHERE else ("::/0" if rule.cidr_ipv6 == "::/0" else None)
            if source is None:
                continue
            authorized = rule.proto in ("tcp", "6") and rule.lo == rule.hi and rule.lo in AUTHORIZED_TCP_PORTS
            if not authorized:
                out.append(Opening((f, lid), rule.proto, rule.lo, rule.hi, source))
    return sorted(set(out), key=lambda o: (o.group, o.lo, o.hi, o.proto, o.source))


def check(inp: Inputs) -> list[Finding]:
    where: dict[Opening, list[str]] = {}
    for label, ts in inp.value_sets():
        for o in openings(ts):
            where.setdefault(o, []).append(label)
    out = []
    for o, labels in where.items():
        file, lid = o.group
        out.append(
            finding(
                "world-ingress",
                file,
                lid,
                f"{file}:{lid} admits {o.source} on {o.ports} under {', '.join(labels)}",
                AWS_RULE,
                path=f"port {o.lo}" if o.lo == o.hi else "",
            )
        )
    return out
