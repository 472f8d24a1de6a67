"""CloudFormation's quotas per template and per stack operation, counted at generation.

Per template: resources, parameters, outputs, mappings, the attributes of each mapping
(a per-environment Mapping such as ``DesiredCount`` holds one attribute per service of its
group, so it grows with ``services``), dynamic references and the body size; per root
stack (``rootset``: one, or several for a platform split by ``generator.roots``), the
resources one stack operation acts on: the root and its nested stacks (a first create
creates every resource of every template).  The figures are the one table,
``generator.deployability.quotas``.

Body size: ``deploy.sh`` packages the templates and passes them by S3 URL, and
``validate.sh``'s remote step uploads any template over the 51,200-byte ``TemplateBody``
limit to the artifact bucket and validates it by URL too; so the binding limit is the
1 MB of a template in S3: over it is an error, within the warning share of it a warning.
The size is counted on the text written (``Inputs.rendered``), or on compact JSON when
there is none.
"""

from __future__ import annotations

import json

from generator.cfn.finding import WARNING, Finding
from generator.deployability import rootset
from generator.deployability.base import Inputs, finding
from generator.deployability.quotas import QUOTAS, WARNING_SHARE

SECTIONS = (("resources", "Resources"), ("parameters", "Parameters"), ("outputs", "Outputs"), ("mappings", "Mappings"))
DYNAMIC_REFERENCE = "{{resolve:"


def check(inp: Inputs) -> list[Finding]:
    out: list[Finding] = []
    for file, template in sorted(inp.templates.items()):
        for name, section in SECTIONS:
            count = len(template.get(section) or {})
            q = QUOTAS[name]
            if count > q.value:
                out.append(
                    finding(
                        "template-quota",
                        file,
                        "",
                        f"{file} has {count} {section.lower()}, more than CloudFormation allows in one template",
                        q.cite(),
                    )
                )
        out += _mapping_attributes(file, template)
        body = inp.rendered.get(file) or json.dumps(template, separators=(",", ":"))
        dyn = body.count(DYNAMIC_REFERENCE)
        q = QUOTAS["dynamic_references"]
        if dyn > q.value:
            out.append(
                finding(
                    "template-quota", file, "", f"{file} holds {dyn} dynamic references ({{{{resolve:...}}}})", q.cite()
                )
            )
        out += _size(file, len(body.encode("utf-8")))
    return out + _operations(inp)


def _operations(inp: Inputs) -> list[Finding]:
    """Resources per stack operation, per root stack (``rootset``): a first create creates,
    and an update that touches every resource (a new StackUid-derived name, a shared
    parameter) updates, all of a root's resources in one operation.  A set without a
    ``main.yaml`` is counted as one operation."""
    q = QUOTAS["hierarchy_resources"]
    roots = rootset.root_files(inp.templates)
    groups = {r: rootset.hierarchy(inp.templates, r) for r in roots} if roots else {"main.yaml": list(inp.templates)}
    out = []
    for root, files in groups.items():
        total = sum(len(inp.templates[f].get("Resources") or {}) for f in files)
        what = "the stack and its nested stacks" if len(groups) == 1 else f"the root stack {root} and its nested stacks"
        fix = (
            ""
            if len(groups) == 1
            else "give the services appended to the group that grew a group: of their own "
            "(a new group opens in a new root stack)"
        )
        if total > q.value:
            out.append(
                finding(
                    "template-quota",
                    root,
                    "",
                    f"{what} hold {total:,} resources; a first create (or an update of every resource) "
                    "acts on all of them in one operation",
                    q.cite(),
                    fix=fix,
                )
            )
    return out


def _mapping_attributes(file: str, template: dict[str, object]) -> list[Finding]:
    """Each mapping's top-level keys, and the attributes under each of them, against the quota."""
    q = QUOTAS["mapping_attributes"]
    out = []
    mappings = template.get("Mappings") or {}
    assert isinstance(mappings, dict)
    for name, mapping in sorted(mappings.items()):
        counts = [("top-level keys", len(mapping))] if isinstance(mapping, dict) else []
        if isinstance(mapping, dict):
            counts += [(f"attributes under {k}", len(v)) for k, v in mapping.items() if isinstance(v, dict)]
        for what, count in counts:
            if count > q.value:
                out.append(
                    finding(
                        "template-quota",
                        file,
                        "",
                        f"{file}: mapping {name} has {count} {what}",
                        q.cite(),
                        path=f"Mappings.{name}",
                    )
                )
    return out


def _size(file: str, size: int) -> list[Finding]:
    s3 = QUOTAS["template_bytes_s3"]
    if size > s3.value:
        return [
            finding(
                "template-size",
                file,
                "",
                f"{file} is {size:,} bytes, more than a template may be even from S3",
                s3.cite(),
            )
        ]
    if size > WARNING_SHARE * s3.value:
        return [
            finding(
                "template-size",
                file,
                "",
                f"{file} is {size:,} bytes, {s3.value - size:,} under the limit of a template in S3",
                s3.cite(),
                severity=WARNING,
            )
        ]
    return []
