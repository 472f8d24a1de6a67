"""A speed-up of cfn-lint 1.58.0's JSON-schema walk, finding-identical, on for that version only
(applied by every Linter and by the gate's cfn-lint, generator.gate.cfnlint_runner).

Where the CPU of linting stackgen's templates goes (cProfile of mcp-gateway's 20 templates in
one process, cfn-lint 1.58.0): about a fifth of it is bookkeeping that recomputes what cannot
change, not validation:

- ``cfnlint.jsonschema.validators.create`` builds a new ``@dataclass`` class on every call
  (``Validator.extend``; ``rules/jsonschema/Base.extend_validator`` calls it about 1,300
  times per mcp-gateway lint, and dataclass creation ``exec``'s generated methods);
- the ``evolve`` methods of Validator, Context, Path and FunctionFilter and ``Path.descend``
  call ``dataclasses.fields()`` on every call (about 270,000 calls) to learn field names that
  are fixed when the class is made; Validator's and Context's then run the dataclass
  ``__init__`` (Context's is frozen: one ``object.__setattr__`` per field) to copy the fields;
- rule E1101's ``cfnLint`` keyword scans every child rule's keywords for each keyword (about
  9,000 calls).

:func:`apply` (and :func:`apply_to_rules`, for E1101's class) replaces those with equivalents:

- ``create`` is memoized on the identity of what it is given (each validator function or bound
  method by its function and object, the fn resolvers; the function filter by value); a class
  made by ``create`` holds nothing but those (its fields' defaults return exactly them), so two
  calls with the same callables make interchangeable classes. The first call's objects are
  kept, so an identity cannot be reused by another object;
- the ``evolve``/``descend`` methods read their field names once (the same names, in the same
  order, with the same values taken from ``self``). Validator's and Context's build the copy
  without ``__init__``: the same field values (Validator's non-init fields from their constant
  default factories, then its ``__post_init__``; Context has no ``__post_init__`` and no
  non-init field; a cached property is not copied);
- E1101 reads its child rules from an index by keyword, in the same order.

It is a shim on cfn-lint's internals, so it is narrow: it checks, before changing anything,
that the installed cfn-lint is the pinned version (``PINNED``, pyproject.toml) and that each
function it replaces is the one it was written against (the digest of its source); on any
difference it changes nothing and says so once on stderr. ``STACKGEN_CFNLINT_SHIM=0`` turns it
off. tests/test_cfnlint_shim.py lints every committed template, every example's templates and
the deliberately broken lint fixtures with and without it and compares every finding.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

PINNED = "1.58.0"
SWITCH = "STACKGEN_CFNLINT_SHIM"
# sha256 of inspect.getsource of each function replaced (and of the class the memo reads), as in
# cfn-lint 1.58.0.
SOURCES = {
    "validators.create": "2d1dd51fbc7a640b01868d3224cefa20d9815bcf85ef8e0b16fbc79fd839eabe",
    "Context.evolve": "05aa695393629cc4baba47d15ef539cecbceeaf2e36b7ebb2fa7e13496084085",
    "Path.evolve": "a8bbd390c03c955ac08b8df549002d866f3b526642ce8114305db48721542205",
    "Path.descend": "9e072b73308001271b9a96fb283e780df9b368bd7312cbeaffb380252a25f7e7",
    # (its evolve is replaced; the memo of create reads a FunctionFilter by value, as this class is)
    "FunctionFilter": "97651a9f01c3fc830a7feb6bde1c8dcb4f1a3bbb6f7443bece2e0d0b2d5c0bad",
    "CfnLint.cfnLint": "23947c8987cd5a17a598e63b579c6826d57ec83fbad47c0f21953fe5c39dcb63",
}

_state: dict[str, Any] = {"applied": None, "originals": {}}


def _source_digest(fn: Any) -> str:
    """sha256 of the source of ``fn``; '' when it cannot be read (an install without sources:
    then the shim stays off)."""
    import inspect  # noqa: PLC0415 - only applying the shim needs it (lint.environment() reads the switch)

    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
    except (OSError, TypeError):
        return ""


def _targets() -> dict[str, Any]:
    from cfnlint.context import context
    from cfnlint.jsonschema import validators
    from cfnlint.jsonschema._filter import FunctionFilter
    from cfnlint.rules.jsonschema.CfnLint import CfnLint

    return {
        "validators.create": validators.create,
        "Context.evolve": context.Context.evolve,
        "Path.evolve": context.Path.evolve,
        "Path.descend": context.Path.descend,
        "FunctionFilter": FunctionFilter,
        "CfnLint.cfnLint": CfnLint.cfnLint,
    }


def switched_off() -> bool:
    """STACKGEN_CFNLINT_SHIM says off (0, off, false, no). Cheap: no cfn-lint import."""
    return os.environ.get(SWITCH, "").strip().lower() in ("0", "off", "false", "no")


def why_not() -> str:
    """'' when the shim can be applied to the installed cfn-lint, else why not."""
    if switched_off():
        return f"{SWITCH}=0"
    from cfnlint.version import __version__

    if __version__ != PINNED:
        return f"cfn-lint {__version__} is not the pinned {PINNED}"
    for name, fn in _targets().items():
        if _source_digest(fn) != SOURCES[name]:
            return f"cfn-lint's {name} is not the one the shim was written against"
    return ""


def applied() -> bool:
    return bool(_state["applied"])


def apply() -> bool:
    """Apply the shim once per process; False (and one line on stderr, once) when it does not
    fit the installed cfn-lint, or is switched off (then silently)."""
    if _state["applied"] is not None:
        return bool(_state["applied"])
    why = why_not()
    if why:
        _state["applied"] = False
        if not why.startswith(SWITCH):
            print(f"stackgen: {why}: the lint speed-up shim is off (findings are unchanged)", file=sys.stderr)
        return False
    from cfnlint.context import context
    from cfnlint.jsonschema import validators

    originals = _targets()
    _state["originals"] = originals
    validators.create = _memoized_create(originals["validators.create"])
    context.Context.evolve = _context_evolve(context.Context)
    context.Path.evolve = _path_evolve(context.Path)
    context.Path.descend = _path_descend(context.Path, context.FUNCTIONS)
    _state["filter_evolve"] = originals["FunctionFilter"].evolve
    originals["FunctionFilter"].evolve = _path_evolve(originals["FunctionFilter"])
    _state["applied"] = True
    return True


def apply_to_rules(rules: Mapping[str, Any]) -> None:
    """The part of the shim that is on rule classes: cfn-lint loads each rule module by its file
    path (``cfnlint.helpers.load_plugins``), so a rule's class is not the one importable from
    ``cfnlint.rules``; this patches the class of the rules a Linter built (E1101's ``cfnLint``),
    when :func:`apply` did and the method is the one the shim was written against."""
    if not _state["applied"]:
        return
    patched = _state.setdefault("rule_classes", {})
    for rule in rules.values():
        cls = type(rule)
        if cls in patched or getattr(rule, "id", None) != "E1101" or not hasattr(cls, "cfnLint"):
            continue
        if _source_digest(cls.cfnLint) == SOURCES["CfnLint.cfnLint"]:
            patched[cls] = cls.cfnLint
            cls.cfnLint = _indexed_cfn_lint()


def remove() -> None:
    """Undo :func:`apply` (the tests compare findings with and without it in one process)."""
    if not _state["applied"]:
        _state["applied"] = None
        return
    from cfnlint.context import context
    from cfnlint.jsonschema import validators

    o = _state["originals"]
    o["FunctionFilter"].evolve = _state.pop("filter_evolve")
    for cls, original in _state.pop("rule_classes", {}).items():
        cls.cfnLint = original
    validators.create = o["validators.create"]
    context.Context.evolve = o["Context.evolve"]
    context.Path.evolve = o["Path.evolve"]
    context.Path.descend = o["Path.descend"]
    _state["applied"] = None


# --------------------------------------------------------------------------- validators.create


def _identity(value: Any) -> tuple[int, int]:
    """A callable by identity: a bound method by its object and function (a new bound method
    object is made on every attribute access), anything else by itself."""
    owner = getattr(value, "__self__", None)
    if owner is not None and hasattr(value, "__func__"):
        return id(owner), id(value.__func__)
    return 0, id(value)


def _key(mapping: Mapping[str, Any] | None) -> tuple[Any, ...]:
    return () if not mapping else tuple((k, _identity(v)) for k, v in mapping.items())


def _filter_key(function_filter: Any, kind: Any) -> Any:
    """A FunctionFilter by value (a dataclass of two flags and a fixed list, never changed after
    it is made, and without other state: ``evolve`` makes a new one), anything else by identity."""
    if type(function_filter) is not kind:
        return id(function_filter)
    f = function_filter
    return (f.add_cfn_lint_keyword, f.validate_dynamic_references, tuple(f.group_functions))


def _memoized_create(create: Callable[..., Any]) -> Callable[..., Any]:
    from cfnlint.jsonschema._filter import FunctionFilter

    made: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}

    def memoized(
        validators: Mapping[str, Any] | None = None,
        function_filter: Any = None,
        fn_resolvers: Mapping[str, Any] | None = None,
    ) -> Any:
        key = (_key(validators), _filter_key(function_filter, FunctionFilter), _key(fn_resolvers))
        hit = made.get(key)
        if hit is None:
            cls = _fast_validator_evolve(create(validators, function_filter, fn_resolvers))
            # (the arguments are kept alive with the class: no other object can take their ids)
            hit = made[key] = (cls, (validators, function_filter, fn_resolvers))
        return hit[0]

    memoized.__wrapped__ = create  # type: ignore[attr-defined]
    return memoized


def _fast_validator_evolve(cls: Any) -> Any:
    """``cls.evolve`` (a Validator made by ``create``) as its ``__init__`` would build the copy:
    the init fields from the keywords or ``self``, the others from their default factories
    (constants: the type and format checkers, the class's validators and fn resolvers, each
    factory returns the same object every call), then ``__post_init__``; the field names and
    those constants read once."""
    import dataclasses

    fields = dataclasses.fields(cls)
    init = tuple(f.name for f in fields if f.init)
    known = frozenset(init)
    constants = {f.name: f.default_factory() for f in fields if not f.init}  # type: ignore[operator]
    post_init = cls.__post_init__
    new_object = object.__new__

    def evolve(self: Any, **kwargs: Any) -> Any:
        if type(self) is not cls or not known.issuperset(kwargs):
            for name in init:
                if name not in kwargs:
                    kwargs[name] = getattr(self, name)
            return self.__class__(**kwargs)  # (raises as before)
        mine = self.__dict__
        new = new_object(cls)
        values = {name: kwargs[name] if name in kwargs else mine[name] for name in init}
        values.update(constants)
        new.__dict__.update(values)
        post_init(new)
        return new

    cls.evolve = evolve
    return cls


# --------------------------------------------------------------------------- Context and Path


def _context_evolve(cls: Any) -> Callable[..., Any]:
    import dataclasses

    fields = dataclasses.fields(cls)
    assert all(f.init for f in fields) and not hasattr(cls, "__post_init__")
    names = tuple(f.name for f in fields)
    known = frozenset(names)
    original = cls.evolve
    new_object = object.__new__

    def evolve(self: Any, **kwargs: Any) -> Any:
        if not known.issuperset(kwargs) or type(self) is not cls:
            return original(self, **kwargs)  # (raises as before)
        if "ref_values" in kwargs:
            merged = self.ref_values.copy()
            merged.update(kwargs["ref_values"])
            kwargs["ref_values"] = merged
        values = self.__dict__.copy()  # (the fields, and a cached property if it was read)
        if len(values) != len(names):
            values = {name: values[name] for name in names}
        values.update(kwargs)
        new = new_object(cls)
        new.__dict__.update(values)
        return new

    return evolve


def _path_evolve(cls: Any) -> Callable[..., Any]:
    """``evolve`` of Path and of FunctionFilter: ``cls(**kwargs)`` with every init field not given
    taken from ``self``, the init field names read once (not ``dataclasses.fields`` per call)."""
    import dataclasses

    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)

    def evolve(self: Any, **kwargs: Any) -> Any:
        for name in names:
            if name not in kwargs:
                kwargs[name] = getattr(self, name)
        return self.__class__(**kwargs)

    return evolve


def _path_descend(cls: Any, functions: Any) -> Callable[..., Any]:
    import dataclasses
    from collections import deque

    names = tuple(f.name for f in dataclasses.fields(cls))

    def descend(self: Any, **kwargs: Any) -> Any:
        cfn_path = kwargs.get("cfn_path")
        if cfn_path in functions:
            raise ValueError(f"{kwargs['cfn_path']!r} cannot be in 'cfn_path'")
        elif isinstance(cfn_path, int):
            raise ValueError(f"{kwargs['cfn_path']!r} cannot be an integer")
        for name in names:
            value = kwargs.get(name)
            if value is not None:
                kwargs[name] = getattr(self, name) + deque([value])
            else:
                kwargs[name] = getattr(self, name)
        return self.__class__(**kwargs)

    return descend


# --------------------------------------------------------------------------- E1101's keywords


def _indexed_cfn_lint() -> Callable[..., Any]:
    """``CfnLint.cfnLint`` (rule E1101, the ``cfnLint`` schema keyword) with its child rules
    looked up by keyword. The original scans every child rule's keywords for each keyword
    (about 9,000 calls on mcp-gateway, each over every child); this reads the same rules in the
    same order (a rule as often as it lists the keyword, None and id-less rules skipped) from an
    index of the child rules, rebuilt whenever they are other objects (cfn-lint links them anew
    in each run)."""
    from cfnlint.jsonschema._utils import Unset

    indexes: dict[tuple[int, ...], tuple[dict[str, list[Any]], tuple[Any, ...]]] = {}

    def index_of(children: tuple[Any, ...]) -> dict[str, list[Any]]:
        key = tuple(map(id, children))
        hit = indexes.get(key)
        if hit is None:
            index: dict[str, list[Any]] = {}
            for rule in children:
                if rule is None or not rule.id:
                    continue
                for keyword in rule.keywords:
                    index.setdefault(keyword, []).append(rule)
            hit = indexes[key] = (index, children)  # (the rules kept: their ids stay theirs)
        return hit[0]

    def cfnLint(self: Any, validator: Any, keywords: Any, instance: Any, schema: Any) -> Any:
        validator = validator.evolve(
            function_filter=validator.function_filter.evolve(
                add_cfn_lint_keyword=False,
            )
        )
        index = index_of(tuple(self.child_rules.values()))
        for keyword in keywords:
            for rule in index.get(keyword, ()):
                for err in rule.validate(validator, keyword, instance, schema):
                    if err.rule is None:
                        if isinstance(err.validator, Unset):
                            err.rule = rule
                    yield err

    return cfnLint
