"""Service quotas a platform's resources must fit, counted at generation, per platform.

- Application Load Balancers: listeners, target groups, rules (excluding default rules),
  certificates (excluding default certificates) per load balancer; target groups per
  forward action; load balancers per target group.
- ECS: target groups per service.
- VPC: inbound and outbound rules per security group, counted as EC2 creates them (one
  rule per CIDR, IPv6 CIDR, referenced group or prefix list, per port range; inline and
  separate SecurityGroupIngress/Egress resources; EC2's default egress rule when a group
  declares none inline; IPv4 and IPv6 counted apart, a group or prefix-list peer in
  both; a prefix list counts as one rule, a lower bound: AWS counts a customer-managed
  list by its maximum entries and an AWS-managed one by its weight, which the templates
  do not state); security groups per network interface (tasks, load balancers, endpoints,
  databases, file-system mount targets) and the rules those groups hold together;
  interface endpoints per VPC.

Counts are taken under every combination of the parameter values the resources'
conditions compare (``TemplateSet.scenarios``), and the largest is held to the quota
(the one table: ``generator.deployability.quotas``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from generator.awsfacts import NAMES_PER_CERTIFICATE
from generator.cfn.finding import Finding
from generator.cfn.refs import condition_names
from generator.cfn.templateset import Key, Scenario, TemplateSet
from generator.cfn.values import MATCH_PSEUDO, Renderer
from generator.deployability.base import Inputs, describe, finding
from generator.deployability.presence import LISTENER, LISTENER_RULE, TARGET_GROUP, forwarded, targets
from generator.deployability.quotas import QUOTAS
from generator.reach.iam import as_list
from generator.reach.network import Network

LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
# Where a resource type puts the security groups of its network interfaces.
INTERFACE_GROUPS = {
    "AWS::ECS::Service": ("NetworkConfiguration", "AwsvpcConfiguration", "SecurityGroups"),
    LOAD_BALANCER: ("SecurityGroups",),
    "AWS::EC2::VPCEndpoint": ("SecurityGroupIds",),
    "AWS::RDS::DBCluster": ("VpcSecurityGroupIds",),
    "AWS::RDS::DBInstance": ("VPCSecurityGroups",),
    "AWS::RDS::DBProxy": ("VpcSecurityGroupIds",),
    "AWS::EFS::MountTarget": ("SecurityGroups",),
}


def check(inp: Inputs) -> list[Finding]:
    ts, v = inp.ts, Views()
    return (
        load_balancers(ts, v)
        + certificates(ts)
        + services(ts, v)
        + security_groups(ts, v)
        + interfaces(ts, v)
        + endpoints(ts, v)
    )


class Views:
    """One template set, and one network model, per scenario, shared by every count of a
    check: a platform of hundreds of services asks the same few scenarios thousands of
    times, and each view keeps its own caches of conditions, presence and rules."""

    def __init__(self) -> None:
        self._sets: dict[tuple[int, tuple[tuple[str, Any], ...]], TemplateSet] = {}
        self._nets: dict[int, Network] = {}
        self._rule_keys: dict[int, dict[Key, list[Key]]] = {}
        self._if_conditions: dict[tuple[int, Key], list[tuple[str, str]]] = {}

    def under(self, ts: TemplateSet, scenario: Scenario) -> TemplateSet:
        key = (id(ts), tuple(sorted(scenario.items())))
        if key not in self._sets:
            self._sets[key] = ts.under(scenario)
        return self._sets[key]

    def network(self, under: TemplateSet) -> Network:
        if id(under) not in self._nets:
            self._nets[id(under)] = Network(under, Renderer(under, MATCH_PSEUDO))
        return self._nets[id(under)]

    def if_conditions(self, ts: TemplateSet, key: Key) -> list[tuple[str, str]]:
        """(file, condition) of the ``Fn::If`` s in a resource's Properties, read once per
        resource (a security group is among the keys of every interface it is on)."""
        memo_key = (id(ts), key)
        if memo_key not in self._if_conditions:
            f, lid = key
            self._if_conditions[memo_key] = [
                (f, c)
                for c in sorted(condition_names((ts.resource(f, lid) or {}).get("Properties")))
                if c in (ts.t[f].get("Conditions") or {})
            ]
        return self._if_conditions[memo_key]

    def rule_keys(self, ts: TemplateSet) -> dict[Key, list[Key]]:
        """Each security group's separate rule resources, indexed once per template set."""
        if id(ts) not in self._rule_keys:
            index: dict[Key, list[Key]] = {}
            for type_ in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
                for f, lid, r in ts.resources(type_):
                    for sg in targets(ts, f, r["Properties"].get("GroupId"), resolve=False):
                        index.setdefault(sg, []).append((f, lid))
            self._rule_keys[id(ts)] = index
        return self._rule_keys[id(ts)]


