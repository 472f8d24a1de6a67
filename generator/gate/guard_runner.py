"""cfn-guard with the Control Tower rules and guard/*.guard, plus the allow-list.

cfn-guard evaluates each template against every rule file that can apply to it (``plan``:
the files naming one of its resource types, and those that may apply anywhere), one process
per group of templates with the same rule files. A
failed rule is attributed to logical IDs through the paths cfn-guard reports
(``/Resources/<LogicalId>/...``, or the bound key of ``Resources[ id | ... ]``).
A (rule, logical id) failure is suppressed, unless the rule is in NEVER_ALLOW, when:

- ``guard/allowlist.yaml`` (or another --allowlist file) has ``rule@LogicalId: reason``;
- the resource itself carries the entry, as the generator emits it:
  ``Metadata: {stackgen: {guard_allowlist: {rule: reason}}}``; or
- the rule is the Control Tower read-only-root (or non-root user) rule and every
  failing container of that task definition is listed with a reason in
  ``Metadata.stackgen.writable_root`` (``root_user``): the per-container
  exemptions that cfn-lint E9104 (E9103) accept. These two rules accept nothing else; or
- the rule is Control Tower ECS.PR.9 (no public IP on an ECS service) and the service
  carries ``Metadata.stackgen.public_ip: {reason: ...}`` (suppressions.RESOURCE_EXEMPTIONS),
  which the generator writes from the spec's network.public_ip_reason. Nothing else
  switches that rule off.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.gate.model import ToolResult, finding, relpath, to_sarif, write_json
from generator.gate.suppressions import (
    RESOURCE_EXEMPTIONS,
    AllowList,
    exemption_reason,
    inline_guard_reason,
    never_allowed,
    reason_problem,
)
from generator.gate.templates import Template

GUARD_PASS, GUARD_FAIL = 0, 19
# Control Tower rules that are accepted per container, through the same
# Metadata.stackgen exemptions that cfn-lint E9104 / E9103 check.
CONTAINER_EXEMPTIONS = {
    "ecs_containers_readonly_access_check": "writable_root",
    "ecs_task_definition_nonroot_user_check": "root_user",
}
RULE_TAG = re.compile(r"\[((?:CT|STACKGEN)\.[A-Z0-9.]+)\]")
CONTAINER_PATH = re.compile(r"^/Resources/([^/]+)/Properties/ContainerDefinitions/(\d+)")


@dataclass
class RuleFailure:
    rule: str
    tag: str = ""
    message: str = ""
    # logical id -> failing paths ("" for a template-level failure)
    paths: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


# A rule file that names resource types (``AWS::Service::Resource``) and matches no type by
# pattern can only apply to a template holding one of them: every Control Tower rule reads
# its resources through ``Resources.*[ Type == ... ]`` and SKIPs a template without them
# (each rule's "Scenario 1"), which the gate counts as nothing.  Evaluating the 237 CT
# files on every template made cfn-guard the gate's slowest step (32 s of 80 example
# templates, 98 % of the evaluations a SKIP); tests/gate/test_gate_guard_selection.py runs
# the whole rule set beside the selected one and compares every verdict.
RESOURCE_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")
TYPE_PATTERN = re.compile(r"Type\s*(?:==|!=|in|IN|not\s+in|NOT\s+IN)\s*/")
RULE_SUFFIXES = (".guard", ".ruleset")  # what cfn-guard reads from a rules directory


def rule_files(rules: list[Path]) -> list[Path]:
    """Every rule file cfn-guard reads from ``-r`` arguments (a directory: the .guard and
    .ruleset files under it), sorted within each directory."""
    files: list[Path] = []
    for r in rules:
        if r.is_dir():
            files += sorted(p for p in r.rglob("*") if p.is_file() and p.name.endswith(RULE_SUFFIXES))
        else:
            files.append(r)
    return files


def rule_types(path: Path) -> frozenset[str] | None:
    """The resource types a rule file is about; None when it may apply to any template (it
    names no type, or matches types by a pattern)."""
    text = path.read_text(errors="replace")
    if TYPE_PATTERN.search(text):
        return None
    return frozenset(RESOURCE_TYPE.findall(text)) or None


def template_types(template: Template) -> frozenset[str] | None:
    """The resource types in a template; None when it does not parse (every rule runs)."""
    if template.data is None:
        return None
    return frozenset(str(r.get("Type")) for r in template.resources.values())


def plan(
    rules: list[Path], templates: list[Path], types: dict[Path, frozenset[str] | None]
) -> list[tuple[list[Path], list[Path]]]:
    """(rule files, templates) of each cfn-guard process: the templates grouped by the rule
    files that can apply to them, in the templates' order."""
    about = {r: rule_types(r) for r in rule_files(rules)}
    groups: dict[tuple[Path, ...], list[Path]] = {}
    for t in templates:
        present = types.get(t)
        chosen = tuple(r for r, wanted in about.items() if present is None or wanted is None or wanted & present)
        groups.setdefault(chosen, []).append(t)
    return [(list(chosen), group) for chosen, group in groups.items()]


