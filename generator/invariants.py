"""Invariants of a generated template set (seeds/003 Properties 1-11 and more).

Each checker takes a ``TemplateSet`` (and, where the rule depends on intent, the
spec) and returns a list of violations as readable strings; an empty list means
the invariant holds.  ``tests/test_invariant_mutations.py`` proves each one can
fail.  Nothing here imports the stack modules: the checks read templates only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from generator.analysis import PARENT, STACK_TYPE, SUB_VAR, Origin, TemplateSet, sub_vars
from generator.policies import STAR_RESOURCE_ALLOWED
from generator.spec import FARGATE_SIZES, Platform, description_implies_secret, looks_secret

Violations = list[str]

TLS_POLICIES = frozenset({
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
})
STATEFUL = {
    "AWS::EFS::FileSystem": True,  # type -> data-bearing (must not be Delete)
    "AWS::RDS::DBCluster": True,
    "AWS::KMS::Key": True,
    "AWS::SecretsManager::Secret": True,
    "AWS::ECR::Repository": True,
    "AWS::S3::Bucket": True,
    "AWS::Logs::LogGroup": False,
}
QUOTAS = {"resources": 500, "parameters": 200, "outputs": 200, "dynamic_refs": 60, "bytes": 1_000_000,
          "hierarchy_resources": 2500}
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def _td_containers(r: dict[str, Any]) -> list[dict[str, Any]]:
    return r.get("Properties", {}).get("ContainerDefinitions", [])


def _services(ts: TemplateSet) -> list[tuple[str, str, dict[str, Any]]]:
    return ts.resources("AWS::ECS::Service")


def _task_of(ts: TemplateSet, f: str, svc: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    o = ts.origin(f, svc["Properties"]["TaskDefinition"])
    r = ts.resource(o.file, o.name)
    return (o.file, o.name, r) if r else None


# 1 ------------------------------------------------------------------------------------
def fargate_task_definitions(ts: TemplateSet) -> Violations:
    """Property 1: FARGATE, awsvpc, and a valid Fargate CPU/memory pair."""
    v = []
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        p = r.get("Properties", {})
        if p.get("RequiresCompatibilities") != ["FARGATE"]:
            v.append(f"{f}:{lid}: RequiresCompatibilities is {p.get('RequiresCompatibilities')}, not [FARGATE]")
        if p.get("NetworkMode") != "awsvpc":
            v.append(f"{f}:{lid}: NetworkMode is {p.get('NetworkMode')}, not awsvpc")
        for cpu, mem in _sizes(ts, f, p.get("Cpu"), p.get("Memory")):
            try:
                ok = int(mem) in FARGATE_SIZES.get(int(cpu), ())
            except (TypeError, ValueError):
                ok = False
            if not ok:
                v.append(f"{f}:{lid}: cpu {cpu} / memory {mem} is not a valid Fargate size")
    return v


def _sizes(ts: TemplateSet, f: str, cpu: Any, mem: Any) -> list[tuple[Any, Any]]:
    """All (cpu, memory) combinations, expanding FindInMap over every top-level key."""
    if isinstance(cpu, dict) and "Fn::FindInMap" in cpu and isinstance(mem, dict) and "Fn::FindInMap" in mem:
        m, _, ckey = cpu["Fn::FindInMap"]
        m2, _, mkey = mem["Fn::FindInMap"]
        table = ts.t[f].get("Mappings", {}).get(m, {})
        table2 = ts.t[f].get("Mappings", {}).get(m2, {})
        return [(table[k].get(ckey), table2.get(k, {}).get(mkey)) for k in sorted(table)] or [(None, None)]
    return [(cpu, mem)]


# 2 ------------------------------------------------------------------------------------
def awslogs_logging(ts: TemplateSet) -> Violations:
    """Property 2: awslogs with group, region and stream prefix; the group exists in the set."""
    v = []
    groups = {(f, lid) for f, lid, _ in ts.resources("AWS::Logs::LogGroup")}
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        for c in _td_containers(r):
            where = f"{f}:{lid}/{c.get('Name')}"
            lc = c.get("LogConfiguration") or {}
            if lc.get("LogDriver") != "awslogs":
                v.append(f"{where}: log driver is {lc.get('LogDriver')}, not awslogs")
                continue
            opts = lc.get("Options", {})
            for k in ("awslogs-group", "awslogs-region", "awslogs-stream-prefix"):
                if not opts.get(k):
                    v.append(f"{where}: awslogs option {k} is missing")
            if opts.get("awslogs-group"):
                o = ts.origin(f, opts["awslogs-group"])
                if (o.file, o.name) not in groups:
                    v.append(f"{where}: log group {o} is not a log group of this set")
    return v


# 3 ------------------------------------------------------------------------------------
def container_health_checks(ts: TemplateSet) -> Violations:
    """Property 3: essential containers have a full health check; ALB services' grace
    period is at least the container start period."""
    v = []
    start: dict[tuple[str, str], int] = {}
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        for c in _td_containers(r):
            if c.get("Essential", True) is False:
                continue
            hc = c.get("HealthCheck")
            if not hc or not hc.get("Command"):
                v.append(f"{f}:{lid}/{c.get('Name')}: essential container has no health check")
                continue
            for k in ("Interval", "Timeout", "Retries", "StartPeriod"):
                if k not in hc:
                    v.append(f"{f}:{lid}/{c.get('Name')}: health check lacks {k}")
            start[(f, lid)] = max(start.get((f, lid), 0), int(hc.get("StartPeriod", 0)))
    for f, lid, r in _services(ts):
        p = r.get("Properties", {})
        if not p.get("LoadBalancers"):
            continue
        task = _task_of(ts, f, r)
        need = start.get((task[0], task[1]), 0) if task else 0
        grace = p.get("HealthCheckGracePeriodSeconds")
        if grace is None or int(grace) < need:
            v.append(f"{f}:{lid}: HealthCheckGracePeriodSeconds {grace} is below the start period {need}")
    return v


# 4 ------------------------------------------------------------------------------------
def target_group_health_checks(ts: TemplateSet) -> Violations:
    """Property 4: explicit target-group health checks; TG port = registered container port."""
    v = []
    for f, lid, r in ts.resources("AWS::ElasticLoadBalancingV2::TargetGroup"):
        p = r.get("Properties", {})
        if not (p.get("HealthCheckPath") or p.get("HealthCheckPort")):
            v.append(f"{f}:{lid}: no health check path or port")
        for k in ("HealthCheckIntervalSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher"):
            if k not in p:
                v.append(f"{f}:{lid}: health check lacks {k}")
    for f, lid, r in _services(ts):
        for lb in r.get("Properties", {}).get("LoadBalancers", []):
            o = ts.origin(f, lb.get("TargetGroupArn"))
            tg = ts.resource(o.file, o.name)
            if tg is None:
                v.append(f"{f}:{lid}: target group {o} not found")
            elif tg["Properties"].get("Port") != lb.get("ContainerPort"):
                v.append(f"{f}:{lid}: registers container port {lb.get('ContainerPort')} in {o.name} "
                         f"whose port is {tg['Properties'].get('Port')}")
    return v


# 5 ------------------------------------------------------------------------------------
def efs_access_points(ts: TemplateSet, permissions: str = "755") -> Violations:
    """Property 5: non-root POSIX user, creation owner equal to it, permissions 755."""
    v = []
    for f, lid, r in ts.resources("AWS::EFS::AccessPoint"):
        p = r.get("Properties", {})
        pu = p.get("PosixUser") or {}
        ci = (p.get("RootDirectory") or {}).get("CreationInfo") or {}
        uid, gid = str(pu.get("Uid", "")), str(pu.get("Gid", ""))
        if not uid or not gid:
            v.append(f"{f}:{lid}: no PosixUser")
            continue
        if uid == "0" or gid == "0":
            v.append(f"{f}:{lid}: PosixUser {uid}:{gid} is root")
        if (str(ci.get("OwnerUid")), str(ci.get("OwnerGid"))) != (uid, gid):
            v.append(f"{f}:{lid}: CreationInfo owner {ci.get('OwnerUid')}:{ci.get('OwnerGid')} != PosixUser {uid}:{gid}")
        if str(ci.get("Permissions")) != permissions:
            v.append(f"{f}:{lid}: CreationInfo permissions {ci.get('Permissions')} != {permissions}")
    return v


# 6 ------------------------------------------------------------------------------------
DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.\$\{AWS::Region\}\.\$\{BaseDomain\}$")


def domain_names(ts: TemplateSet) -> Violations:
    """Property 6: names follow {service}.{region}.{base_domain}."""
    v = []
    checks = [("AWS::Route53::RecordSet", "Name"), ("AWS::CertificateManager::Certificate", "DomainName")]
    for type_, prop in checks:
        for f, lid, r in ts.resources(type_):
            name = r.get("Properties", {}).get(prop)
            text = sub_vars(name)[0] if isinstance(name, dict) and "Fn::Sub" in name else name
            if not isinstance(text, str) or not DOMAIN.match(text):
                v.append(f"{f}:{lid}: {prop} {text!r} does not follow {{service}}.{{region}}.{{base_domain}}")
    return v


# 7 ------------------------------------------------------------------------------------
def _statements(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for pol in r.get("Properties", {}).get("Policies", []):
        out += pol.get("PolicyDocument", {}).get("Statement", [])
    return out


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def iam_least_privilege(ts: TemplateSet) -> Violations:
    """Property 7: no '*' or 'svc:*' actions; Resource '*' only for actions without
    resource-level permissions; execution roles read exactly the secrets their tasks use."""
    v = []
    for f, lid, r in ts.resources("AWS::IAM::Role") + ts.resources("AWS::IAM::ManagedPolicy") + \
            ts.resources("AWS::IAM::Policy"):
        stmts = _statements(r) + r.get("Properties", {}).get("PolicyDocument", {}).get("Statement", [])
        for s in stmts:
            if s.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in _as_list(s.get("Action", []))]
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    v.append(f"{f}:{lid}: statement {s.get('Sid')} allows {a}")
            if "*" in _as_list(s.get("Resource", [])):
                bad = sorted(a for a in actions if a not in STAR_RESOURCE_ALLOWED)
                if bad:
                    v.append(f"{f}:{lid}: statement {s.get('Sid')} allows {bad} on Resource '*'")
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        read: set[str] = set()
        for c in _td_containers(r):
            for sec in c.get("Secrets", []):
                read.add(_secret_key(ts, f, sec.get("ValueFrom")))
        role = ts.origin(f, r["Properties"].get("ExecutionRoleArn"))
        role_r = ts.resource(role.file, role.name)
        granted: set[str] = set()
        if role_r:
            for s in _statements(role_r):
                acts = {str(a) for a in _as_list(s.get("Action", []))}
                if acts & {"secretsmanager:GetSecretValue", "ssm:GetParameters", "ssm:GetParameter"}:
                    granted |= {_secret_key(ts, role.file, x) for x in _as_list(s.get("Resource", []))}
        for miss in sorted(read - granted):
            v.append(f"{f}:{lid}: execution role {role.name} cannot read {miss}")
        for extra in sorted(granted - read):
            v.append(f"{f}:{lid}: execution role {role.name} may read {extra}, which the task does not use")
    return v


def _secret_key(ts: TemplateSet, f: str, node: Any) -> str:
    """A comparable identity for a secret or SSM parameter reference (JSON keys dropped)."""
    if isinstance(node, dict) and "Fn::Sub" in node:
        text, variables = sub_vars(node)
        if "Arn" in variables and text.startswith("${Arn}"):
            return str(ts.origin(f, variables["Arn"]))
        return text
    return str(ts.origin(f, node))


# 8 ------------------------------------------------------------------------------------
def noecho_secrets(ts: TemplateSet) -> Violations:
    """Property 8: secret-looking parameters are NoEcho without Default; no Output leaks one."""
    v = []
    for f, t in sorted(ts.t.items()):
        params = t.get("Parameters", {})
        noecho = set()
        for name, p in params.items():
            secret = looks_secret(name) or description_implies_secret(str(p.get("Description", "")))
            if p.get("NoEcho") in (True, "true", "True"):
                noecho.add(name)
            elif secret:
                v.append(f"{f}: parameter {name} looks secret but is not NoEcho")
            if (secret or name in noecho) and "Default" in p:
                v.append(f"{f}: secret parameter {name} has a Default")
        for oname, o in t.get("Outputs", {}).items():
            leaked = _refs(o.get("Value")) & noecho
            if leaked:
                v.append(f"{f}: output {oname} leaks NoEcho parameter {sorted(leaked)[0]}")
    return v


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node:
            found.add(node["Ref"])
        if "Fn::Sub" in node:
            text, variables = sub_vars(node)
            found |= {x.split(".")[0] for x in SUB_VAR.findall(text) if x not in variables}
            for x in variables.values():
                found |= _refs(x)
        if "Fn::GetAtt" in node:
            g = node["Fn::GetAtt"]
            found.add(g[0] if isinstance(g, list) else g.split(".")[0])
        for k, x in node.items():
            if k not in ("Fn::Sub",):
                found |= _refs(x)
    elif isinstance(node, list):
        for x in node:
            found |= _refs(x)
    return found


# 9 ------------------------------------------------------------------------------------
def log_groups(ts: TemplateSet, spec: Platform | None = None) -> Violations:
    """Property 9: every log group has a retention and a KMS key; service groups use the spec's retention."""
    v = []
    for f, lid, r in ts.resources("AWS::Logs::LogGroup"):
        p = r.get("Properties", {})
        if "RetentionInDays" not in p:
            v.append(f"{f}:{lid}: no RetentionInDays")
        if "KmsKeyId" not in p:
            v.append(f"{f}:{lid}: no KmsKeyId")
    if spec is not None:
        want = {s.container: s.log_retention_days for s in spec.services}
        for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
            for c in _td_containers(r):
                opts = (c.get("LogConfiguration") or {}).get("Options", {})
                o = ts.origin(f, opts.get("awslogs-group"))
                g = ts.resource(o.file, o.name)
                if g and c.get("Name") in want and g["Properties"].get("RetentionInDays") != want[c["Name"]]:
                    v.append(f"{o}: retention {g['Properties'].get('RetentionInDays')} != spec {want[c['Name']]}")
    return v


