"""Conditions: nothing refers to, or is attached to, a resource that can be absent while
it is present.

Evaluated the way the kernel does, across the parent and its children: a parent stack
resource's Condition removes a whole child, a child's own Conditions remove resources,
and both are decided by the parent's parameter values; every combination of the values
the deciding conditions compare is tried (``TemplateSet.scenarios``).  Two rules:

- ``presence``: a ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` variable or ``DependsOn`` (the one in
  force under the scenario's ``Fn::If`` decisions), followed through a child parameter to
  what the parent feeds it and through ``GetAtt Child.Outputs.X`` to the child's output,
  names a resource that is absent while the referring one is present.  CloudFormation
  rejects the template ("Unresolved resource dependencies"), or the parent's GetAtt of a
  child output that is not there fails.  Listener default actions and listener rules are
  references like any other: a listener that forwards to an absent target group is found
  here.
- ``load-balancer-association``: an ECS service attached (``LoadBalancers``) to a target
  group that no present listener or listener rule forwards to.  ECS refuses to create it:
  "The target group ... does not have an associated load balancer".
"""

from __future__ import annotations

from typing import Any

from generator.cfn.finding import Finding
from generator.cfn.load import PARENT, STACK_TYPE
from generator.cfn.refs import PSEUDO_PARAMETERS, condition_names, depends_on, walk
from generator.cfn.templateset import Key, TemplateSet
from generator.deployability.base import Inputs, describe, finding

CONDITIONS_DOC = (
    "a template whose resource refers to a resource its conditions leave out fails with "
    "'Unresolved resource dependencies', "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/conditions-section-structure.html"
)
ECS_LB_DOC = (
    "CreateService fails with 'The target group ... does not have an associated load balancer' unless "
    "a listener or listener rule forwards to the target group, "
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html"
)
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
LISTENER_RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"


def check(inp: Inputs) -> list[Finding]:
    return references(inp.ts) + load_balancer_association(inp.ts)


# ---- following references ----------------------------------------------------------------


def targets(
    ts: TemplateSet,
    file: str,
    node: Any,
    *,
    resolve: bool,
    depth: int = 0,
    conditions: list[tuple[str, str]] | None = None,
    memo: dict[tuple[str, str, str, int], dict[Key, str]] | None = None,
) -> dict[Key, str]:
    """Resources a fragment of ``file`` refers to -> how ('Ref X', 'GetAtt X.Arn', ...),
    through child parameters and child outputs.  ``resolve``: only what is in force under
    the set's values (``Fn::If`` decided); else every branch.  ``conditions`` collects the
    ``Fn::If`` conditions met on the way (in the fragment, the feeds, the outputs).
    ``memo`` (one dict per template set, with ``resolve`` False and no ``conditions``) keeps
    what a child parameter's feed and a child output refer to: every resource that reads
    the same parameter follows the same feed."""
    if depth > 10:
        return {}
    if conditions is not None or resolve:
        memo = None  # (what the memo keeps depends on neither)
    if conditions is not None:
        conditions += if_conditions(ts, file, node)
    if resolve:
        node = ts.resolved(file, node)
    out: dict[Key, str] = {}
    tmpl = ts.t[file]
    for ref in walk(node):
        if ref.name in PSEUDO_PARAMETERS:
            continue
        how = f"{'Ref' if ref.via == 'Ref' else ref.via.removeprefix('Fn::')} {ref.name}" + (
            f".{ref.attr}" if ref.attr else ""
        )
        if ref.name in (tmpl.get("Resources") or {}):
            out.setdefault((file, ref.name), how)
            res = tmpl["Resources"][ref.name]
            if res.get("Type") == STACK_TYPE and ref.attr.startswith("Outputs."):
                child = ts.file_of_stack(ref.name)
                output = (ts.t.get(child or "", {}).get("Outputs") or {}).get(ref.attr.removeprefix("Outputs.")) or {}
                if child and "Value" in output:
                    key = ("output", child, ref.attr, depth + 1)
                    found = _followed(
                        ts,
                        child,
                        output["Value"],
                        key,
                        resolve=resolve,
                        depth=depth + 1,
                        conditions=conditions,
                        memo=memo,
                    )
                    for k, h in found.items():
                        out.setdefault(k, f"{how} ({child} output: {h})")
        elif ref.name in (tmpl.get("Parameters") or {}) and file != PARENT:
            fed = ts.fed(file, ref.name)
            if fed is not None:
                key = ("parameter", file, ref.name, depth + 1)
                found = _followed(
                    ts, PARENT, fed, key, resolve=resolve, depth=depth + 1, conditions=conditions, memo=memo
                )
                for k, h in found.items():
                    out.setdefault(k, f"parameter {ref.name} ({h})")
    return out


def _followed(
    ts: TemplateSet,
    file: str,
    node: Any,
    key: tuple[str, str, str, int],
    *,
    resolve: bool,
    depth: int,
    conditions: list[tuple[str, str]] | None,
    memo: dict[tuple[str, str, str, int], dict[Key, str]] | None,
) -> dict[Key, str]:
    """:func:`targets` of a child output or a parameter's feed, kept in ``memo`` when there is one."""
    if memo is not None and key in memo:
        return memo[key]
    found = targets(ts, file, node, resolve=resolve, depth=depth, conditions=conditions, memo=memo)
    if memo is not None:
        memo[key] = found
    return found


