"""``stackgen plan``: offline, what a spec change does to the templates.

The spec is synthesized in memory (``synth.synthesize_checked``, the path ``synth`` and
``validate`` take) and compared with a template set it would replace: by default the
committed ``templates/<spec stem>/``, or ``--against DIR``, or ``--against GIT-REF``, which
reads ``templates/<stem>/`` as committed at that ref with ``git show``.  The committed
templates at a ref are what was reviewed and (CI checks they are fresh) what the generator
of that ref wrote; reading them needs neither a checkout of the old generator nor its
dependencies, so a plan against any ref is as fast as one against a directory.

Per nested stack it lists the resources added, changed (which properties) and removed,
and nested stacks added or removed.  Whether a change replaces a resource comes from
CloudFormation's own rules, the resource schemas' create-only properties that cfn-lint
ships (``generator.deploy.stateful.replacement_for``, the reader ``deploy.sh --review``
uses too).  A replacement gives the resource a new physical id, so every property that
references it changes at deploy as well: the plan follows those references, across
stacks, to a fixed point ("follows X").  A resource whose logical id leaves one nested
stack for another is a delete in the old stack and a create in the new one: the live
resource is replaced.  Removing, replacing or moving a stateful resource (the one table,
``generator.cfn.facts.STATEFUL_TYPES``) needs confirmation, as ``deploy.sh`` asks for it.

``--env ENV`` evaluates the templates as that environment deploys them (``Environment=ENV``
and ``parameters/<stem>/ENV.json``): conditions decide presence and ``Fn::If`` branches,
``Fn::FindInMap`` on the environment picks its row, so a change another environment alone
sees is left out.  Without it the templates are compared as written (every environment).

Exit codes (like ``terraform plan -detailed-exitcode``, with this project's numbers):
0 no changes, 1 changes, 2 a usage error or an invalid spec.  ``deploy.sh --review`` is
the live view: the change set CloudFormation itself computes against the deployed stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generator import synth
from generator.cfn.facts import STATEFUL_TYPES
from generator.cfn.load import PARENT, STACK_TYPE, child_file
from generator.cfn.refs import walk
from generator.cfn.templateset import TemplateSet
from generator.deploy.params import ParamError, read_params_file
from generator.deploy.stateful import default_deletion_policy, replacement_for
from generator.deployability import rootset
from generator.plan_sources import PlanError, read_against
from generator.spec import SpecError

EXIT_CHANGES = 1
EXIT_USAGE = 2

Templates = dict[str, dict[str, Any]]
Key = tuple[str, str]  # (nested stack logical id or PARENT_STACK, logical id)

PARENT_STACK = "(parent)"
ATTRIBUTES = (
    "Condition",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "Metadata",
)
SECTIONS = ("Parameters", "Mappings", "Conditions", "Rules", "Outputs")
# Actions whose stateful resource loses its live instance (deploy.sh asks before these).
DESTRUCTIVE = ("remove", "replace", "replace-conditional", "move-out", "type-change")
NO_VALUE = object()


@dataclass
class Change:
    """One resource change.  ``action``: add, modify, replace (for certain),
    replace-conditional (CloudFormation decides at deploy), remove, move-out / move-in
    (the logical id changed nested stack: delete + create), type-change (refused)."""

    logical_id: str
    type: str
    action: str
    properties: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    follows: list[str] = field(default_factory=list)  # replaced resources whose new id it takes
    stateful: str | None = None
    needs_confirmation: bool = False
    note: str = ""


@dataclass
class StackPlan:
    stack: str  # the nested stack's logical id in the parent, or "(parent)"
    file: str
    status: str  # added | removed | modified | unchanged
    sections: list[str] = field(default_factory=list)  # template sections that changed
    stack_properties: list[str] = field(default_factory=list)  # the parent's stack resource
    changes: list[Change] = field(default_factory=list)


@dataclass
class Plan:
    spec: str
    against: str
    env: str | None
    stacks: list[StackPlan]
    parameters: list[dict[str, Any]]

    @property
    def changed(self) -> bool:
        return bool(self.parameters) or any(s.status != "unchanged" for s in self.stacks)

    def rows(self) -> list[Change]:
        return [c for s in self.stacks for c in s.changes]

    def summary(self) -> dict[str, int]:
        rows = self.rows()
        out = {
            a: sum(1 for c in rows if c.action == a)
            for a in ("add", "modify", "replace", "replace-conditional", "remove", "move-out", "type-change")
        }
        out["stacks_added"] = sum(1 for s in self.stacks if s.status == "added")
        out["stacks_removed"] = sum(1 for s in self.stacks if s.status == "removed")
        out["needs_confirmation"] = sum(1 for c in rows if c.needs_confirmation)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "against": self.against,
            "env": self.env,
            "changed": self.changed,
            "summary": self.summary(),
            "parameters": self.parameters,
            "stacks": [asdict(s) for s in self.stacks],
        }


# ---- one environment's view ------------------------------------------------------------------


def resolve(ts: TemplateSet, file: str, node: Any) -> Any:
    """``node`` as an environment deploys it: decided ``Fn::If`` resolved, ``AWS::NoValue``
    dropped, ``Fn::FindInMap`` with literal keys looked up; what cannot be decided stays."""
    if isinstance(node, list):
        items = [resolve(ts, file, x) for x in node]
        return [x for x in items if x is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if len(node) == 1 and "Fn::If" in node and isinstance(node["Fn::If"], list) and len(node["Fn::If"]) == 3:
        cond, yes, no = node["Fn::If"]
        decided = ts.decide(file, cond) if isinstance(cond, str) else None
        if decided is not None:
            return resolve(ts, file, yes if decided else no)
    if len(node) == 1 and "Fn::FindInMap" in node and isinstance(node["Fn::FindInMap"], list):
        args = node["Fn::FindInMap"]
        keys = [ts.literal(file, k) for k in args[:3]]
        if len(args) == 3 and all(isinstance(k, str) for k in keys):
            row = ((ts.t[file].get("Mappings") or {}).get(keys[0]) or {}).get(keys[1]) or {}
            if keys[2] in row:
                return row[keys[2]]
    out = {}
    for k, v in node.items():
        r = resolve(ts, file, v)
        if r is not NO_VALUE:
            out[k] = r
    return out


def present(ts: TemplateSet, file: str, res: dict[str, Any]) -> bool:
    """Present unless a condition (its own or its stack's) is decided false."""
    stack_cond = ts.stack_condition(file) if file != PARENT else None
    if isinstance(stack_cond, str) and ts.decide(PARENT, stack_cond) is False:
        return False
    cond = res.get("Condition")
    return not (isinstance(cond, str) and ts.decide(file, cond) is False)


@dataclass
class View:
    """A template set seen by the plan: its stacks and (possibly resolved) resources."""

    templates: Templates
    ts: TemplateSet
    stack_file: dict[str, str]  # stack logical id -> file (PARENT_STACK -> main.yaml)
    resources: dict[Key, dict[str, Any]]
    stack_resources: dict[str, dict[str, Any]]  # stack logical id -> the parent's resource


def view(templates: Templates, env: str | None, values: dict[str, str]) -> View:
    """The set as ``env`` with parameter ``values`` deploys it (resolved), or, with neither,
    as written."""
    given = {**values, "Environment": env} if env else dict(values)
    ts = TemplateSet(templates, parameters=given or None)
    env = env or ("" if values else None)  # resolve whenever anything is given
    stack_file = {PARENT_STACK: PARENT}
    stack_resources: dict[str, dict[str, Any]] = {}
    for lid, res in sorted((templates[PARENT].get("Resources") or {}).items()):
        if res.get("Type") == STACK_TYPE and (env is None or present(ts, PARENT, res)):
            stack_file[lid] = child_file((res.get("Properties") or {}).get("TemplateURL"), lid)
            stack_resources[lid] = resolve(ts, PARENT, res) if env is not None else res
    resources: dict[Key, dict[str, Any]] = {}
    for stack, file in stack_file.items():
        for lid, res in sorted((templates.get(file, {}).get("Resources") or {}).items()):
            if stack == PARENT_STACK and res.get("Type") == STACK_TYPE:
                continue
            if env is None:
                resources[(stack, lid)] = res
            elif present(ts, file, res):
                resources[(stack, lid)] = resolve(ts, file, res)
    return View(templates, ts, stack_file, resources, stack_resources)


# ---- comparing ---------------------------------------------------------------------------------


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _stateful(change: Change) -> Change:
    kind = STATEFUL_TYPES.get(change.type)
    change.stateful = kind.what if kind else None
    change.needs_confirmation = bool(kind) and change.action in DESTRUCTIVE
    return change


def _removal_note(res: dict[str, Any]) -> str:
    policy = res.get("DeletionPolicy") or default_deletion_policy(str(res.get("Type")), res.get("Properties"))
    return {
        "Retain": "DeletionPolicy Retain: the old resource is kept, outside the stack",
        "RetainExceptOnCreate": "DeletionPolicy RetainExceptOnCreate: the old resource is kept",
        "Snapshot": "DeletionPolicy Snapshot: a final snapshot is kept",
    }.get(str(policy), "")


def _modify(lid: str, old: dict[str, Any], new: dict[str, Any]) -> Change | None:
    rtype = str(new.get("Type"))
    if old.get("Type") != rtype:
        return Change(
            lid,
            rtype,
            "type-change",
            note=f"type {old.get('Type')} -> {rtype}: CloudFormation refuses to change a resource's "
            "type in place (the update fails); give the new resource another logical id",
        )
    props = _changed(old.get("Properties") or {}, new.get("Properties") or {})
    attrs = [a for a in ATTRIBUTES if old.get(a) != new.get(a)]
    if not props and not attrs:
        return None
    return Change(lid, rtype, "modify", props, attrs)


def _classify(change: Change, maybe: set[str], old: dict[str, Any] | None) -> None:
    """Set modify / replace / replace-conditional from the changed properties (``maybe``:
    those that change only if a conditionally replaced resource is replaced)."""
    if change.action not in ("modify", "replace", "replace-conditional"):
        return
    certain = set(change.properties) - maybe
    verdict = replacement_for(change.type, certain) if certain else "False"
    if verdict == "False" and maybe and replacement_for(change.type, set(change.properties)) != "False":
        verdict = "Conditional"
    change.action = {"True": "replace", "Conditional": "replace-conditional"}.get(verdict, "modify")
    policy = (old or {}).get("UpdateReplacePolicy")
    if change.action != "modify" and policy in ("Retain", "Snapshot"):
        change.note = (
            f"UpdateReplacePolicy {policy}: the old resource is "
            + ("kept" if policy == "Retain" else "snapshotted")
            + " when replaced"
        )


def _reference_node(name: str, attr: str, via: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, attr]} if attr and via != "Ref" else {"Ref": name}