# 10 -----------------------------------------------------------------------------------
def _sg_usage(ts: TemplateSet) -> dict[tuple[str, str], set[str]]:
    """Security group (file, lid) -> roles: 'task', 'alb', 'other'."""
    roles: dict[tuple[str, str], set[str]] = {}
    for f, _, r in _services(ts):
        cfg = r["Properties"].get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        for o in ts.origins(f, cfg.get("SecurityGroups", [])):
            roles.setdefault((o.file, o.name), set()).add("task")
    for f, _, r in ts.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        for o in ts.origins(f, r["Properties"].get("SecurityGroups", [])):
            roles.setdefault((o.file, o.name), set()).add("alb")
    return roles


def _ingress_rules(ts: TemplateSet) -> list[tuple[tuple[str, str], dict[str, Any], str, str]]:
    """(target SG, rule, file the rule is written in, where) for inline and standalone ingress rules."""
    out = []
    for f, lid, r in ts.resources("AWS::EC2::SecurityGroup"):
        for rule in r.get("Properties", {}).get("SecurityGroupIngress", []):
            out.append(((f, lid), rule, f, f"{f}:{lid}"))
    for f, lid, r in ts.resources("AWS::EC2::SecurityGroupIngress"):
        o = ts.origin(f, r["Properties"].get("GroupId"))
        out.append(((o.file, o.name), r["Properties"], f, f"{f}:{lid}"))
    return out


