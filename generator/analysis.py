"""Reading a generated (or hand-edited) template set: load it, follow values across
the parent/child boundary, and evaluate parameters and conditions.

Used by the invariants and the reachability preflight; it knows nothing about
specs, only about templates: ``main.yaml`` plus the children its
``AWS::CloudFormation::Stack`` resources name by local ``TemplateURL``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PARENT = "main.yaml"
STACK_TYPE = "AWS::CloudFormation::Stack"
# A template set describes no deployed stack: AWS::StackId is read as this stand-in, so
# values derived from it (the parent's StackUid, Fn::Select over Fn::Split) have a text.
STAND_IN_STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/5eed0000-0000-4000-8000-000000000000"


class _Loader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation short-form tags (!Ref, !GetAtt, ...)."""


def _construct(tag: str):  # noqa: ANN202
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def f(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return f


for _tag in ("Ref", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
             "FindInMap", "GetAZs", "Base64", "Cidr", "ImportValue", "Condition"):
    _Loader.add_constructor(f"!{_tag}", _construct(_tag))


def load_dir(path: str | Path) -> dict[str, dict[str, Any]]:
    """Load DIR/main.yaml and every child it references. Raises FileNotFoundError/ValueError."""
    d = Path(path)
    main = d / PARENT
    if not main.is_file():
        raise FileNotFoundError(f"{main}: no parent template")
    out = {PARENT: yaml.load(main.read_text(encoding="utf-8"), Loader=_Loader)}  # noqa: S506 - SafeLoader subclass
    for lid, res in out[PARENT].get("Resources", {}).items():
        if res.get("Type") == STACK_TYPE:
            url = res.get("Properties", {}).get("TemplateURL")
            if not isinstance(url, str) or "/" in url.replace("./", ""):
                raise ValueError(f"{main}: {lid}: TemplateURL must be a local file name, got {url!r}")
            out[url.removeprefix("./")] = yaml.load((d / url).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    return out


@dataclass(frozen=True)
class Origin:
    """Where a value comes from: a resource (file, logical id, attribute), a parent
    parameter (file 'main.yaml', kind 'parameter'), or a literal."""

    kind: str  # 'resource' | 'parameter' | 'literal' | 'pseudo' | 'unknown'
    file: str
    name: str
    attr: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.name}" + (f".{self.attr}" if self.attr else "")


class TemplateSet:
    """A parent and its children, with cross-stack value resolution."""

    def __init__(self, templates: dict[str, dict[str, Any]], conditions: dict[str, bool] | None = None):
        self.t = templates
        self.forced_conditions = conditions or {}
        self.child_of: dict[str, str] = {}  # file -> parent stack logical id
        for lid, res in self.parent.get("Resources", {}).items():
            if res.get("Type") == STACK_TYPE:
                self.child_of[res["Properties"]["TemplateURL"].removeprefix("./")] = lid

    @property
    def parent(self) -> dict[str, Any]:
        return self.t[PARENT]

    def file_of_stack(self, stack_lid: str) -> str | None:
        for f, lid in self.child_of.items():
            if lid == stack_lid:
                return f
        return None

    def resources(self, type_: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(file, logical id, resource) for every resource, optionally of one type."""
        out = []
        for f in sorted(self.t):
            for lid, r in sorted(self.t[f].get("Resources", {}).items()):
                if type_ is None or r.get("Type") == type_:
                    out.append((f, lid, r))
        return out

    def resource(self, file: str, lid: str) -> dict[str, Any] | None:
        return self.t.get(file, {}).get("Resources", {}).get(lid)

    # ---- values -----------------------------------------------------------------

    def condition(self, file: str, name: str) -> bool:
        """Evaluate a condition with parameter defaults (forced values win)."""
        if name in self.forced_conditions:
            return self.forced_conditions[name]
        expr = self.t[file].get("Conditions", {}).get(name)
        if expr is None:
            return True
        return bool(self._eval(file, expr))

    def _eval(self, file: str, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (k, v), = node.items()
            if k == "Fn::Equals":
                return self.literal(file, v[0]) == self.literal(file, v[1])
            if k == "Fn::Not":
                return not self._eval(file, v[0])
            if k == "Fn::And":
                return all(self._eval(file, x) for x in v)
            if k == "Fn::Or":
                return any(self._eval(file, x) for x in v)
            if k == "Condition":
                return self.condition(file, v)
        return node

    def literal(self, file: str, node: Any) -> Any:
        """The literal value of a node under parameter defaults, or None if not literal."""
        node = self.branch(file, node)
        if isinstance(node, (str, int, float, bool)):
            return node
        if isinstance(node, dict) and "Ref" in node:
            o = self.origin(file, node)
            if o.kind == "parameter":
                return self.t[o.file].get("Parameters", {}).get(o.name, {}).get("Default")
            if o.kind == "literal":
                return o.name
        return None

    def branch(self, file: str, node: Any) -> Any:
        """Resolve Fn::If with the condition's value (defaults / forced)."""
        while isinstance(node, dict) and "Fn::If" in node:
            cond, yes, no = node["Fn::If"]
            node = yes if self.condition(file, cond) else no
        return node

    def origin(self, file: str, node: Any) -> Origin:
        """Follow Ref/GetAtt across the parent/child boundary to where a value comes from."""
        node = self.branch(file, node)
        if isinstance(node, (str, int, float, bool)):
            return Origin("literal", file, str(node))
        if not isinstance(node, dict):
            return Origin("unknown", file, repr(node)[:60])
        if "Ref" in node:
            name = node["Ref"]
            if name.startswith("AWS::"):
                return Origin("pseudo", file, name)
            tmpl = self.t[file]
            if name in tmpl.get("Resources", {}):
                return Origin("resource", file, name, "Ref")
            if name in tmpl.get("Parameters", {}):
                if file == PARENT:
                    return Origin("parameter", PARENT, name)
                stack = self.child_of.get(file)
                fed = self.parent["Resources"].get(stack, {}).get("Properties", {}).get("Parameters", {}).get(name)
                if fed is None:
                    return Origin("parameter", file, name)
                return self.origin(PARENT, fed)
            return Origin("unknown", file, name)
        if "Fn::GetAtt" in node:
            lid, attr = node["Fn::GetAtt"] if isinstance(node["Fn::GetAtt"], list) else node["Fn::GetAtt"].split(".", 1)
            res = self.t[file].get("Resources", {}).get(lid, {})
            if res.get("Type") == STACK_TYPE and attr.startswith("Outputs."):
                child = res["Properties"]["TemplateURL"].removeprefix("./")
                out = self.t.get(child, {}).get("Outputs", {}).get(attr.removeprefix("Outputs."))
                if out is None:
                    return Origin("unknown", child, attr)
                return self.origin(child, out["Value"])
            return Origin("resource", file, lid, attr)
        derived = _split_select(node)
        if isinstance(derived, str):
            return Origin("literal", file, derived)
        return Origin("unknown", file, repr(node)[:60])

    def origins(self, file: str, node: Any) -> list[Origin]:
        """Origins of a list-valued node (a list, a CommaDelimitedList Ref, a Join)."""
        node = self.branch(file, node)
        if isinstance(node, list):
            return [self.origin(file, x) for x in node]
        if isinstance(node, dict) and "Fn::Join" in node:
            return [self.origin(file, x) for x in node["Fn::Join"][1]]
        return [self.origin(file, node)]

    def list_origins(self, file: str, node: Any) -> list[Origin]:
        """Like origins, but expands a Ref to a list parameter fed by a child output Join."""
        node = self.branch(file, node)
        if isinstance(node, dict) and "Ref" in node and node["Ref"] in self.t[file].get("Parameters", {}):
            stack = self.child_of.get(file)
            fed = self.parent["Resources"].get(stack, {}).get("Properties", {}).get("Parameters", {}).get(node["Ref"])
            if fed is not None:
                return self._expand_list(PARENT, fed)
        return self.origins(file, node)

    def _expand_list(self, file: str, node: Any) -> list[Origin]:
        node = self.branch(file, node)
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            lid, attr = node["Fn::GetAtt"]
            res = self.t[file]["Resources"].get(lid, {})
            if res.get("Type") == STACK_TYPE:
                child = res["Properties"]["TemplateURL"].removeprefix("./")
                out = self.t.get(child, {}).get("Outputs", {}).get(attr.removeprefix("Outputs."))
                if out is not None:
                    return self._expand_list(child, out["Value"])
        if isinstance(node, dict) and "Fn::Join" in node:
            return [self.origin(file, x) for x in node["Fn::Join"][1]]
        return [self.origin(file, node)]

    def select(self, file: str, node: Any) -> Origin:
        """Resolve Fn::Select over a list-valued node."""
        if isinstance(node, dict) and "Fn::Select" in node:
            idx, lst = node["Fn::Select"]
            items = self.list_origins(file, lst)
            if isinstance(idx, int) and idx < len(items):
                return items[idx]
        return self.origin(file, node)


SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def sub_vars(node: Any) -> tuple[str, dict[str, Any]]:
    """Split an Fn::Sub into its text and explicit variables."""
    v = node["Fn::Sub"]
    if isinstance(v, list):
        return v[0], v[1] if len(v) > 1 else {}
    return v, {}


def _split_select(node: Any) -> str | list[str] | None:
    """Fn::Select / Fn::Split over literals and AWS::StackId (the stand-in), else None."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((k, v),) = node.items()
    if k == "Ref":
        return STAND_IN_STACK_ID if v == "AWS::StackId" else None
    if k == "Fn::Split" and isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
        text = _split_select(v[1])
        return text.split(v[0]) if isinstance(text, str) else None
    if k == "Fn::Select" and isinstance(v, list) and len(v) == 2 and isinstance(v[0], (int, str)):
        items = _split_select(v[1])
        index = int(v[0]) if str(v[0]).isdigit() else -1
        return items[index] if isinstance(items, list) and 0 <= index < len(items) else None
    return None
