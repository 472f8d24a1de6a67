"""Helpers shared by the stack modules: a template seeded from the declared
interface, guarded access to inputs, outputs, and stateful-resource policies."""

from __future__ import annotations

from typing import Any

from troposphere import AWSObject, Equals, Or, Output, Parameter, Ref, Template

from generator import naming

from generator.contract import ContractError, StackInterface
from generator.spec import Platform

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


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
    name = "In" + "".join(naming.pascal(e) for e in chosen) if chosen else "InNoEnvironment"
    if name not in st.t.conditions:
        tests = [Equals(st.ref("Environment"), e) for e in chosen] or [Equals("a", "b")]
        st.t.add_condition(name, tests[0] if len(tests) == 1 else Or(*tests))
    return name


def when(resource: AWSObject, cond: str | None) -> AWSObject:
    """Gate a resource on a condition (None = always)."""
    if cond:
        resource.Condition = cond
    return resource
