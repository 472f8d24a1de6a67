"""Roots: which top-level stack deploys each service group, and the root templates.

CloudFormation creates, updates or deletes at most 2,500 resources in one stack operation,
nested stacks included (``QUOTAS["hierarchy_resources"]``).  A platform whose one
hierarchy would pass that is deployed as several root stacks: the base root
(``main.yaml``: every stack that is not per service group, and the group ``default``) and
service-set roots (``main-services-2.yaml``, ...), each holding whole service groups (the
five per-group stacks of ``generator.placement``).  A platform that fits stays one root,
with the templates it always had.

Assignment (``assign``) is a pure function of the groups that never moves a group to
another root when services are appended, so that no running service is deleted and
re-created by a growing spec.  Groups are taken in creation order; the base root holds
group 0.  When a group opens, the last root's load is what its groups hold *at that point
of the spec*: a group already closed then (its key had opened its next group, so it never
grows again) counts its resources, a group still open counts a reservation of
``GROUP_RESERVE`` (what it may still grow to), and the base root also counts
``BASE_RESERVE`` for the stacks that are not per group.  The new group joins the last
root when that load plus its own reservation fits in the quota, else it opens the next
root.  Everything this reads is fixed once the group has opened: appending services only
adds groups after it or grows open groups, whose charge is already the reservation.
The reservations are not bounds: the deployability check counts every root's actual
resources, and a root that outgrows the quota (an open group grown past its reservation,
a base root whose shared stacks grew) is an error that names the fix.

Wiring across roots (``split``): a nested stack of a service-set root reads an earlier
root's value through a parameter of its root with the output's name, which deploy.sh
fills from that root's ``describe-stacks`` outputs (``generator.deploy.roots``); the
producing root declares the output.  Parameters, not Exports/``Fn::ImportValue``: an
imported export cannot be changed or deleted while imported, which would block any update
that replaces a resource the base root shares (docs/deploy.md, "Several root stacks").
``StackUid`` of a service-set root is the base root's (an output of it), so physical names
keep one instance token and every name in the base root stays what it was.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from generator import naming
from generator.cfn.refs import walk
from generator.contract import ContractError, Part
from generator.deployability.quotas import QUOTAS
from generator.deployability.rootset import BASE, service_root_file
from generator.parent import Child

BUDGET = QUOTAS["hierarchy_resources"].value
# Test-only knob: a lower budget forces a small spec into several roots (tests/test_roots.py,
# the two-root e2e).  A platform's templates are generated without it.
BUDGET_ENV = "STACKGEN_TEST_ROOT_BUDGET"
UID = naming.stack_uid().to_dict()
# Reservations (see the module doc): one template's worth of resources for a group that may
# still grow (placement keeps a group's largest template to half of it) and for the stacks
# that are not per group.
GROUP_RESERVE = QUOTAS["resources"].value
BASE_RESERVE = QUOTAS["resources"].value


@dataclass(frozen=True)
class Roots:
    """The root of each service group (0 = the base root) and the root files in deploy order."""

    of_group: dict[str, int]

    @property
    def count(self) -> int:
        return max(self.of_group.values(), default=0) + 1

    @property
    def files(self) -> list[str]:
        return [BASE] + [service_root_file(k + 1) for k in range(1, self.count)]


def key(part: Part) -> str:
    """The group key a group fills: ``default`` for ``default-3``."""
    return part.group.rsplit("-", 1)[0] if part.overflow else part.group


def group_sizes(kids: list[Child]) -> dict[str, int]:
    """Resources per service group: its stacks' resources and their stack resources."""
    out: dict[str, int] = {}
    for c in kids:
        if c.part is not None:
            out[c.part.group] = out.get(c.part.group, 0) + len(c.template.resources) + 1
    return out


def budget() -> int:
    """The resources a root may hold: the quota, unless the test-only ``BUDGET_ENV`` lowers it."""
    forced = os.environ.get(BUDGET_ENV, "")
    return min(int(forced), BUDGET) if forced.isdigit() else BUDGET


def assign(parts: list[Part], sizes: dict[str, int], limit: int | None = None) -> Roots:
    """The root of every group (see the module doc); ``sizes``: ``group_sizes``; ``limit``:
    ``budget()`` unless given."""
    limit = budget() if limit is None else limit
    closed_at: dict[str, int] = {}  # group -> index of the next group of its key
    last: dict[str, Part] = {}
    for p in parts:
        if key(p) in last:
            closed_at[last[key(p)].group] = p.index
        last[key(p)] = p
    of_group: dict[str, int] = {}
    members: list[list[Part]] = [[]]
    for p in parts:
        if p.index > 0:
            current = len(members) - 1
            load = BASE_RESERVE if current == 0 else 0
            for q in members[current]:
                closed = closed_at.get(q.group, p.index + 1) <= p.index
                load += sizes.get(q.group, 0) if closed else GROUP_RESERVE
            if load + GROUP_RESERVE > limit:
                members.append([])
        of_group[p.group] = len(members) - 1
        members[-1].append(p)
    return Roots(of_group)


