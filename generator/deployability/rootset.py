"""The roots of a template set: which files are top-level stacks, and one view of them all.

A platform too large for one stack operation (CloudFormation's quota of resources created,
updated or deleted per operation across a nested hierarchy, ``QUOTAS["hierarchy_resources"]``)
is deployed as several root
stacks (``generator.roots``): the base root ``main.yaml`` and service-set roots
``main-services-2.yaml``, ``main-services-3.yaml``, ... beside it, each with its own nested
stacks.  The base root lists them all, in deploy order, in ``Metadata.stackgen.roots``
(a platform of one root has no such key).  A service-set root gets what its stacks need
from earlier roots through parameters that deploy.sh fills from those roots' outputs;
its ``Metadata.stackgen.root.from_outputs`` names, per such parameter, the root whose
output of the same name feeds it.

This module reads template dicts only (no spec): ``root_files`` lists the roots,
``hierarchy`` the files of one root's operation, and ``merge`` folds the service-set roots
back into the base root as the one nested hierarchy they would be without the split (a
parameter fed from an output becomes that output's value), so the deployability rules
that follow values across stacks see every reference; a parameter whose output the named
root does not declare is reported (``MergeProblem``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.cfn.load import PARENT, STACK_TYPE, load_dir, load_file

BASE = PARENT


def service_root_file(number: int) -> str:
    """The file of the service-set root ``number`` (2, 3, ...; the base root is 1)."""
    return f"main-services-{number}.yaml"


def stack_suffix(file: str) -> str:
    """What a root's stack name adds to the base stack's name: '' for the base root,
    ``-services-2`` for ``main-services-2.yaml``."""
    return "" if file == BASE else "-" + file.removeprefix("main-").removesuffix(".yaml")


def _stackgen(template: Mapping[str, Any]) -> dict[str, Any]:
    meta = template.get("Metadata") or {}
    out = meta.get("stackgen") if isinstance(meta, dict) else None
    return out if isinstance(out, dict) else {}


def root_files(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The root files in deploy order (the base root first); a set without ``main.yaml`` has none."""
    if BASE not in templates:
        return []
    listed = _stackgen(templates[BASE]).get("roots")
    return [str(f) for f in listed] if isinstance(listed, list) and listed else [BASE]


def from_outputs(template: Mapping[str, Any]) -> dict[str, str]:
    """A service-set root's parameters fed from earlier roots' outputs: name -> root file."""
    root = _stackgen(template).get("root")
    mapping = root.get("from_outputs") if isinstance(root, dict) else None
    return {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def children_of(template: Mapping[str, Any]) -> list[str]:
    """The files a root's nested stacks name by local TemplateURL."""
    return [
        str(r["Properties"]["TemplateURL"]).removeprefix("./")
        for r in (template.get("Resources") or {}).values()
        if r.get("Type") == STACK_TYPE
    ]


def hierarchy(templates: Mapping[str, Mapping[str, Any]], root: str) -> list[str]:
    """The files one stack operation on ``root`` acts on: the root and its nested stacks."""
    return [root, *(c for c in children_of(templates[root]) if c in templates)]


def load_roots(path: str | Path) -> dict[str, dict[str, Any]]:
    """``cfn.load_dir`` of a folder, and every service-set root its ``main.yaml`` lists with
    the stacks each names."""
    templates = load_dir(path)
    for root in root_files(templates)[1:]:
        templates[root] = load_file(Path(path) / root)
        for child in children_of(templates[root]):
            templates.setdefault(child, load_file(Path(path) / child))
    return templates


@dataclass(frozen=True)
class MergeProblem:
    """A service-set root reads a value no earlier root gives it."""

    file: str
    parameter: str
    problem: str


def merge(templates: Mapping[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[MergeProblem]]:
    """The template set as one hierarchy under ``main.yaml`` (the input itself when it has one root)."""
    roots = root_files(templates)
    if len(roots) <= 1:
        return dict(templates), []
    problems: list[MergeProblem] = []
    base = copy.deepcopy(templates[BASE])
    outputs: dict[str, dict[str, Any]] = {BASE: dict(base.get("Outputs") or {})}
    for file in roots[1:]:
        if file not in templates:
            problems.append(MergeProblem(BASE, "", f"lists the root {file}, which is not in the template set"))
            continue
        t = templates[file]
        fed: dict[str, Any] = {}
        for name, producer in sorted(from_outputs(t).items()):
            out = outputs.get(producer, {}).get(name)
            if out is None:
                problems.append(
                    MergeProblem(
                        file,
                        name,
                        f"parameter {name} is fed from the output {name} of {producer}, which "
                        f"{'is not an earlier root' if producer not in outputs else 'declares no such output'}",
                    )
                )
                continue
            fed[name] = out["Value"]
        for section in ("Parameters", "Conditions"):
            for k, v in (t.get(section) or {}).items():
                if section == "Parameters" and k in fed:
                    continue
                have = base.setdefault(section, {})
                if k in have and have[k] != v:
                    problems.append(MergeProblem(file, k, f"{section[:-1].lower()} {k} differs from the one in {BASE}"))
                have.setdefault(k, copy.deepcopy(v))
        for lid, res in (t.get("Resources") or {}).items():
            if lid in base.get("Resources", {}):
                problems.append(MergeProblem(file, "", f"resource {lid} is also in another root"))
            base.setdefault("Resources", {})[lid] = _substitute(res, fed)
        outputs[file] = {k: _substitute(v, fed) for k, v in (t.get("Outputs") or {}).items()}
    merged = {f: t for f, t in templates.items() if f not in roots}
    merged[BASE] = base
    return merged, problems


def _substitute(node: Any, fed: Mapping[str, Any]) -> Any:
    """``node`` with each ``Ref`` to a parameter of ``fed`` replaced by its value."""
    if isinstance(node, dict):
        if len(node) == 1 and isinstance(node.get("Ref"), str) and node["Ref"] in fed:
            return copy.deepcopy(fed[node["Ref"]])
        return {k: _substitute(v, fed) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, fed) for v in node]
    return node