def security_group_ingress(ts: TemplateSet) -> Violations:
    """Property 10: task SGs admit no CIDR; only ALB SGs admit 0.0.0.0/0 and then only on
    80/443 (literal CIDRs; parameter-fed CIDRs are allowed on ALB SGs only); every ingress
    port is one the target listens on."""
    v = []
    roles = _sg_usage(ts)
    listens = _listening_ports(ts)
    for target, rule, rf, where in _ingress_rules(ts):
        role = roles.get(target, set())
        cidr = rule.get("CidrIp") if "CidrIp" in rule else rule.get("CidrIpv6")
        port = rule.get("FromPort")
        if cidr is not None:
            literal = ts.literal(rf, cidr) if not isinstance(cidr, str) else cidr
            if "task" in role:
                v.append(f"{where}: task security group {target[1]} admits CIDR {literal or cidr}")
            elif literal in ("0.0.0.0/0", "::/0") and not ("alb" in role and port in (80, 443)):
                v.append(f"{where}: {target[1]} admits {literal} on port {port}")
            elif not isinstance(cidr, str) and "alb" not in role and literal is None:
                v.append(f"{where}: {target[1]} admits a parameter-fed CIDR")
        if rule.get("FromPort") != rule.get("ToPort"):
            v.append(f"{where}: {target[1]} admits a port range {rule.get('FromPort')}-{rule.get('ToPort')}")
        ports = listens.get(target)
        if ports is not None and port not in ports:
            v.append(f"{where}: {target[1]} admits port {port}, but its targets listen on {sorted(ports)}")
    return v