def stack_roots(kids: list[Child], roots: Roots) -> dict[str, int]:
    """The root of every nested stack, by its logical id in the parent."""
    return {naming.stack_id(c.name): roots.of_group[c.part.group] if c.part else 0 for c in kids}


def split(full: dict[str, Any], root_of: dict[str, int], roots: Roots) -> dict[str, dict[str, Any]]:
    """The root templates (file -> template) from the one-root parent ``full``
    (``parent.build(...).to_dict()``) and ``stack_roots``; ``{main.yaml: full}`` for one root.
    Raises ContractError when a stack reads a value of a later root."""
    if roots.count == 1:
        return {BASE: full}
    files = roots.files
    resources = full.get("Resources") or {}
    out: dict[str, dict[str, Any]] = {}
    needed: dict[int, dict[str, Any]] = {k: {} for k in range(roots.count)}  # root -> output name -> value
    for r in range(1, roots.count):
        mine = {lid: res for lid, res in resources.items() if root_of.get(lid, 0) == r}
        reader = _Reader(r, files, set(mine), root_of, needed)
        body: dict[str, Any] = {}
        for lid, res in mine.items():
            # A new resource and Properties mapping (the rest is read, never changed): the
            # one-root parent ``full`` is left as it was, without copying each stack deeply.
            res = dict(res)
            props = res["Properties"] = dict(res["Properties"])
            if "Parameters" in props:
                props["Parameters"] = reader.rewrite(props["Parameters"])
            deps = [d for d in res.get("DependsOn", []) if d in mine]
            if deps:
                res["DependsOn"] = deps
            else:
                res.pop("DependsOn", None)
            body[lid] = res
        out[files[r]] = _root(full, r, files, body, reader.fed, reader.conditional)
    out[BASE] = _base(full, root_of, files, needed[0])
    for r in range(1, roots.count):
        extra = {n: v for n, v in needed[r].items() if n not in out[files[r]].get("Outputs", {})}
        if extra:
            out[files[r]].setdefault("Outputs", {}).update(_outputs(full, extra))
    return out


@dataclass
class _Reader:
    """Rewrites the parameters a service-set root passes to its stacks: a value of a stack in
    an earlier root becomes a parameter of the root named like the output (``fed``: name ->
    producing root; ``needed``: per root, the outputs it must declare), the base root's
    StackUid expression the parameter ``StackUid``."""

    root: int
    files: list[str]
    mine: set[str]
    root_of: dict[str, int]
    needed: dict[int, dict[str, Any]]
    fed: dict[str, int] = field(default_factory=dict)
    conditional: set[str] = field(default_factory=set)

    def rewrite(self, node: Any, cond: str = "") -> Any:
        if node == UID:
            return self._read(0, naming.STACK_UID, UID, cond)
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            lid, attr = node["Fn::GetAtt"]
            if lid not in self.mine and str(attr).startswith("Outputs."):
                producer = self.root_of.get(lid, 0)
                if producer >= self.root:
                    raise ContractError(
                        f"{self.files[self.root]}: stack {lid} is in a later root ({self.files[producer]})"
                    )
                return self._read(producer, str(attr).removeprefix("Outputs."), node, cond)
        if isinstance(node, dict) and "Fn::If" in node:
            c, a, b = node["Fn::If"]
            return {"Fn::If": [c, self.rewrite(a, c), self.rewrite(b, c)]}
        if isinstance(node, dict):
            return {k: self.rewrite(v, cond) for k, v in node.items()}
        if isinstance(node, list):
            return [self.rewrite(v, cond) for v in node]
        return node

    def _read(self, producer: int, name: str, value: Any, cond: str) -> dict[str, str]:
        self.fed[name] = producer
        self.needed[producer][name] = value
        if cond:
            self.conditional.add(name)
        return {"Ref": name}


def _stack_of(output: dict[str, Any]) -> str:
    """The nested stack whose output a parent output re-exports."""
    value = output.get("Value")
    return str(value["Fn::GetAtt"][0]) if isinstance(value, dict) and "Fn::GetAtt" in value else ""


def _referenced(node: Any) -> tuple[set[str], set[str]]:
    """(Ref names, condition names) a fragment uses."""
    refs: set[str] = set()
    conds: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if isinstance(n.get("Ref"), str):
                refs.add(n["Ref"])
            if isinstance(n.get("Condition"), str):
                conds.add(n["Condition"])
            if "Fn::If" in n and isinstance(n["Fn::If"], list) and n["Fn::If"]:
                conds.add(str(n["Fn::If"][0]))
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    return refs, conds


