"""Values that survive every YAML reader and ``aws cloudformation package``'s re-emission.

CloudFormation reads templates as YAML 1.2, where a plain scalar such as ``054676820928``
or ``08000`` is an integer (the leading zero is lost) and ``1e3`` a float; PyYAML (YAML
1.1, which writes our templates) reads and writes those as plain strings.
``aws cloudformation package`` parses a template with PyYAML and writes it again with
its own dumper (awscli's ``yamlhelper``), so quoting on our side does not survive it: a
string that YAML 1.1 reads as a string is written plain again, and CloudFormation then
reads a number.  Such a string must not be in a template at all.

There is no form of such a value that survives both readers (a quoted scalar loses its
quotes in the package step, a ``Fn::Sub`` or ``Fn::Join`` holds the same plain scalar), so
synthesis refuses it, naming the spec field it came from; the committed ALB log-delivery
principals avoid it by holding whole ARNs.  A string that YAML 1.1 itself reads as
something else (``'0123'``, ``'true'``, ``'1:30'``) is quoted by every PyYAML writer and
survives.

``ambiguous_plain_scalars(text)`` is the same test on a YAML text (tests run it on the
committed templates and on awscli's re-emission of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from generator.cfn.finding import Finding
from generator.deployability.base import Inputs, finding

# YAML 1.2 core schema: what a 1.2 reader resolves a plain scalar to, besides a string.
YAML12_NUMBER = re.compile(
    r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)
YAML12_OTHER = re.compile(r"true|True|TRUE|false|False|FALSE|null|Null|NULL|~")
YAML_DOC = (
    "YAML 1.2 (CloudFormation's reader) reads the plain scalar as a number or boolean, and aws cloudformation "
    "package writes it plain whatever the quoting, https://yaml.org/spec/1.2.2/#1032-tag-resolution and "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-formats.html"
)
_RESOLVER = yaml.resolver.Resolver()


def yaml12_not_string(text: str) -> bool:
    """Whether a YAML 1.2 reader resolves ``text`` written as a plain scalar to a non-string."""
    return bool(YAML12_NUMBER.fullmatch(text) or YAML12_OTHER.fullmatch(text))


def written_plain(text: str) -> bool:
    """Whether PyYAML (YAML 1.1) writes the string ``text`` as a plain scalar: it does unless
    its own resolver would read the plain form as something else."""
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


def changes_type(text: str) -> bool:
    """A string that CloudFormation reads back as a number or boolean after any PyYAML write."""
    return yaml12_not_string(text) and written_plain(text)


def ambiguous_plain_scalars(text: str) -> list[str]:
    """Plain (unquoted) scalars of a YAML text that PyYAML reads as strings but a YAML 1.2
    reader does not."""
    out = []
    for node in _scalars(yaml.compose(text, Loader=yaml.SafeLoader)):
        if node.style is None and node.tag == "tag:yaml.org,2002:str" and yaml12_not_string(node.value):
            out.append(node.value)
    return out


def _scalars(node: yaml.Node | None) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for n in node.value:
            yield from _scalars(n)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _scalars(k)
            yield from _scalars(v)


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) of every string in a fragment, keys included; an ECS environment or
    a tag list item is named by its Name/Key (``Environment[PORT]``)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, list):
        for i, x in enumerate(node):
            label = x.get("Name", x.get("Key")) if isinstance(x, dict) else None
            yield from strings(x, f"{path}[{label if isinstance(label, str) else i}]")
    elif isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str):
                yield sub + "(key)", k
            yield from strings(v, sub)


def texts(node: Any, out: set[str]) -> set[str]:
    """Every string of a fragment, keys included, into ``out`` (what ``strings`` yields,
    without the paths)."""
    if isinstance(node, str):
        out.add(node)
    elif isinstance(node, list):
        for x in node:
            texts(x, out)
    elif isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str):
                out.add(k)
            texts(v, out)
    return out


def check(inp: Inputs) -> list[Finding]:
    out: list[Finding] = []
    for file, template in sorted(inp.templates.items()):
        # The paths are built only for a template that has such a string (synth runs this on
        # every template it writes; almost none has one).
        if not any(changes_type(t) for t in texts(template, set())):
            continue
        for section in sorted(template):
            body = template[section]
            if section == "Resources" and isinstance(body, dict):
                parts = [(lid, f"{lid}", res) for lid, res in sorted(body.items())]
            else:
                parts = [("", section, body)]
            for lid, prefix, node in parts:
                for path, text in strings(node, prefix):
                    if changes_type(text):
                        inner = path.removeprefix(f"{lid}.")
                        out.append(
                            finding(
                                "yaml-roundtrip",
                                file,
                                lid,
                                f"{file}:{path} is the string {text!r}, which CloudFormation would read as "
                                f"{'a number' if YAML12_NUMBER.fullmatch(text) else 'a boolean or null'}; no YAML form "
                                "of it survives aws cloudformation package, so it cannot be emitted",
                                YAML_DOC,
                                path=inner,
                            )
                        )
    return out