def _listening_ports(ts: TemplateSet) -> dict[tuple[str, str], set[int]]:
    """SG -> the ports its members listen on (containers, ALB listeners, DB, EFS, endpoints)."""
    out: dict[tuple[str, str], set[int]] = {}

    def add(f: str, sgs: Any, ports: set[int]) -> None:
        for o in ts.origins(f, sgs):
            out.setdefault((o.file, o.name), set()).update(ports)

    for f, _, r in _services(ts):
        task = _task_of(ts, f, r)
        if task:
            ports = {m["ContainerPort"] for c in _td_containers(task[2]) for m in c.get("PortMappings", [])}
            add(f, r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"], ports)
    for f, lid, r in ts.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        ports = {lr["Properties"]["Port"] for lf, _, lr in ts.resources("AWS::ElasticLoadBalancingV2::Listener")
                 if ts.origin(lf, lr["Properties"]["LoadBalancerArn"]) == Origin("resource", f, lid, "Ref")}
        add(f, r["Properties"]["SecurityGroups"], ports)
    for f, _, r in ts.resources("AWS::RDS::DBCluster"):
        add(f, r["Properties"].get("VpcSecurityGroupIds", []), {int(r["Properties"].get("Port", 3306))})
    for f, _, r in ts.resources("AWS::RDS::DBProxy"):
        port = 3306 if r["Properties"].get("EngineFamily") == "MYSQL" else 5432
        add(f, r["Properties"].get("VpcSecurityGroupIds", []), {port})
    for f, _, r in ts.resources("AWS::EFS::MountTarget"):
        add(f, r["Properties"].get("SecurityGroups", []), {2049})
    for f, _, r in ts.resources("AWS::EC2::VPCEndpoint"):
        if r["Properties"].get("VpcEndpointType") == "Interface":
            add(f, r["Properties"].get("SecurityGroupIds", []), {443})
    return out


# 11 -----------------------------------------------------------------------------------
def parameter_defaults(ts: TemplateSet, expected: dict[str, str]) -> Violations:
    """Property 11: parent parameter defaults equal the given (Terraform v1.0.8) values."""
    params = ts.parent.get("Parameters", {})
    v = []
    for name, want in sorted(expected.items()):
        if name not in params:
            v.append(f"parameter {name} is missing")
        elif str(params[name].get("Default")) != want:
            v.append(f"parameter {name} defaults to {params[name].get('Default')!r}, not {want!r}")
    return v


# 12 -----------------------------------------------------------------------------------
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix",
          "AWS::NoValue", "AWS::NotificationARNs"}