def _worst(views: Views, ts: TemplateSet, keys: list[Key], count: Any) -> tuple[int, Scenario]:
    """The largest ``count(template set under a scenario)`` over the scenarios of ``keys``
    (and the Fn::If conditions in them), with the scenario that gives it."""
    conds = [fc for key in keys for fc in views.if_conditions(ts, key)]
    best: tuple[int, Scenario] = (-1, {})
    for scenario in ts.scenarios(sorted(set(keys)), conds):
        n = count(views.under(ts, scenario))
        if n > best[0]:
            best = (n, scenario)
    return best


# What to do when one load balancer is past its target-group or rule quota although the
# generator splits a load balancer into ALB shards (generator.lb_placement): what is left over is
# what no split moves.
SECOND_ALB = (
    "; the automatic split (ALB shards <name>-2, <name>-3, ...) cannot fix this: listeners' default target "
    "groups and routes without hosts stay on the declared load balancer, a host's routes stay on the shard "
    "that serves it, and an earlier target group is never moved to make room for a later one. Give routes "
    "hosts, split one host's routes over several hosts, or declare a second load balancer (load_balancers: - "
    "name: <other>, with its own listeners) and point some services' target_groups[].load_balancer at it"
)
CERTIFICATE = "AWS::CertificateManager::Certificate"
# "Domain names per ACM certificate" (generator.awsfacts.NAMES_PER_CERTIFICATE).
ACM_NAMES = (
    f"domain names per ACM certificate: {NAMES_PER_CERTIFICATE} (adjustable), "
    "https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html"
)
ELB_HOSTS = (
    "DNS resolves a host name to one load balancer, so a host-header condition on another load balancer never "
    "matches; https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html"
)


def _over(rule: str, key: Key, what: str, n: int, scenario: Scenario, quota: str, hint: str = "") -> Finding | None:  # noqa: PLR0913
    q = QUOTAS[quota]
    if n <= q.value:
        return None
    when = "" if not scenario else f" when {describe(scenario)}"
    return finding(rule, key[0], key[1], f"{key[0]}:{key[1]} {what} {n}{when}{hint}", q.cite())


# ---- load balancers -----------------------------------------------------------------------


def _on(ts: TemplateSet, file: str, node: Any, wanted: set[Key]) -> Key | None:
    """The one of ``wanted`` that a property (LoadBalancerArn, ListenerArn) names, if any."""
    return next((k for k in targets(ts, file, node, resolve=False) if k in wanted), None)


def load_balancers(ts: TemplateSet, views: Views | None = None) -> list[Finding]:
    views = views or Views()
    out: list[Finding | None] = []
    lbs = {(f, lid) for f, lid, _ in ts.resources(LOAD_BALANCER)}
    listeners: dict[Key, Key] = {}  # listener -> its load balancer
    for f, lid, r in ts.resources(LISTENER):
        lb = _on(ts, f, r["Properties"].get("LoadBalancerArn"), lbs)
        if lb:
            listeners[(f, lid)] = lb
    rules: dict[Key, Key] = {}  # rule -> its listener
    for f, lid, r in ts.resources(LISTENER_RULE):
        listener = _on(ts, f, r["Properties"].get("ListenerArn"), set(listeners))
        if listener:
            rules[(f, lid)] = listener
    certificates: dict[Key, int] = {}  # listener -> additional certificates
    for f, _lid, r in ts.resources("AWS::ElasticLoadBalancingV2::ListenerCertificate"):
        listener = _on(ts, f, r["Properties"].get("ListenerArn"), set(listeners))
        if listener:
            certificates[listener] = certificates.get(listener, 0) + len(as_list(r["Properties"].get("Certificates")))
    tg_lbs: dict[Key, set[Key]] = {}
    for lb in sorted(lbs):
        mine = sorted(k for k, v in listeners.items() if v == lb)
        my_rules = sorted(k for k, v in rules.items() if v in mine)

        def present(under: TemplateSet, keys: Iterable[Key]) -> list[Key]:
            return [k for k in keys if under.present(*k)]

        def groups(under: TemplateSet, mine: list[Key] = mine, my_rules: list[Key] = my_rules) -> set[Key]:
            found: set[Key] = set()
            for k in present(under, mine):
                found |= forwarded(
                    under, k[0], (under.resource(*k) or {}).get("Properties", {}).get("DefaultActions"), resolve=True
                )
            for k in present(under, my_rules):
                found |= forwarded(
                    under, k[0], (under.resource(*k) or {}).get("Properties", {}).get("Actions"), resolve=True
                )
            return found

        keys = [lb, *mine, *my_rules]
        n, sc = _worst(views, ts, keys, lambda u, mine=mine: len(present(u, mine)))
        out.append(_over("alb-quota", lb, "has listeners:", n, sc, "listeners_per_alb"))
        n, sc = _worst(views, ts, keys, lambda u, my_rules=my_rules: len(present(u, my_rules)))
        out.append(
            _over(
                "alb-quota", lb, "has listener rules (besides the default rules):", n, sc, "rules_per_alb", SECOND_ALB
            )
        )
        n, sc = _worst(views, ts, keys, lambda u, groups=groups: len(groups(u)))
        out.append(_over("alb-quota", lb, "forwards to target groups:", n, sc, "target_groups_per_alb", SECOND_ALB))
        n = sum(certificates.get(k, 0) for k in mine)
        out.append(
            _over(
                "alb-quota", lb, "has certificates besides the listeners' default ones:", n, {}, "certificates_per_alb"
            )
        )
        for tg in groups(ts):
            tg_lbs.setdefault(tg, set()).add(lb)
    for tg, owners in sorted(tg_lbs.items()):
        out.append(
            _over(
                "alb-quota",
                tg,
                f"is forwarded to by the listeners of load balancers {', '.join(sorted(k[1] for k in owners))}:",
                len(owners),
                {},
                "load_balancers_per_target_group",
            )
        )
    out += hosts_on_one_load_balancer(ts, rules, listeners)
    for type_, prop in ((LISTENER, "DefaultActions"), (LISTENER_RULE, "Actions")):
        for f, lid, r in ts.resources(type_):
            for action in as_list(ts.resolved(f, r["Properties"].get(prop))):
                tgs = as_list(((action or {}).get("ForwardConfig") or {}).get("TargetGroups"))
                out.append(
                    _over(
                        "alb-quota",
                        (f, lid),
                        "forwards in one action to target groups:",
                        len(tgs),
                        {},
                        "target_groups_per_action",
                    )
                )
    return [f for f in out if f]


