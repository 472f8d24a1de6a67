"""Invariants of the templates as CloudFormation documents: domain names, parameter
defaults, references, logical ids, quotas (seeds/003 Properties 6 and 11, the project's
12, 16 and 17)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from generator.cfn.load import PARENT, STACK_TYPE
from generator.cfn.refs import PSEUDO_PARAMETERS, Reference, depends_on, sub_parts, walk
from generator.cfn.templateset import TemplateSet
from generator.deployability.quotas import QUOTAS
from generator.invariants.base import invariant

LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")

# 6 ------------------------------------------------------------------------------------
DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.\$\{AWS::Region\}\.\$\{BaseDomain\}$")


@invariant
def domain_names(ts: TemplateSet) -> list[str]:
    """Property 6: names follow {service}.{region}.{base_domain}."""
    v = []
    checks = [("AWS::Route53::RecordSet", "Name"), ("AWS::CertificateManager::Certificate", "DomainName")]
    for type_, prop in checks:
        for f, lid, r in ts.resources(type_):
            name = r.get("Properties", {}).get(prop)
            text = sub_parts(name)[0] if isinstance(name, dict) and "Fn::Sub" in name else name
            if not isinstance(text, str) or not DOMAIN.match(text):
                v.append(f"{f}:{lid}: {prop} {text!r} does not follow {{service}}.{{region}}.{{base_domain}}")
    return v


# 11 -----------------------------------------------------------------------------------
@invariant
def parameter_defaults(ts: TemplateSet, expected: dict[str, str]) -> list[str]:
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


def _attributes(refs: Iterable[Reference]) -> set[tuple[str, str]]:
    """(name, attribute) of the GetAtt and Sub references among ``refs``."""
    return {(ref.name, ref.attr) for ref in refs if ref.via != "Ref"}


def _walk_other(node: dict[str, Any], *skip: str) -> Iterator[Reference]:
    """The references of a mapping's values but those under the ``skip`` keys."""
    for key, value in node.items():
        if key not in skip:
            yield from walk(value)


@invariant
def references_resolve(ts: TemplateSet) -> list[str]:
    """Every Ref/GetAtt/Sub variable/DependsOn target exists; every GetAtt Child.Outputs.X
    names an output of that child; every child parameter is fed and nothing extra."""
    v = []
    for f, t in sorted(ts.t.items()):
        known = set(t.get("Resources", {})) | set(t.get("Parameters", {})) | PSEUDO_PARAMETERS
        # Each part of the template is walked once: the names the resources and outputs
        # reference, and every GetAtt/Sub attribute of the whole template (``getatts``).
        getatts: set[tuple[str, str]] = set()
        for section, body in t.items():
            if section not in ("Resources", "Outputs"):
                getatts |= _attributes(walk(body))
        for lid, r in t.get("Resources", {}).items():
            props, meta = list(walk(r.get("Properties", {}))), list(walk(r.get("Metadata", {})))
            getatts |= _attributes(props) | _attributes(meta) | _attributes(_walk_other(r, "Properties", "Metadata"))
            for name in sorted({x.name for x in props} | {x.name for x in meta} - {"stackgen"}):
                if name not in known:
                    v.append(f"{f}:{lid}: references unknown {name}")
            for d in depends_on(r):
                if d not in t.get("Resources", {}):
                    v.append(f"{f}:{lid}: DependsOn unknown {d}")
            if r.get("Condition") and r["Condition"] not in t.get("Conditions", {}):
                v.append(f"{f}:{lid}: unknown condition {r['Condition']}")
        for oname, o in t.get("Outputs", {}).items():
            value = list(walk(o.get("Value")))
            getatts |= _attributes(value) | _attributes(_walk_other(o, "Value"))
            for name in sorted({x.name for x in value}):
                if name not in known:
                    v.append(f"{f}: output {oname} references unknown {name}")
        for lid, atts in sorted(getatts):
            res = t.get("Resources", {}).get(lid)
            if res and res.get("Type") == STACK_TYPE and atts.startswith("Outputs."):
                child = ts.file_of_stack(lid)
                if child is None or atts.removeprefix("Outputs.") not in ts.t.get(child, {}).get("Outputs", {}):
                    v.append(f"{f}: GetAtt {lid}.{atts} names no output of {child}")
    for lid, r in ts.parent.get("Resources", {}).items():
        if r.get("Type") != STACK_TYPE:
            continue
        child_t = ts.t.get(r["Properties"]["TemplateURL"].removeprefix("./"))
        if child_t is None:
            v.append(f"{PARENT}:{lid}: child template {r['Properties']['TemplateURL']} missing")
            continue
        fed = set(r["Properties"].get("Parameters", {}))
        declared = child_t.get("Parameters", {})
        for p in sorted(fed - set(declared)):
            v.append(f"{PARENT}:{lid}: feeds {p}, which the child does not declare")
        for p in sorted(set(declared) - fed):
            if "Default" not in declared[p]:
                v.append(f"{PARENT}:{lid}: child parameter {p} is not fed")
    return v


# 16 -----------------------------------------------------------------------------------
@invariant
def logical_ids(ts: TemplateSet) -> list[str]:
    """Logical IDs are alphanumeric (uniqueness is given by the mappings)."""
    v = []
    for f, t in sorted(ts.t.items()):
        for section in ("Resources", "Parameters", "Outputs", "Conditions", "Mappings"):
            for name in t.get(section, {}):
                if not LOGICAL_ID.match(name):
                    v.append(f"{f}: {section} id {name!r} is not alphanumeric")
    return v


@invariant
def stable_ids(a: TemplateSet, b: TemplateSet) -> list[str]:
    """Two generations of the same spec have the same logical IDs."""
    v = []
    for f in sorted(set(a.t) | set(b.t)):
        ra, rb = set(a.t.get(f, {}).get("Resources", {})), set(b.t.get(f, {}).get("Resources", {}))
        if ra != rb:
            v.append(f"{f}: logical IDs differ: {sorted(ra ^ rb)[:5]}")
    return v


# 17 -----------------------------------------------------------------------------------
@invariant
def quotas(ts: TemplateSet, rendered: dict[str, str] | None = None) -> list[str]:
    """CloudFormation quotas per template and for the whole hierarchy (the figures: the one
    table, ``generator.deployability.quotas``, which the deployability check reads too)."""
    v = []
    total = 0
    for f, t in sorted(ts.t.items()):
        n = len(t.get("Resources", {}))
        total += n
        for what, count in (
            ("resources", n),
            ("parameters", len(t.get("Parameters", {}))),
            ("outputs", len(t.get("Outputs", {}))),
            ("mappings", len(t.get("Mappings", {}))),
        ):
            if count > QUOTAS[what].value:
                v.append(f"{f}: {count} {what} > {QUOTAS[what].value}")
        body = rendered[f] if rendered and f in rendered else json.dumps(t)
        dyn = body.count("{{resolve:")
        if dyn > QUOTAS["dynamic_references"].value:
            v.append(f"{f}: {dyn} dynamic references > {QUOTAS['dynamic_references'].value}")
        if len(body.encode()) > QUOTAS["template_bytes_s3"].value:
            v.append(f"{f}: body is {len(body.encode())} bytes > {QUOTAS['template_bytes_s3'].value}")
    if total > QUOTAS["hierarchy_resources"].value:
        v.append(f"hierarchy: {total} resources > {QUOTAS['hierarchy_resources'].value}")
    return v
