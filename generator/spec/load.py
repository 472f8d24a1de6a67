"""Reading a spec file: YAML to a validated ``Platform``, errors as ``file: field: message``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.gcpause import paused
from generator.spec.base import SpecError
from generator.spec.descriptions import describe
from generator.spec.platform import Platform


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(path: str | Path) -> Any:
    """A YAML file as data. UTF-8 only; a key given twice in one mapping is an error
    (PyYAML would keep the last silently), merge keys (``<<: *anchor``) are not."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError([f"{p}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([f"{p}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})"]) from None
    # libyaml's parser when PyYAML has it (the same nodes and marks, about 10x faster on a
    # large spec); the pure-Python one otherwise.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _no_duplicate_keys(node, "", str(p), set())
        return _Builder(loader).data(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise SpecError([f"{p}: {where}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    finally:
        loader.dispose()


STR, MAP, SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
VALUE_TAG = "tag:yaml.org,2002:value"


class _Builder:
    """``loader.construct_document(node)`` with the plain nodes built directly: a string
    scalar is its text, a mapping of scalar keys a dict, a sequence a list, each node once
    (an alias is the same object, as PyYAML makes it). Every other node (an int, a bool, a
    merge key, a complex key, an explicit tag) goes to PyYAML's constructor unchanged, so the
    data are the same; PyYAML's constructor was most of the time of reading a large spec."""

    def __init__(self, loader: Any):
        self.loader = loader
        self.built: dict[int, Any] = {}

    def data(self, node: yaml.Node) -> Any:
        done = self.built.get(id(node), self)
        if done is not self:
            return done
        if isinstance(node, yaml.ScalarNode):
            value = node.value if node.tag == STR else self._pyyaml(node)
        elif isinstance(node, yaml.SequenceNode) and node.tag == SEQ:
            value = self.built[id(node)] = []
            value.extend(self.data(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode) and node.tag == MAP and self._plain_keys(node):
            value = self.built[id(node)] = {}
            for k, v in node.value:
                value[self.data(k)] = self.data(v)
        else:
            value = self._pyyaml(node)
        self.built[id(node)] = value
        return value

    def _pyyaml(self, node: yaml.Node) -> Any:
        """PyYAML's constructor; a value its tag cannot hold (``!!int nope``), which PyYAML
        lets out as a bare ValueError, becomes a YAML error at the node's line."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.tag.rsplit(':', 1)[-1]} value {node.value!r}: {exc}", node.start_mark
            ) from None

    @staticmethod
    def _plain_keys(node: yaml.MappingNode) -> bool:
        """Keys PyYAML's constructor takes as they are: scalars, none a merge (``<<``) or value (``=``) key."""
        return all(isinstance(k, yaml.ScalarNode) and k.tag not in (MERGE_TAG, VALUE_TAG) for k, _ in node.value)


def _no_duplicate_keys(node: yaml.Node, path: str, source: str, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:  # an alias of a node already checked
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == MERGE_TAG:
                _no_duplicate_keys(value, path, source, seen_nodes)
                continue
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            where = f"{path}.{name}" if path else name
            if name in lines:
                raise SpecError(
                    [
                        f"{source}: {where}: duplicate key (lines {lines[name]} and "
                        f"{key.start_mark.line + 1}); YAML keeps only the last"
                    ]
                )
            lines[name] = key.start_mark.line + 1
            _no_duplicate_keys(value, where, source, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _no_duplicate_keys(item, f"{path}[{i}]", source, seen_nodes)


def load_spec(path: str | Path) -> Platform:
    """Read and validate a spec file. Raises SpecError with one line per problem."""
    p = Path(path)
    with paused():  # generator.gcpause: the nodes and models all live until it returns
        data = read_yaml(p)
        if not isinstance(data, dict):
            raise SpecError([f"{p}: (top level): must be a mapping"])
        return parse_spec(data, str(p))


def parse_spec(data: dict[str, Any], source: str = "<spec>") -> Platform:
    """Validate a spec mapping. Top-level keys starting with ``x-`` hold YAML anchors and are ignored."""
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        return Platform.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ")
            if loc:
                lines.append(f"{source}: {_loc(loc)}: {msg}")
            else:
                lines.append(f"{source}: {msg}")
        raise SpecError(sorted(set(lines))) from None


def json_schema() -> dict[str, Any]:
    """The spec's JSON Schema (``python -m generator schema``; committed as schema/platform.schema.json).
    Top-level ``x-`` keys are allowed, as ``parse_spec`` ignores them. Field descriptions are
    the fields' docstrings (``generator.spec.descriptions``)."""
    describe(Platform)
    schema = Platform.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stackgen platform spec"
    schema["patternProperties"] = {
        "^x-": {"description": "Ignored by stackgen: a place for YAML anchors (x-defaults: &defaults ...)."}
    }
    return schema