class GuardRun:
    """cfn-guard in the background (it overlaps with the in-process cfn-lint run): one
    process per group of templates that the same rule files can apply to (``plan``); without
    ``types``, one process runs every rule on every template."""

    def __init__(
        self,
        cfn_guard: Path,
        rules: list[Path],
        templates: list[Path],
        types: dict[Path, frozenset[str] | None] | None = None,
    ) -> None:
        self.templates = templates
        self.start = time.monotonic()
        groups = plan(rules, templates, types) if types is not None else [(rules, templates)] if templates else []
        self.cmds: list[list[str]] = []
        # A template no rule file applies to: every rule would SKIP it (an empty report).
        self.skipped = [t for chosen, group in groups if not chosen for t in group]
        for chosen, group in groups:
            if not chosen:
                continue
            cmd = [str(cfn_guard), "validate", "-o", "json", "-S", "none", "--structured"]
            for r in chosen:
                cmd += ["-r", str(r)]
            for t in group:
                cmd += ["-d", str(t)]
            self.cmds.append(cmd)
        self.procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in self.cmds]

    def reports(self) -> tuple[list, list[str]]:
        """Every process's reports, in the templates' order, and the errors of those that failed."""
        reports: list = [{"name": str(t), "compliant": [], "not_compliant": []} for t in self.skipped]
        errors: list[str] = []
        for proc in self.procs:
            stdout, stderr = proc.communicate()
            if proc.returncode not in (GUARD_PASS, GUARD_FAIL) or stderr.strip():
                first = (stderr or stdout).strip().splitlines()[:3]
                errors.append(f"cfn-guard exited {proc.returncode}: " + " | ".join(first))
                continue
            try:
                reports += json.loads(stdout)
            except json.JSONDecodeError as exc:
                errors.append(f"cfn-guard output is not JSON: {exc}")
        order = {str(t): i for i, t in enumerate(self.templates)}
        reports.sort(key=lambda r: order.get(str(r.get("name", "")), len(order)))
        return reports, errors

    def result(self, loaded: dict[str, Template], allowlist: AllowList, sarif: Path | None = None) -> ToolResult:
        result = ToolResult("cfn-guard", templates=len(self.templates))
        if not self.templates:
            return result
        try:
            reports, errors = self.reports()
            if errors:
                result.errors += errors
                return result
            used: set[tuple[str, str]] = set()
            evaluate(reports, loaded, allowlist, result, used)
            unused = sorted(set(allowlist.entries) - used)
            for rule, logical_id in unused:
                result.notes.append(f"allow-list entry {rule}@{logical_id} matched nothing in these templates")
            if sarif:
                write_json(sarif, to_sarif(result))
            return result
        finally:
            result.seconds = time.monotonic() - self.start


