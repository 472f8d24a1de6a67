"""``docs/platforms/<name>.md``: a platform's reference page, read from its templates.

Sections: the root stacks of a platform split into several (``generator.roots``: each root,
its deploy order, the parameters it takes from an earlier root's outputs, the nested stacks
it holds; a platform of one root has no such section), the parameters of the parent stack
(default, allowed values or pattern, NoEcho), its outputs (and where each comes from), the
nested stacks of every root (what each holds: resource counts by type), and what each
environment changes.  The environments are the values
of the parent's ``Environment`` parameter; each is evaluated as it deploys
(``generator.plan.view``: conditions, ``Fn::If`` branches, per-environment mappings),
and the page lists what differs between them: resources present in some only, and every
property value that differs.  Parameters that switch optional parts on when set (a
condition compares them with ``''``, such as ``BaseDomain``, the domain stage) get the
same treatment: what exists with the parameter empty and what only once it is set.
The environments are read from the roots merged into one hierarchy (``rootset.merge``), so
the stacks of every root are in them.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from generator.cfn.load import PARENT, STACK_TYPE
from generator.cfn.refs import walk
from generator.cfn.templateset import TemplateSet
from generator.deployability import rootset
from generator.deployability.quotas import QUOTAS
from generator.plan import PARENT_STACK, View, view

Templates = dict[str, dict[str, Any]]
MAX_CELL = 70


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if text else '`""`'


def _text(value: Any) -> str:
    return str(value or "").replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _source(value: Any) -> str:
    """Where an output's value comes from, in words."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        lid, attr = value["Fn::GetAtt"] if isinstance(value["Fn::GetAtt"], list) else value["Fn::GetAtt"].split(".", 1)
        return f"{lid} output {attr.removeprefix('Outputs.')}" if attr.startswith("Outputs.") else f"{lid}.{attr}"
    if isinstance(value, dict) and "Ref" in value:
        return f"Ref {value['Ref']}"
    return _cell(value)


def parameters(main: dict[str, Any]) -> list[str]:
    rows = []
    for name, p in sorted((main.get("Parameters") or {}).items()):
        allowed = ", ".join(f"`{v}`" for v in p.get("AllowedValues") or [])
        if "AllowedPattern" in p:
            allowed = (allowed + " " if allowed else "") + f"pattern `{p['AllowedPattern']}`"
        for bound in ("MinValue", "MaxValue", "MinLength", "MaxLength"):
            if bound in p:
                allowed = (allowed + ", " if allowed else "") + f"{bound} {p[bound]}"
        default = _cell(p["Default"]) if "Default" in p else "(none: required)"
        rows.append(
            [
                f"`{name}`",
                _text(p.get("Type")),
                default,
                allowed.replace("|", "\\|"),
                "yes" if str(p.get("NoEcho")).lower() == "true" else "",
                _text(p.get("Description")),
            ]
        )
    return _table(["parameter", "type", "default", "allowed", "NoEcho", "description"], rows)


def outputs(main: dict[str, Any]) -> list[str]:
    rows = []
    for name, o in sorted((main.get("Outputs") or {}).items()):
        cond = f" (if {o['Condition']})" if o.get("Condition") else ""
        rows.append([f"`{name}`", _text(o.get("Description")) + cond, _source(o.get("Value"))])
    return _table(["output", "description", "from"], rows)


def nested_stacks(templates: Templates) -> list[str]:
    """Every root's nested stacks; with several roots, a first column names the root."""
    roots = rootset.root_files(templates) or [PARENT]
    rows = []
    for root in roots:
        for lid, res in sorted((templates.get(root, {}).get("Resources") or {}).items()):
            if res.get("Type") != STACK_TYPE:
                continue
            file = str((res.get("Properties") or {}).get("TemplateURL", "")).removeprefix("./")
            counts = Counter(str(r.get("Type")) for r in (templates.get(file, {}).get("Resources") or {}).values())
            by_type = ", ".join(
                f"{n} {t.removeprefix('AWS::')}" for t, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
            )
            row = [f"`{lid}`", f"`{file}`", _text(res.get("Condition")), str(sum(counts.values())), by_type]
            rows.append([f"`{root}`", *row] if len(roots) > 1 else row)
    head = ["stack", "template", "condition", "resources", "by type"]
    return _table(["root", *head] if len(roots) > 1 else head, rows)


