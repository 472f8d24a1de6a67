"""Field descriptions from attribute docstrings, given to pydantic only when a JSON Schema is
written (``generator.spec.load.json_schema``).

A spec field is documented by the string under it::

    class Service(Model):
        name: Slug
        \"\"\"The service's name: ...\"\"\"

pydantic's ``use_attribute_docstrings`` would read those at import, by finding and parsing
each model's source again (tokenizing its module once per class): about a third of
``import generator.spec`` (0.2 s), paid by every ``synth`` although only the schema shows
the descriptions (no error message, docgen or scaffold reads them). So the models are built
without them, and ``describe`` sets them when a schema is asked for: for each model
reachable from the root, a field with no description of its own (``Field(description=...)``
wins, as with pydantic's option) gets its docstring, and the models are rebuilt, referenced
models first, so each rebuilt schema embeds its children's descriptions.

``attribute_docstrings`` reads a class's docstrings as pydantic's
``use_attribute_docstrings`` does (a string statement right after an annotated assignment
in the class body, cleaned with ``inspect.cleandoc``); tests/test_schema.py shows the
schema equals the committed one byte for byte and that every docstring is the description
pydantic's own reader gives.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import sys
import typing
from typing import Any

from pydantic import BaseModel

__all__ = ["attribute_docstrings", "describe", "models"]


@functools.cache
def _module_classes(module: str) -> dict[str, ast.ClassDef]:
    """qualified name -> class definition, of every class in ``module``'s source."""
    path = sys.modules[module].__file__
    assert path is not None, module
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out: dict[str, ast.ClassDef] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                out[prefix + node.name] = node
                walk(node.body, f"{prefix}{node.name}.")

    walk(tree.body, "")
    return out


def attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """field name -> the docstring under its annotated assignment in ``cls``'s own body."""
    node = _module_classes(cls.__module__).get(cls.__qualname__)
    if node is None:
        return {}
    out = {}
    for before, stmt in itertools.pairwise(node.body):
        if (
            isinstance(before, ast.AnnAssign)
            and isinstance(before.target, ast.Name)
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            out[before.target.id] = inspect.cleandoc(stmt.value.value)
    return out


def _referenced(tp: Any) -> list[type[BaseModel]]:
    """The models a field annotation names (inside lists, unions, Annotated ...)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _referenced(arg)]


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields, each after the ones it
    references (``root`` last)."""
    order: list[type[BaseModel]] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for field in model.model_fields.values():
            for child in _referenced(field.annotation):
                visit(child)
        order.append(model)

    visit(root)
    return order


_described: set[type[BaseModel]] = set()


def describe(root: type[BaseModel]) -> None:
    """Give every field reachable from ``root`` its docstring as description (unless it has
    its own) and rebuild the models so that their JSON Schema shows them. Once per root."""
    if root in _described:
        return
    order = models(root)
    for model in order:
        docs = attribute_docstrings(model)  # (no spec model inherits another's fields)
        for name, field in model.model_fields.items():
            if field.description is None and name in docs:
                field.description = docs[name]
    for model in order:
        model.model_rebuild(force=True)
    _described.add(root)