def _host_values(ts: TemplateSet, file: str, rule: dict[str, Any]) -> list[str]:
    """The host-header values of a listener rule, each as its JSON text (a record host is a Sub
    or an Fn::If of the stages; the same host is the same text on every load balancer)."""
    out = []
    for cond in as_list(rule.get("Properties", {}).get("Conditions")):
        if not isinstance(cond, dict) or cond.get("Field") != "host-header":
            continue
        values = (cond.get("HostHeaderConfig") or {}).get("Values") or cond.get("Values")
        out += [json.dumps(v, sort_keys=True) for v in as_list(values)]
    return out


def hosts_on_one_load_balancer(ts: TemplateSet, rules: dict[Key, Key], listeners: dict[Key, Key]) -> list[Finding]:
    """A host named in listener rules of two load balancers: its DNS record sends its requests to
    one of them, so the other's rules for it never match (generator.lb_placement keeps a host's
    routes on one shard and refuses, through this check, a target group whose hosts two shards serve)."""
    seen: dict[str, dict[Key, Key]] = {}  # host -> load balancer -> first rule naming it there
    for key, listener in sorted(rules.items()):
        for host in _host_values(ts, key[0], ts.resource(*key) or {}):
            seen.setdefault(host, {}).setdefault(listeners[listener], key)
    out = []
    for host, lbs in sorted(seen.items()):
        if len(lbs) > 1:
            where = sorted(lbs.values())[-1]
            out.append(
                finding(
                    "alb-hosts",
                    where[0],
                    where[1],
                    f"{where[0]}:{where[1]} matches host {host} on load balancers "
                    f"{', '.join(sorted(k[1] for k in lbs))}{SECOND_ALB}",
                    ELB_HOSTS,
                )
            )
    return out


def certificates(ts: TemplateSet) -> list[Finding]:
    """Domain names per ACM certificate (its DomainName and SubjectAlternativeNames)."""
    out = []
    for f, lid, r in ts.resources(CERTIFICATE):
        props = r.get("Properties") or {}
        names = {
            json.dumps(n, sort_keys=True)
            for n in [props.get("DomainName"), *as_list(props.get("SubjectAlternativeNames"))]
        }
        if len(names) > NAMES_PER_CERTIFICATE:
            out.append(
                finding(
                    "acm-quota",
                    f,
                    lid,
                    f"{f}:{lid} covers domain names: {len(names)}; the record names of the domain that one load "
                    f"balancer's routes name, with its dns_record, share one certificate{SECOND_ALB}",
                    ACM_NAMES,
                )
            )
    return out


# ---- ECS services -------------------------------------------------------------------------


