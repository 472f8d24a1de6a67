"""Invariants of load-balancer routing: listener rules and the protocol a target group
speaks (the shapes of generator.spec.routing, read from the templates).

- ``listener_rule_priorities``: every ListenerRule has a priority of 1-50,000 that no other
  rule of its listener has (ELB refuses a second rule with a priority, per the ListenerRule
  schema), and a host-header or path-pattern condition.
- ``protocol_version_listeners``: a target group whose ProtocolVersion is HTTP2 or GRPC is
  forwarded to (by a listener's default action or a rule, in any branch) only through
  listeners whose Protocol is HTTPS in every branch: ELB serves those versions only through
  HTTPS listeners ("Protocol version", Target groups for your Application Load Balancers).
"""

from __future__ import annotations

from typing import Any

from generator.cfn.refs import walk
from generator.cfn.templateset import TemplateSet
from generator.invariants.base import invariant

LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
LISTENER_RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
NEEDS_HTTPS = ("HTTP2", "GRPC")


def _listener_of(rule: dict[str, Any]) -> str | None:
    arn = (rule.get("Properties") or {}).get("ListenerArn")
    return arn.get("Ref") if isinstance(arn, dict) else None


@invariant
def listener_rule_priorities(ts: TemplateSet) -> list[str]:
    v = []
    seen: dict[tuple[str, str, Any], str] = {}
    for f, lid, r in ts.resources(LISTENER_RULE):
        p = r.get("Properties") or {}
        prio = p.get("Priority")
        if not isinstance(prio, int) or not 1 <= prio <= 50000:
            v.append(f"{f}:{lid}: Priority {prio!r} is not an integer 1-50000")
        listener = _listener_of(r) or "?"
        other = seen.setdefault((f, listener, prio), lid)
        if other != lid:
            v.append(f"{f}:{lid}: Priority {prio} is also the priority of {other} on {listener}")
        fields = {c.get("Field") for c in p.get("Conditions") or [] if isinstance(c, dict)}
        if not fields & {"host-header", "path-pattern"}:
            v.append(f"{f}:{lid}: no host-header or path-pattern condition")
    return v


def _protocols(node: Any) -> set[Any]:
    """Every value a listener's Protocol can take (each branch of an Fn::If)."""
    if isinstance(node, dict) and "Fn::If" in node:
        return _protocols(node["Fn::If"][1]) | _protocols(node["Fn::If"][2])
    return {node if isinstance(node, str) else repr(node)}


@invariant
def protocol_version_listeners(ts: TemplateSet) -> list[str]:
    v = []
    for f in sorted(ts.t):
        res = ts.t[f].get("Resources") or {}
        versions = {
            lid: (r.get("Properties") or {}).get("ProtocolVersion")
            for lid, r in res.items()
            if r.get("Type") == TARGET_GROUP
        }
        wanted = {lid for lid, pv in versions.items() if pv in NEEDS_HTTPS}
        if not wanted:
            continue
        for lid, r in sorted(res.items()):
            if r.get("Type") == LISTENER:
                listener, actions = lid, (r.get("Properties") or {}).get("DefaultActions")
            elif r.get("Type") == LISTENER_RULE:
                listener, actions = _listener_of(r) or "", (r.get("Properties") or {}).get("Actions")
            else:
                continue
            tgs = sorted({ref.name for ref in walk(actions) if ref.name in wanted})
            protocol = (res.get(listener, {}).get("Properties") or {}).get("Protocol")
            plain = sorted(str(p) for p in _protocols(protocol) if p != "HTTPS")
            for tg in tgs:
                if plain:
                    v.append(
                        f"{f}:{lid}: forwards to {tg} (ProtocolVersion {versions[tg]}) through listener {listener}, "
                        f"whose Protocol can be {plain[0]}; ELB serves {versions[tg]} only through HTTPS listeners"
                    )
    return v


def lb_attachments(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The LoadBalancers entries of an ECS service, each ``Fn::If`` entry unwrapped to its
    attachment (a service attaches an HTTP2/GRPC target group only with a domain:
    generator.stacks._rules.attachments)."""
    out = []
    for entry in (service.get("Properties") or {}).get("LoadBalancers") or []:
        if isinstance(entry, dict) and "Fn::If" in entry:
            out += [b for b in entry["Fn::If"][1:] if isinstance(b, dict) and "Ref" not in b]
        elif isinstance(entry, dict):
            out.append(entry)
    return out