def _follow(new: View, rows: dict[Key, Change], old: View) -> None:
    """Propagate replacements: a property referencing a replaced resource (in any stack)
    changes too, until nothing more changes."""
    file_stack = {f: s for s, f in new.stack_file.items()}
    origins: dict[tuple[Key, str], set[Key]] = {}
    for key, res in new.resources.items():
        file = new.stack_file[key[0]]
        for prop, value in (res.get("Properties") or {}).items():
            found = set()
            for ref in walk(value):
                if ref.name.startswith("AWS::"):
                    continue
                o = new.ts.origin(file, _reference_node(ref.name, ref.attr, ref.via))
                if o.kind == "resource" and o.file in file_stack:
                    found.add((file_stack[o.file], o.name))
            if found:
                origins[(key, prop)] = found
    maybe: dict[Key, set[str]] = {}
    while True:
        gone = {
            k: c for k, c in rows.items() if c.action in ("replace", "replace-conditional", "move-in", "type-change")
        }
        grew = False
        for (key, prop), sources in sorted(origins.items()):
            hit = sorted(s for s in sources if s in gone and s != key)
            if not hit or key not in old.resources or key not in new.resources:
                continue
            change = rows.get(key)
            if change is None:
                change = rows[key] = Change(key[1], str(new.resources[key].get("Type")), "modify")
            if change.action not in ("modify", "replace", "replace-conditional"):
                continue
            labels = [f"{s[1]}" if s[0] == key[0] else f"{s[0]}/{s[1]}" for s in hit]
            if prop not in change.properties:
                change.properties = sorted({*change.properties, prop})
                if all(gone[s].action == "replace-conditional" for s in hit):
                    maybe.setdefault(key, set()).add(prop)
                grew = True
            change.follows = sorted({*change.follows, *labels})
            before = change.action
            _classify(change, maybe.get(key, set()), old.resources.get(key))
            grew = grew or change.action != before
        if not grew:
            return