def references_resolve(ts: TemplateSet) -> Violations:
    """Every Ref/GetAtt/Sub variable/DependsOn target exists; every GetAtt Child.Outputs.X
    names an output of that child; every child parameter is fed and nothing extra."""
    v = []
    for f, t in sorted(ts.t.items()):
        known = set(t.get("Resources", {})) | set(t.get("Parameters", {})) | PSEUDO
        for lid, r in t.get("Resources", {}).items():
            for name in sorted(_refs(r.get("Properties", {})) | _refs(r.get("Metadata", {})) - {"stackgen"}):
                if name not in known:
                    v.append(f"{f}:{lid}: references unknown {name}")
            for d in _as_list(r.get("DependsOn", [])):
                if d not in t.get("Resources", {}):
                    v.append(f"{f}:{lid}: DependsOn unknown {d}")
            if r.get("Condition") and r["Condition"] not in t.get("Conditions", {}):
                v.append(f"{f}:{lid}: unknown condition {r['Condition']}")
        for oname, o in t.get("Outputs", {}).items():
            for name in sorted(_refs(o.get("Value"))):
                if name not in known:
                    v.append(f"{f}: output {oname} references unknown {name}")
        for lid, atts in _getatts(t):
            res = t.get("Resources", {}).get(lid)
            if res and res.get("Type") == STACK_TYPE and atts.startswith("Outputs."):
                child = ts.file_of_stack(lid)
                if child is None or atts.removeprefix("Outputs.") not in ts.t.get(child, {}).get("Outputs", {}):
                    v.append(f"{f}: GetAtt {lid}.{atts} names no output of {child}")
    for lid, r in ts.parent.get("Resources", {}).items():
        if r.get("Type") != STACK_TYPE:
            continue
        child = ts.t.get(r["Properties"]["TemplateURL"].removeprefix("./"))
        if child is None:
            v.append(f"{PARENT}:{lid}: child template {r['Properties']['TemplateURL']} missing")
            continue
        fed = set(r["Properties"].get("Parameters", {}))
        declared = child.get("Parameters", {})
        for p in sorted(fed - set(declared)):
            v.append(f"{PARENT}:{lid}: feeds {p}, which the child does not declare")
        for p in sorted(set(declared) - fed):
            if "Default" not in declared[p]:
                v.append(f"{PARENT}:{lid}: child parameter {p} is not fed")
    return v


