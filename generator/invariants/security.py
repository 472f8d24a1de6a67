"""Invariants of access and data at rest: least-privilege IAM, NoEcho secrets, stateful
resource policies, CMK encryption, world-open ingress through parameters (seeds/003
Properties 7-8 and the project's 13-14, 21 and 23)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from generator.cfn.facts import STATEFUL_TYPES
from generator.cfn.refs import references
from generator.cfn.templateset import TemplateSet
from generator.deployability.ingress import openings
from generator.invariants.base import invariant, secret_identity, secrets_read
from generator.policies import STAR_RESOURCE_ALLOWED
from generator.reach.iam import as_list
from generator.reach.tasks import TaskReader
from generator.spec import description_implies_secret, looks_secret


# 7 ------------------------------------------------------------------------------------
def _statements(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for pol in r.get("Properties", {}).get("Policies", []):
        out += pol.get("PolicyDocument", {}).get("Statement", [])
    return out


@invariant
def iam_least_privilege(ts: TemplateSet) -> list[str]:
    """Property 7: no '*' or 'svc:*' actions; Resource '*' only for actions without
    resource-level permissions; execution roles read exactly the secrets their tasks use."""
    v = []
    for f, lid, r in (
        ts.resources("AWS::IAM::Role") + ts.resources("AWS::IAM::ManagedPolicy") + ts.resources("AWS::IAM::Policy")
    ):
        stmts = _statements(r) + r.get("Properties", {}).get("PolicyDocument", {}).get("Statement", [])
        for s in stmts:
            if s.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in as_list(s.get("Action", []))]
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    v.append(f"{f}:{lid}: statement {s.get('Sid')} allows {a}")
            if "*" in as_list(s.get("Resource", [])):
                bad = sorted(a for a in actions if a not in STAR_RESOURCE_ALLOWED)
                if bad:
                    v.append(f"{f}:{lid}: statement {s.get('Sid')} allows {bad} on Resource '*'")
    reader = TaskReader(ts)
    for f, lid, r in ts.resources("AWS::ECS::TaskDefinition"):
        read = set(secrets_read(reader, f, lid))
        role = ts.origin(f, r["Properties"].get("ExecutionRoleArn"))
        role_r = ts.resource(role.file, role.name)
        granted: set[str] = set()
        if role_r:
            for s in _statements(role_r):
                acts = {str(a) for a in as_list(s.get("Action", []))}
                if acts & {"secretsmanager:GetSecretValue", "ssm:GetParameters", "ssm:GetParameter"}:
                    granted |= {secret_identity(reader, role.file, x) for x in as_list(s.get("Resource", []))}
        for miss in sorted(read - granted):
            v.append(f"{f}:{lid}: execution role {role.name} cannot read {miss}")
        for extra in sorted(granted - read):
            v.append(f"{f}:{lid}: execution role {role.name} may read {extra}, which the task does not use")
    return v


# 8 ------------------------------------------------------------------------------------
@invariant
def noecho_secrets(ts: TemplateSet) -> list[str]:
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
            leaked = references(o.get("Value")) & noecho
            if leaked:
                v.append(f"{f}: output {oname} leaks NoEcho parameter {sorted(leaked)[0]}")
    return v


# 13 -----------------------------------------------------------------------------------
@invariant
def stateful_policies(ts: TemplateSet) -> list[str]:
    """Stateful resources carry DeletionPolicy and UpdateReplacePolicy; data-bearing ones not
    Delete (the table: ``generator.cfn.facts.STATEFUL_TYPES``)."""
    v = []
    for f, lid, r in ts.resources():
        kind = STATEFUL_TYPES.get(r.get("Type", ""))
        if kind is None or not kind.policies:
            continue
        for k in ("DeletionPolicy", "UpdateReplacePolicy"):
            if k not in r:
                v.append(f"{f}:{lid}: {r['Type']} has no {k}")
            elif kind.holds_data and r[k] == "Delete":
                v.append(f"{f}:{lid}: {r['Type']} has {k} Delete")
    return v


# 14 -----------------------------------------------------------------------------------
@invariant
def encrypted_with_cmk(ts: TemplateSet) -> list[str]:
    """Everything that can be encrypted at rest uses the project's one CMK."""
    v = []
    keys = {(f, lid) for f, lid, _ in ts.resources("AWS::KMS::Key")}
    checks: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("AWS::EFS::FileSystem", lambda p: p.get("KmsKeyId") if p.get("Encrypted") is True else None),
        ("AWS::RDS::DBCluster", lambda p: p.get("KmsKeyId") if p.get("StorageEncrypted") is True else None),
        ("AWS::SecretsManager::Secret", lambda p: p.get("KmsKeyId")),
        ("AWS::Logs::LogGroup", lambda p: p.get("KmsKeyId")),
        (
            "AWS::ECR::Repository",
            lambda p: (
                (p.get("EncryptionConfiguration") or {}).get("KmsKey")
                if (p.get("EncryptionConfiguration") or {}).get("EncryptionType") == "KMS"
                else None
            ),
        ),
        ("AWS::SNS::Topic", lambda p: p.get("KmsMasterKeyId")),
        (
            "AWS::S3::Bucket",
            lambda p: (
                ((p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or [{}])[0]
                .get("ServerSideEncryptionByDefault", {})
                .get("KMSMasterKeyID")
            ),
        ),
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


# 21 -----------------------------------------------------------------------------------
@invariant
def world_ingress(ts: TemplateSet, parameter_sets: dict[str, dict[str, str]] | None = None) -> list[str]:
    """No ingress rule admits 0.0.0.0/0 or ::/0 on a port other than tcp 80/443, with the
    parameter defaults (a CIDR fed by a parameter or a list parameter's item, across the
    parent/child boundary, as much as a literal) and with each set of ``parameter_sets``
    (a per-environment parameters file).  The deployability check runs the same function
    (``generator.deployability.ingress.openings``)."""
    v = []
    for label, values in [("the parameter defaults", {}), *sorted((parameter_sets or {}).items())]:
        for o in openings(ts.under(values) if values else ts):
            v.append(f"{o.group[0]}:{o.group[1]}: admits {o.source} on {o.ports} under {label}")
    return v


# 23 -----------------------------------------------------------------------------------
_WHOLE_PARAMETER = re.compile(r"^\$\{([A-Za-z0-9]+)\}$")


@invariant
def parameter_resources_bounded(ts: TemplateSet) -> list[str]:
    """A policy Resource that is a deploy-time parameter alone (``Ref: X`` or ``Fn::Sub: ${X}``)
    cannot become '*' at deploy time: the parent parameter it comes from has AllowedValues or an
    AllowedPattern, and neither admits '*' (CloudFormation refuses a value they do not admit)."""
    v = []
    for f, lid, r in (
        ts.resources("AWS::IAM::Role") + ts.resources("AWS::IAM::ManagedPolicy") + ts.resources("AWS::IAM::Policy")
    ):
        stmts = _statements(r) + r.get("Properties", {}).get("PolicyDocument", {}).get("Statement", [])
        for s in stmts:
            if s.get("Effect") != "Allow":
                continue
            for res in as_list(s.get("Resource", [])):
                name = _parameter_alone(res)
                if name is None or name not in (ts.t[f].get("Parameters") or {}):
                    continue
                root = ts.parameter_origin(f, name)
                if root is None:  # fed by another stack's output (a resource's ARN), not chosen at deploy time
                    continue
                p = (ts.parent.get("Parameters") or {}).get(root, {})
                values, pattern = p.get("AllowedValues"), p.get("AllowedPattern")
                bounded = (values is not None and "*" not in values) or (
                    pattern is not None and re.fullmatch(str(pattern), "*") is None
                )
                if not bounded:
                    v.append(
                        f"{f}:{lid}: statement {s.get('Sid')} has parameter {name} alone as a Resource, and "
                        f"parameter {root} admits '*' (no AllowedValues or AllowedPattern refuses it)"
                    )
    return v


def _parameter_alone(node: Any) -> str | None:
    """X when a Resource is ``{Ref: X}`` or ``{Fn::Sub: '${X}'}``, else None."""
    if isinstance(node, dict) and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str):
        m = _WHOLE_PARAMETER.match(node["Fn::Sub"])
        return m.group(1) if m else None
    return None