def _parameters(old: Templates, new: Templates) -> list[dict[str, Any]]:
    """Changes of the parent's parameters (what a deploy must supply)."""
    before = old[PARENT].get("Parameters") or {}
    after = new[PARENT].get("Parameters") or {}
    out = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            note = "" if "Default" in after[name] else "no default: every deploy must give a value"
            out.append({"name": name, "action": "add", "fields": [], "note": note})
        elif name not in after:
            out.append(
                {
                    "name": name,
                    "action": "remove",
                    "fields": [],
                    "note": "a parameters file that still gives it is refused",
                }
            )
        elif before[name] != after[name]:
            out.append({"name": name, "action": "modify", "fields": _changed(before[name], after[name]), "note": ""})
    return out


def compare(
    old_templates: Templates,
    new_templates: Templates,
    *,
    env: str | None = None,
    values: dict[str, str] | None = None,
    spec: str = "",
    against: str = "",
) -> Plan:
    """The plan of replacing ``old_templates`` with ``new_templates`` (both as
    ``render.synthesize`` returns them, ``main.yaml`` the parent).  A platform split into
    several root stacks (``generator.roots``) is compared as the one hierarchy it splits, so a
    later root's stacks are planned too."""
    old = view(rootset.merge(old_templates)[0], env, values or {})
    new = view(rootset.merge(new_templates)[0], env, values or {})
    rows: dict[Key, Change] = {}
    for key in sorted(set(old.resources) | set(new.resources)):
        a, b = old.resources.get(key), new.resources.get(key)
        if a is None and b is not None:
            rows[key] = Change(key[1], str(b.get("Type")), "add")
        elif b is None and a is not None:
            rows[key] = Change(key[1], str(a.get("Type")), "remove", note=_removal_note(a))
        elif a is not None and b is not None:
            change = _modify(key[1], a, b)
            if change is not None:
                _classify(change, set(), a)
                rows[key] = change
    _moves(rows, old)
    _follow(new, rows, old)
    stacks = []
    for stack in sorted(set(old.stack_file) | set(new.stack_file), key=lambda s: (s != PARENT_STACK, s)):
        in_old, in_new = stack in old.stack_file, stack in new.stack_file
        file = new.stack_file.get(stack) or old.stack_file[stack]
        plan = StackPlan(stack, file, "added" if not in_old else "removed" if not in_new else "unchanged")
        if in_old and in_new:
            t_old, t_new = old_templates[old.stack_file[stack]], new_templates[file]
            plan.sections = [s for s in SECTIONS if (t_old.get(s) or {}) != (t_new.get(s) or {})]
            if stack != PARENT_STACK:
                props = _changed(
                    old.stack_resources[stack].get("Properties") or {},
                    new.stack_resources[stack].get("Properties") or {},
                )
                plan.stack_properties = props
        plan.changes = [_stateful(c) for k, c in sorted(rows.items()) if k[0] == stack]
        if plan.status == "unchanged" and (plan.sections or plan.stack_properties or plan.changes):
            plan.status = "modified"
        stacks.append(plan)
    return Plan(spec, against, env, stacks, _parameters(old_templates, new_templates))


