"""Live diagnostics of a deployed stack: why can't its tasks pull or start?

``python -m generator diagnose --stack NAME [--region R] [--endpoint-url URL]``
walks the stack and its nested stacks for ECS services (and EventBridge rules that
run ECS tasks), then checks, with read-only boto3 calls on the account:

* the VPC's DNS attributes, and each VPC endpoint's state, private DNS, and for the
  S3 gateway endpoint its route tables and policy;
* the route tables of the task subnets (a NAT or internet gateway that exists and
  is available, no blackhole default route);
* the security groups along the path (task egress 443, endpoint ingress from the
  task groups, the S3 prefix list);
* the execution role's permissions with IAM policy simulation
  (``SimulatePrincipalPolicy``), or, where the API is unavailable (emulators), a
  local evaluation of the role's inline and managed policies;
* the ``stoppedReason`` of the most recent stopped tasks, mapped to the likely cause.

Every finding carries the fix to apply (seeds/001, requirements 4 and 5).  Exit 0
when nothing is wrong, 1 with findings, 2 on usage errors or an unknown stack.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from dataclasses import asdict, dataclass
from typing import Any

from generator.reach.iam import MANAGED, glob
from generator.reach.needs import ECR_URI, secret_arn

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
ORDER = ("ecr.api", "ecr.dkr", "s3", "logs", "secretsmanager", "ssm")
INTERNET = ipaddress.IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class Finding:
    service: str  # the service or rule name; '' for findings that are not about one task
    check: str  # dns | endpoint | route | security-group | iam | stopped-task | discovery
    problem: str
    fix: str
    kind: str = "service"  # service | scheduled task

    @property
    def message(self) -> str:
        who = f"{self.kind} {self.service}: " if self.service else ""
        return f"{who}{self.problem}"


@dataclass
class LiveTask:
    label: str
    name: str
    cluster: str
    subnets: list[str]
    sgs: list[str]
    public_ip: bool
    task_definition: dict[str, Any]
    group: str = ""  # ECS task group ('service:NAME') for stopped-task lookups


# Stopped-task reasons -> (cause, fix). First match wins.
STOP_REASONS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"unable to pull secrets or registry auth|unable to retrieve secret|"
                r"ResourceInitializationError:.*(secretsmanager|ssm|GetSecretValue|GetParameters)", re.I),
     "the ECS agent could not fetch the registry auth token or a secret before starting the task",
     "fix the ecr.api / secretsmanager / ssm findings above (route, endpoint, security group, execution role); then "
     "run scripts/ecr-connectivity-check.sh as a one-off task in the same subnets and security groups"),
    (re.compile(r"CannotPullContainerError.*(timeout|dial tcp|deadline exceeded|request canceled|no route|"
                r"connection refused|Client\.Timeout)", re.I),
     "the image pull timed out: no network path to ecr.dkr or to S3 (image layers)",
     "give the task subnets a path to ecr.dkr and S3: the ecr.dkr interface endpoint with private DNS plus the S3 "
     "gateway endpoint on their route tables, or a 0.0.0.0/0 route to a NAT gateway; allow tcp/443 egress"),
    (re.compile(r"CannotPullContainerError.*(AccessDenied|access denied|403|not authorized|denied)", re.I),
     "the image pull was refused: IAM or an endpoint policy denies it",
     "grant the execution role ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, and "
     "allow s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/* in the S3 gateway endpoint policy"),
    (re.compile(r"CannotPullContainerError.*(not found|manifest unknown|does not exist)", re.I),
     "the image or tag does not exist",
     "push the image (or fix the tag/URI in the task definition); check the repository's lifecycle policy"),
    (re.compile(r"failed to (validate|initialize) logger|log group.*does not exist|awslogs", re.I),
     "the awslogs driver could not start",
     "create the log group (or set awslogs-create-group with logs:CreateLogGroup), and give the subnets a path to "
     "the logs endpoint"),
    (re.compile(r"EFS|efs-utils|mount\.nfs", re.I),
     "the EFS volume could not be mounted",
     "allow tcp/2049 from the task security group to the mount targets' security group, with a mount target in every "
     "AZ the tasks use"),
    (re.compile(r"ELB health checks", re.I),
     "the load balancer marked the task unhealthy",
     "check the target group's health-check path and port and the grace period against the app's start time"),
    (re.compile(r"container health checks", re.I),
     "the container health check failed",
     "run the health-check command in the container (ECS Exec) and compare with its interval and start period"),
    (re.compile(r"Essential container in task exited", re.I),
     "the application exited",
     "read the container's logs and exit code (containers[].reason / exitCode)"),
]
BENIGN = re.compile(r"Scaling activity initiated|Deployment|Service .* deleted|Task stopped by user|"
                    r"SpotInterruption", re.I)


class Diagnose:
    def __init__(self, session: Any, endpoint_url: str | None = None):
        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint_url) if endpoint_url else session.client(name)

        self.cfn, self.ecs, self.ec2, self.iam = (client(n) for n in ("cloudformation", "ecs", "ec2", "iam"))
        self.events = client("events")
        self.scheduler = client("scheduler")
        self.region = session.region_name or "us-east-1"
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self._rt_cache: dict[str, dict[str, Any] | None] = {}
        self.task_count = 0

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

    def tasks(self, stack: str) -> list[LiveTask]:
        out: list[LiveTask] = []
        for r in self.stack_resources(stack):
            pid = r.get("PhysicalResourceId") or ""
            if r["ResourceType"] == "AWS::ECS::Service" and pid.startswith("arn:"):
                cluster, name = pid.split("/")[-2], pid.split("/")[-1]
                svc = self.ecs.describe_services(cluster=cluster, services=[name])["services"]
                if not svc:
                    self.add(None, "discovery", f"ECS service {pid} from the stack does not exist",
                             "check the stack's status (drift, failed rollback)")
                    continue
                s = svc[0]
                net = s.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
                td = self.ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
                out.append(LiveTask(f"service {name}", name, cluster, net.get("subnets", []),
                                    net.get("securityGroups", []), net.get("assignPublicIp") == "ENABLED", td,
                                    f"service:{name}"))
            elif r["ResourceType"] == "AWS::Events::Rule" and pid:
                rule = pid.split("|")[-1].split("/")[-1]
                for tgt in self.events.list_targets_by_rule(Rule=rule).get("Targets", []):
                    ep = tgt.get("EcsParameters")
                    if not ep:
                        continue
                    net = ep.get("NetworkConfiguration", {}).get("awsvpcConfiguration", {})
                    td = self.ecs.describe_task_definition(taskDefinition=ep["TaskDefinitionArn"])["taskDefinition"]
                    out.append(LiveTask(f"scheduled task {rule}", rule, tgt["Arn"].split("/")[-1],
                                        net.get("Subnets", []), net.get("SecurityGroups", []),
                                        net.get("AssignPublicIp") == "ENABLED", td, f"family:{td['family']}"))
            elif r["ResourceType"] == "AWS::Scheduler::Schedule" and pid:
                sched = self._schedule(pid)
                ep = (sched or {}).get("Target", {}).get("EcsParameters")
                if not ep:
                    continue
                net = ep.get("NetworkConfiguration", {}).get("awsvpcConfiguration", {})
                td = self.ecs.describe_task_definition(taskDefinition=ep["TaskDefinitionArn"])["taskDefinition"]
                out.append(LiveTask(f"schedule {pid}", pid, sched["Target"]["Arn"].split("/")[-1],
                                    net.get("Subnets", []), net.get("SecurityGroups", []),
                                    net.get("AssignPublicIp") == "ENABLED", td, f"family:{td['family']}"))
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
        name, kind = (task.name, task.label.rsplit(" ", 1)[0]) if task else ("", "service")
        f = Finding(name, check, problem, fix, kind)
        if f not in self.findings:
            self.findings.append(f)

    # ---- network facts

    def route_table(self, subnet: str, vpc: str) -> dict[str, Any] | None:
        if subnet not in self._rt_cache:
            rts = self.ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
            if not rts:
                rts = self.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                              {"Name": "association.main", "Values": ["true"]}])[
                    "RouteTables"]
            self._rt_cache[subnet] = rts[0] if rts else None
        return self._rt_cache[subnet]

    def internet(self, subnet: str, vpc: str, public_ip: bool) -> tuple[bool, str, str]:
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
                return False, (f"route table {rid} sends 0.0.0.0/0 to NAT gateway {nat_id}, but the NAT's subnet "
                               f"{nats[0]['SubnetId']} does not route to an internet gateway"), rid
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
            Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{self.region}.{service}"]}])
        pl = lists.get("PrefixLists", [])
        return pl[0]["PrefixListId"] if pl else None

    def sg_rules(self, group_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not group_ids:
            return {}
        return {g["GroupId"]: g for g in self.ec2.describe_security_groups(GroupIds=sorted(set(group_ids)))[
            "SecurityGroups"]}

    @staticmethod
    def _perm_443(p: dict[str, Any]) -> bool:
        proto = str(p.get("IpProtocol", "-1"))
        if proto in ("-1", "all"):
            return True
        return proto in ("tcp", "6") and p.get("FromPort", 0) <= 443 <= p.get("ToPort", 65535)

    def allows(self, groups: dict[str, dict[str, Any]], ids: list[str], egress: bool, *, sgs: set[str] = frozenset(),
               nets: list[ipaddress.IPv4Network] = (), prefix: str | None = None) -> bool:  # type: ignore[assignment]
        key = "IpPermissionsEgress" if egress else "IpPermissions"
        for gid in ids:
            for p in groups.get(gid, {}).get(key, []):
                if not self._perm_443(p):
                    continue
                if any(pair.get("GroupId") in sgs for pair in p.get("UserIdGroupPairs", [])):
                    return True
                if prefix and any(x.get("PrefixListId") == prefix for x in p.get("PrefixListIds", [])):
                    return True
                for rng in p.get("IpRanges", []):
                    try:
                        cidr = ipaddress.IPv4Network(rng["CidrIp"])
                    except (KeyError, ValueError):
                        continue
                    if nets and all(n.subnet_of(cidr) for n in nets):
                        return True
        return False

    # ---- IAM

    def role_allows(self, role_arn: str, checks: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (action, resource) pairs the role is NOT allowed."""
        try:
            denied = []
            for action, resource in checks:
                res = self.iam.simulate_principal_policy(PolicySourceArn=role_arn, ActionNames=[action],
                                                         ResourceArns=[resource])
                decision = res["EvaluationResults"][0]["EvalDecision"]
                if decision != "allowed":
                    denied.append((action, resource))
            self.notes.append(f"{role_arn}: permissions from IAM policy simulation")
            return denied
        except Exception as exc:  # noqa: BLE001 - NotImplemented in emulators, AccessDenied for iam:Simulate*
            self.notes.append(f"{role_arn}: IAM policy simulation unavailable ({type(exc).__name__}); evaluated "
                              "the role's policies locally")
        return [(a, r) for a, r in checks if not self._local_allows(role_arn, a, r)]

    def _statements(self, role_arn: str) -> list[dict[str, Any]]:
        name = role_arn.split("/")[-1]
        stmts: list[dict[str, Any]] = []

        def add(doc: Any) -> None:
            if isinstance(doc, str):
                doc = json.loads(doc)
            st = doc.get("Statement", [])
            stmts.extend(st if isinstance(st, list) else [st])

        for pname in self.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            add(self.iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"])
        for att in self.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            short = att["PolicyArn"].rsplit("/", 1)[-1]
            if short in MANAGED and ":aws:policy/" in att["PolicyArn"]:
                stmts.extend(MANAGED[short])
                continue
            try:
                pol = self.iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
                ver = self.iam.get_policy_version(PolicyArn=att["PolicyArn"], VersionId=pol["DefaultVersionId"])
                add(ver["PolicyVersion"]["Document"])
            except Exception:  # noqa: BLE001
                self.notes.append(f"{role_arn}: could not read managed policy {att['PolicyArn']}")
        return stmts

    def _local_allows(self, role_arn: str, action: str, resource: str) -> bool:
        allow = False
        for s in self._statements(role_arn):
            acts = s.get("Action", [])
            acts = acts if isinstance(acts, list) else [acts]
            if not any(glob(a.lower(), action.lower()) for a in acts):
                continue
            res = s.get("Resource", [])
            res = res if isinstance(res, list) else [res]
            if not any(r == "*" or glob(r, resource) for r in res):
                continue
            if s.get("Effect") == "Deny":
                return False
            allow = True
        return allow

    # ---- per task

    def check(self, t: LiveTask) -> None:  # noqa: C901, PLR0912, PLR0915
        td = t.task_definition
        needs: dict[str, str] = {}
        perms: list[tuple[str, str, str]] = []  # (action, resource, why)
        account = (td.get("executionRoleArn") or td.get("taskDefinitionArn", "")).split(":")[4] or "123456789012"
        public_hosts: list[str] = []
        for c in td.get("containerDefinitions", []):
            image = c.get("image", "")
            m = ECR_URI.match(image)
            if m:
                for n in ("ecr.api", "ecr.dkr", "s3"):
                    needs[n] = n if n != "s3" else "s3 (image layers)"
                perms.append(("ecr:GetAuthorizationToken", "*", "the image pull"))
                repo = f"arn:aws:ecr:{m.group('region')}:{m.group('acct')}:repository/{m.group('repo')}"
                perms += [("ecr:BatchGetImage", repo, "the image pull"), ("ecr:GetDownloadUrlForLayer", repo,
                                                                          "the image pull")]
            else:
                first = image.split("/", 1)[0]
                host = first if "/" in image and ("." in first or ":" in first) else "docker.io"
                public_hosts.append(f"{host} (image {image})")
            lc = c.get("logConfiguration") or {}
            if lc.get("logDriver") == "awslogs":
                needs["logs"] = "logs"
                group = lc.get("options", {}).get("awslogs-group", "")
                arn = f"arn:aws:logs:{self.region}:{account}:log-group:{group}:log-stream:x"
                perms += [("logs:CreateLogStream", arn, "the awslogs log driver"),
                          ("logs:PutLogEvents", arn, "the awslogs log driver")]
            for s in c.get("secrets", []):
                vf = s.get("valueFrom", "")
                if ":secretsmanager:" in vf:
                    needs["secretsmanager"] = "secretsmanager"
                    perms.append(("secretsmanager:GetSecretValue", secret_arn(vf) or vf, f"secret {s.get('name')}"))
                else:
                    needs["ssm"] = "ssm"
                    arn = vf if vf.startswith("arn:") else \
                        f"arn:aws:ssm:{self.region}:{account}:parameter/{vf.lstrip('/')}"
                    perms.append(("ssm:GetParameters", arn, f"parameter {s.get('name')}"))
        if not t.subnets:
            self.add(t, "discovery", "the task has no awsvpc subnets", "run the task with awsvpc networking")
            return
        subnets = self.ec2.describe_subnets(SubnetIds=t.subnets)["Subnets"]
        vpc = subnets[0]["VpcId"]
        task_nets = [ipaddress.IPv4Network(s["CidrBlock"]) for s in subnets]
        endpoints = [e for e in self.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "VpcEndpoints"] if e.get("State", "").lower() not in ("deleted", "deleting", "rejected", "expired")]
        prefix = f"com.amazonaws.{self.region}."

        def endpoint(service: str, kind: str) -> dict[str, Any] | None:
            return next((e for e in endpoints if e.get("ServiceName") == prefix + service
                         and e.get("VpcEndpointType") == kind), None)

        groups = self.sg_rules(t.sgs + [g["GroupId"] for e in endpoints for g in e.get("Groups", [])])
        via_endpoint: dict[tuple[str, ...], list[str]] = {}
        ep_subnets: dict[tuple[str, ...], set[str]] = {}
        used_private_dns = False
        for dest in [d for d in ORDER if d in needs]:
            label = needs[dest]
            ep = endpoint(dest, "Interface")
            if ep is not None:
                if ep.get("State", "").lower() != "available":
                    self.add(t, "endpoint", f"interface endpoint {ep['VpcEndpointId']} ({prefix}{dest}) is "
                             f"{ep.get('State')}",
                             f"wait until it is available; if it failed, check its subnets and security groups, then "
                             f"recreate it (aws ec2 describe-vpc-endpoints --vpc-endpoint-ids {ep['VpcEndpointId']})")
                    continue
                if ep.get("PrivateDnsEnabled"):
                    used_private_dns = True
                    key = tuple(sorted(g["GroupId"] for g in ep.get("Groups", [])))
                    via_endpoint.setdefault(key, []).append(label)
                    ep_subnets.setdefault(key, set()).update(ep.get("SubnetIds", []))
                    continue
                self.add(t, "endpoint", f"interface endpoint {ep['VpcEndpointId']} ({prefix}{dest}) has private "
                         "DNS disabled, so tasks resolve the public name and bypass it",
                         f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {ep['VpcEndpointId']} --private-dns-enabled")
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
                        self.add(t, "security-group", f"task security groups {', '.join(t.sgs)} allow no tcp/443 "
                                 f"egress to 0.0.0.0/0 ({label} through {how})",
                                 f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                                 "IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=0.0.0.0/0}]")
                    continue
                if dest == "s3":
                    fix = (f"add the S3 gateway endpoint to route table {rid}: aws ec2 modify-vpc-endpoint "
                           f"--vpc-endpoint-id {gw['VpcEndpointId']} --add-route-table-ids {rid}" if gw else
                           f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Gateway --service-name "
                           f"{prefix}s3 --route-table-ids {rid}")
                    self.add(t, "route", f"no route to {label} from subnet {sid}: {how}, and no S3 gateway "
                             "endpoint is on that route table", fix + " (or add a NAT route)")
                else:
                    self.add(t, "route", f"no route to {label} from subnet {sid}: {how}, and there is no "
                             f"{prefix}{dest} interface endpoint",
                             f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface --service-name "
                             f"{prefix}{dest} --subnet-ids {' '.join(t.subnets)} --security-group-ids <endpoint-sg> "
                             f"--private-dns-enabled (or add a 0.0.0.0/0 route to a NAT gateway in {rid}); then "
                             "make the same change in the spec and redeploy")
        for host in public_hosts:
            for sn in subnets:
                ok, how, rid = self.internet(sn["SubnetId"], vpc, t.public_ip)
                if not ok:
                    self.add(t, "route", f"no route to {host} from subnet {sn['SubnetId']}: {how}; public "
                             "registries have no VPC endpoint",
                             "copy the image to ECR (and use the ECR URI), or give the subnets a NAT route")
        for ep_groups, labels in via_endpoint.items():
            names = ", ".join(labels)
            ep_nets = [ipaddress.IPv4Network(x["CidrBlock"]) for x in self.ec2.describe_subnets(
                SubnetIds=sorted(ep_subnets[ep_groups]))["Subnets"]] if ep_subnets[ep_groups] else []
            if not self.allows(groups, t.sgs, True, sgs=set(ep_groups), nets=ep_nets):
                self.add(t, "security-group", f"task security groups {', '.join(t.sgs)} allow no tcp/443 egress "
                         f"to endpoint security group {', '.join(ep_groups) or '-'} ({names})",
                         f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                         f"IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{{GroupId={ep_groups[0]}}}]"
                         if ep_groups else "attach a security group to the endpoint")
            if not self.allows(groups, list(ep_groups), False, sgs=set(t.sgs), nets=task_nets):
                self.add(t, "security-group", f"endpoint security group {', '.join(ep_groups) or '-'} does not "
                         f"admit tcp/443 from task security groups {', '.join(t.sgs)} ({names})",
                         f"aws ec2 authorize-security-group-ingress --group-id {ep_groups[0] if ep_groups else '-'} "
                         f"--protocol tcp --port 443 --source-group {t.sgs[0]}")
        if used_private_dns:
            self._vpc_dns(vpc)
        role = td.get("executionRoleArn")
        if perms and not role:
            self.add(t, "iam", "the task definition has no execution role, needed for "
                     f"{perms[0][2]}", "set executionRoleArn to a role trusted by ecs-tasks.amazonaws.com")
        elif perms:
            denied = self.role_allows(role, [(a, r) for a, r, _ in perms])
            for a, r in denied:
                why = next(w for aa, rr, w in perms if (aa, rr) == (a, r))
                self.add(t, "iam", f"execution role {role.split('/')[-1]} is not allowed {a} on {r} "
                         f"({why})", f"add an Allow for {a} on {r} to the role (in the spec's generated IAM stack, "
                         "then redeploy)")
        self._stopped(t)

    def _vpc_dns(self, vpc: str) -> None:
        for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            if not self.ec2.describe_vpc_attribute(VpcId=vpc, Attribute=attr)[key]["Value"]:
                flag = "--enable-dns-support" if attr == "enableDnsSupport" else "--enable-dns-hostnames"
                self.add(None, "dns", f"vpc {vpc}: {attr} is false, so the private DNS names of the interface endpoints "
                         "do not resolve", f"aws ec2 modify-vpc-attribute --vpc-id {vpc} {flag} '{{\"Value\":true}}'")

    def _s3_gateway(self, t: LiveTask, gw: dict[str, Any], groups: dict[str, dict[str, Any]]) -> None:
        pl = self.prefix_list("s3")
        if not self.allows(groups, t.sgs, True, prefix=pl, nets=[INTERNET]):
            self.add(t, "security-group", f"task security groups {', '.join(t.sgs)} allow no tcp/443 egress to "
                     f"the S3 prefix list {pl} (image layers through {gw['VpcEndpointId']})",
                     f"aws ec2 authorize-security-group-egress --group-id {t.sgs[0]} --ip-permissions "
                     f"IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={pl}}}]")
        doc = gw.get("PolicyDocument")
        if doc:
            doc = json.loads(doc) if isinstance(doc, str) else doc
            layer = f"arn:aws:s3:::prod-{self.region}-starport-layer-bucket/sha256/0"
            allow = False
            for s in doc.get("Statement", []):
                acts = s.get("Action", [])
                acts = acts if isinstance(acts, list) else [acts]
                res = s.get("Resource", [])
                res = res if isinstance(res, list) else [res]
                if any(glob(a.lower(), "s3:getobject") for a in acts) and any(glob(r, layer) for r in res):
                    if s.get("Effect") == "Deny":
                        allow = False
                        break
                    allow = True
            if not allow:
                self.add(t, "endpoint", f"the policy of S3 gateway endpoint {gw['VpcEndpointId']} does not allow "
                         f"s3:GetObject on arn:aws:s3:::prod-{self.region}-starport-layer-bucket/* (ECR image layers)",
                         "add a statement allowing s3:GetObject on that bucket to the endpoint policy")

    def _stopped(self, t: LiveTask, limit: int = 5) -> None:
        arns = self.ecs.list_tasks(cluster=t.cluster, desiredStatus="STOPPED").get("taskArns", [])
        if not arns:
            return
        tasks = []
        for i in range(0, len(arns), 100):
            tasks += self.ecs.describe_tasks(cluster=t.cluster, tasks=arns[i:i + 100]).get("tasks", [])
        mine = [x for x in tasks if x.get("group") == t.group or x.get("taskDefinitionArn") ==
                t.task_definition.get("taskDefinitionArn") and not x.get("group", "").startswith("service:")]
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
                self.add(t, "stopped-task", f"task {tid} stopped: {text}",
                         "read the task's containers[].reason and the container logs")

    def run(self, stack: str) -> list[Finding]:
        tasks = self.tasks(stack)
        self.task_count = len(tasks)
        for t in tasks:
            self.check(t)
        return self.findings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="the deployed parent stack")
    p.add_argument("--region", help="AWS region (default: the session's)")
    p.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (a local emulator, e.g. http://127.0.0.1:4566)")
    p.add_argument("--json", action="store_true", help="print findings as JSON")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen diagnose",
        description="Live diagnostics of a deployed stack: VPC endpoints (state, private DNS), route tables, "
                    "security groups along the path, execution-role permissions (IAM policy simulation) and the "
                    "latest stopped tasks' reasons, each with the fix. Read-only. Exit 0: nothing wrong; 1: "
                    "findings; 2: usage error or unknown stack.")
    add_arguments(p)
    return p


def cmd(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    if session.region_name is None:
        print("stackgen diagnose: no region: pass --region or set AWS_REGION", file=sys.stderr)
        return EXIT_USAGE
    d = Diagnose(session, args.endpoint_url)
    try:
        findings = d.run(args.stack)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        print(f"stackgen diagnose: {code}: {msg}", file=sys.stderr)
        return EXIT_USAGE if code == "ValidationError" else EXIT_FINDINGS
    except BotoCoreError as exc:
        print(f"stackgen diagnose: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"stack": args.stack, "tasks": d.task_count, "findings": [asdict(f) for f in findings],
                          "notes": d.notes}, indent=2))
    else:
        for f in findings:
            print(f"FAIL [{f.check}] {f.message}")
            print(f"     fix: {f.fix}")
        for n in d.notes:
            print(f"note: {n}")
        print(f"diagnose {'found problems' if findings else 'passed'}: stack {args.stack}: {d.task_count} tasks, "
              f"{len(findings)} findings")
    return EXIT_FINDINGS if findings else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return cmd(parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
