"""CloudFormation's quotas per template and per stack operation, counted at generation.

Per template: resources, parameters, outputs, mappings, dynamic references and the body
size; across the hierarchy: the resources one stack operation creates (a first create
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
from generator.deployability.base import Inputs, finding
from generator.deployability.quotas import QUOTAS, WARNING_SHARE

SECTIONS = (("resources", "Resources"), ("parameters", "Parameters"), ("outputs", "Outputs"), ("mappings", "Mappings"))
DYNAMIC_REFERENCE = "{{resolve:"


def check(inp: Inputs) -> list[Finding]:
    out: list[Finding] = []
    total = 0
    for file, template in sorted(inp.templates.items()):
        for name, section in SECTIONS:
            count = len(template.get(section) or {})
            if name == "resources":
                total += count
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
    q = QUOTAS["hierarchy_resources"]
    if total > q.value:
        out.append(
            finding(
                "template-quota",
                "main.yaml",
                "",
                f"the stack and its nested stacks hold {total:,} resources; "
                "a first create creates all of them in one operation",
                q.cite(),
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