def _moves(rows: dict[Key, Change], old: View) -> None:
    """A logical id removed from one stack and added (same type) to another moved."""
    removed: dict[str, list[Key]] = {}
    for key, c in rows.items():
        if c.action == "remove":
            removed.setdefault(key[1], []).append(key)
    for key, c in list(rows.items()):
        if c.action != "add" or len(removed.get(key[1], [])) != 1:
            continue
        source = removed[key[1]][0]
        if rows[source].type != c.type:
            continue
        c.action = "move-in"
        c.note = f"moved from {source[0]}: CloudFormation creates a new resource here"
        out = rows[source]
        out.action = "move-out"
        policy = _removal_note(old.resources[source])
        out.note = f"moved to {key[0]}: CloudFormation deletes the live resource here" + (
            f" ({policy})" if policy else ""
        )


# ---- output --------------------------------------------------------------------------------------

SYMBOL = {
    "add": "+",
    "modify": "~",
    "replace": "!",
    "replace-conditional": "!?",
    "remove": "-",
    "move-out": "->",
    "move-in": "<-",
    "type-change": "x",
}


def _what(c: Change) -> str:
    parts = []
    if c.properties:
        parts.append(", ".join(c.properties))
    if c.attributes:
        parts.append("attributes: " + ", ".join(c.attributes))
    if c.follows:
        parts.append("follows " + ", ".join(c.follows))
    return "; ".join(parts)