def _walk_paths(node: Any) -> Iterator[tuple[str, Any]]:
    """(path, value) of the failing side of every clause in a cfn-guard rule tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key in ("from", "traversed_to", "value")
                and isinstance(value, dict)
                and isinstance(value.get("path"), str)
            ):
                yield value["path"], value.get("value")
            elif key == "to":
                continue  # the compared-with side points at other resources
            else:
                yield from _walk_paths(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_paths(item)


def _messages(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "custom_message" and isinstance(value, str) and value.strip():
                yield value
            else:
                yield from _messages(value)
    elif isinstance(node, list):
        for item in node:
            yield from _messages(item)


def logical_id_of(path: str, value: Any) -> str:
    parts = path.strip("/").split("/")
    if parts == ["Resources"] and isinstance(value, str):
        return value  # key binding: Resources[ id | ... ]
    if len(parts) >= 2 and parts[0] == "Resources":
        return parts[1]
    return ""


def rule_failure(tree: dict) -> RuleFailure:
    rule = tree.get("name", "?")
    failure = RuleFailure(rule)
    for text in _messages(tree):
        tag = RULE_TAG.search(text)
        if tag and not failure.tag:
            failure.tag = tag.group(1)
            first = [ln.strip() for ln in text.replace(";", "\n").splitlines() if ln.strip()]
            failure.message = re.sub(r"^\[[^\]]+\]:\s*", "", first[0]) if first else ""
    found = list(_walk_paths(tree.get("checks", [])))
    # Prefer paths inside a resource (/Resources/<id>/...): rules that look up a
    # referenced resource also report every key of Resources they compared.
    deep = [(p, v) for p, v in found if len(p.strip("/").split("/")) >= 2]
    for path, value in deep or found:
        failure.paths[logical_id_of(path, value)].add(path)
    if len(failure.paths) > 1:
        failure.paths.pop("", None)  # a resource-level failure says more than the template-level echo
    if not failure.paths:
        failure.paths[""].add("")
    return failure


def _container_reason(tpl: Template | None, logical_id: str, paths: set[str], kind: str) -> str | None:
    """The reason when every failing container of this task definition is exempted."""
    if tpl is None:
        return None
    resource = tpl.resources.get(logical_id) or {}
    containers = (resource.get("Properties") or {}).get("ContainerDefinitions")
    exemptions = ((resource.get("Metadata") or {}).get("stackgen") or {}).get(kind)
    if not isinstance(containers, list) or not isinstance(exemptions, list):
        return None
    reasons = {e.get("container"): e.get("reason") for e in exemptions if isinstance(e, dict)}
    found = []
    for path in paths:
        m = CONTAINER_PATH.match(path)
        if not m or m.group(1) != logical_id or int(m.group(2)) >= len(containers):
            return None
        container = containers[int(m.group(2))]
        name = container.get("Name") if isinstance(container, dict) else None
        reason = reasons.get(name)
        if reason is None or reason_problem(reason):
            return None
        found.append(f"{name}: {reason.strip()}")
    return f"{kind} " + "; ".join(sorted(set(found))) if found else None


def evaluate(
    reports: list,
    loaded: dict[str, Template],
    allowlist: AllowList,
    result: ToolResult,
    used: set[tuple[str, str]] | None = None,
) -> None:
    used = set() if used is None else used
    seen_templates = set()
    for report in reports:
        name = relpath(report.get("name", ""))
        seen_templates.add(name)
        tpl = loaded.get(name)
        failing: dict[str, RuleFailure] = {}
        for item in report.get("not_compliant", []):
            tree = item.get("Rule", {})
            failure = rule_failure(tree)
            if failure.rule in failing:  # the same rule name from another CT file
                for lid, paths in failure.paths.items():
                    failing[failure.rule].paths[lid] |= paths
            else:
                failing[failure.rule] = failure
        passed = set(report.get("compliant", [])) - set(failing)
        result.passed += len(passed)
        for rule, failure in sorted(failing.items()):
            open_ids = 0
            for logical_id, paths in sorted(failure.paths.items()):
                reason = None
                if logical_id and rule in CONTAINER_EXEMPTIONS:
                    reason = _container_reason(tpl, logical_id, paths, CONTAINER_EXEMPTIONS[rule])
                elif logical_id and rule in RESOURCE_EXEMPTIONS:
                    reason = exemption_reason(tpl.resources.get(logical_id), rule) if tpl else None
                elif logical_id and not never_allowed(rule):
                    reason = allowlist.reason(rule, logical_id)
                    if reason is not None:
                        used.add((rule, logical_id))
                    if reason is None and tpl is not None:
                        reason = inline_guard_reason(tpl.resources.get(logical_id), rule)
                line = tpl.line_of("Resources", logical_id) if (tpl and logical_id) else None
                label = f"{failure.tag} {failure.message}".strip() or rule
                result.findings.append(finding("cfn-guard", name, rule, logical_id, label, line, reason))
                open_ids += reason is None
            if open_ids:
                result.failed += 1
            else:
                result.suppressed += 1
    for path in result_templates_missing(seen_templates, loaded):
        result.errors.append(f"cfn-guard reported nothing for {path}")


def result_templates_missing(seen: set[str], loaded: dict[str, Template]) -> list[str]:
    return sorted(set(loaded) - seen)
