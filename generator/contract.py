"""Declared stack interfaces and the checks that hold stacks to them.

Every stack module declares what it consumes (``Input``) and what it emits
(``Output``) through ``interface(spec)``.  The parent derives all wiring from
these declarations (see ``generator.parent``), and ``check_built`` proves that a
built template has exactly the declared Parameters and Outputs.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from troposphere import Template

from generator.spec import Platform, Service


class ContractError(Exception):
    """A stack does not match its declared interface, or an edge is unfed/unknown."""


@dataclass(frozen=True)
class Input:
    """A parameter a stack takes: its name, CloudFormation type and description."""

    name: str
    type: str = "String"
    description: str = ""
    no_echo: bool = False


@dataclass(frozen=True)
class Output:
    """An output a stack gives: its name and description."""

    name: str
    description: str
    # Re-exported as an Output of the parent stack.
    public: bool = False


@dataclass(frozen=True)
class StackInterface:
    """What a stack takes and gives, and what it waits for (``generator.parent`` wires it)."""

    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    # Child stacks this one must follow even without a data edge.
    after: tuple[str, ...] = ()
    # Name of a parent Condition that gates the whole child stack ('' = always).
    condition: str = ""

    def input(self, name: str) -> Input:
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(name)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]


@dataclass
class Interface:
    """A small builder so stack modules can declare interfaces readably."""

    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)

    def takes(self, name: str, type_: str = "String", description: str = "", no_echo: bool = False) -> None:
        self.inputs.setdefault(name, Input(name, type_, description or name, no_echo))

    def gives(self, name: str, description: str, public: bool = False) -> None:
        if name in self.outputs:
            raise ContractError(f"output {name} declared twice")
        self.outputs[name] = Output(name, description, public)

    def freeze(self, after: tuple[str, ...] = (), condition: str = "") -> StackInterface:
        return StackInterface(
            inputs=tuple(self.inputs[k] for k in sorted(self.inputs)),
            outputs=tuple(self.outputs[k] for k in sorted(self.outputs)),
            after=tuple(sorted(after)),
            condition=condition,
        )


@dataclass(frozen=True)
class Part:
    """The slice of a platform that one instance of a grouped stack builds (security-groups,
    iam, services, autoscaling, monitoring: one instance per service group, see
    ``generator.placement``).

    ``index`` is the group's place in creation order: group 0 also holds the platform-wide
    resources of its concern (the load balancers' and data stores' security groups, the
    database proxy's role, the alarm topic) and reaches the shared security groups with a
    rule per service, as a platform of one group always has; every later group reaches them
    through one client security group per shared target.  ``group_of`` maps every service
    of the platform to its group's index (security-group rules between two services are
    held by the later of their two groups)."""

    group: str
    index: int
    services: tuple[str, ...]
    group_of: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def stack(self, base: str) -> str:
        """The instance's stack name: ``base`` for the default group, else ``base-<group>``."""
        return base if self.group in ("", "default") else f"{base}-{self.group}"

    @property
    def shared(self) -> bool:
        """Whether this instance also holds its concern's platform-wide resources."""
        return self.index == 0

    @property
    def overflow(self) -> bool:
        """Whether it continues a full group (``<key>-2``, ``<key>-3``, ...: the only group
        names that end in a digit)."""
        return self.group[-1:].isdigit()

    @property
    def clients(self) -> bool:
        """Whether its services reach shared security groups through per-group client groups."""
        return self.index > 0

    def members(self, spec: Platform) -> list[Service]:
        """The services of this part, in spec order.

        Each stack asks many times (over 1,000 calls at 300 services, each a walk over every
        service), so the answer is kept with the exact service objects it was read from and
        reused only for a list of those same objects, in the same order (a service's name
        cannot change: the models are frozen); any other list gets a fresh walk."""
        services = spec.services
        memo = self.__dict__.get("_members")
        if memo is None or len(memo[0]) != len(services) or not all(map(operator.is_, memo[0], services)):
            names = set(self.services)
            memo = (tuple(services), tuple(s for s in services if s.name in names))
            object.__setattr__(self, "_members", memo)  # a memo, not a field: eq and hash ignore it
        return list(memo[1])


def whole(spec: Platform) -> Part:
    """The whole platform as one part (one group): every service, and the shared resources."""
    return Part(
        "default", 0, tuple(s.name for s in spec.services), MappingProxyType({s.name: 0 for s in spec.services})
    )


def check_built(stack: str, iface: StackInterface, template: Template) -> None:
    """Fail when a built template's Parameters/Outputs differ from its interface."""
    params = set(template.parameters)
    outputs = set(template.outputs)
    declared_in = set(iface.input_names)
    declared_out = set(iface.output_names)
    problems = []
    if params - declared_in:
        problems.append(f"has undeclared parameters {sorted(params - declared_in)}")
    if declared_in - params:
        problems.append(f"declares inputs it does not take {sorted(declared_in - params)}")
    if outputs - declared_out:
        problems.append(f"emits undeclared outputs {sorted(outputs - declared_out)}")
    if declared_out - outputs:
        problems.append(f"declares outputs it does not emit {sorted(declared_out - outputs)}")
    for name in params & declared_in:
        t = template.parameters[name].properties.get("Type")
        if t != iface.input(name).type:
            problems.append(f"parameter {name} has type {t}, declared {iface.input(name).type}")
    if problems:
        raise ContractError(f"stack {stack}: " + "; ".join(problems))
