"""Rendering a template value to text, as it would be after deploy.

``Renderer(ts, pseudo)`` evaluates ``Ref``/``GetAtt`` (across stacks), ``Fn::Sub``,
``Fn::Join``, ``Fn::Select`` (over a literal list, ``Fn::GetAZs``, a CommaDelimitedList
parameter or ``Fn::Split``) and ``Fn::If`` with parameters at the set's values (a child
parameter through whatever its parent feeds it), pseudo
parameters from ``pseudo``, and the ``Ref``/``Arn`` of common resource types synthesized
from their name properties.  ``MATCH_PSEUDO`` is a concrete stand-in account for matching
ARNs against policies; ``SHOW_PSEUDO`` writes placeholders for messages.
"""

from __future__ import annotations

from typing import Any

from generator.cfn.load import PARENT
from generator.cfn.refs import SUB_VARIABLE, sub_parts
from generator.cfn.templateset import STAND_IN_STACK_ID, Origin, TemplateSet

MATCH_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
    "SUFFIX": "AbCdEf",
}
SHOW_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "<region>",
    "AWS::AccountId": "<account>",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "<stack>",
    "SUFFIX": "??????",
}

MAX_DEPTH = 25


class Renderer:
    """``renderer(file, node)`` is the node's text, or None when it cannot be known."""

    def __init__(self, ts: TemplateSet, pseudo: dict[str, str]):
        self.ts = ts
        self.p = pseudo

    def __call__(self, file: str, node: Any, depth: int = 0) -> str | None:  # noqa: C901, PLR0911, PLR0912
        if depth > MAX_DEPTH:
            return None
        node = self.ts.branch(file, node)
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, (str, int, float)):
            return str(node)
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((k, v),) = node.items()
        if k == "Ref" and isinstance(v, str) and v.startswith("AWS::"):
            if v == "AWS::StackId" and v not in self.p:  # the set's stack ID, or its stand-in
                return self.ts.pseudo.get(v, STAND_IN_STACK_ID)
            return self.p.get(v)
        if k == "Ref" and isinstance(v, str):
            fed = self.ts.fed(file, v) if v in (self.ts.t[file].get("Parameters") or {}) else None
            if isinstance(fed, dict) and not ({"Ref", "Fn::GetAtt"} & set(fed)):
                return self(PARENT, fed, depth + 1)  # a child parameter the parent feeds a Join, a Sub...
        if k in ("Ref", "Fn::GetAtt"):
            return self.origin_value(self.ts.origin(file, node), depth + 1)
        if k == "Fn::Sub":
            return self._sub(file, node, depth)
        if k == "Fn::Join" and isinstance(v, list) and len(v) == 2:
            if not isinstance(v[1], list):  # a list parameter: its text is the items joined by commas
                text = self(file, v[1], depth + 1)
                return None if text is None else str(v[0]).join(text.split(","))
            parts = [self(file, x, depth + 1) for x in v[1]]
            return None if any(x is None for x in parts) else str(v[0]).join(parts)  # type: ignore[arg-type]
        if k == "Fn::Select" and isinstance(v, list) and len(v) == 2:
            idx = self(file, v[0], depth + 1)
            lst = self.ts.branch(file, v[1])
            if idx is None or not idx.isdigit():
                return None
            if isinstance(lst, list) and int(idx) < len(lst):
                return self(file, lst[int(idx)], depth + 1)
            if isinstance(lst, dict) and "Fn::GetAZs" in lst:
                return f"{self.p['AWS::Region']}{'abcdef'[int(idx) % 6]}"
            if isinstance(lst, dict) and ({"Ref", "Fn::Split"} & set(lst)):
                items = self.items(file, lst, depth + 1)
                return items[int(idx)] if items is not None and int(idx) < len(items) else None
        return None

    def items(self, file: str, node: Any, depth: int = 0) -> list[str] | None:
        """The texts of a list value: a literal list, a CommaDelimitedList parameter (its
        value split at commas, as CloudFormation splits it) or an ``Fn::Split``."""
        node = self.ts.branch(file, node)
        if isinstance(node, list):
            texts = [self(file, x, depth + 1) for x in node]
            return None if any(x is None for x in texts) else texts  # type: ignore[return-value]
        if isinstance(node, dict) and "Fn::Split" in node and isinstance(node["Fn::Split"], list):
            sep, src = node["Fn::Split"]
            text = self(file, src, depth + 1)
            return None if text is None else text.split(str(sep))
        text = self(file, node, depth + 1)
        return None if text is None else text.split(",")

    def _sub(self, file: str, node: dict[str, Any], depth: int) -> str | None:
        text, variables = sub_parts(node)
        out = []
        pos = 0
        for m in SUB_VARIABLE.finditer(text):
            out.append(text[pos : m.start()])
            pos = m.end()
            name = m.group(1)
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
                continue
            if name in variables:
                val = self(file, variables[name], depth + 1)
            elif name in self.p:
                val = self.p[name]
            elif "." in name:
                val = self(file, {"Fn::GetAtt": name.split(".", 1)}, depth + 1)
            else:
                val = self(file, {"Ref": name}, depth + 1)
            if val is None:
                return None
            out.append(val)
        out.append(text[pos:])
        return "".join(out)

    def origin_value(self, o: Origin, depth: int = 0) -> str | None:  # noqa: C901, PLR0911
        """The text of an origin: a literal, a parameter's value, or a resource's Ref/attribute."""
        if o.kind == "literal":
            return o.name
        if o.kind == "pseudo":
            return self.p.get(o.name)
        if o.kind == "parameter":
            d = self.ts.literal(o.file, {"Ref": o.name}) if o.file in self.ts.t else None
            return None if d is None else str(d)
        if o.kind != "resource":
            return None
        res = self.ts.resource(o.file, o.name) or {}
        t = res.get("Type", "")
        props = res.get("Properties", {})
        attr = o.attr or "Ref"
        part, region, acct = self.p["AWS::Partition"], self.p["AWS::Region"], self.p["AWS::AccountId"]

        def prop(name: str, default: str) -> str:
            if name in props:
                v = self(o.file, props[name], depth + 1)
                if v is not None:
                    return v
            return default

        if t == "AWS::ECR::Repository":
            name = prop("RepositoryName", o.name.lower())
            return {
                "Ref": name,
                "Arn": f"arn:{part}:ecr:{region}:{acct}:repository/{name}",
                "RepositoryUri": f"{acct}.dkr.ecr.{region}.amazonaws.com/{name}",
            }.get(attr)
        if t == "AWS::SecretsManager::Secret" and attr in ("Ref", "Id"):
            return f"arn:{part}:secretsmanager:{region}:{acct}:secret:{prop('Name', o.name)}-{self.p['SUFFIX']}"
        if t == "AWS::Logs::LogGroup":
            name = prop("LogGroupName", o.name)
            return {"Ref": name, "Arn": f"arn:{part}:logs:{region}:{acct}:log-group:{name}:*"}.get(attr)
        if t == "AWS::SSM::Parameter" and attr in ("Ref", "Name"):
            return prop("Name", o.name)
        if t == "AWS::KMS::Key":
            return {
                "Ref": f"<{o.name}>",
                "KeyId": f"<{o.name}>",
                "Arn": f"arn:{part}:kms:{region}:{acct}:key/<{o.name}>",
            }.get(attr)
        if t == "AWS::IAM::Role":
            name = prop("RoleName", o.name)
            return {"Ref": name, "Arn": f"arn:{part}:iam::{acct}:role/{name}"}.get(attr)
        if t == "AWS::S3::Bucket":
            name = prop("BucketName", o.name.lower())
            return {"Ref": name, "Arn": f"arn:{part}:s3:::{name}"}.get(attr)
        return f"<{o.file}:{o.name}.{attr}>"
