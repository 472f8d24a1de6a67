"""What a deployed stack holds, read back through the AWS APIs (never from local templates):
its ECS services, target groups, load balancers with their listeners and rules, and the
schedules that run ECS tasks, each under its path in the stack tree (``ServicesStack/BffService``).

``aws`` is a function from a service name to a boto3 client (``generator.deploy._aws.client``
with the run's endpoint and region; a fake in the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.cfn import load_text
from generator.cfn.conditions import Conditions, text_of
from generator.deployability import rootset

Aws = Callable[[str], Any]

SERVICE = "AWS::ECS::Service"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
SCHEDULE = "AWS::Scheduler::Schedule"
RULE = "AWS::Events::Rule"
NESTED = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class Resource:
    path: str  # NestedStack/Logical
    logical_id: str
    type: str
    physical_id: str
    stack_id: str  # the (nested) stack that holds it


@dataclass
class Service:
    path: str
    arn: str
    cluster: str
    name: str
    template_desired: int | None  # DesiredCount as deployed from the template (None: not known)
    template_note: str = ""  # why template_desired is None
    live: dict[str, Any] = field(default_factory=dict)  # describe-services entry ({} when missing)

    @property
    def resource_id(self) -> str:
        """Application Auto Scaling's id of the service."""
        return f"service/{self.cluster}/{self.name}"

    def target_groups(self) -> list[str]:
        return [lb["targetGroupArn"] for lb in self.live.get("loadBalancers", []) if lb.get("targetGroupArn")]


@dataclass
class TargetGroup:
    path: str
    arn: str
    live: dict[str, Any] = field(default_factory=dict)


@dataclass
class Listener:
    lb_path: str
    lb_arn: str
    lb_dns: str
    lb_scheme: str  # internet-facing | internal
    lb_type: str  # application | network | gateway
    arn: str
    port: int
    protocol: str
    default_actions: list[dict[str, Any]]
    rules: list[dict[str, Any]] = field(default_factory=list)  # non-default rules, by priority
    certificates: list[str] = field(default_factory=list)  # ARNs

    @property
    def title(self) -> str:
        return f"{self.lb_path} {self.protocol}:{self.port}"

    @property
    def public(self) -> bool:
        return self.lb_scheme == "internet-facing"


@dataclass
class Schedule:
    path: str
    kind: str  # "schedule" (EventBridge Scheduler) | "rule" (EventBridge rule)
    name: str
    state: str
    cluster_arn: str
    task_definition: str
    template_state: str | None = None  # the State the deployed template gives it (None: not known)
    template_note: str = ""  # the stack parameters that decided it


@dataclass
class Deployed:
    stack: str
    status: str
    outputs: dict[str, str]
    resources: list[Resource]
    services: list[Service]
    target_groups: list[TargetGroup]
    listeners: list[Listener]
    schedules: list[Schedule]
    load_balancers: dict[str, dict[str, Any]]  # path -> describe-load-balancers entry


def resources(cfn: Any, stack: str, path: str = "") -> list[Resource]:
    """Every resource of the stack and of its nested stacks."""
    out: list[Resource] = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            logical = r["LogicalResourceId"]
            full = f"{path}/{logical}" if path else logical
            pid = r.get("PhysicalResourceId") or ""
            out.append(Resource(full, logical, r["ResourceType"], pid, stack))
            if r["ResourceType"] == NESTED and pid:
                out.extend(resources(cfn, pid, full))
    return out