def render_text(plan: Plan, out: Any = None) -> None:
    out = out or sys.stdout
    scope = f"environment {plan.env}" if plan.env else "all environments (conditions as written)"
    print(f"stackgen plan: {plan.spec} against {plan.against}, {scope}", file=out)
    if plan.parameters:
        print("\nParameters of the parent stack:", file=out)
        for p in plan.parameters:
            detail = ", ".join(p["fields"]) + (f"  ({p['note']})" if p["note"] else "")
            print(f"  {SYMBOL[p['action']]:<2} {p['action']:<7} {p['name']}  {detail}".rstrip(), file=out)
    unchanged = []
    for s in plan.stacks:
        if s.status == "unchanged":
            unchanged.append(s.stack)
            continue
        print(f"\n{s.stack} ({s.file}): {s.status}", file=out)
        if s.stack_properties:
            print(f"  stack resource changes: {', '.join(s.stack_properties)}", file=out)
        if s.sections:
            print(f"  template sections changed: {', '.join(s.sections)}", file=out)
        if not s.changes:
            continue
        rows = [(SYMBOL[c.action], c.action, c.logical_id, c.type, _what(c)) for c in s.changes]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for c, r in zip(s.changes, rows, strict=True):
            # the first four columns padded (zip stops at widths), the description r[4] as it is
            line = "  " + "  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=False)) + f"  {r[4]}"
            if c.needs_confirmation:
                line += f"  <== STATEFUL {str(c.stateful).upper()}: needs confirmation"
            print(line.rstrip(), file=out)
            if c.note:
                print(f"  {'':<{widths[0]}}  note: {c.note}", file=out)
    if unchanged:
        print(f"\nUnchanged: {', '.join(unchanged)}", file=out)
    n = plan.summary()
    print(
        f"\nPlan: {n['add']} to add, {n['modify']} to modify, "
        f"{n['replace'] + n['replace-conditional']} to replace ({n['replace-conditional']} conditionally), "
        f"{n['remove']} to remove, {n['move-out']} to move between stacks (delete + create), "
        f"{n['type-change']} refused type changes; nested stacks: {n['stacks_added']} added, "
        f"{n['stacks_removed']} removed.",
        file=out,
    )
    if n["needs_confirmation"]:
        print(
            f"WARNING: {n['needs_confirmation']} stateful resource(s) would be removed or replaced; "
            "deploy.sh asks for confirmation before it executes such a change set.",
            file=out,
        )
    if not plan.changed:
        print("No changes: the templates are what the spec generates.", file=out)


# ---- command -------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="platform spec file (platforms/*.yaml)")
    p.add_argument(
        "--against",
        metavar="DIR|GIT-REF",
        help="template set to compare with: a directory, or a git ref whose committed "
        "templates/<spec stem>/ is read with git show (default: templates/<spec stem>/)",
    )
    p.add_argument(
        "--env",
        metavar="ENV",
        help="evaluate conditions, Fn::If and per-environment mappings as "
        "ENV deploys them (Environment=ENV and parameters/<spec stem>/ENV.json)",
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON (for CI)")


def _env_values(args: argparse.Namespace, templates: Templates, stem: str) -> dict[str, str]:
    if not args.env:
        return {}
    allowed = [
        str(v)
        for v in ((templates[PARENT].get("Parameters") or {}).get("Environment") or {}).get("AllowedValues") or []
    ]
    if allowed and args.env not in allowed:
        raise PlanError(f"--env {args.env}: not one of {', '.join(allowed)}")
    path = Path("parameters") / stem / f"{args.env}.json"
    if not path.is_file():
        return {}
    try:
        return read_params_file(path)
    except ParamError as exc:
        raise PlanError(str(exc)) from None


def build(args: argparse.Namespace) -> Plan:
    """The plan ``args`` ask for.  Raises SpecError or PlanError (exit 2)."""
    stem = Path(args.spec).stem
    new = synth.synthesize_checked(args.spec).templates
    old, against = read_against(args.against, stem)
    values = _env_values(args, new, stem)
    return compare(old, new, env=args.env, values=values, spec=args.spec, against=against)


def cmd(args: argparse.Namespace) -> int:
    """Entry point for the ``plan`` subcommand: 0 no changes, 1 changes, 2 usage/spec error."""
    try:
        plan = build(args)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except PlanError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - anything the spec did not cause is a bug
        print(
            f"stackgen plan: internal error (a bug in stackgen, please report): {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_CHANGES
    if args.json:
        print(json.dumps(plan.as_dict(), indent=2, sort_keys=True))
    else:
        render_text(plan)
    return EXIT_CHANGES if plan.changed else 0