def root_stacks(templates: Templates) -> list[str]:
    """The roots of a split platform: deploy order, stack, what each holds, and per service-set
    root the parameters it takes from an earlier root's outputs.  Empty for one root."""
    roots = rootset.root_files(templates)
    if len(roots) <= 1:
        return []
    out = [
        "## Root stacks",
        "",
        f"This platform is deployed as {len(roots)} root stacks: one stack operation may act on at most "
        f"{QUOTAS['hierarchy_resources'].value:,} resources, nested stacks included. `deploy.sh` deploys "
        "the roots in this order (each with its own change set) and fills the parameters a root takes "
        "from an earlier root's outputs; `delete.sh` deletes them in the reverse order. The parameters "
        f"and outputs below are the base root's (`{PARENT}`); every root's nested stacks are in the "
        "table of nested stacks.",
        "",
    ]
    rows = []
    for i, root in enumerate(roots, 1):
        t = templates.get(root, {})
        stacks = rootset.children_of(t)
        resources = sum(len(templates.get(f, {}).get("Resources") or {}) for f in rootset.hierarchy(templates, root))
        groups = ((t.get("Metadata") or {}).get("stackgen") or {}).get("service_groups") or {}
        services = sorted(str(x) for g in groups.values() if isinstance(g, dict) for x in g.get("services") or [])
        rows.append(
            [
                str(i),
                f"`{root}`",
                f"`<stack>{rootset.stack_suffix(root)}`",
                str(len(stacks)),
                f"{resources:,}",
                ", ".join(f"`{g}`" for g in sorted(groups)),
                _text(", ".join(services)),
            ]
        )
    out += _table(["order", "root", "stack", "nested stacks", "resources", "service groups", "services"], rows)
    for root in roots[1:]:
        t = templates.get(root, {})
        fed = rootset.from_outputs(t)
        declared = t.get("Parameters") or {}
        base = templates[PARENT].get("Parameters") or {}
        shared = sorted(n for n in declared if n not in fed and n in base)
        own = {n: p for n, p in declared.items() if n not in fed and n not in base}
        out += ["", f"### `{root}`", ""]
        out.append("Nested stacks: " + (", ".join(f"`{f}`" for f in rootset.children_of(t)) or "none") + ".")
        out += ["", "Parameters from earlier roots' outputs (the output of the same name):", ""]
        out += _table(["parameter", "from the outputs of"], [[f"`{n}`", f"`{fed[n]}`"] for n in sorted(fed)])
        if shared:
            out += ["", "Parameters it shares with the base root: " + ", ".join(f"`{n}`" for n in shared)]
        if own:
            out += ["", "Parameters of its own (the same parameters file fills them):", ""]
            out += parameters({"Parameters": own})
        if t.get("Outputs"):
            out += ["", "Outputs: " + ", ".join(f"`{n}`" for n in sorted(t["Outputs"]))]
    return out + [""]


# ---- environments ------------------------------------------------------------------------------


