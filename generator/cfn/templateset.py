"""A template set: the parent ``main.yaml`` and its children, read as one.

``TemplateSet(templates)`` takes the dict ``render.synthesize()`` returns, or
``TemplateSet.from_dir(DIR)`` reads one from disk.  It knows nothing of specs.  It
follows values across the parent/child boundary (:meth:`TemplateSet.origin`: a child
parameter to what the parent feeds it, ``GetAtt Child.Outputs.X`` to the child's
output), evaluates conditions under parameter values (the parameters' defaults unless
given), decides whether a resource is present (its own condition and its stack's), and
answers, in one call, whether resource X is present whenever resource Y is, under
every combination of the parameter values its conditions compare
(:meth:`TemplateSet.present_with`; :meth:`TemplateSet.scenarios` lists the combinations for
any resources and ``Fn::If`` conditions, :meth:`TemplateSet.under` evaluates under one, and
:meth:`TemplateSet.resolved` gives a fragment with its ``Fn::If`` s decided).

A value the set cannot know (a parameter without a default, a pseudo parameter not
given, a resource attribute) compares unequal to every literal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.cfn.conditions import ANY_OTHER, Conditions, Other, Value, text_of
from generator.cfn.load import PARENT, STACK_TYPE, load_dir
from generator.cfn.refs import condition_names, walk

Key = tuple[str, str]  # (file, logical id)
Scenario = dict[str, str | Other]  # parent parameter or pseudo parameter -> value

MAX_SCENARIOS = 4096
# A template set describes no deployed stack: unless ``pseudo`` gives AWS::StackId, it is
# read as this stand-in, so values derived from it (the parent's StackUid, Fn::Select
# over Fn::Split of the stack ID) have a text.
STAND_IN_STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/5eed0000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Origin:
    """Where a value comes from: a resource (file, logical id, attribute), a parameter of
    the parent (or of a child nobody feeds), a pseudo parameter, a literal, or unknown."""

    kind: str  # 'resource' | 'parameter' | 'literal' | 'pseudo' | 'unknown'
    file: str
    name: str
    attr: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.name}" + (f".{self.attr}" if self.attr else "")

    @property
    def key(self) -> Key | None:
        """(file, logical id) of a resource origin, whatever the attribute; else None."""
        return (self.file, self.name) if self.kind == "resource" else None


class TemplateSet:
    """A parent and its children, with cross-stack value resolution and conditions."""

    def __init__(
        self,
        templates: dict[str, dict[str, Any]],
        conditions: Mapping[str, bool] | None = None,
        *,
        parameters: Mapping[str, str | Other] | None = None,
        pseudo: Mapping[str, str] | None = None,
    ):
        """``conditions`` forces named conditions (in every file); ``parameters`` gives
        parent parameter values (else their defaults); ``pseudo`` gives pseudo parameters."""
        self.t = templates
        self.forced_conditions = dict(conditions or {})
        self.parameters = dict(parameters or {})
        self.pseudo = dict(pseudo or {})
        self.child_of: dict[str, str] = {}  # file -> its stack's logical id in the parent
        for lid, res in (self.parent.get("Resources") or {}).items():
            if res.get("Type") == STACK_TYPE:
                self.child_of[str(res["Properties"]["TemplateURL"]).removeprefix("./")] = lid
        self._conditions: dict[str, Conditions] = {}
        self._by_type: dict[str | None, list[tuple[str, str, dict[str, Any]]]] = {}
        self._file_of: dict[str, str] | None = None
        self._present: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        self._literals: dict[str, set[str]] | None = None

    @classmethod
    def from_dir(cls, path: str | Path) -> TemplateSet:
        return cls(load_dir(path))

    def under(self, parameters: Mapping[str, str | Other]) -> TemplateSet:
        """The same templates evaluated under other parameter values."""
        return TemplateSet(
            self.t, self.forced_conditions, parameters={**self.parameters, **parameters}, pseudo=self.pseudo
        )

    @property
    def parent(self) -> dict[str, Any]:
        return self.t[PARENT]

    def file_of_stack(self, stack_lid: str) -> str | None:
        if self._file_of is None:
            self._file_of = {}
            for f, lid in self.child_of.items():
                self._file_of.setdefault(lid, f)  # (the first, as the scan in child_of's order)
        return self._file_of.get(stack_lid)

    def resources(self, type_: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(file, logical id, resource) for every resource, optionally of one type, conditions
        ignored; in file then logical-id order. Indexed by type on the first call."""
        if not self._by_type:
            every = [
                (f, lid, r) for f in sorted(self.t) for lid, r in sorted((self.t[f].get("Resources") or {}).items())
            ]
            self._by_type[None] = every
            for row in every:
                kind = row[2].get("Type")
                if isinstance(kind, str):  # (None is the key of every resource)
                    self._by_type.setdefault(kind, []).append(row)
        return self._by_type.get(type_, [])

    def resource(self, file: str, lid: str) -> dict[str, Any] | None:
        return (self.t.get(file, {}).get("Resources") or {}).get(lid)

    # ---- conditions and presence ---------------------------------------------------

    def conditions(self, file: str) -> Conditions:
        if file not in self._conditions:
            self._conditions[file] = Conditions(
                self.t[file].get("Conditions"), lambda n: self.value(file, n), self.forced_conditions
            )
        return self._conditions[file]

    def decide(self, file: str, name: str) -> bool | None:
        """A condition of a file, three-valued (forced values win)."""
        return self.conditions(file).decide(name)

    def condition(self, file: str, name: str) -> bool:
        """A condition under the set's values; an undefined one holds, an undecided one does not."""
        if name in self.forced_conditions:
            return self.forced_conditions[name]
        if name not in (self.t[file].get("Conditions") or {}):
            return True
        return self.conditions(file).decide(name) is True

    def branch(self, file: str, node: Any) -> Any:
        """``node`` with every outer ``Fn::If`` resolved by :meth:`condition`."""
        while isinstance(node, dict) and "Fn::If" in node:
            cond, yes, no = node["Fn::If"]
            node = yes if self.condition(file, cond) else no
        return node

    def stack_condition(self, file: str) -> str | None:
        """The Condition of the parent's stack resource that creates a child file."""
        stack = self.child_of.get(file)
        return (self.parent.get("Resources") or {}).get(stack, {}).get("Condition") if stack else None

    def present(self, file: str, lid: str) -> bool:
        """Whether a resource exists under the set's values (its own and its stack's condition)."""
        stack_cond = self.stack_condition(file) if file != PARENT else None
        if stack_cond is not None and not self.condition(PARENT, stack_cond):
            return False
        res = self.resource(file, lid)
        if res is None:
            return False
        cond = res.get("Condition")
        return cond is None or self.condition(file, cond)

    def present_resources(self, type_: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Like :meth:`resources`, only those present."""
        if type_ not in self._present:
            self._present[type_] = [(f, lid, r) for f, lid, r in self.resources(type_) if self.present(f, lid)]
        return self._present[type_]

    def typed(self, o: Origin | None, type_: str) -> dict[str, Any] | None:
        """The resource an origin names, if it is present and of that type."""
        if o is None or o.kind != "resource" or not self.present(o.file, o.name):
            return None
        r = self.resource(o.file, o.name)
        return r if r and r.get("Type") == type_ else None

    # ---- values --------------------------------------------------------------------

    def value(self, file: str, node: Any) -> Value:
        """The text of a node for condition evaluation (an unknown value is ANY_OTHER)."""
        node = self.branch(file, node)
        text = text_of(node)
        if text is not None:
            return text
        if isinstance(node, dict) and "Ref" in node:
            o = self.origin(file, node)
            if o.kind == "parameter" and o.file == PARENT and o.name in self.parameters:
                return self.parameters[o.name]
            if o.kind == "pseudo" and o.name in self.parameters:
                return self.parameters[o.name]
            if o.kind == "pseudo" and o.name in self.pseudo:
                return self.pseudo[o.name]
        literal = self.literal(file, node)
        return text_of(literal) if literal is not None else ANY_OTHER

    def literal(self, file: str, node: Any) -> Any:
        """The literal value of a node under the set's parameter values, or None if not literal."""
        node = self.branch(file, node)
        if isinstance(node, (str, int, float, bool)):
            return node
        if isinstance(node, dict) and "Ref" in node:
            o = self.origin(file, node)
            if o.kind == "parameter":
                given = self.parameters.get(o.name) if o.file == PARENT else None
                if isinstance(given, str):
                    return given
                return ((self.t[o.file].get("Parameters") or {}).get(o.name) or {}).get("Default")
            if o.kind == "literal":
                return o.name
        return None

    def fed(self, file: str, name: str) -> Any:
        """What the parent passes to a child's parameter (None if nothing, or in the parent)."""
        return self._fed(file, name)

    def _fed(self, file: str, name: str) -> Any:
        """What the parent passes to a child's parameter (None if nothing)."""
        stack = self.child_of.get(file)
        return (
            ((self.parent.get("Resources") or {}).get(stack, {}).get("Properties") or {})
            .get("Parameters", {})
            .get(name)
            if stack
            else None
        )

    def parameter_origin(self, file: str, name: str) -> str | None:
        """The parent parameter a file's parameter is (itself in the parent), if it is one."""
        if file == PARENT:
            return name if name in (self.parent.get("Parameters") or {}) else None
        o = self.origin(file, {"Ref": name})
        return o.name if o.kind == "parameter" and o.file == PARENT else None

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
            if name in (tmpl.get("Resources") or {}):
                return Origin("resource", file, name, "Ref")
            if name in (tmpl.get("Parameters") or {}):
                if file == PARENT:
                    return Origin("parameter", PARENT, name)
                fed = self._fed(file, name)
                return Origin("parameter", file, name) if fed is None else self.origin(PARENT, fed)
            return Origin("unknown", file, name)
        if "Fn::GetAtt" in node:
            g = node["Fn::GetAtt"]
            lid, attr = g if isinstance(g, list) else g.split(".", 1)
            res = (self.t[file].get("Resources") or {}).get(lid, {})
            if res.get("Type") == STACK_TYPE and attr.startswith("Outputs."):
                child = str(res["Properties"]["TemplateURL"]).removeprefix("./")
                out = (self.t.get(child, {}).get("Outputs") or {}).get(attr.removeprefix("Outputs."))
                if out is None:
                    return Origin("unknown", child, attr)
                return self.origin(child, out["Value"])
            return Origin("resource", file, lid, attr)
        derived = self._split_select(node)
        if isinstance(derived, str):
            return Origin("literal", file, derived)
        return Origin("unknown", file, repr(node)[:60])

    def _split_select(self, node: Any) -> str | list[str] | None:
        """Fn::Select / Fn::Split over literals and AWS::StackId, else None."""
        if isinstance(node, str):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((k, v),) = node.items()
        if k == "Ref":
            return self.pseudo.get("AWS::StackId", STAND_IN_STACK_ID) if v == "AWS::StackId" else None
        if k == "Fn::Split" and isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
            text = self._split_select(v[1])
            return text.split(v[0]) if isinstance(text, str) else None
        if k == "Fn::Select" and isinstance(v, list) and len(v) == 2 and str(v[0]).isdigit():
            items = self._split_select(v[1])
            return items[int(v[0])] if isinstance(items, list) and int(v[0]) < len(items) else None
        return None

    def origins(self, file: str, node: Any) -> list[Origin]:
        """Origins of a list-valued node (a list, a CommaDelimitedList Ref, a Join)."""
        node = self.branch(file, node)
        if isinstance(node, list):
            return [self.origin(file, x) for x in node]
        if isinstance(node, dict) and "Fn::Join" in node:
            return self._joined(file, node["Fn::Join"][1], self.origins)
        return [self.origin(file, node)]

    def _joined(self, file: str, items: Any, expand: Any) -> list[Origin]:
        """The origins of a Join's items: a list of values, or one list-valued node (a Ref to
        a ``List<...>`` parameter, as the parent passes an existing VPC's subnets)."""
        if isinstance(items, list):
            return [self.origin(file, x) for x in items]
        return list(expand(file, items))

    def list_origins(self, file: str, node: Any) -> list[Origin]:
        """Like origins, but expands a Ref to a list parameter fed by a child output Join."""
        node = self.branch(file, node)
        if isinstance(node, dict) and "Ref" in node and node["Ref"] in (self.t[file].get("Parameters") or {}):
            fed = self._fed(file, node["Ref"])
            if fed is not None:
                return self._expand_list(PARENT, fed)
        return self.origins(file, node)

    def _expand_list(self, file: str, node: Any) -> list[Origin]:
        node = self.branch(file, node)
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            lid, attr = node["Fn::GetAtt"]
            res = self.t[file]["Resources"].get(lid, {})
            if res.get("Type") == STACK_TYPE:
                child = str(res["Properties"]["TemplateURL"]).removeprefix("./")
                out = (self.t.get(child, {}).get("Outputs") or {}).get(attr.removeprefix("Outputs."))
                if out is not None:
                    return self._expand_list(child, out["Value"])
        if isinstance(node, dict) and "Fn::Join" in node:
            return self._joined(file, node["Fn::Join"][1], self.origins)
        return [self.origin(file, node)]

    def resolved(self, file: str, node: Any) -> Any:
        """A fragment with every ``Fn::If`` in it (not only the outer one) decided under the
        set's values and ``AWS::NoValue`` left out: what CloudFormation would see."""
        node = self.branch(file, node)
        if isinstance(node, list):
            out = [self.resolved(file, x) for x in node]
            return [x for x in out if not _no_value(x)]
        if isinstance(node, dict):
            out_d = {k: self.resolved(file, v) for k, v in node.items()}
            return {k: v for k, v in out_d.items() if not _no_value(v)}
        return node

    def effective(self, file: str, node: Any) -> Any:
        """A property value after Fn::If; None when it is absent or AWS::NoValue."""
        node = self.branch(file, node)
        return None if isinstance(node, dict) and node.get("Ref") == "AWS::NoValue" else node

    def items(self, file: str, node: Any) -> list[Origin]:
        """Origins of a list-valued property (literal list, list parameter, Join output),
        AWS::NoValue items left out."""
        node = self.branch(file, node)
        if isinstance(node, list):
            out = []
            for x in node:
                x = self.branch(file, x)
                if isinstance(x, dict) and x.get("Ref") == "AWS::NoValue":
                    continue
                out.append(self.select(file, x) if isinstance(x, dict) and "Fn::Select" in x else self.origin(file, x))
            return out
        if node is None:
            return []
        return self.list_origins(file, node)

    def select(self, file: str, node: Any) -> Origin:
        """Resolve Fn::Select over a list-valued node."""
        if isinstance(node, dict) and "Fn::Select" in node:
            idx, lst = node["Fn::Select"]
            items = self.list_origins(file, lst)
            if isinstance(idx, int) and idx < len(items):
                return items[idx]
        return self.origin(file, node)

    # ---- scenarios -----------------------------------------------------------------

    def _condition_inputs(self, file: str, names: set[str]) -> set[str]:
        """Parent parameters and pseudo parameters that the named conditions of a file read."""
        defs = self.t[file].get("Conditions") or {}
        seen: set[str] = set()
        todo = [n for n in names if n in defs and n not in self.forced_conditions]
        found: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for ref in walk(defs[name]):
                if ref.name.startswith("AWS::"):
                    found.add(ref.name)
                else:
                    origin = self.parameter_origin(file, ref.name)
                    if origin is not None:
                        found.add(origin)
            todo += [n for n in condition_names(defs[name]) if n in defs and n not in self.forced_conditions]
        return found

    def _compared_literals(self) -> dict[str, set[str]]:
        """Parent / pseudo parameter -> the literal texts some Fn::Equals compares it with
        (read once per set: it depends on the templates only; callers do not mutate it)."""
        if self._literals is None:
            self._literals = self._read_compared_literals()
        return self._literals

    def _read_compared_literals(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}

        def visit(file: str, node: Any) -> None:
            if isinstance(node, list):
                for x in node:
                    visit(file, x)
            elif isinstance(node, dict):
                args = node.get("Fn::Equals")
                if isinstance(args, list) and len(args) == 2:
                    for a, b in (args, args[::-1]):
                        name = a.get("Ref") if isinstance(a, dict) else None
                        if isinstance(name, str) and text_of(b) is not None:
                            target = name if name.startswith("AWS::") else self.parameter_origin(file, name)
                            if target is not None:
                                out.setdefault(target, set()).add(text_of(b) or "")
                for x in node.values():
                    visit(file, x)

        for file, t in self.t.items():
            visit(file, t.get("Conditions") or {})
        return out

    def scenarios(self, keys: list[Key], conditions: Iterable[tuple[str, str]] = ()) -> Iterator[Scenario]:
        """Every combination of the values that the conditions deciding ``keys`` (and the
        named ``(file, condition)`` pairs, such as the ``Fn::If`` s in a resource) compare:
        a parameter's AllowedValues, else each literal it is compared with, its default,
        and one value unequal to all of them."""
        inputs: set[str] = set()
        for file, name in conditions:
            inputs |= self._condition_inputs(file, {name})
        for file, lid in keys:
            cond = (self.resource(file, lid) or {}).get("Condition")
            if isinstance(cond, str):
                inputs |= self._condition_inputs(file, {cond})
            stack_cond = self.stack_condition(file)
            if file != PARENT and stack_cond:
                inputs |= self._condition_inputs(PARENT, {stack_cond})
        compared = self._compared_literals()
        choices: list[list[str | Other]] = []
        names = sorted(inputs)
        for name in names:
            spec = (self.parent.get("Parameters") or {}).get(name) or {}
            allowed = [text_of(v) or "" for v in spec.get("AllowedValues") or []]
            if allowed:
                choices.append(list(dict.fromkeys(allowed)))
                continue
            texts = set(compared.get(name, set()))
            if text_of(spec.get("Default")) is not None:
                texts.add(text_of(spec.get("Default")) or "")
            choices.append([*sorted(texts), Other(frozenset(texts))])
        count = 1
        for c in choices:
            count *= len(c)
        if count > MAX_SCENARIOS:
            raise ValueError(f"{count} parameter combinations decide {keys}: more than {MAX_SCENARIOS}")
        for combo in itertools.product(*choices):
            yield dict(zip(names, combo, strict=True))

    def present_with(self, needed: Key, user: Key) -> list[Scenario]:
        """The scenarios in which ``user`` is present and ``needed`` is not (empty: ``needed``
        exists whenever ``user`` does, in every environment/condition combination)."""
        out = []
        for scenario in self.scenarios([needed, user]):
            ts = self.under(scenario)
            if ts.present(*user) and not ts.present(*needed):
                out.append(scenario)
        return out


def _no_value(node: Any) -> bool:
    return isinstance(node, dict) and node.get("Ref") == "AWS::NoValue"
