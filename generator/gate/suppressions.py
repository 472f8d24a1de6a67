"""Every suppression must carry a reason: the audit, and the cfn-guard allow-list.

The audit reads the templates themselves, so it does not depend on how each
scanner reports (or silently applies) a suppression. It fails on:

- a checkov skip (Metadata.checkov.skip / bridgecrew.skip) without an id or
  without a comment that is a real reason;
- a checkov suppression written as a YAML comment (``# checkov:skip=...``):
  suppressions live in Metadata, next to the resource, with a comment;
- a cfn-lint ``ignore_checks`` entry on a resource without a matching
  ``Metadata.stackgen.suppressions.<ID>`` reason (and a reason for a check that
  is not ignored);
- any template-level ``Metadata.cfn-lint.config``: it would override .cfnlintrc
  for the whole template;
- ``Metadata.guard.SuppressedRules``: neither the Control Tower rules nor the
  project rules read it, so it would only look like a suppression;
- a ``Metadata.stackgen.writable_root`` / ``root_user`` entry without a container
  or a reason;
- a ``Metadata.stackgen.public_ip`` entry that is not ``{reason: <reason>}`` (the spec's
  ``network.public_ip_reason``, which the generator writes on every ECS service and schedule
  of a ``public-ip`` platform), or one on a resource that is neither;
- an allow-list entry (guard/allowlist.yaml, or ``Metadata.stackgen.guard_allowlist``
  on the resource) whose key is not ``rule@LogicalId`` / a rule name, whose
  reason is empty, or whose rule is in NEVER_ALLOW.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.gate.model import Finding, ToolResult, finding, relpath
from generator.gate.templates import Template

# Why a reason is not acceptable, or None: the one rule, which every `*_reason` field of the
# spec uses too (generator.spec.base.Reason), so a spec that validates passes this audit.
from generator.reasons import reason_error as reason_problem

# cfn-guard rules that no allow-list entry can switch off (security-gates.md,
# "Never suppress"), plus every project rule (stackgen_*): fix the template.
NEVER_ALLOW = frozenset(
    {
        "ecs_containers_nonprivileged_check",
        "ecs_task_definition_pid_mode_check",
        "ecs_no_environment_secrets_check",
        # accepted per container only, through Metadata.stackgen.root_user / writable_root:
        "ecs_task_definition_nonroot_user_check",
        "ecs_containers_readonly_access_check",
        "ecs_service_assign_public_ip_disabled_check",
        "efs_encrypted_check",
        "rds_cluster_storage_encrypted_check",
        "rds_instance_storage_encrypted_check",
        "rds_storage_encrypted_kms_key_check",
        "rds_proxy_tls_check",
        "rds_db_cluster_parameter_group_tls_check",
        "rds_db_parameter_group_tls_check",
        "rds_cluster_public_access_check",
        "rds_instance_public_access_check",
        "vpc_sg_open_only_to_authorized_ports_check",
        "vpc_sg_restricted_common_ports_check",
        "iam_inline_policy_no_statements_with_admin_access_check",
        "iam_inline_policy_no_statements_with_full_access_check",
        "iam_managed_policy_no_statements_with_admin_access_check",
        "iam_managed_policy_no_statements_with_full_access_check",
        "s3_bucket_level_public_access_prohibited_check",
        "kms_key_rotation_enabled_check",
    }
)
PROJECT_RULE_PREFIX = "stackgen_"
# Never-allow-listable rules that one resource-level exemption, and nothing else, accepts:
# rule -> the Metadata.stackgen key whose reason it accepts on the failing resource.
# Control Tower ECS.PR.9 (no public IP on an ECS service): a platform with
# network.egress public-ip, whose reason the spec requires (network.public_ip_reason).
RESOURCE_EXEMPTIONS = {"ecs_service_assign_public_ip_disabled_check": "public_ip"}
# Resource types an exemption may sit on (a schedule carries it for deploy tools; ECS.PR.9
# reads services only).
EXEMPTION_TYPES = {"public_ip": ("AWS::ECS::Service", "AWS::Scheduler::Schedule")}


def never_allowed(rule: str) -> bool:
    return rule in NEVER_ALLOW or rule.startswith(PROJECT_RULE_PREFIX)


COMMENT_SUPPRESSION = re.compile(r"(checkov|bridgecrew|cortex):skip=", re.IGNORECASE)
ALLOWLIST_KEY = re.compile(r"^[A-Za-z0-9_.\-]+@[A-Za-z0-9]+$")


@dataclass
class Suppression:
    template: str
    logical_id: str
    kind: str  # checkov / cfn-lint / writable_root / allowlist
    rule: str
    reason: str


# --------------------------------------------------------------------------
# cfn-guard allow-list
# --------------------------------------------------------------------------


@dataclass
class AllowList:
    entries: dict[tuple[str, str], str]  # (rule, logical id) -> reason
    source: dict[tuple[str, str], str]  # (rule, logical id) -> file
    problems: list[str]

    def reason(self, rule: str, logical_id: str) -> str | None:
        return self.entries.get((rule, logical_id))


def load_allowlists(paths: list[Path]) -> AllowList:
    entries: dict[tuple[str, str], str] = {}
    source: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: allow-list file not found")
            continue
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: must be a mapping of 'rule@LogicalId: reason'")
            continue
        for key, reason in data.items():
            if not isinstance(key, str) or not ALLOWLIST_KEY.match(key):
                problems.append(f"{path}: key {key!r} is not 'rule@LogicalId'")
                continue
            problem = reason_problem(reason)
            if problem:
                problems.append(f"{path}: {key}: {problem} (a suppression needs a reason)")
                continue
            rule, logical_id = key.split("@", 1)
            if never_allowed(rule):
                problems.append(f"{path}: {key}: {rule} can never be allow-listed; fix the template")
                continue
            entries[(rule, logical_id)] = reason.strip()
            source[(rule, logical_id)] = str(path)
    return AllowList(entries, source, problems)


# --------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def inline_guard_reason(resource: Any, rule: str) -> str | None:
    """The reason of a valid ``Metadata.stackgen.guard_allowlist`` entry for rule, if any."""
    entries = _get(resource, "Metadata", "stackgen", "guard_allowlist")
    reason = entries.get(rule) if isinstance(entries, dict) else None
    if not isinstance(reason, str) or reason_problem(reason) or never_allowed(rule):
        return None
    return reason.strip()


def exemption_reason(resource: Any, rule: str) -> str | None:
    """The reason a resource-level exemption (RESOURCE_EXEMPTIONS) gives for ``rule``, if valid."""
    key = RESOURCE_EXEMPTIONS.get(rule)
    if key is None or not isinstance(resource, dict) or resource.get("Type") not in EXEMPTION_TYPES[key]:
        return None
    reason = _get(resource, "Metadata", "stackgen", key, "reason")
    return None if reason_problem(reason) else reason.strip()


def audit_template(tpl: Template) -> tuple[list[Suppression], list[Finding]]:
    """The suppressions declared in one template, and those without a valid reason."""
    name = relpath(tpl.path)
    good: list[Suppression] = []
    bad: list[Finding] = []

    def fail(logical_id: str, rule: str, message: str, *keys: Any) -> None:
        line = tpl.line_of("Resources", logical_id, *keys) if logical_id else None
        bad.append(finding("reasons", name, rule, logical_id, message, line))

    top_meta = (tpl.data or {}).get("Metadata")
    if _get(top_meta, "cfn-lint", "config"):
        bad.append(
            finding(
                "reasons",
                name,
                "cfn-lint",
                "",
                "template-level Metadata.cfn-lint.config "
                "is not allowed (it overrides .cfnlintrc for the whole template); "
                "suppress on the resource with a reason",
                tpl.line_of("Metadata"),
            )
        )

    for text_line, text in enumerate(tpl.path.read_text(errors="replace").splitlines(), 1):
        if COMMENT_SUPPRESSION.search(text):
            bad.append(
                finding(
                    "reasons",
                    name,
                    "checkov",
                    "",
                    "comment suppressions are not allowed; use Metadata.checkov.skip with a comment",
                    text_line,
                )
            )

    for logical_id, resource in tpl.resources.items():
        meta = resource.get("Metadata")
        if not isinstance(meta, dict):
            continue
        # checkov (and its bridgecrew alias)
        for owner in ("checkov", "bridgecrew"):
            skips = _get(meta, owner, "skip")
            if skips is None:
                continue
            if not isinstance(skips, list):
                fail(logical_id, owner, f"Metadata.{owner}.skip must be a list", "Metadata", owner)
                continue
            for i, skip in enumerate(skips):
                check_id = skip.get("id") if isinstance(skip, dict) else None
                if not isinstance(check_id, str) or not check_id:
                    fail(logical_id, owner, f"Metadata.{owner}.skip[{i}] has no id", "Metadata", owner, "skip", i)
                    continue
                problem = reason_problem(skip.get("comment"))
                if problem:
                    fail(
                        logical_id,
                        check_id,
                        f"checkov skip of {check_id}: {problem} (a suppression needs a reason)",
                        "Metadata",
                        owner,
                        "skip",
                        i,
                    )
                else:
                    good.append(Suppression(name, logical_id, "checkov", check_id, skip["comment"].strip()))
        # cfn-lint: ignore_checks, each explained in stackgen.suppressions
        ignored = _get(meta, "cfn-lint", "config", "ignore_checks")
        reasons = _get(meta, "stackgen", "suppressions")
        if ignored is not None or reasons is not None:
            ignored = [] if ignored is None else ignored
            reasons = {} if reasons is None else reasons
            if not isinstance(ignored, list) or not isinstance(reasons, dict):
                fail(
                    logical_id,
                    "cfn-lint",
                    "Metadata.cfn-lint.config.ignore_checks must be a "
                    "list and Metadata.stackgen.suppressions a mapping",
                    "Metadata",
                )
            else:
                for check_id in ignored:
                    problem = reason_problem(reasons.get(check_id))
                    if problem:
                        fail(
                            logical_id,
                            str(check_id),
                            f"cfn-lint ignore_checks {check_id}: "
                            f"{problem}; add Metadata.stackgen.suppressions.{check_id}",
                            "Metadata",
                            "cfn-lint",
                        )
                    else:
                        good.append(Suppression(name, logical_id, "cfn-lint", str(check_id), reasons[check_id].strip()))
                for check_id in reasons:
                    if check_id not in ignored:
                        fail(
                            logical_id,
                            str(check_id),
                            f"Metadata.stackgen.suppressions.{check_id} "
                            "explains a cfn-lint check that is not in ignore_checks",
                            "Metadata",
                            "stackgen",
                            "suppressions",
                        )
        # Guard registry style: not honoured here
        if _get(meta, "guard", "SuppressedRules") is not None:
            fail(
                logical_id,
                "guard",
                "Metadata.guard.SuppressedRules has no effect on the "
                "Control Tower or project rules; use Metadata.stackgen.guard_allowlist "
                "with a reason",
                "Metadata",
                "guard",
            )
        # cfn-guard allow-list entries placed on the resource
        inline = _get(meta, "stackgen", "guard_allowlist")
        if inline is not None:
            if not isinstance(inline, dict):
                fail(
                    logical_id,
                    "guard_allowlist",
                    "Metadata.stackgen.guard_allowlist must map rule names to reasons",
                    "Metadata",
                    "stackgen",
                )
            else:
                for rule, reason in inline.items():
                    problem = reason_problem(reason)
                    if never_allowed(str(rule)):
                        fail(
                            logical_id,
                            str(rule),
                            f"{rule} can never be allow-listed; fix the template",
                            "Metadata",
                            "stackgen",
                            "guard_allowlist",
                        )
                    elif problem:
                        fail(
                            logical_id,
                            str(rule),
                            f"guard allow-list entry {rule}: {problem} (a suppression needs a reason)",
                            "Metadata",
                            "stackgen",
                            "guard_allowlist",
                        )
                    else:
                        good.append(Suppression(name, logical_id, "guard_allowlist", str(rule), reason.strip()))
        # ECS per-container exemptions: writable root filesystem, root user
        for kind, what in (("writable_root", "writable root"), ("root_user", "root user")):
            exemptions = _get(meta, "stackgen", kind)
            if exemptions is None:
                continue
            if not isinstance(exemptions, list):
                fail(logical_id, kind, f"Metadata.stackgen.{kind} must be a list", "Metadata", "stackgen")
                continue
            for i, entry in enumerate(exemptions):
                container = entry.get("container") if isinstance(entry, dict) else None
                problem = reason_problem(entry.get("reason") if isinstance(entry, dict) else None)
                if not isinstance(container, str) or not container:
                    fail(logical_id, kind, f"{kind} entry without a container", "Metadata", "stackgen", kind, i)
                elif problem:
                    fail(
                        logical_id,
                        kind,
                        f"{what} for {container}: {problem} (a suppression needs a reason)",
                        "Metadata",
                        "stackgen",
                        kind,
                        i,
                    )
                else:
                    good.append(Suppression(name, logical_id, kind, container, entry["reason"].strip()))
        # resource-level exemptions of a never-allow-listable rule: public IPs
        for key, types in EXEMPTION_TYPES.items():
            entry = _get(meta, "stackgen", key)
            if entry is None:
                continue
            problem = reason_problem(entry.get("reason")) if isinstance(entry, dict) else "not {reason: ...}"
            if resource.get("Type") not in types:
                fail(
                    logical_id,
                    key,
                    f"Metadata.stackgen.{key} on a {resource.get('Type')}; only {' and '.join(types)} take it",
                    "Metadata",
                    "stackgen",
                    key,
                )
            elif not isinstance(entry, dict) or set(entry) != {"reason"}:
                fail(
                    logical_id,
                    key,
                    f"Metadata.stackgen.{key} must be {{reason: <reason>}}",
                    "Metadata",
                    "stackgen",
                    key,
                )
            elif problem:
                fail(logical_id, key, f"{key}: {problem} (a suppression needs a reason)", "Metadata", "stackgen", key)
            else:
                good.append(Suppression(name, logical_id, key, key, entry["reason"].strip()))
    return good, bad


def audit(templates: list[Template], allowlist: AllowList) -> tuple[ToolResult, list[Suppression]]:
    """The `reasons` tool: passed = suppressions with a reason, failed = without."""
    result = ToolResult("reasons", templates=len(templates))
    suppressions: list[Suppression] = []
    for tpl in templates:
        if tpl.data is None:
            continue
        good, bad = audit_template(tpl)
        suppressions += good
        result.findings += bad
    for (rule, logical_id), reason in sorted(allowlist.entries.items()):
        suppressions.append(Suppression(allowlist.source[(rule, logical_id)], logical_id, "allowlist", rule, reason))
    for problem in allowlist.problems:
        result.findings.append(
            finding("reasons", problem.split(":", 1)[0], "allowlist", "", problem.split(":", 1)[-1].strip())
        )
    result.passed = len(suppressions)
    result.failed = len(result.findings)
    return result, suppressions
