"""The one CloudFormation template loader: YAML (long and short intrinsic forms) or JSON.

* ``!Ref X`` becomes ``{"Ref": "X"}``, ``!Condition C`` ``{"Condition": "C"}``, every other
  ``!Fn`` tag ``{"Fn::Fn": ...}``; ``!GetAtt A.B.C`` becomes ``{"Fn::GetAtt": ["A", "B.C"]}``.
* Dates and timestamps stay text, as CloudFormation reads them (``2010-09-09``).
* A duplicate key is an error (YAML would keep the last value silently).
* libyaml (``yaml.CSafeLoader``) parses when it is installed; the constructors are the same.

``load_text`` / ``load_file`` return the template; ``load_file_with_lines`` also returns
the line of every key, for messages that point into the file; ``load_dir`` reads a
template set: ``DIR/main.yaml`` plus the children its ``AWS::CloudFormation::Stack``
resources name by local ``TemplateURL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PARENT = "main.yaml"
STACK_TYPE = "AWS::CloudFormation::Stack"
# The file suffixes a CloudFormation template may have: what the linter, the gate and their
# caches scan in a folder.
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")

KeyPath = tuple[Any, ...]


class TemplateError(ValueError):
    """A file that is not a readable CloudFormation template; the message names the file."""


class CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader for CloudFormation: short-form tags, text timestamps, no duplicate keys."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in first:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {first[key] + 1})", key_node.start_mark
                    )
                if isinstance(key, (str, int, float, bool)):
                    first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _parse(text: str, name: str, want_lines: bool) -> tuple[Any, yaml.Node | None]:
    if _is_json(text) and not want_lines:
        try:
            return json.loads(text, object_pairs_hook=_json_object), None
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{name}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        except ValueError as exc:
            raise TemplateError(f"{name}: {exc}") from None
    loader = CfnLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        if _is_json(text):  # JSON that YAML 1.1 does not read (tabs, escapes): no line index
            return _parse(text, name, want_lines=False)[0], None
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise TemplateError(f"{name}: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{name}: {exc}") from None
    finally:
        loader.dispose()
    return data, node


def _mapping(data: Any, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TemplateError(f"{name}: not a template (the top level is not a mapping)")
    return data


def load_text(text: str, name: str = "<template>") -> dict[str, Any]:
    """Parse a template from text. Raises TemplateError naming ``name``."""
    return _mapping(_parse(text, name, want_lines=False)[0], name)


def load_file(path: str | Path) -> dict[str, Any]:
    """Parse a template file. Raises OSError, or TemplateError naming the file."""
    p = Path(path)
    return load_text(p.read_text(encoding="utf-8"), str(p))


class Lines:
    """The 1-based line of every key (and list item) of a parsed file, by key path."""

    def __init__(self, node: yaml.Node | None):
        self.by_path: dict[KeyPath, int] = dict(_lines(node, ())) if node is not None else {}

    def line_of(self, *path: Any) -> int | None:
        """The line of the deepest node of ``path`` that exists (None if not even the first)."""
        line = None
        for i in range(1, len(path) + 1):
            found = self.by_path.get(tuple(path[:i]))
            if found is None:
                break
            line = found
        return line


def _lines(node: yaml.Node, path: KeyPath) -> Iterator[tuple[KeyPath, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = path + (key_node.value,)
                yield key, key_node.start_mark.line + 1
                yield from _lines(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield path + (i,), item.start_mark.line + 1
            yield from _lines(item, path + (i,))


def load_file_with_lines(path: str | Path) -> tuple[dict[str, Any], Lines]:
    """A template file and the line index of its keys (empty for JSON that YAML cannot read)."""
    p = Path(path)
    data, node = _parse(p.read_text(encoding="utf-8"), str(p), want_lines=True)
    return _mapping(data, str(p)), Lines(node)


def child_file(url: Any, where: str) -> str:
    """The file name of a local ``TemplateURL`` (``x.yaml`` or ``./x.yaml``)."""
    if not isinstance(url, str) or "/" in url.replace("./", "") or "://" in url:
        raise TemplateError(f"{where}: TemplateURL must be a local file name, got {url!r}")
    return url.removeprefix("./")


def load_dir(path: str | Path) -> dict[str, dict[str, Any]]:
    """``DIR/main.yaml`` and every child it references, by file name ('main.yaml' is the
    parent). Raises FileNotFoundError without a parent, OSError, or TemplateError."""
    d = Path(path)
    main = d / PARENT
    if not main.is_file():
        raise FileNotFoundError(f"{main}: no parent template")
    out = {PARENT: load_file(main)}
    for lid, res in (out[PARENT].get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") == STACK_TYPE:
            name = child_file((res.get("Properties") or {}).get("TemplateURL"), f"{main}: {lid}")
            out[name] = load_file(d / name)
    return out
