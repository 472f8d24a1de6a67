"""The live side of the reachability model: why can't a deployed stack's tasks start?

``Diagnose(session).run(stack, more)`` walks the stack and its nested stacks (and those of the
``more`` stacks: the other roots of a split platform, ``generator.diagnose``) for ECS services,
EventBridge rules that run ECS tasks and EventBridge Scheduler schedules, reads each
task definition's facts into the same model the preflight uses (``reach.needs`` derives
what the task needs, ``reach.model`` judges security-group rules, ``reach.iam`` decides
policy statements), and checks, with read-only calls on the account:

* the VPC's DNS attributes, and each VPC endpoint's state, private DNS, and for the
  S3 gateway endpoint its route tables and policy;
* the route tables of the task subnets (a NAT or internet gateway that exists and
  is available, no blackhole default route);
* the security groups along the path (task egress 443, endpoint ingress from the
  task groups, the S3 prefix list);
* the execution role's permissions with IAM policy simulation
  (``SimulatePrincipalPolicy``), or, where the API is unavailable (emulators), a
  local evaluation of the role's inline and managed policies;
* the ``stoppedReason`` of the most recent stopped tasks, mapped to the likely cause;
* the image pulls of the last hour (seeds/001 1.2 and 5.3): count, failures, maximum and
  average seconds, from CloudWatch ``GetMetricStatistics`` on the namespace of the stack's
  pull alarms (generator/stacks/_image_pulls.py), slow or failed pulls as findings.

Every finding carries the fix to apply (seeds/001, requirements 4 and 5).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from generator.cfn.finding import Finding
from generator.reach.iam import MANAGED, Statement, allows, document_statements
from generator.reach.live_facts import BENIGN, STOP_REASONS, LiveTask, containers, group_rules
from generator.reach.model import allows_443
from generator.reach.needs import Account, task_needs
from generator.reach.pulls import PULL_ALARMS, PullFigures, pull_figures

INTERNET = ipaddress.IPv4Network("0.0.0.0/0")
LAYER_BUCKET_OBJECT = "arn:aws:s3:::prod-{region}-starport-layer-bucket/sha256/0"
SOURCE = "diagnose"


class Diagnose:
    def __init__(self, session: Any, endpoint_url: str | None = None):
        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint_url) if endpoint_url else session.client(name)

        self.cfn, self.ecs, self.ec2, self.iam = (client(n) for n in ("cloudformation", "ecs", "ec2", "iam"))
        self.events = client("events")
        self.cloudwatch = client("cloudwatch")
        self.scheduler = client("scheduler")
        self.region = session.region_name or "us-east-1"
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self._rt_cache: dict[str, dict[str, Any] | None] = {}
        self.task_count = 0
        self.resources: list[dict[str, Any]] = []
        self.pulls: PullFigures | None = None

    # ---- discovery

    def stack_resources(self, stack: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pages = self.cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
        for page in pages:
            for r in page["StackResourceSummaries"]:
                out.append(r)
                if r["ResourceType"] == "AWS::CloudFormation::Stack" and r.get("PhysicalResourceId"):
                    out.extend(self.stack_resources(r["PhysicalResourceId"]))
        return out

    def tasks(self, stack: str, more: Sequence[str] = ()) -> list[LiveTask]:
        out: list[LiveTask] = []
        self.resources = [r for s in (stack, *more) for r in self.stack_resources(s)]
        for r in self.resources:
            pid = r.get("PhysicalResourceId") or ""
            if r["ResourceType"] == "AWS::ECS::Service" and pid.startswith("arn:"):
                cluster, name = pid.split("/")[-2], pid.split("/")[-1]
                svc = self.ecs.describe_services(cluster=cluster, services=[name])["services"]
                if not svc:
                    self.add(
                        None,
                        "discovery",
                        f"ECS service {pid} from the stack does not exist",
                        "check the stack's status (drift, failed rollback)",
                    )
                    continue
                s = svc[0]
                net = s.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
                td = self.ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
                out.append(
                    LiveTask(
                        f"service {name}",
                        name,
                        cluster,
                        net.get("subnets", []),
                        net.get("securityGroups", []),
                        net.get("assignPublicIp") == "ENABLED",
                        td,
                        f"service:{name}",
                    )
                )
            elif r["ResourceType"] == "AWS::Events::Rule" and pid:
                rule = pid.split("|")[-1].split("/")[-1]
                for tgt in self.events.list_targets_by_rule(Rule=rule).get("Targets", []):
                    ep = tgt.get("EcsParameters")
                    if not ep:
                        continue
                    net = ep.get("NetworkConfiguration", {}).get("awsvpcConfiguration", {})
                    td = self.ecs.describe_task_definition(taskDefinition=ep["TaskDefinitionArn"])["taskDefinition"]
                    out.append(
                        LiveTask(
                            f"scheduled task {rule}",
                            rule,
                            tgt["Arn"].split("/")[-1],
                            net.get("Subnets", []),
                            net.get("SecurityGroups", []),
                            net.get("AssignPublicIp") == "ENABLED",
                            td,
                            f"family:{td['family']}",
                        )
                    )
            elif r["ResourceType"] == "AWS::Scheduler::Schedule" and pid:
                sched = self._schedule(pid)
                ep = (sched or {}).get("Target", {}).get("EcsParameters")
                if not ep or sched is None:
                    continue
                net = ep.get("NetworkConfiguration", {}).get("awsvpcConfiguration", {})
                td = self.ecs.describe_task_definition(taskDefinition=ep["TaskDefinitionArn"])["taskDefinition"]
                out.append(
                    LiveTask(
                        f"schedule {pid}",
                        pid,
                        sched["Target"]["Arn"].split("/")[-1],
                        net.get("Subnets", []),
                        net.get("SecurityGroups", []),
                        net.get("AssignPublicIp") == "ENABLED",
                        td,
                        f"family:{td['family']}",
                    )
                )
        return out

    def _schedule(self, name: str) -> dict[str, Any] | None:
        """An EventBridge Scheduler schedule by name, in whichever group holds it."""
        name = name.split("|")[-1].split("/")[-1]
        for page in self.scheduler.get_paginator("list_schedules").paginate(NamePrefix=name):
            for sch in page.get("Schedules", []):
                if sch["Name"] == name:
                    return self.scheduler.get_schedule(Name=name, GroupName=sch.get("GroupName", "default"))
        return None

    def add(self, task: LiveTask | None, check: str, problem: str, fix: str) -> None:
        f = Finding(
            f"{task.label}: {problem}" if task else problem, task.name if task else "", fix, rule=check, source=SOURCE
        )
        if f not in self.findings:
            self.findings.append(f)

    # ---- network facts

    def route_table(self, subnet: str, vpc: str) -> dict[str, Any] | None:
        if subnet not in self._rt_cache:
            rts = self.ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
                "RouteTables"
            ]
            if not rts:
                rts = self.ec2.describe_route_tables(
                    Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
                )["RouteTables"]
            self._rt_cache[subnet] = rts[0] if rts else None
        return self._rt_cache[subnet]

    def internet(self, subnet: str, vpc: str, public_ip: bool) -> tuple[bool, str, str]:  # noqa: PLR0911
        """(reaches the internet, how or why not, route table id)."""
        rt = self.route_table(subnet, vpc)
        if rt is None:
            return False, "no route table", ""
        rid = rt["RouteTableId"]
        route = next((r for r in rt.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)
        if route is None:
            return False, f"route table {rid} has no 0.0.0.0/0 route", rid
        if route.get("State") == "blackhole":
            target = route.get("NatGatewayId") or route.get("GatewayId") or "its target"
            return False, f"route table {rid} has a blackhole 0.0.0.0/0 route ({target} is gone)", rid
        if route.get("NatGatewayId"):
            nat_id = route["NatGatewayId"]
            nats = self.ec2.describe_nat_gateways(NatGatewayIds=[nat_id]).get("NatGateways", [])
            if not nats or nats[0].get("State") != "available":
                state = nats[0].get("State") if nats else "missing"
                return False, f"route table {rid} sends 0.0.0.0/0 to NAT gateway {nat_id}, which is {state}", rid
            if nats[0].get("ConnectivityType") == "private":
                return False, f"route table {rid} sends 0.0.0.0/0 to private NAT gateway {nat_id}", rid
            ok, why, _ = self.internet(nats[0]["SubnetId"], vpc, True)
            if not ok or not why.startswith("internet gateway"):
                return (
                    False,
                    (
                        f"route table {rid} sends 0.0.0.0/0 to NAT gateway {nat_id}, but the NAT's subnet "
                        f"{nats[0]['SubnetId']} does not route to an internet gateway"
                    ),
                    rid,
                )
            return True, f"NAT gateway {nat_id}", rid
        gw = route.get("GatewayId", "")
        if gw.startswith("igw-"):
            if not public_ip:
                return False, f"route table {rid} sends 0.0.0.0/0 to {gw} but the tasks have no public IP", rid
            return True, f"internet gateway {gw}", rid
        target = next((v for k, v in route.items() if k.endswith("Id") and v), "an unknown target")
        return True, f"{target} (not followed; assumed to reach the internet)", rid

    def prefix_list(self, service: str) -> str | None:
        lists = self.ec2.describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{self.region}.{service}"]}]
        )
        pl = lists.get("PrefixLists", [])
        return pl[0]["PrefixListId"] if pl else None

    def sg_rules(self, group_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not group_ids:
            return {}
        return {
            g["GroupId"]: g
            for g in self.ec2.describe_security_groups(GroupIds=sorted(set(group_ids)))["SecurityGroups"]
        }

    @staticmethod
    def allows(
        groups: dict[str, dict[str, Any]],
        ids: list[str],
        egress: bool,
        *,
        sgs: AbstractSet[str] = frozenset(),
        nets: Sequence[ipaddress.IPv4Network] = (),
        prefix: str | None = None,
    ) -> bool:
        """Whether the groups ``ids`` allow tcp/443 (egress or ingress) with ``sgs``, ``nets`` or ``prefix``."""
        rules = [r for gid in ids for r in group_rules(groups.get(gid, {}), egress)]
        return allows_443(rules, peers=set(sgs), nets=list(nets), prefix_list=prefix or False)

    # ---- IAM

    def role_allows(self, role_arn: str, checks: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (action, resource) pairs the role is NOT allowed."""
        try:
            denied = []
            for action, resource in checks:
                res = self.iam.simulate_principal_policy(
                    PolicySourceArn=role_arn, ActionNames=[action], ResourceArns=[resource]
                )
                decision = res["EvaluationResults"][0]["EvalDecision"]
                if decision != "allowed":
                    denied.append((action, resource))
            self.notes.append(f"{role_arn}: permissions from IAM policy simulation")
            return denied
        except Exception as exc:  # noqa: BLE001 - NotImplemented in emulators, AccessDenied for iam:Simulate*
            self.notes.append(
                f"{role_arn}: IAM policy simulation unavailable ({type(exc).__name__}); evaluated "
                "the role's policies locally"
            )
        stmts = self._statements(role_arn)
        return [(a, r) for a, r in checks if not allows(stmts, a, r)]

    def _statements(self, role_arn: str) -> list[Statement]:
        name = role_arn.split("/")[-1]
        stmts: list[Statement] = []
        for pname in self.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            stmts += document_statements(self.iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"])
        for att in self.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            short = att["PolicyArn"].rsplit("/", 1)[-1]
            if short in MANAGED and ":aws:policy/" in att["PolicyArn"]:
                stmts += document_statements({"Statement": MANAGED[short]})
                continue
            try:
                pol = self.iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
                ver = self.iam.get_policy_version(PolicyArn=att["PolicyArn"], VersionId=pol["DefaultVersionId"])
                stmts += document_statements(ver["PolicyVersion"]["Document"])
            except Exception:  # noqa: BLE001 - report and carry on with what could be read
                self.notes.append(f"{role_arn}: could not read managed policy {att['PolicyArn']}")
        return stmts

    # ---- per task

    def check(self, t: LiveTask) -> None:  # noqa: C901, PLR0912, PLR0915
        td = t.task_definition
        account = (td.get("executionRoleArn") or td.get("taskDefinitionArn", "")).split(":")[4] or "123456789012"
        needs, all_perms = task_needs(containers(td), Account(self.region, account, self.region, account))
        aws_needs = [n for n in needs if not n.internet_only]
        public_hosts = [n.label for n in needs if n.internet_only]
        # (action, resource simulated, resource named in messages, why)
        perms = [
            (a, pm.resource or pm.shown, pm.shown, pm.why)
            for pm in all_perms
            if pm.role == "execution"
            for a in pm.actions
        ]
        if not t.subnets:
            self.add(t, "discovery", "the task has no awsvpc subnets", "run the task with awsvpc networking")
            return
        subnets = self.ec2.describe_subnets(SubnetIds=t.subnets)["Subnets"]
        vpc = subnets[0]["VpcId"]
        task_nets = [ipaddress.IPv4Network(s["CidrBlock"]) for s in subnets]
        endpoints = [
            e
            for e in self.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
            if e.get("State", "").lower() not in ("deleted", "deleting", "rejected", "expired")
        ]
        prefix = f"com.amazonaws.{self.region}."

        def endpoint(service: str, kind: str) -> dict[str, Any] | None:
            return next(
                (e for e in endpoints if e.get("ServiceName") == prefix + service and e.get("VpcEndpointType") == kind),
                None,
            )

        groups = self.sg_rules(t.sgs + [g["GroupId"] for e in endpoints for g in e.get("Groups", [])])
        via_endpoint: dict[tuple[str, ...], list[str]] = {}
        ep_subnets: dict[tuple[str, ...], set[str]] = {}
        used_private_dns = False
        for need in aws_needs:
            dest, label = need.dest, need.label
            ep = endpoint(dest, "Interface")
            if ep is not None:
                if ep.get("State", "").lower() != "available":
                    self.add(
                        t,
                        "endpoint",
                        f"interface endpoint {ep['VpcEndpointId']} ({prefix}{dest}) is {ep.get('State')}",
                        f"wait until it is available; if it failed, check its subnets and security groups, then "
                        f"recreate it (aws ec2 describe-vpc-endpoints --vpc-endpoint-ids {ep['VpcEndpointId']})",
                    )
                    continue
                if ep.get("PrivateDnsEnabled"):
                    used_private_dns = True
                    key = tuple(sorted(g["GroupId"] for g in ep.get("Groups", [])))
                    via_endpoint.setdefault(key, []).append(label)
                    ep_subnets.setdefault(key, set()).update(ep.get("SubnetIds", []))
                    continue
                self.add(
                    t,
                    "endpoint",
                    f"interface endpoint {ep['VpcEndpointId']} ({prefix}{dest}) has private "
                    "DNS disabled, so tasks resolve the public name and bypass it",
                    f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {ep['VpcEndpointId']} --private-dns-enabled",
                )
            for sn in subnets:
                sid = sn["SubnetId"]
                rt = self.route_table(sid, vpc)
                rid = rt["RouteTableId"] if rt else ""
                if dest == "s3":
                    gw = endpoint("s3", "Gateway")
                    if gw is not None and rid in gw.get("RouteTableIds", []):
                        self._s3_gateway(t, gw, groups)
                        continue
                ok, how, rid = self.internet(sid, vpc, t.public_ip)
                if ok:
                    if not self.allows(groups, t.sgs, True, nets=[INTERNET]):
                        self.add(
                            t,
                            "security-group",
                            f"task security groups {', '.join(t.sgs)} allow no tcp/443 "
                            f"egress to 0.0.0.0/0 ({label} through {how})",
                            f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                            "IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=0.0.0.0/0}]",
                        )
                    continue
                if dest == "s3":
                    fix = (
                        f"add the S3 gateway endpoint to route table {rid}: aws ec2 modify-vpc-endpoint "
                        f"--vpc-endpoint-id {gw['VpcEndpointId']} --add-route-table-ids {rid}"
                        if gw
                        else f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Gateway --service-name "
                        f"{prefix}s3 --route-table-ids {rid}"
                    )
                    self.add(
                        t,
                        "route",
                        f"no route to {label} from subnet {sid}: {how}, and no S3 gateway "
                        "endpoint is on that route table",
                        fix + " (or add a NAT route)",
                    )
                else:
                    self.add(
                        t,
                        "route",
                        f"no route to {label} from subnet {sid}: {how}, and there is no "
                        f"{prefix}{dest} interface endpoint",
                        f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface --service-name "
                        f"{prefix}{dest} --subnet-ids {' '.join(t.subnets)} --security-group-ids <endpoint-sg> "
                        f"--private-dns-enabled (or add a 0.0.0.0/0 route to a NAT gateway in {rid}); then "
                        "make the same change in the spec and redeploy",
                    )
        for host in public_hosts:
            for sn in subnets:
                ok, how, rid = self.internet(sn["SubnetId"], vpc, t.public_ip)
                if not ok:
                    self.add(
                        t,
                        "route",
                        f"no route to {host} from subnet {sn['SubnetId']}: {how}; public "
                        "registries have no VPC endpoint",
                        "copy the image to ECR (and use the ECR URI), or give the subnets a NAT route",
                    )
        for ep_groups, labels in via_endpoint.items():
            names = ", ".join(labels)
            ep_nets = (
                [
                    ipaddress.IPv4Network(x["CidrBlock"])
                    for x in self.ec2.describe_subnets(SubnetIds=sorted(ep_subnets[ep_groups]))["Subnets"]
                ]
                if ep_subnets[ep_groups]
                else []
            )
            if not self.allows(groups, t.sgs, True, sgs=set(ep_groups), nets=ep_nets):
                self.add(
                    t,
                    "security-group",
                    f"task security groups {', '.join(t.sgs)} allow no tcp/443 egress "
                    f"to endpoint security group {', '.join(ep_groups) or '-'} ({names})",
                    f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                    f"IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{{GroupId={ep_groups[0]}}}]"
                    if ep_groups
                    else "attach a security group to the endpoint",
                )
            if not self.allows(groups, list(ep_groups), False, sgs=set(t.sgs), nets=task_nets):
                self.add(
                    t,
                    "security-group",
                    f"endpoint security group {', '.join(ep_groups) or '-'} does not "
                    f"admit tcp/443 from task security groups {', '.join(t.sgs)} ({names})",
                    f"aws ec2 authorize-security-group-ingress --group-id {ep_groups[0] if ep_groups else '-'} "
                    f"--protocol tcp --port 443 --source-group {t.sgs[0]}",
                )
        if used_private_dns:
            self._vpc_dns(vpc)
        role = td.get("executionRoleArn")
        if perms and not role:
            self.add(
                t,
                "iam",
                f"the task definition has no execution role, needed for {perms[0][3]}",
                "set executionRoleArn to a role trusted by ecs-tasks.amazonaws.com",
            )
        elif perms and role:
            denied = self.role_allows(role, [(a, r) for a, r, _, _ in perms])
            for a, r in denied:
                shown, why = next((s, w) for aa, rr, s, w in perms if (aa, rr) == (a, r))
                self.add(
                    t,
                    "iam",
                    f"execution role {role.split('/')[-1]} is not allowed {a} on {shown} ({why})",
                    f"add an Allow for {a} on {shown} to the role (in the spec's generated IAM stack, then redeploy)",
                )
        self._stopped(t)

    def _vpc_dns(self, vpc: str) -> None:
        for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            if not self.ec2.describe_vpc_attribute(VpcId=vpc, Attribute=attr)[key]["Value"]:
                flag = "--enable-dns-support" if attr == "enableDnsSupport" else "--enable-dns-hostnames"
                self.add(
                    None,
                    "dns",
                    f"vpc {vpc}: {attr} is false, so the private DNS names of the interface endpoints do not resolve",
                    f"aws ec2 modify-vpc-attribute --vpc-id {vpc} {flag} '{{\"Value\":true}}'",
                )

    def _s3_gateway(self, t: LiveTask, gw: dict[str, Any], groups: dict[str, dict[str, Any]]) -> None:
        pl = self.prefix_list("s3")
        if not self.allows(groups, t.sgs, True, prefix=pl, nets=[INTERNET]):
            self.add(
                t,
                "security-group",
                f"task security groups {', '.join(t.sgs)} allow no tcp/443 egress to "
                f"the S3 prefix list {pl} (image layers through {gw['VpcEndpointId']})",
                f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                f"IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={pl}}}]",
            )
        doc = gw.get("PolicyDocument")
        layer = LAYER_BUCKET_OBJECT.format(region=self.region)
        if doc and not allows(document_statements(doc), "s3:GetObject", layer):
            self.add(
                t,
                "endpoint",
                f"the policy of S3 gateway endpoint {gw['VpcEndpointId']} does not allow "
                f"s3:GetObject on arn:aws:s3:::prod-{self.region}-starport-layer-bucket/* (ECR image layers)",
                "add a statement allowing s3:GetObject on that bucket to the endpoint policy",
            )

    def _stopped(self, t: LiveTask, limit: int = 5) -> None:
        arns = self.ecs.list_tasks(cluster=t.cluster, desiredStatus="STOPPED").get("taskArns", [])
        if not arns:
            return
        tasks = []
        for i in range(0, len(arns), 100):
            tasks += self.ecs.describe_tasks(cluster=t.cluster, tasks=arns[i : i + 100]).get("tasks", [])
        mine = [
            x
            for x in tasks
            if x.get("group") == t.group
            or x.get("taskDefinitionArn") == t.task_definition.get("taskDefinitionArn")
            and not x.get("group", "").startswith("service:")
        ]
        mine.sort(key=lambda x: str(x.get("stoppedAt") or x.get("createdAt") or ""), reverse=True)
        for x in mine[:limit]:
            reasons = [x.get("stoppedReason", "")] + [c.get("reason", "") for c in x.get("containers", [])]
            text = " | ".join(r for r in reasons if r)
            if not text or BENIGN.search(text):
                continue
            tid = x["taskArn"].split("/")[-1]
            for pat, cause, fix in STOP_REASONS:
                if pat.search(text):
                    self.add(t, "stopped-task", f"task {tid} stopped: {text} -> {cause}", fix)
                    break
            else:
                self.add(
                    t,
                    "stopped-task",
                    f"task {tid} stopped: {text}",
                    "read the task's containers[].reason and the container logs",
                )

    def image_pulls(self, now: datetime | None = None) -> PullFigures | None:
        """The last hour's pull figures, on the namespace of the stack's pull alarms (None, with a
        note, for a stack deployed before they existed)."""
        names = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId")
            for r in self.resources
            if r["ResourceType"] == "AWS::CloudWatch::Alarm" and r["LogicalResourceId"] in PULL_ALARMS
        }
        if not names.get("PullFailureAlarm"):
            self.notes.append("image pulls: the stack has no PullFailureAlarm; no pull figures")
            return None
        try:
            alarms = {
                a["AlarmName"]: a
                for a in self.cloudwatch.describe_alarms(AlarmNames=[n for n in names.values() if n]).get(
                    "MetricAlarms", []
                )
            }
            found = {k: alarms[v] for k, v in names.items() if v in alarms}
            slow = found.get("PullSlowAlarm")
            figures = pull_figures(
                self.cloudwatch,
                found["PullFailureAlarm"]["Namespace"],
                now or datetime.now(UTC),
                threshold=slow.get("Threshold") if slow else None,
            )
        except Exception as exc:  # noqa: BLE001 - AccessDenied, an emulator without the API: the other checks stand
            self.notes.append(f"image pulls: no figures: CloudWatch answered {type(exc).__name__}: {exc}")
            return None
        self.notes.append(f"image pulls (last hour, {figures.namespace}): {figures.line()}")
        if figures.failures:
            self.add(
                None,
                "image-pulls",
                f"{figures.failures} image pull(s) failed in the last hour",
                "read the stoppedReason in the PullFailure log group (stack output PullFailureLogGroupName) "
                "and apply the stopped-task fixes above",
            )
        if slow is None:
            self.notes.append("image pulls: the stack has no PullSlowAlarm (deployed before pull durations)")
        elif (
            figures.max_seconds is not None
            and figures.threshold is not None
            and figures.max_seconds > figures.threshold
        ):
            self.add(
                None,
                "image-pulls",
                f"the slowest image pull of the last hour took {figures.max_seconds:.1f} s, "
                f"over the {figures.threshold:g} s of alarms.image_pull_seconds",
                "compare ImagePullSeconds per ServiceName/TaskFamily; a slow path to ECR or S3 (NAT instead of "
                "the ecr.dkr and S3 gateway endpoints) or a large image are the usual causes",
            )
        return figures

    def run(self, stack: str, more: Sequence[str] = ()) -> list[Finding]:
        tasks = self.tasks(stack, more)
        self.task_count = len(tasks)
        for t in tasks:
            self.check(t)
        self.pulls = self.image_pulls()
        return self.findings