class _Templates:
    """The deployed template and parameter values of each (nested) stack, read once."""

    def __init__(self, cfn: Any):
        self.cfn = cfn
        self._cache: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}

    def get(self, stack_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        if stack_id not in self._cache:
            body = self.cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
            template = body if isinstance(body, dict) else load_text(body, stack_id)
            stack = self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
            params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
            self._cache[stack_id] = (template, params)
        return self._cache[stack_id]


def template_desired_count(definition: dict[str, Any], params: dict[str, str]) -> tuple[int | None, str]:
    """The DesiredCount a service resource was deployed with: a literal, a Ref to a parameter
    of its stack, or CloudFormation's default of 1 when absent; (None, why) for anything else."""
    props = definition.get("Properties") or {}
    if "DesiredCount" not in props:
        return 1, ""
    value = props["DesiredCount"]
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in params:
        value = params[value["Ref"]]
    try:
        return int(str(value)), ""
    except ValueError:
        return None, f"DesiredCount is an expression ({value!r}), not compared"


def _services(aws: Aws, found: list[Resource], templates: _Templates) -> list[Service]:
    out: list[Service] = []
    for r in found:
        if r.type != SERVICE or not r.physical_id.startswith("arn:"):
            continue
        parts = r.physical_id.split("/")
        cluster, name = parts[-2], parts[-1]
        template, params = templates.get(r.stack_id)
        desired, note = template_desired_count((template.get("Resources") or {}).get(r.logical_id, {}), params)
        out.append(Service(r.path, r.physical_id, cluster, name, desired, note))
    by_cluster: dict[str, list[Service]] = {}
    for s in out:
        by_cluster.setdefault(s.cluster, []).append(s)
    for cluster, group in by_cluster.items():
        for i in range(0, len(group), 10):  # describe-services takes at most 10
            chunk = group[i : i + 10]
            live = aws("ecs").describe_services(cluster=cluster, services=[s.arn for s in chunk])["services"]
            by_arn = {s["serviceArn"]: s for s in live}
            for s in chunk:
                s.live = by_arn.get(s.arn, {})
    return out


def _target_groups(aws: Aws, found: list[Resource]) -> list[TargetGroup]:
    tgs = [TargetGroup(r.path, r.physical_id) for r in found if r.type == TARGET_GROUP and r.physical_id]
    for i in range(0, len(tgs), 20):
        chunk = tgs[i : i + 20]
        live = aws("elbv2").describe_target_groups(TargetGroupArns=[t.arn for t in chunk])["TargetGroups"]
        by_arn = {t["TargetGroupArn"]: t for t in live}
        for t in chunk:
            t.live = by_arn.get(t.arn, {})
    return tgs


def _listeners(aws: Aws, found: list[Resource]) -> tuple[list[Listener], dict[str, dict[str, Any]]]:
    elbv2 = aws("elbv2")
    lbs = {r.path: r.physical_id for r in found if r.type == LOAD_BALANCER and r.physical_id}
    described: dict[str, dict[str, Any]] = {}
    listeners: list[Listener] = []
    for path, arn in lbs.items():
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        described[path] = lb
        for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn):
            for ls in page["Listeners"]:
                rules = [
                    r for r in elbv2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"] if not r.get("IsDefault")
                ]
                rules.sort(key=lambda r: int(r["Priority"]) if str(r.get("Priority", "")).isdigit() else 1 << 30)
                listeners.append(
                    Listener(
                        path,
                        arn,
                        lb.get("DNSName", ""),
                        lb.get("Scheme", ""),
                        lb.get("Type", "application"),
                        ls["ListenerArn"],
                        int(ls["Port"]),
                        ls.get("Protocol", ""),
                        ls.get("DefaultActions", []),
                        rules,
                        [c["CertificateArn"] for c in ls.get("Certificates", []) if c.get("CertificateArn")],
                    )
                )
    listeners.sort(key=lambda x: (x.lb_path, x.port))
    return listeners, described


def template_state(definition: dict[str, Any], template: dict[str, Any], params: dict[str, str]) -> str | None:
    """The State a schedule resource was deployed with: a literal, or an ``Fn::If`` decided by
    the stack's parameter values (``<Service>ImageReady=false`` keeps a schedule DISABLED)."""

    def value(node: Any) -> str | None:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return params.get(str(node["Ref"]))
        return text_of(node)

    conditions = Conditions(template.get("Conditions"), value)
    state = conditions.branch((definition.get("Properties") or {}).get("State", "ENABLED"))
    return state if isinstance(state, str) else None


