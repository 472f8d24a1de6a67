"""The preflight's verdicts and their wording: can every task of a template set start?

For each task (see ``reach.tasks``) it routes every need (see ``reach.needs``) from each
of the task's subnets: a private-DNS interface endpoint (which then takes the traffic
even when a NAT exists), the S3 gateway endpoint on the subnet's route table, a
0.0.0.0/0 route to a NAT gateway whose own subnet routes to an attached internet
gateway, or an internet-gateway route with ``AssignPublicIp: ENABLED``.  Along each
working path the task's security groups must allow tcp/443 egress and the endpoint's
group admit it; the execution (and, for ECS Exec, the task) role and the endpoint
policies must allow the calls (``reach.iam``).

Errors mean a task cannot start as templated.  Warnings mean a declared feature (ECS
Exec) is degraded, or something could not be proven statically (a route via a transit
gateway, an external role).  Security groups do not filter traffic to the VPC
resolver, so DNS needs no rule; the VPC needs ``EnableDnsSupport`` and
``EnableDnsHostnames`` for private DNS.  Network ACLs are not evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from generator.cfn.environments import environments, with_environment
from generator.cfn.finding import ERROR, WARNING, Finding
from generator.cfn.templateset import TemplateSet
from generator.cfn.values import MATCH_PSEUDO, SHOW_PSEUDO, Renderer
from generator.reach.datapaths import DATA_PATH, data_paths
from generator.reach.iam import TemplatePolicies, allows
from generator.reach.isolation import isolation_problems
from generator.reach.model import Endpoint, InternetPath, Need, Perm, Task
from generator.reach.network import ANYWHERE, Network
from generator.reach.tasks import TaskReader

LAYER_BUCKET = "arn:{p}:s3:::prod-{r}-starport-layer-bucket/*"
ENDPOINT_ACTIONS = {
    "ecr.api": "ecr:",
    "ecr.dkr": "ecr:",
    "logs": "logs:",
    "secretsmanager": "secretsmanager:",
    "ssm": "ssm:",
    "ssmmessages": "ssmmessages:",
    "kms": "kms:",
}
# Resource types whose environment-dependent conditions make the preflight run per environment.
RELEVANT = ("AWS::EC2::", "AWS::ECS::", "AWS::IAM::", "AWS::Events::Rule", "AWS::Scheduler::Schedule")
SOURCE = "preflight"


def _names(ns: list[Need]) -> str:
    return ", ".join(n.dest for n in ns)


def _dests(ns: list[Need]) -> str:
    return ", ".join(n.label for n in ns)


class Preflight:
    """One run over a template set under its parameters' defaults."""

    def __init__(self, templates: dict[str, dict[str, Any]]):
        self.ts = TemplateSet(templates)
        self.match = Renderer(self.ts, MATCH_PSEUDO)
        self.show = Renderer(self.ts, SHOW_PSEUDO)
        self.net = Network(self.ts, self.match)
        self.policies = TemplatePolicies(self.ts, self.match)
        self.findings: list[Finding] = []
        self.proofs: dict[str, list[str]] = {}
        self.task_count = 0
        self._vpcs_seen: set[tuple[str, str]] = set()

    def add(self, problem: str, where: str, severity: str = ERROR, rule: str = "") -> None:
        f = Finding(problem, where, severity=severity, rule=rule, source=SOURCE)
        if f not in self.findings:
            self.findings.append(f)

    def run(self) -> list[Finding]:
        reader = TaskReader(self.ts, self.match, self.show)
        tasks = reader.tasks()
        by_label = {t.label: t for t in tasks}
        for path in data_paths(self.ts, tasks, self.policies, self.match, self.show):
            by_label[path.task].perms.append(path.perm())
        for f in reader.findings:
            self.add(f.problem, f.where, f.severity, "discovery")
        self.task_count = len(tasks)
        for file, lid, subnet in self.ts.present_resources("AWS::EC2::Subnet"):
            cut = self.net.cut_problem(file, (subnet.get("Properties") or {}).get("CidrBlock"))
            if cut:
                self.add(f"{file}: subnet {lid}: CidrBlock {cut}: CloudFormation cannot create it", "", ERROR, "cidr")
        for t in tasks:
            self.check(t)
        for e in self.net.endpoints:
            if e.kind == "Interface" and not e.private_dns:
                self.add(
                    f"endpoint {e.lid}: com.amazonaws.<region>.{e.service} has PrivateDnsEnabled false; tasks "
                    "resolve the public name and do not use it",
                    "",
                    WARNING,
                    "endpoint",
                )
        if self.ts.present_resources("AWS::EC2::NetworkAclEntry"):
            self.add("network ACL entries exist; the preflight does not evaluate network ACLs", "", WARNING, "nacl")
        return self.findings

    def check(self, t: Task) -> None:  # noqa: C901, PLR0912, PLR0915
        proof: list[str] = []
        if not t.subnets:
            self.add(f"{t.label}: no subnets in its network configuration", t.name, ERROR, "route")
            return
        net = self.net
        subnet_keys = [s.key for s in t.subnets]
        if any(k is None for k in subnet_keys) or any(self.ts.typed(s, "AWS::EC2::Subnet") is None for s in t.subnets):
            unresolved = ", ".join(str(s) for s in t.subnets if self.ts.typed(s, "AWS::EC2::Subnet") is None)
            if all(s.kind != "resource" for s in t.subnets):
                # An existing VPC (network.existing): the subnets are parent parameters.
                unresolved = "given as parameters (an existing VPC's)"
            self.add(
                f"{t.label}: subnets {unresolved} are not defined in the template set; their routes cannot be "
                "checked (run diagnose after deploying)",
                t.name,
                WARNING,
                "route",
            )
            return
        vpc = net.subnet_info(t.subnets[0])[0]
        task_nets = [n for n in (net.subnet_info(s)[1] for s in t.subnets) if n is not None]
        if len(task_nets) != len(t.subnets):
            task_nets = []
        sgs = [o.key for o in t.sgs]
        sg_names = ", ".join(s[1] if s else "<unresolved>" for s in sgs) or "<none>"
        paths = {s.key: net.internet_path(s, t.public_ip) for s in t.subnets}
        for problem in isolation_problems(net, t, paths):
            self.add(problem, t.name, ERROR, "isolation")

        # Route each need, per subnet.
        failed: list[tuple[Need, tuple[str, str], InternetPath]] = []
        via_endpoint: dict[str, list[Need]] = {}
        via_gateway: dict[str, list[Need]] = {}
        via_internet: dict[str, list[Need]] = {}
        unverified: dict[tuple[str, str], list[Need]] = {}

        def put(d: dict[Any, list[Need]], k: Any, n: Need) -> None:
            if n not in d.setdefault(k, []):
                d[k].append(n)

        for n in t.needs:
            ep = None if n.internet_only else net.interface_endpoint(n.dest, vpc)
            if ep is not None:
                put(via_endpoint, ep.lid, n)
                self._endpoint_policy(t, n, ep)
                continue
            for s in t.subnets:
                sk = s.key
                assert sk is not None
                if n.dest == "s3" and not n.internet_only:
                    gw = net.gateway_endpoint("s3", net.route_table_of(s))
                    if gw is not None:
                        put(via_gateway, gw.lid, n)
                        self._endpoint_policy(t, n, gw)
                        continue
                ip = paths[sk]
                if ip.ok:
                    put(via_internet, ip.detail, n)
                elif ip.kind == "other":
                    put(unverified, (ip.rt, ip.detail), n)
                else:
                    failed.append((n, sk, ip))

        # Route failures: one finding per (severity, cause, set of subnets), listing the destinations.
        subnets_of: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        need_of: dict[str, Need] = {}
        for n, sk, ip in failed:
            subnets_of.setdefault((n.dest, ip.kind, ip.detail), set()).add(sk)
            need_of[n.dest] = n
        grouped: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[Need]] = {}
        for (dest, kind, detail), sks in subnets_of.items():
            n = need_of[dest]
            ordered = tuple(k for k in subnet_keys if k in sks)
            grouped.setdefault((n.severity, kind, detail, ordered), []).append(n)
        for (sev, kind, detail, sks_t), ns in grouped.items():
            ns.sort(key=t.needs.index)
            self.add(self._route_message(t, ns, kind, detail, list(sks_t), paths), t.name, sev, "route")
        for (rt, target), ns in unverified.items():
            self.add(
                f"{t.label}: cannot prove a route to {_dests(ns)}: route table {rt} sends 0.0.0.0/0 to {target}, "
                "which the preflight does not follow; make sure it reaches the internet, or add VPC endpoints",
                t.name,
                WARNING,
                "route",
            )

        # Security groups along each working path.
        by_group: dict[tuple[Any, ...], list[Need]] = {}
        for ep_lid, ns in via_endpoint.items():
            ep = next(e for e in net.endpoints if e.lid == ep_lid)
            ep_nets = [x for x in (net.subnet_info(s)[1] for s in ep.subnets) if x is not None]
            group_key = (tuple(g.key for g in ep.sgs), tuple(ep_nets) if len(ep_nets) == len(ep.subnets) else ())
            for n in ns:
                put(by_group, group_key, n)
        for (ep_sgs_t, ep_nets_t), ns in by_group.items():
            ep_sgs = list(ep_sgs_t)
            label = ", ".join(g[1] if g else "<unresolved>" for g in ep_sgs) or "<VPC default security group>"
            for group_sev, group in (
                (ERROR, [n for n in ns if n.severity == ERROR]),
                (WARNING, [n for n in ns if n.severity == WARNING]),
            ):
                if not group:
                    continue
                if not net.egress_allows(sgs, to_sg=ep_sgs, to_nets=list(ep_nets_t)):
                    self.add(
                        f"{t.label}: task security group {sg_names} has no egress rule allowing tcp/443 to "
                        f"endpoint security group {label} ({_dests(group)})",
                        t.name,
                        group_sev,
                        "security-group",
                    )
                if not ep_sgs:
                    self.add(
                        f"{t.label}: the interface endpoints for {_dests(group)} have no security group (the VPC "
                        "default group applies, which does not admit the tasks)",
                        t.name,
                        group_sev,
                        "security-group",
                    )
                elif not net.ingress_admits(ep_sgs, sgs, task_nets):
                    self.add(
                        f"{t.label}: endpoint security group {label} does not admit tcp/443 from task security "
                        f"group {sg_names} ({_dests(group)})",
                        t.name,
                        group_sev,
                        "security-group",
                    )
            proof.append(f"{_dests(ns)} via interface endpoints with private DNS (security group {label})")
            self._vpc_dns(vpc)
        for gw_lid, ns in via_gateway.items():
            if not net.egress_allows(sgs, prefix_list=True, to_nets=[ANYWHERE]):
                self.add(
                    f"{t.label}: task security group {sg_names} has no egress rule allowing tcp/443 to the S3 "
                    f"prefix list (image layers through the S3 gateway endpoint {gw_lid})",
                    t.name,
                    ERROR,
                    "security-group",
                )
            proof.append(f"{_dests(ns)} via S3 gateway endpoint {gw_lid}")
        for how, ns in via_internet.items():
            for group_sev, group in (
                (ERROR, [n for n in ns if n.severity == ERROR]),
                (WARNING, [n for n in ns if n.severity == WARNING]),
            ):
                if group and not net.egress_allows(sgs, to_nets=[ANYWHERE]):
                    self.add(
                        f"{t.label}: task security group {sg_names} has no egress rule allowing tcp/443 to "
                        f"0.0.0.0/0 ({_dests(group)} through the {'NAT' if how.startswith('NAT') else 'internet'} "
                        "gateway)",
                        t.name,
                        group_sev,
                        "security-group",
                    )
        hows_of: dict[str, list[str]] = {}
        for how, ns in via_internet.items():
            for n in ns:
                hows_of.setdefault(n.label, []).append(how)
        by_hows: dict[tuple[str, ...], list[str]] = {}
        for need_label, hows in hows_of.items():
            by_hows.setdefault(tuple(hows), []).append(need_label)
        for ways, labels in by_hows.items():
            proof.append(f"{', '.join(labels)} via {', '.join(ways)}")

        proof += self._iam(t)
        self.proofs[t.label] = proof

    def _route_message(
        self, t: Task, ns: list[Need], kind: str, detail: str, sks: list[Any], paths: dict[Any, InternetPath]
    ) -> str:
        dests = _dests(ns)
        every = len(sks) == len(t.subnets)
        aws = [n for n in ns if not n.internet_only]
        public = [n for n in ns if n.internet_only]
        only_s3 = len(aws) == 1 and aws[0].dest == "s3"
        if every:
            if only_s3:
                alt = " and no com.amazonaws.<region>.s3 gateway endpoint on their route tables"
            elif len(aws) == 1:
                alt = f" and no com.amazonaws.<region>.{aws[0].dest} endpoint"
            else:
                alt = f" and no VPC endpoints for {'them' if not public else _names(aws)}" if aws else ""
        elif only_s3:
            alt = ", and no com.amazonaws.<region>.s3 gateway endpoint is on that route table"
        elif len(aws) == 1:
            alt = f", and the VPC has no com.amazonaws.<region>.{aws[0].dest} endpoint"
        else:
            alt = f", and the VPC has no endpoint for {'any of them' if not public else _names(aws)}" if aws else ""
        note = ""
        if public:
            hosts = ", ".join(sorted({n.dest for n in public}))
            note = (
                f" ({hosts} {'has' if len(public) == 1 else 'have'} no VPC endpoint: mirror the image to ECR or "
                "route through a NAT)"
            )
        rts = ", ".join(sorted({paths[s].rt or "main" for s in sks}))
        where = "" if every else f" from subnet{'s' if len(sks) > 1 else ''} {', '.join(s[1] for s in sks)}"
        head = f"{t.label}: no route to {dests}{where}: "
        if kind == "none" and every:
            return head + f"private subnets have no NAT{alt}{note}"
        if kind == "none":
            return head + f"route table {rts} has no 0.0.0.0/0 route to a NAT gateway{alt}{note}"
        if kind == "no-rt":
            subj = "its subnets have" if every else "the subnet has"
            return head + (
                f"{subj} no route table association (the VPC main route table has only the local route)"
                f"{alt if not every else ''}{note}"
            )
        if kind == "igw-no-public-ip":
            return head + (
                f"route table {rts} sends 0.0.0.0/0 to {detail} but AssignPublicIp is DISABLED; enable "
                f"AssignPublicIp (public-ip mode) or route through a NAT or VPC endpoints{note}"
            )
        return head + f"{detail}{note}"

    def _vpc_dns(self, vpc: tuple[str, str] | None) -> None:
        if vpc is None or vpc in self._vpcs_seen:
            return
        self._vpcs_seen.add(vpc)
        p = (self.ts.resource(*vpc) or {}).get("Properties", {})
        support = self.match(vpc[0], p.get("EnableDnsSupport", True)) == "true"
        hostnames = self.match(vpc[0], p.get("EnableDnsHostnames", False)) == "true"
        off = [n for n, ok in (("EnableDnsSupport", support), ("EnableDnsHostnames", hostnames)) if not ok]
        if off:
            self.add(
                f"vpc {vpc[1]}: {' and '.join(off)} must be true for the private DNS names of interface "
                "endpoints; tasks would resolve the public service names and time out",
                "",
                ERROR,
                "dns",
            )

    def _endpoint_policy(self, t: Task, n: Need, ep: Endpoint) -> None:
        if not isinstance(ep.policy, dict):
            return
        stmts = self.policies.document(ep.file, ep.policy)
        checks: list[tuple[str, Perm]] = []
        if n.dest == "s3":
            layer = LAYER_BUCKET.format(p="aws", r="us-east-1").replace("*", "sha256/0")
            checks.append(
                (
                    "s3:GetObject",
                    Perm(("s3:GetObject",), layer, LAYER_BUCKET.format(p="aws", r="<region>"), None, "image layers"),
                )
            )
        else:
            prefix = ENDPOINT_ACTIONS.get(n.dest)
            for pm in t.perms:
                for a in pm.actions:
                    if (
                        prefix
                        and a.startswith(prefix)
                        and (n.dest != "ecr.api" or a == "ecr:GetAuthorizationToken")
                        and (n.dest != "ecr.dkr" or a != "ecr:GetAuthorizationToken")
                    ):
                        checks.append((a, pm))
        for action, pm in checks:
            if not allows(stmts, action, pm.resource, pm.origin):
                kind = "S3 gateway" if ep.kind == "Gateway" else "interface"
                self.add(
                    f"{t.label}: the policy of {kind} endpoint {ep.lid} does not allow {action} on {pm.shown} "
                    f"({pm.why})",
                    t.name,
                    n.severity,
                    "endpoint",
                )

    def _iam(self, t: Task) -> list[str]:
        """Check the role permissions; the proof lines of the data paths that hold."""
        proof: list[str] = []
        td = (self.ts.resource(t.td_file, t.td_lid) or {}).get("Properties", {})
        for role_kind, prop in (("execution", "ExecutionRoleArn"), ("task", "TaskRoleArn")):
            perms = [pm for pm in t.perms if pm.role == role_kind]
            if not perms:
                continue
            if prop not in td:
                sev = ERROR if any(pm.severity == ERROR for pm in perms) else WARNING
                self.add(
                    f"{t.label}: the task definition has no {prop}; {perms[0].why} needs {perms[0].actions[0]}",
                    t.name,
                    sev,
                    "iam",
                )
                continue
            ro = self.ts.origin(t.td_file, td[prop])
            if self.ts.typed(ro, "AWS::IAM::Role") is None:
                self.add(
                    f"{t.label}: {role_kind} role {self.show(t.td_file, td[prop]) or ro} is not defined in the "
                    "template set; its permissions cannot be checked (run diagnose after deploying)",
                    t.name,
                    WARNING,
                    "iam",
                )
                continue
            stmts, unknown = self.policies.role(ro)
            missing: dict[tuple[str, str, str], list[str]] = {}
            for pm in perms:
                for a in pm.actions:
                    if not allows(stmts, a, pm.resource, pm.origin, pm.context):
                        missing.setdefault((pm.severity, pm.shown, pm.why), []).append(a)
            for (sev, shown, why), acts in missing.items():
                note = f" (managed policies not evaluated: {', '.join(unknown)})" if unknown else ""
                self.add(
                    f"{t.label}: {role_kind} role {ro.name} does not allow {', '.join(acts)} on {shown}, needed "
                    f"for {why}{note}",
                    t.name,
                    sev,
                    "iam",
                )
            proof += [
                f"{pm.why}: {role_kind} role {ro.name} allows {', '.join(pm.actions)} on {pm.shown}"
                for pm in perms
                if pm.why.startswith(DATA_PATH) and (pm.severity, pm.shown, pm.why) not in missing
            ]
        return proof


