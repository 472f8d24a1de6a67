"""Helpers shared by the stack modules: a template seeded from the declared
interface, guarded access to inputs, outputs, and stateful-resource policies."""

from __future__ import annotations

from typing import Any

from troposphere import AWSObject, Equals, Or, Output, Parameter, Ref, Template

from generator import naming

from generator.contract import ContractError, StackInterface
from generator.spec import Platform

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
DEV_ONLY = ("deletion_protection.enabled is !If [IsDev, false, true]: on in test and prod (verified by "
            "cfn-lint E9102), off only for ephemeral dev stacks.")
KEY_FROM_PARAMETER = ("KmsKeyId is the platform CMK passed in as KmsKeyArn from the secrets stack; "
                      "CT.CLOUDWATCH.PR.3 only follows keys defined in the same template.")


class Stack:
    """A child template under construction, bound to its declared interface."""

    def __init__(self, name: str, description: str, iface: StackInterface):
        self.name = name
        self.iface = iface
        self.t = Template()
        self.t.set_version("2010-09-09")
        self.t.set_description(f"stackgen {name}: {description}")
        for i in iface.inputs:
            kw: dict[str, Any] = {"Type": i.type, "Description": i.description}
            if i.no_echo:
                kw["NoEcho"] = True
            self.t.add_parameter(Parameter(i.name, **kw))

    def ref(self, name: str) -> Ref:
        """Ref to a declared input; referencing an undeclared one is a contract error."""
        if name not in self.iface.input_names:
            raise ContractError(f"stack {self.name}: uses undeclared input {name}")
        return Ref(name)

    def add(self, resource: AWSObject) -> Any:
        return self.t.add_resource(resource)

    def output(self, name: str, value: object) -> None:
        decl = next((o for o in self.iface.outputs if o.name == name), None)
        if decl is None:
            raise ContractError(f"stack {self.name}: emits undeclared output {name}")
        self.t.add_output(Output(name, Value=value, Description=decl.description))


def keep(resource: AWSObject, policy: str = "Retain") -> AWSObject:
    """Set both DeletionPolicy and UpdateReplacePolicy on a stateful resource."""
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource


def env_condition(st: Stack, spec: Platform, envs: list[str]) -> str | None:
    """A condition true in exactly ``envs`` (None when that is every environment),
    named after them ('InProd', 'InDevTest'); needs the Environment input."""
    chosen = sorted(set(envs))
    if set(chosen) == set(spec.environments):
        return None
    if not chosen:
        raise ValueError("env_condition: no environment; leave the resource out instead")
    name = "In" + "".join(naming.pascal(e) for e in chosen)
    if name not in st.t.conditions:
        tests = [Equals(st.ref("Environment"), e) for e in chosen]
        st.t.add_condition(name, tests[0] if len(tests) == 1 else Or(*tests))
    return name


def when(resource: AWSObject, cond: str | None) -> AWSObject:
    """Gate a resource on a condition (None = always)."""
    if cond:
        resource.Condition = cond
    return resource


def suppress(resource: AWSObject, *, guard: dict[str, str] | None = None,
             checkov: dict[str, str] | None = None, cfn_lint: dict[str, str] | None = None) -> AWSObject:
    """Record scanner suppressions next to the resource, each with its reason.

    guard: Control Tower rule name -> reason (Metadata.stackgen.guard_allowlist);
    checkov: check id -> reason (Metadata.checkov.skip); cfn_lint: rule id -> reason
    (Metadata.cfn-lint.config.ignore_checks plus Metadata.stackgen.suppressions)."""
    meta: dict[str, Any] = dict(getattr(resource, "Metadata", {}) or {})
    stackgen: dict[str, Any] = dict(meta.get("stackgen", {}))
    if guard:
        stackgen["guard_allowlist"] = {**stackgen.get("guard_allowlist", {}), **guard}
    if cfn_lint:
        stackgen["suppressions"] = {**stackgen.get("suppressions", {}), **cfn_lint}
        checks = sorted(set(meta.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])) | set(cfn_lint))
        meta["cfn-lint"] = {"config": {"ignore_checks": checks}}
    if checkov:
        skips = list(meta.get("checkov", {}).get("skip", []))
        skips += [{"id": k, "comment": v} for k, v in sorted(checkov.items())]
        meta["checkov"] = {"skip": skips}
    if stackgen:
        meta["stackgen"] = stackgen
    resource.Metadata = meta
    return resource


def log_group_suppressions(resource: AWSObject, retention: int) -> AWSObject:
    """The CT log-group rules a stackgen log group legitimately fails: its CMK is a
    parameter, and (when the spec asks for it) its retention is under 365 days."""
    guard = {"cloudwatch_log_group_encrypted_check": KEY_FROM_PARAMETER}
    if retention < 365:
        guard["cloudwatch_log_group_retention_period_check"] = (
            f"Retention of {retention} days is what the platform spec asks for (log_retention_days); "
            "raise it to 365 to meet CT.CLOUDWATCH.PR.2.")
    return suppress(resource, guard=guard)