def _getatts(node: Any) -> list[tuple[str, str]]:
    out = []
    if isinstance(node, dict):
        if "Fn::GetAtt" in node:
            g = node["Fn::GetAtt"]
            lid, att = g if isinstance(g, list) else g.split(".", 1)
            out.append((lid, att))
        for x in node.values():
            out += _getatts(x)
    elif isinstance(node, list):
        for x in node:
            out += _getatts(x)
    return out


# 13 -----------------------------------------------------------------------------------
def stateful_policies(ts: TemplateSet) -> Violations:
    """Stateful resources carry DeletionPolicy and UpdateReplacePolicy; data-bearing ones not Delete."""
    v = []
    for f, lid, r in ts.resources():
        data = STATEFUL.get(r.get("Type", ""))
        if data is None:
            continue
        for k in ("DeletionPolicy", "UpdateReplacePolicy"):
            if k not in r:
                v.append(f"{f}:{lid}: {r['Type']} has no {k}")
            elif data and r[k] == "Delete":
                v.append(f"{f}:{lid}: {r['Type']} has {k} Delete")
    return v


# 14 -----------------------------------------------------------------------------------
def encrypted_with_cmk(ts: TemplateSet) -> Violations:
    """Everything that can be encrypted at rest uses the project's one CMK."""
    v = []
    keys = {(f, lid) for f, lid, _ in ts.resources("AWS::KMS::Key")}
    checks: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("AWS::EFS::FileSystem", lambda p: p.get("KmsKeyId") if p.get("Encrypted") is True else None),
        ("AWS::RDS::DBCluster", lambda p: p.get("KmsKeyId") if p.get("StorageEncrypted") is True else None),
        ("AWS::SecretsManager::Secret", lambda p: p.get("KmsKeyId")),
        ("AWS::Logs::LogGroup", lambda p: p.get("KmsKeyId")),
        ("AWS::ECR::Repository", lambda p: (p.get("EncryptionConfiguration") or {}).get("KmsKey")
         if (p.get("EncryptionConfiguration") or {}).get("EncryptionType") == "KMS" else None),
        ("AWS::SNS::Topic", lambda p: p.get("KmsMasterKeyId")),
        ("AWS::S3::Bucket", lambda p: ((p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
                                       or [{}])[0].get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")),
    ]
    for type_, get in checks:
        for f, lid, r in ts.resources(type_):
            key = get(r.get("Properties", {}))
            reason = (r.get("Metadata") or {}).get("stackgen", {}).get("encryption_exception")
            if key is None and reason and _s3_encrypted(r.get("Properties", {})):
                continue  # a documented exception (e.g. ALB access logs accept only SSE-S3), still encrypted
            if key is None:
                v.append(f"{f}:{lid}: {type_} is not encrypted with a KMS key")
                continue
            o = ts.origin(f, key)
            if (o.file, o.name) not in keys:
                v.append(f"{f}:{lid}: {type_} uses key {o}, not the platform CMK")
    return v


def _s3_encrypted(p: dict[str, Any]) -> bool:
    rules = (p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
    return any(r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules)


# 15 -----------------------------------------------------------------------------------
def private_services(ts: TemplateSet, allow_public_ip: bool = False) -> Violations:
    """No public IP; tasks in subnets without an internet-gateway route; circuit breaker with rollback."""
    v = []
    def key(f: str, node: Any) -> tuple[str, str]:
        o = ts.origin(f, node)
        return (o.file, o.name)

    public_rts = {key(f, r["Properties"]["RouteTableId"]) for f, _, r in ts.resources("AWS::EC2::Route")
                  if "GatewayId" in r["Properties"]}
    public_subnets = {key(f, a["Properties"]["SubnetId"])
                      for f, _, a in ts.resources("AWS::EC2::SubnetRouteTableAssociation")
                      if key(f, a["Properties"]["RouteTableId"]) in public_rts}
    for f, lid, r in _services(ts):
        p = r["Properties"]
        cfg = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        if not allow_public_ip:
            if cfg.get("AssignPublicIp") != "DISABLED":
                v.append(f"{f}:{lid}: AssignPublicIp is {cfg.get('AssignPublicIp')}, not DISABLED")
            for o in ts.list_origins(f, cfg.get("Subnets")):
                if (o.file, o.name) in public_subnets:
                    v.append(f"{f}:{lid}: runs in public subnet {o.name}")
        cb = (p.get("DeploymentConfiguration") or {}).get("DeploymentCircuitBreaker") or {}
        if cb.get("Enable") is not True or cb.get("Rollback") is not True:
            v.append(f"{f}:{lid}: no deployment circuit breaker with rollback")
    return v


# 16 -----------------------------------------------------------------------------------
def logical_ids(ts: TemplateSet) -> Violations:
    """Logical IDs are alphanumeric (uniqueness is given by the mappings)."""
    v = []
    for f, t in sorted(ts.t.items()):
        for section in ("Resources", "Parameters", "Outputs", "Conditions", "Mappings"):
            for name in t.get(section, {}):
                if not LOGICAL_ID.match(name):
                    v.append(f"{f}: {section} id {name!r} is not alphanumeric")
    return v


def stable_ids(a: TemplateSet, b: TemplateSet) -> Violations:
    """Two generations of the same spec have the same logical IDs."""
    v = []
    for f in sorted(set(a.t) | set(b.t)):
        ra, rb = set(a.t.get(f, {}).get("Resources", {})), set(b.t.get(f, {}).get("Resources", {}))
        if ra != rb:
            v.append(f"{f}: logical IDs differ: {sorted(ra ^ rb)[:5]}")
    return v


# 17 -----------------------------------------------------------------------------------
def quotas(ts: TemplateSet, rendered: dict[str, str] | None = None) -> Violations:
    """CloudFormation quotas per template and for the whole hierarchy."""
    v = []
    total = 0
    for f, t in sorted(ts.t.items()):
        n = len(t.get("Resources", {}))
        total += n
        for what, count in (("resources", n), ("parameters", len(t.get("Parameters", {}))),
                            ("outputs", len(t.get("Outputs", {})))):
            if count > QUOTAS[what]:
                v.append(f"{f}: {count} {what} > {QUOTAS[what]}")
        body = rendered[f] if rendered and f in rendered else json.dumps(t)
        dyn = body.count("{{resolve:")
        if dyn > QUOTAS["dynamic_refs"]:
            v.append(f"{f}: {dyn} dynamic references > {QUOTAS['dynamic_refs']}")
        if len(body.encode()) > QUOTAS["bytes"]:
            v.append(f"{f}: body is {len(body.encode())} bytes > {QUOTAS['bytes']}")
    if total > QUOTAS["hierarchy_resources"]:
        v.append(f"hierarchy: {total} resources > {QUOTAS['hierarchy_resources']}")
    return v


# 18 -----------------------------------------------------------------------------------
def listener_tls(ts: TemplateSet) -> Violations:
    """HTTPS listeners use an allow-listed TLS 1.2+ policy; with a domain, every HTTP
    listener redirects to HTTPS. Evaluated with HasDomain true."""
    v = []
    dom = TemplateSet(ts.t, {"HasDomain": True})
    has_domain = "HasDomain" in ts.parent.get("Conditions", {})
    for f, lid, r in dom.resources("AWS::ElasticLoadBalancingV2::Listener"):
        if r.get("Condition") and not dom.condition(f, r["Condition"]):
            continue
        p = r["Properties"]
        proto = dom.branch(f, p.get("Protocol"))
        if proto == "HTTPS" or p.get("Port") == 443:
            policy = dom.branch(f, p.get("SslPolicy"))
            if policy not in TLS_POLICIES:
                v.append(f"{f}:{lid}: HTTPS listener policy {policy} is not in the TLS 1.2+ allow-list")
        elif has_domain:
            actions = dom.branch(f, p.get("DefaultActions"))
            ok = isinstance(actions, list) and actions and actions[0].get("Type") == "redirect" and \
                actions[0].get("RedirectConfig", {}).get("Protocol") == "HTTPS"
            if not ok:
                v.append(f"{f}:{lid}: HTTP listener on port {p.get('Port')} does not redirect to HTTPS")
    return v


# 19 -----------------------------------------------------------------------------------
def data_reachability(ts: TemplateSet) -> Violations:
    """Services that mount EFS reach the EFS SG on 2049; services with a database secret
    reach the database (or its proxy) SG on its port. Derived from the SG rules."""
    v = []
    allowed = _sg_edges(ts)
    efs_sgs = {(o.file, o.name) for f, _, r in ts.resources("AWS::EFS::MountTarget")
               for o in ts.origins(f, r["Properties"].get("SecurityGroups", []))}
    db_entry: dict[tuple[str, str], int] = {}
    for f, _, r in ts.resources("AWS::RDS::DBProxy"):
        port = 3306 if r["Properties"].get("EngineFamily") == "MYSQL" else 5432
        for o in ts.origins(f, r["Properties"].get("VpcSecurityGroupIds", [])):
            db_entry[(o.file, o.name)] = port
    if not db_entry:
        for f, _, r in ts.resources("AWS::RDS::DBCluster"):
            for o in ts.origins(f, r["Properties"].get("VpcSecurityGroupIds", [])):
                db_entry[(o.file, o.name)] = int(r["Properties"].get("Port", 3306))
    db_secrets = {str(ts.origin(f, x)) for f, _, r in ts.resources("AWS::RDS::DBCluster")
                  for x in _refs_nodes(r["Properties"].get("MasterUserPassword"))}
    for f, lid, r in _services(ts):
        task = _task_of(ts, f, r)
        if not task:
            continue
        sgs = [(o.file, o.name) for o in
               ts.origins(f, r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"])]
        if task[2]["Properties"].get("Volumes") and any(
                vol.get("EFSVolumeConfiguration") for vol in task[2]["Properties"]["Volumes"]):
            if not any((s, e, 2049) in allowed for s in sgs for e in efs_sgs):
                v.append(f"{f}:{lid}: mounts EFS but no security group rule lets it reach the EFS SG on 2049")
        uses_db = any(_secret_key(ts, task[0], sec.get("ValueFrom")) in db_secrets
                      for c in _td_containers(task[2]) for sec in c.get("Secrets", []))
        if uses_db and not any((s, e, port) in allowed for s in sgs for e, port in db_entry.items()):
            v.append(f"{f}:{lid}: reads the database secret but cannot reach the database SG")
    return v


def _refs_nodes(node: Any) -> list[Any]:
    """Variables of a Sub (for dynamic references), else the node."""
    if isinstance(node, dict) and "Fn::Sub" in node:
        return list(sub_vars(node)[1].values())
    return [node] if node is not None else []


def _sg_edges(ts: TemplateSet) -> set[tuple[tuple[str, str], tuple[str, str], int]]:
    """(source SG, destination SG, port) allowed by BOTH the source egress and the destination ingress."""
    ingress = set()
    for target, rule, f, _ in _ingress_rules(ts):
        if "SourceSecurityGroupId" in rule:
            src = ts.origin(f, rule["SourceSecurityGroupId"])
            for p in range(int(rule.get("FromPort", 0)), int(rule.get("ToPort", 0)) + 1):
                ingress.add(((src.file, src.name), target, p))
    egress = set()
    for f, lid, r in ts.resources("AWS::EC2::SecurityGroupEgress"):
        p = r["Properties"]
        if "DestinationSecurityGroupId" in p:
            src, dst = ts.origin(f, p["GroupId"]), ts.origin(f, p["DestinationSecurityGroupId"])
            for port in range(int(p.get("FromPort", 0)), int(p.get("ToPort", 0)) + 1):
                egress.add(((src.file, src.name), (dst.file, dst.name), port))
    return ingress & egress


# --------------------------------------------------------------------------------------
TEMPLATE_ONLY: dict[str, Callable[[TemplateSet], Violations]] = {
    "fargate_task_definitions": fargate_task_definitions,
    "awslogs_logging": awslogs_logging,
    "container_health_checks": container_health_checks,
    "target_group_health_checks": target_group_health_checks,
    "efs_access_points": efs_access_points,
    "domain_names": domain_names,
    "iam_least_privilege": iam_least_privilege,
    "noecho_secrets": noecho_secrets,
    "log_groups": log_groups,
    "security_group_ingress": security_group_ingress,
    "references_resolve": references_resolve,
    "stateful_policies": stateful_policies,
    "encrypted_with_cmk": encrypted_with_cmk,
    "private_services": private_services,
    "logical_ids": logical_ids,
    "quotas": quotas,
    "listener_tls": listener_tls,
    "data_reachability": data_reachability,
}


def check_all(templates: dict[str, dict[str, Any]], spec: Platform | None = None) -> dict[str, Violations]:
    """Run every template-only invariant (plus spec-aware ones when a spec is given)."""
    ts = TemplateSet(templates)
    out = {name: fn(ts) for name, fn in TEMPLATE_ONLY.items()}
    if spec is not None:
        out["log_groups"] = log_groups(ts, spec)
        out["private_services"] = private_services(ts, allow_public_ip=spec.network.egress == "public-ip")
    return {k: v for k, v in out.items() if v}