def check(
    templates: dict[str, dict[str, Any]], envs: list[str | None] | None = None
) -> tuple[list[Finding], Preflight]:
    """Findings over every environment that changes the answer. A finding that holds in
    only some environments is prefixed with them ("environment prod: ...")."""
    envs = envs or environments(templates, RELEVANT)
    runs: list[tuple[str | None, Preflight]] = []
    for env in envs:
        pf = Preflight(with_environment(templates, env) if env else templates)
        pf.run()
        runs.append((env, pf))
    if len(runs) == 1:
        return runs[0][1].findings, runs[0][1]
    merged: list[Finding] = []
    seen: set[Finding] = set()
    for _env, pf in runs:
        for f in pf.findings:
            if f in seen:
                continue
            seen.add(f)
            where = [e for e, other in runs if f in other.findings]
            if len(where) == len(runs):
                merged.append(f)
            else:
                merged.append(
                    dataclasses.replace(f, problem=f"environment {', '.join(str(e) for e in where)}: {f.problem}")
                )
    return merged, runs[0][1]


def run(templates: dict[str, dict[str, Any]]) -> list[Finding]:
    """All findings for a template set (dict file name -> template; 'main.yaml' is the parent),
    over every environment whose conditions change the networking, ECS or IAM resources."""
    return check(templates)[0]
