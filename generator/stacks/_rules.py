"""Listener rules of the alb stack: one ``AWS::ElasticLoadBalancingV2::ListenerRule`` per
route (generator.spec.routing) and listener it applies to.

A rule follows its listener through the two stages of the deploy (generator.stacks.alb):
on an ``https`` listener it exists only with a domain (condition HasDomain, as the
listener); on a ``redirect`` listener it forwards without a domain and redirects to HTTPS
with one (``Fn::If``, as the listener's default action), so a stage change updates it in
place; on an ``auto`` listener, or a load balancer without a domain, it always forwards.
A record host (``api``) is ``api.<region>.<BaseDomain>`` with a domain and
``api.<region>.invalid`` without one (generator.spec.routing).
"""

from __future__ import annotations

from typing import Any

from troposphere import Equals, If, Not, NoValue, Ref, Select, Split, Sub, ecs
from troposphere import elasticloadbalancingv2 as elb

from generator import naming
from generator.spec import Listener, Service
from generator.spec.routing import NEEDS_HTTPS, NO_DOMAIN_SUFFIX, Route
from generator.stacks._base import Stack


def to_https(action: type[Any]) -> list[Any]:
    """The redirect to HTTPS on 443 of a redirect listener with a domain (``action``: the
    troposphere class, elb.Action for a listener, elb.ListenerRuleAction for a rule)."""
    return [
        action(Type="redirect", RedirectConfig=elb.RedirectConfig(Protocol="HTTPS", Port="443", StatusCode="HTTP_301"))
    ]


def rule_id(lb: str, port: int, priority: int) -> str:
    """The logical ID of a rule on load balancer (shard, generator.lb_placement) ``lb``: from its
    listener and priority, never from a position."""
    return naming.logical(lb, "Listener", str(port), "Rule", str(priority))


def host_value(host: str, capable: bool, domain_only: bool) -> object:
    """A host-header value: a record name of the domain per stage (``domain_only``: in a rule
    that exists only with a domain), else the pattern as written."""
    if "." in host:
        return host
    assert capable, host  # generator.spec.routing refuses a record host without a domain
    if domain_only:
        return naming.domain_name(host)
    return If(
        "HasDomain",
        Sub(f"{host}.${{AWS::Region}}.${{BaseDomain}}"),
        Sub(f"{host}.${{AWS::Region}}.{NO_DOMAIN_SUFFIX}"),
    )


def listener_rule(  # noqa: PLR0913
    lb: str, x: Listener, listener_arn: object, route: Route, tg: Ref, capable: bool
) -> elb.ListenerRule:
    """The rule of ``route`` on listener ``x`` of load balancer (shard) ``lb``, forwarding to ``tg``;
    ``listener_arn``: a Ref to the listener, or to the parameter of its ARN when an earlier alb
    stack holds it (generator.alb_stacks)."""
    conditions = []
    domain_only = capable and x.mode == "https"
    if route.hosts:
        conditions.append(
            elb.Condition(
                Field="host-header",
                HostHeaderConfig=elb.HostHeaderConfig(
                    Values=[host_value(h, capable, domain_only) for h in route.hosts]
                ),
            )
        )
    if route.paths:
        conditions.append(
            elb.Condition(Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=list(route.paths)))
        )
    forward = [elb.ListenerRuleAction(Type="forward", TargetGroupArn=tg)]
    kw: dict[str, object] = {}
    actions: object = forward
    if domain_only:
        kw["Condition"] = "HasDomain"
    elif capable and x.mode == "redirect":
        actions = If("HasDomain", to_https(elb.ListenerRuleAction), forward)
    return elb.ListenerRule(
        rule_id(lb, x.port, route.priority),
        ListenerArn=listener_arn,
        Priority=route.priority,
        Conditions=conditions,
        Actions=actions,
        **kw,
    )


def domain_only(s: Service) -> bool:
    """Whether a service has a target group only HTTPS listeners serve (HTTP2, GRPC): those
    exist only with a domain, so the service attaches it only then (generator.spec.routing)."""
    return any(tg.protocol_version in NEEDS_HTTPS for tg in s.target_groups)


def attachments(st: Stack, s: Service, grace: int) -> dict[str, object]:
    """The ECS service's LoadBalancers and HealthCheckGracePeriodSeconds: an HTTP2/GRPC target
    group is attached only with a domain (``Fn::If`` HasDomain; ECS updates a service's load
    balancers in place), and the grace period, which ECS takes only with a load balancer, too
    when no other target group is attached."""
    if not s.target_groups:
        return {}
    if domain_only(s) and "HasDomain" not in st.t.conditions:
        st.t.add_condition("HasDomain", Not(Equals(st.ref("BaseDomain"), "")))
    entries: list[object] = []
    for tg in s.target_groups:
        entry = ecs.LoadBalancer(
            ContainerName=s.container_of_port(tg.container_port),
            ContainerPort=tg.container_port,
            TargetGroupArn=st.ref(naming.tg_output(tg.name)),
        )
        entries.append(If("HasDomain", entry, NoValue) if tg.protocol_version in NEEDS_HTTPS else entry)
    always = any(tg.protocol_version not in NEEDS_HTTPS for tg in s.target_groups)
    return {
        "LoadBalancers": entries,
        "HealthCheckGracePeriodSeconds": grace if always else If("HasDomain", grace, NoValue),
    }


def target_group_full_name(st: Stack, tg: str) -> object:
    """The target group's full name (its CloudWatch dimension, ``targetgroup/<name>/<id>``) from
    its ARN (``arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>``):
    the alb stack outputs only the ARN per target group, so 100 target groups (the ALB quota)
    fit its 200 outputs."""
    return Select(5, Split(":", st.ref(naming.tg_output(tg))))