def services(ts: TemplateSet, views: Views | None = None) -> list[Finding]:
    views = views or Views()
    out: list[Finding | None] = []
    for f, lid, r in ts.resources("AWS::ECS::Service"):
        lbs = r["Properties"].get("LoadBalancers")

        def attached(under: TemplateSet, f: str = f, lbs: Any = lbs) -> int:
            return len(
                {
                    k
                    for k in targets(under, f, lbs, resolve=True)
                    if (under.resource(*k) or {}).get("Type") == TARGET_GROUP
                }
            )

        n, sc = _worst(views, ts, [(f, lid)], attached)
        out.append(_over("ecs-quota", (f, lid), "is attached to target groups:", n, sc, "target_groups_per_service"))
    return [x for x in out if x]


# ---- security groups ----------------------------------------------------------------------


def _rule_counts(net: Network, sg: Key, egress: bool) -> int:
    """The rules of a group in one direction, the larger of its IPv4 and IPv6 counts."""
    counts = {"ipv4": 0, "ipv6": 0}
    for rule in net.rules(sg, egress):
        for family in rule.families:
            counts[family] += 1
    return max(counts.values())


def _rule_keys(views: Views, ts: TemplateSet, sg: Key) -> list[Key]:
    """The group and its separate rule resources (their conditions decide the count too)."""
    return [sg, *views.rule_keys(ts).get(sg, [])]


def security_groups(ts: TemplateSet, views: Views | None = None) -> list[Finding]:
    views = views or Views()
    out: list[Finding | None] = []
    for f, lid, _r in ts.resources(SECURITY_GROUP):
        sg = (f, lid)
        keys = _rule_keys(views, ts, sg)
        for egress, quota, what in (
            (False, "inbound_rules_per_sg", "has inbound rules:"),
            (True, "outbound_rules_per_sg", "has outbound rules:"),
        ):
            n, sc = _worst(views, ts, keys, lambda u, egress=egress, sg=sg: _rule_counts(views.network(u), sg, egress))
            out.append(_over("sg-quota", sg, what, n, sc, quota))
    return [x for x in out if x]


def _groups_of(ts: TemplateSet, file: str, res: dict[str, Any]) -> list[Key | None]:
    node: Any = ts.resolved(file, res.get("Properties") or {})
    for part in INTERFACE_GROUPS[res["Type"]]:
        node = node.get(part) if isinstance(node, dict) else None
    return [o.key for o in ts.items(file, node)]


def interfaces(ts: TemplateSet, views: Views | None = None) -> list[Finding]:
    """Security groups per network interface, and the rules they hold together."""
    views = views or Views()
    out: list[Finding | None] = []
    for type_ in INTERFACE_GROUPS:
        for f, lid, r in ts.resources(type_):
            groups = _groups_of(ts, f, r)
            out.append(
                _over(
                    "eni-quota",
                    (f, lid),
                    "puts on its network interfaces security groups:",
                    len(groups),
                    {},
                    "sgs_per_network_interface",
                )
            )
            known = [g for g in groups if g is not None]
            keys = [(f, lid), *[k for g in known for k in _rule_keys(views, ts, g)]]
            for egress, what in ((False, "inbound"), (True, "outbound")):
                n, sc = _worst(
                    views,
                    ts,
                    keys,
                    lambda u, known=known, egress=egress: (
                        lambda net: sum(_rule_counts(net, g, egress) for g in known)
                    )(views.network(u)),
                )
                out.append(
                    _over(
                        "eni-quota",
                        (f, lid),
                        f"has, in its security groups together, {what} rules:",
                        n,
                        sc,
                        "rules_per_network_interface",
                    )
                )
    return [x for x in out if x]


def endpoints(ts: TemplateSet, views: Views | None = None) -> list[Finding]:
    """Interface (and Gateway Load Balancer) endpoints per VPC."""
    views = views or Views()
    per_vpc: dict[Key | None, list[Key]] = {}
    for f, lid, r in ts.resources("AWS::EC2::VPCEndpoint"):
        kind = ts.resolved(f, r["Properties"].get("VpcEndpointType", "Gateway"))
        if kind in ("Interface", "GatewayLoadBalancer"):
            per_vpc.setdefault(ts.origin(f, r["Properties"].get("VpcId")).key, []).append((f, lid))
    out: list[Finding | None] = []
    for vpc, eps in sorted(per_vpc.items(), key=lambda kv: str(kv[0])):
        n, sc = _worst(views, ts, eps, lambda u, eps=eps: sum(1 for k in eps if u.present(*k)))
        where = vpc or eps[0]
        out.append(_over("vpc-quota", where, "has interface endpoints:", n, sc, "interface_endpoints_per_vpc"))
    return [x for x in out if x]