def _deployed_state(r: Resource, templates: _Templates) -> tuple[str | None, str]:
    """(the State the template gives the resource, the image-readiness parameters held false)."""
    template, params = templates.get(r.stack_id)
    held = sorted(k for k, v in params.items() if k.endswith("ImageReady") and v == "false")
    state = template_state((template.get("Resources") or {}).get(r.logical_id, {}), template, params)
    return state, ", ".join(f"{k}=false" for k in held)


def _schedules(aws: Aws, found: list[Resource], templates: _Templates) -> list[Schedule]:
    out: list[Schedule] = []
    for r in found:
        if r.type == SCHEDULE and r.physical_id:
            name = r.physical_id.split("|")[-1].split("/")[-1]
            scheduler = aws("scheduler")
            group = "default"
            for page in scheduler.get_paginator("list_schedules").paginate(NamePrefix=name):
                group = next(
                    (s.get("GroupName", "default") for s in page.get("Schedules", []) if s["Name"] == name), group
                )
            sched = scheduler.get_schedule(Name=name, GroupName=group)
            target = sched.get("Target", {})
            ecs = target.get("EcsParameters")
            if ecs:
                out.append(
                    Schedule(
                        r.path,
                        "schedule",
                        name,
                        sched.get("State", ""),
                        target.get("Arn", ""),
                        ecs.get("TaskDefinitionArn", ""),
                        *_deployed_state(r, templates),
                    )
                )
        elif r.type == RULE and r.physical_id:
            # The Ref of a rule is its name, or "bus|name" on another event bus than the default.
            bus, _, name = r.physical_id.rpartition("|")
            name = name.split("/")[-1]
            on_bus = {"EventBusName": bus} if bus else {}
            events = aws("events")
            rule = events.describe_rule(Name=name, **on_bus)
            for tgt in events.list_targets_by_rule(Rule=name, **on_bus).get("Targets", []):
                ecs = tgt.get("EcsParameters")
                if ecs:
                    out.append(
                        Schedule(
                            r.path,
                            "rule",
                            name,
                            rule.get("State", ""),
                            tgt.get("Arn", ""),
                            ecs.get("TaskDefinitionArn", ""),
                            *_deployed_state(r, templates),
                        )
                    )
    return out


def discover(aws: Aws, stack: str) -> Deployed:
    """Read the deployed stack back: its status, outputs and the resources the checks look at,
    with those of every service-set root stack its template lists (a platform split into
    several roots, ``generator.roots``: ``STACK-services-2``, ...)."""
    cfn = aws("cloudformation")
    desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in desc.get("Outputs", [])}
    templates = _Templates(cfn)
    later = rootset.root_files({rootset.BASE: templates.get(desc["StackId"])[0]})[1:]
    stacks = [desc["StackId"], *(stack + rootset.stack_suffix(f) for f in later)]
    found = sorted((r for s in stacks for r in resources(cfn, s)), key=lambda r: r.path)
    listeners, lbs = _listeners(aws, found)
    return Deployed(
        stack,
        desc["StackStatus"],
        outputs,
        found,
        _services(aws, found, templates),
        _target_groups(aws, found),
        listeners,
        _schedules(aws, found, templates),
        lbs,
    )


def forwards(action: dict[str, Any]) -> list[str]:
    """The target groups a listener or rule action forwards to."""
    if action.get("Type") != "forward":
        return []
    groups = [
        t["TargetGroupArn"]
        for t in (action.get("ForwardConfig") or {}).get("TargetGroups", [])
        if t.get("TargetGroupArn")
    ]
    if action.get("TargetGroupArn") and action["TargetGroupArn"] not in groups:
        groups.insert(0, action["TargetGroupArn"])
    return groups