def resource_targets(
    ts: TemplateSet,
    file: str,
    res: dict[str, Any],
    *,
    resolve: bool,
    conditions: list[tuple[str, str]] | None = None,
    memo: dict[tuple[str, str, str, int], dict[Key, str]] | None = None,
) -> dict[Key, str]:
    """What a resource refers to: its Properties and its DependsOn."""
    out = targets(ts, file, res.get("Properties") or {}, resolve=resolve, conditions=conditions, memo=memo)
    for dep in depends_on(res):
        if dep in (ts.t[file].get("Resources") or {}):
            out.setdefault((file, dep), f"DependsOn {dep}")
    return out


def maybe_absent(ts: TemplateSet, file: str, lid: str) -> bool:
    """Whether a condition can leave the resource out (its own, or its stack's)."""
    res = ts.resource(file, lid) or {}
    return bool(res.get("Condition")) or (file != PARENT and bool(ts.stack_condition(file)))


def if_conditions(ts: TemplateSet, file: str, node: Any) -> list[tuple[str, str]]:
    """(file, condition) of every Fn::If in a fragment of ``file``."""
    return [(file, c) for c in sorted(condition_names(node)) if c in (ts.t[file].get("Conditions") or {})]


def _feed_conditions(ts: TemplateSet, file: str) -> list[tuple[str, str]]:
    """The Fn::If conditions of what the parent feeds a child (its stack resource)."""
    stack = ts.child_of.get(file)
    if file == PARENT or stack is None:
        return []
    return if_conditions(ts, PARENT, (ts.parent["Resources"][stack].get("Properties") or {}).get("Parameters"))


# ---- the rules ----------------------------------------------------------------------------


def references(ts: TemplateSet) -> list[Finding]:
    """``presence``: no resource refers to one that can be absent while it is present."""
    out: list[Finding] = []
    memo: dict[tuple[str, str, str, int], dict[Key, str]] = {}
    for file, lid, res in ts.resources():
        user = (file, lid)
        candidates = {
            k: how
            for k, how in resource_targets(ts, file, res, resolve=False, memo=memo).items()
            if k != user and maybe_absent(ts, *k)
        }
        if not candidates:
            continue
        # The Fn::If conditions on the way, read only for the few resources with candidates.
        conds: list[tuple[str, str]] = []
        resource_targets(ts, file, res, resolve=False, conditions=conds)
        conds = sorted(set(conds + _feed_conditions(ts, file)))
        reported: set[Key] = set()
        for scenario in ts.scenarios([user, *sorted(candidates)], conds):
            under = ts.under(scenario)
            if not under.present(*user):
                continue
            active = resource_targets(under, file, res, resolve=True)
            for key in sorted(set(active) & set(candidates) - reported):
                if not under.present(*key):
                    reported.add(key)
                    out.append(
                        finding(
                            "presence",
                            file,
                            lid,
                            f"{file}:{lid} refers to {key[0]}:{key[1]} ({active[key]}), which is absent when "
                            f"{describe(scenario)} while {lid} is present",
                            CONDITIONS_DOC,
                        )
                    )
    return out


def forwarded(ts: TemplateSet, file: str, actions: Any, *, resolve: bool) -> set[Key]:
    """Target groups a listener's DefaultActions or a rule's Actions forward to."""
    out: set[Key] = set()
    for key in targets(ts, file, actions, resolve=resolve):
        if (ts.resource(*key) or {}).get("Type") == TARGET_GROUP:
            out.add(key)
    return out


def forwarders(ts: TemplateSet) -> dict[Key, list[tuple[Key, str]]]:
    """Target group -> (listener or listener rule, its actions property) that may forward to it."""
    out: dict[Key, list[tuple[Key, str]]] = {}
    for type_, prop in ((LISTENER, "DefaultActions"), (LISTENER_RULE, "Actions")):
        for file, lid, res in ts.resources(type_):
            for tg in forwarded(ts, file, (res.get("Properties") or {}).get(prop), resolve=False):
                out.setdefault(tg, []).append(((file, lid), prop))
    return out


def load_balancer_association(ts: TemplateSet) -> list[Finding]:
    """``load-balancer-association``: every target group a present ECS service is attached to
    is forwarded to by a present listener or listener rule."""
    out: list[Finding] = []
    by_tg = forwarders(ts)
    for file, lid, svc in ts.resources("AWS::ECS::Service"):
        lbs = (svc.get("Properties") or {}).get("LoadBalancers")
        lb_conds: list[tuple[str, str]] = []
        for tg in sorted(
            k
            for k in targets(ts, file, lbs, resolve=False, conditions=lb_conds)
            if (ts.resource(*k) or {}).get("Type") == TARGET_GROUP
        ):
            fws = by_tg.get(tg, [])
            conds = lb_conds + _feed_conditions(ts, file)
            for (ff, fl), prop in fws:
                conds += if_conditions(ts, ff, (ts.resource(ff, fl) or {}).get("Properties", {}).get(prop))
            for scenario in ts.scenarios([(file, lid), tg, *[k for k, _ in fws]], conds):
                under = ts.under(scenario)
                if not under.present(file, lid) or tg not in targets(under, file, lbs, resolve=True):
                    continue
                if any(
                    under.present(*k)
                    and tg
                    in forwarded(under, k[0], (under.resource(*k) or {}).get("Properties", {}).get(p), resolve=True)
                    for k, p in fws
                ):
                    continue
                how = (
                    "no listener or listener rule forwards to it"
                    if not fws
                    else f"none of {', '.join(k[1] for k, _ in fws)} forwards to it"
                )
                out.append(
                    finding(
                        "load-balancer-association",
                        file,
                        lid,
                        f"{file}:{lid} is attached to target group {tg[0]}:{tg[1]}, but {how} when "
                        f"{describe(scenario)}",
                        ECS_LB_DOC,
                    )
                )
                break
    return out
