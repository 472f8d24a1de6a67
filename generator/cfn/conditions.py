"""The one Conditions evaluator, and the environments worth checking separately.

:class:`Conditions` evaluates one template's ``Conditions`` (``Fn::Equals``, ``Fn::Not``,
``Fn::And``, ``Fn::Or``, ``Condition``) and decides ``Fn::If``.  It is three-valued:
``True``, ``False`` or ``None`` (cannot be decided).  Where values come from is the
caller's: a ``value(node)`` function returns the text of a node, :class:`Other` (a
value known only to differ from some texts) or ``None`` (unknown).  The template set
feeds it parameter values across the parent/child boundary; the deploy helpers feed it
a stack's parameters; the cfn-lint plugin feeds it one value of ``Environment``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Other:
    """A value that differs from every text in ``excluded``; with ``excluded=None``, from
    every text a template compares it with (a parameter whose value is not given)."""

    excluded: frozenset[str] | None = None

    def differs_from(self, text: str) -> bool:
        return self.excluded is None or text in self.excluded


ANY_OTHER = Other()

Value = str | Other | None


def text_of(node: Any) -> str | None:
    """The text CloudFormation compares for a literal (``true``, ``3``), else None."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, (str, int, float)):
        return str(node)
    return None


def equals(left: Value, right: Value) -> bool | None:
    """``Fn::Equals`` of two values; None when it cannot be decided."""
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, Other) and isinstance(right, str):
        return False if left.differs_from(right) else None
    if isinstance(right, Other) and isinstance(left, str):
        return False if right.differs_from(left) else None
    return None


class Conditions:
    """Evaluates the conditions of one template; ``value`` reads a node (see module doc)."""

    def __init__(
        self,
        conditions: Mapping[str, Any] | None,
        value: Callable[[Any], Value],
        forced: Mapping[str, bool] | None = None,
    ):
        """``forced`` fixes named conditions (wherever they are used) to a value."""
        self.definitions = conditions if isinstance(conditions, Mapping) else {}
        self.value = value
        self.forced = dict(forced or {})
        self._memo: dict[str, bool | None] = {}
        self._active: set[str] = set()

    def decide(self, name: Any) -> bool | None:
        """The named condition: True, False, or None (undecided, undefined or circular)."""
        if isinstance(name, str) and name in self.forced:
            return self.forced[name]
        if not isinstance(name, str) or name not in self.definitions or name in self._active:
            return None
        if name not in self._memo:
            self._active.add(name)
            try:
                self._memo[name] = self.evaluate(self.definitions[name])
            finally:
                self._active.discard(name)
        return self._memo[name]

    def evaluate(self, expr: Any) -> bool | None:
        """A condition expression, three-valued."""
        if not isinstance(expr, dict) or len(expr) != 1:
            return None
        ((fn, args),) = expr.items()
        if fn == "Condition":
            return self.decide(args)
        if fn == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
            return equals(self.value(args[0]), self.value(args[1]))
        if fn == "Fn::Not" and isinstance(args, list) and len(args) == 1:
            inner = self.evaluate(args[0])
            return None if inner is None else not inner
        if fn in ("Fn::And", "Fn::Or") and isinstance(args, list):
            values = [self.evaluate(a) for a in args]
            decisive = fn == "Fn::Or"  # True decides an Or, False an And
            if decisive in values:
                return decisive
            return None if None in values else not decisive
        return None

    def branch(self, node: Any, undecided: bool | None = None) -> Any:
        """``node`` with its outer ``Fn::If`` resolved. An undecided condition takes the
        branch ``undecided`` names, or stops (returns the Fn::If) when it is None."""
        while (
            isinstance(node, dict)
            and len(node) == 1
            and isinstance(node.get("Fn::If"), list)
            and len(node["Fn::If"]) == 3
        ):
            cond, yes, no = node["Fn::If"]
            decided = self.decide(cond)
            if decided is None:
                decided = undecided
            if decided is None:
                return node
            node = yes if decided else no
        return node

    def possible(self, node: Any) -> list[Any]:
        """The values an ``Fn::If`` can take: one branch when decided, both when not."""
        node = self.branch(node)
        if isinstance(node, dict) and isinstance(node.get("Fn::If"), list) and len(node["Fn::If"]) == 3:
            _cond, yes, no = node["Fn::If"]
            return self.possible(yes) + self.possible(no)
        return [node]