def _leaves(node: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path; list items that carry a ``Key`` are named by it."""
    out: dict[str, Any] = {}
    if isinstance(node, dict) and node and not any(k == "Ref" or k.startswith("Fn::") for k in node):
        for k, v in node.items():
            out.update(_leaves(v, f"{path}.{k}" if path else k))
    elif isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        for i, x in enumerate(node):
            name = x.get("Key") or x.get("Name") or x.get("Sid") or i
            rest = {k: v for k, v in x.items() if k not in ("Key",)} if "Key" in x else x
            out.update(_leaves(rest, f"{path}[{name}]"))
    else:
        out[path] = node
    return out


def _label(key: tuple[str, str]) -> str:
    return key[1] if key[0] == PARENT_STACK else f"{key[0]}/{key[1]}"


def _overview(views: dict[str, View]) -> list[str]:
    def count(v: View, rtype: str) -> int:
        return sum(1 for r in v.resources.values() if r.get("Type") == rtype)

    def endpoints(v: View) -> str:
        kinds = Counter(
            str((r.get("Properties") or {}).get("VpcEndpointType", "Gateway"))
            for r in v.resources.values()
            if r.get("Type") == "AWS::EC2::VPCEndpoint"
        )
        return ", ".join(f"{n} {k.lower()}" for k, n in sorted(kinds.items())) or "none"

    def protected(v: View) -> str:
        names = []
        for key, r in sorted(v.resources.items()):
            p = r.get("Properties") or {}
            on = p.get("DeletionProtection")
            for attr in p.get("LoadBalancerAttributes") or []:
                if isinstance(attr, dict) and attr.get("Key") == "deletion_protection.enabled":
                    on = attr.get("Value")
            if str(on).lower() == "true":
                names.append(key[1])
        return ", ".join(names) or "none"

    def sizes(v: View) -> str:
        out = []
        for key, r in sorted(v.resources.items()):
            p = r.get("Properties") or {}
            if r.get("Type") == "AWS::ECS::TaskDefinition" and "Cpu" in p:
                out.append(f"{key[1].removesuffix('TaskDefinition')} {_plain(p['Cpu'])}/{_plain(p.get('Memory'))}")
        return ", ".join(out) or "none"

    envs = list(views)
    rows = [
        ["resources", *[str(len(views[e].resources)) for e in envs]],
        ["nested stacks", *[str(len(views[e].stack_file) - 1) for e in envs]],
        ["NAT gateways", *[str(count(views[e], "AWS::EC2::NatGateway")) for e in envs]],
        ["VPC endpoints", *[endpoints(views[e]) for e in envs]],
        ["deletion protection on", *[protected(views[e]) for e in envs]],
        ["task CPU/memory", *[sizes(views[e]) for e in envs]],
    ]
    return _table(["", *[f"`{e}`" for e in envs]], rows)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differences(views: dict[str, View]) -> list[list[str]]:
    """Rows: resources present in some of the views only, and property values that differ."""
    names = list(views)
    keys = sorted(set().union(*(v.resources for v in views.values())))
    rows = []
    for key in keys:
        present = [n for n in names if key in views[n].resources]
        if len(present) != len(names):
            rtype = str(next(views[n].resources[key] for n in present).get("Type"))
            rows.append(
                [
                    f"`{_label(key)}`",
                    rtype.removeprefix("AWS::"),
                    "(exists)",
                    *["yes" if n in present else "no" for n in names],
                ]
            )
            continue
        leaves = {n: _leaves(views[n].resources[key].get("Properties") or {}) for n in names}
        for path in sorted(set().union(*(leaf.keys() for leaf in leaves.values()))):
            values = [leaves[n].get(path) for n in names]
            if any(v != values[0] for v in values):
                rtype = str(views[names[0]].resources[key].get("Type"))
                rows.append(
                    [
                        f"`{_label(key)}`",
                        rtype.removeprefix("AWS::"),
                        f"`{path}`",
                        *[_cell(v) if v is not None else "(none)" for v in values],
                    ]
                )
    return rows


def toggles(templates: Templates) -> list[str]:
    """Parent parameters that a condition compares with '' (an optional part switched on by a value)."""
    ts = TemplateSet(templates)
    found: set[str] = set()
    for file, t in templates.items():
        for cond in (t.get("Conditions") or {}).values():
            for node in _equals(cond):
                refs = [a for a in node if isinstance(a, dict) and "Ref" in a]
                if len(refs) == 1 and "" in node:
                    origin = ts.parameter_origin(file, refs[0]["Ref"])
                    if origin and origin != "Environment":
                        found.add(origin)
    return sorted(found)


def _equals(node: Any) -> list[list[Any]]:
    if isinstance(node, list):
        return [e for x in node for e in _equals(x)]
    if not isinstance(node, dict):
        return []
    out = [node["Fn::Equals"]] if isinstance(node.get("Fn::Equals"), list) else []
    return out + [e for v in node.values() for e in _equals(v)]


def environments_section(templates: Templates) -> list[str]:
    templates = rootset.merge(templates)[0]  # every root's stacks, as one hierarchy
    main = templates[PARENT]
    env_param = (main.get("Parameters") or {}).get("Environment") or {}
    envs = [str(v) for v in env_param.get("AllowedValues") or []]
    out = ["## Environments", ""]
    if len(envs) < 2:
        out += ["This platform has no `Environment` choice: every deploy is the same.", ""]
    else:
        views = {e: view(templates, e, {}) for e in envs}
        out += [
            f"Each value of `Environment` ({', '.join(f'`{e}`' for e in envs)}), evaluated as it deploys with "
            "the other parameters at their defaults (conditions, `Fn::If` branches, per-environment mappings).",
            "",
        ]
        out += _overview(views) + [""]
        rows = differences(views)
        out += ["### What differs between environments", ""]
        if rows:
            out += _table(["resource", "type", "property", *[f"`{e}`" for e in envs]], rows)
        else:
            out += ["Nothing: every environment deploys the same resources with the same properties."]
        out.append("")
    for name in toggles(templates):
        default = str(((main.get("Parameters") or {}).get(name) or {}).get("Default", ""))
        sample = default or "set"
        empty, given = view(templates, None, {name: ""}), view(templates, None, {name: sample})
        out += [
            f"### `{name}` empty or set",
            "",
            f"A condition compares `{name}` with `''`: what differs between `{name}` empty and set. "
            f"Evaluated with `{name}` empty and with `{name}` = `{sample}` (any non-empty value gives the same; "
            "the other parameters at their defaults).",
            "",
        ]
        stacks = sorted(set(given.stack_file) ^ set(empty.stack_file))
        if stacks:
            out += [f"Nested stacks only when `{name}` is set: " + ", ".join(f"`{s}`" for s in stacks), ""]
        rows = [r for r in differences({"empty": empty, "set": given}) if r[0].strip("`").split("/")[0] not in stacks]
        if rows:
            out += _table(["resource", "type", "property", "empty", "set"], rows)
        else:
            out.append("No other resource changes.")
        out.append("")
    return out


def page(templates: Templates, name: str) -> str:
    main = templates[PARENT]
    out = [
        f"# Platform `{name}`",
        "",
        f"<!-- Generated by `stackgen docs` from the templates of {name}. Do not edit: run `make docs`. -->",
        "",
        _text(main.get("Description")),
        "",
        f"![Architecture of {name}]({name}.svg)",
        "",
        "The diagram is read from the templates: network tiers with their subnets per AZ and how each "
        "reaches the internet, load balancers and their listeners (the two domain stages both shown, "
        "with their condition), tasks, data stores, VPC endpoints and NAT gateways. An arrow is a "
        "security-group ingress rule: its tail may connect to its head on the ports it carries.",
        "",
    ]
    out += root_stacks(templates) + ["## Parameters", ""]
    out += parameters(main) + ["", "## Outputs", ""] + outputs(main) + ["", "## Nested stacks", ""]
    out += nested_stacks(templates) + [""]
    out += environments_section(templates)
    refs = sorted({r.name for r in walk(main.get("Conditions") or {})})
    if refs:
        out += ["## Conditions of the parent stack", ""]
        out += [
            f"- `{c}`: `{json.dumps(v, sort_keys=True, separators=(',', ':'))}`"
            for c, v in sorted((main.get("Conditions") or {}).items())
        ] + [""]
    return "\n".join(out).rstrip("\n") + "\n"