def _closure(full: dict[str, Any], fragment: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters and conditions of ``full`` that ``fragment`` needs (conditions' own refs included)."""
    refs, conds = _referenced(fragment)
    all_conds = full.get("Conditions") or {}
    todo = list(conds)
    while todo:
        c = todo.pop()
        r2, c2 = _referenced(all_conds.get(c))
        refs |= r2
        todo += [x for x in c2 if x not in conds]
        conds |= c2
    params = {k: v for k, v in (full.get("Parameters") or {}).items() if k in refs}
    return params, {k: v for k, v in all_conds.items() if k in conds}


def _outputs(full: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Outputs for values a later root reads (conditional like the stack that gives them)."""
    out: dict[str, Any] = {}
    resources = full.get("Resources") or {}
    for name, value in sorted(values.items()):
        o: dict[str, Any] = {"Description": f"{name}, read by a later root stack (deploy.sh fills it)", "Value": value}
        if name == naming.STACK_UID:
            o["Description"] = naming.STACK_UID_DESCRIPTION
        elif "Condition" in resources.get(value["Fn::GetAtt"][0], {}):
            o["Condition"] = resources[value["Fn::GetAtt"][0]]["Condition"]
        out[name] = o
    return out


def _metadata(meta: dict[str, Any], params: dict[str, Any], stacks: set[str]) -> dict[str, Any]:
    """A root's Metadata.stackgen: the images and service groups of its own stacks."""
    out = copy.deepcopy(meta)
    out["images"] = [i for i in meta.get("images", []) if i["parameter"] in params]
    if "service_groups" in meta:
        out["service_groups"] = {
            g: v for g, v in meta["service_groups"].items() if any(naming.stack_id(s) in stacks for s in v["stacks"])
        }
    return out


def _root(
    full: dict[str, Any], r: int, files: list[str], body: dict[str, Any], fed: dict[str, int], conditional: set[str]
) -> dict[str, Any]:
    params, conds = _closure(full, body)
    for name in sorted(fed):
        p: dict[str, Any] = {
            "Type": "String",
            "Description": f"Output {name} of the root stack {files[fed[name]]} (deploy.sh fills it)",
        }
        if name in conditional:
            p["Default"] = ""
        params[name] = p
    public = {k: o for k, o in (full.get("Outputs") or {}).items() if _stack_of(o) in body}
    meta = _metadata(full["Metadata"]["stackgen"], params, set(body))
    meta["root"] = {"base": BASE, "from_outputs": {n: files[fed[n]] for n in sorted(fed)}}
    t: dict[str, Any] = {
        "AWSTemplateFormatVersion": full["AWSTemplateFormatVersion"],
        "Description": f"{full['Description']} (service-set root {r + 1} of {len(files)})",
        "Metadata": {"stackgen": meta},
        "Parameters": dict(sorted(params.items())),
        "Resources": body,
    }
    if conds:
        t["Conditions"] = conds
    if public:
        t["Outputs"] = public
    return t


def _base(full: dict[str, Any], root_of: dict[str, int], files: list[str], needed: dict[str, Any]) -> dict[str, Any]:
    # Every section but these is set anew below; copy only the rest (a deep copy of ``full``
    # copied every stack of every root only to drop them).
    fresh = ("Resources", "Outputs", "Parameters", "Conditions", "Metadata")
    t = {k: v if k in fresh else copy.deepcopy(v) for k, v in full.items()}
    t["Resources"] = {lid: res for lid, res in full["Resources"].items() if root_of.get(lid, 0) == 0}
    for lid, res in t["Resources"].items():
        for ref in walk(res):
            if ref.via == "Fn::GetAtt" and root_of.get(ref.name, 0) > 0:
                raise ContractError(f"{BASE}: stack {lid} reads {ref.name}, which is in a later root")
        for dep in res.get("DependsOn", []):
            if root_of.get(dep, 0) > 0:
                raise ContractError(f"{BASE}: stack {lid} waits for {dep}, which is in a later root")
    outputs = {k: o for k, o in (full.get("Outputs") or {}).items() if _stack_of(o) in t["Resources"]}
    outputs.update(_outputs(full, {n: v for n, v in needed.items() if n not in outputs}))
    t["Outputs"] = outputs
    used = {k: v for k, v in t.items() if k not in ("Parameters", "Conditions", "Metadata")}
    params, conds = _closure(full, used)
    t["Parameters"] = params
    if conds:
        t["Conditions"] = conds
    else:
        t.pop("Conditions", None)
    meta = _metadata(full["Metadata"]["stackgen"], params, set(t["Resources"]))
    meta["roots"] = files
    t["Metadata"] = {"stackgen": meta}
    return t
