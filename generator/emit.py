"""A block-YAML writer that writes exactly the bytes ``yaml.dump`` writes for a template,
without PyYAML's per-node representer and resolver.

``render.to_yaml`` spends most of synthesis in PyYAML's Python representer (one node
object and a resolver lookup per value) even with the libyaml emitter.  A template is a
tree of dicts, lists and scalars laid out in PyYAML's block style (two-space indent,
sequences inside a mapping not indented), so the layout is written here directly, and
each distinct scalar is rendered once and reused: by PyYAML itself
(``yaml.dump({"k": value})``), so that the quoting, escaping and block-scalar choices stay
PyYAML's own, unless ``one_line`` below knows the answer.

What the writer does not reproduce it refuses with ``Unsupported`` and the caller falls
back to ``yaml.dump``: a key that is not a plain one-line string, a scalar PyYAML writes
over several lines other than as a literal block (``|``, ``|-``, ``|2-`` ...), a literal
that keeps trailing blank lines (``|+``, which ends the document with ``...``), and
anything that is not a dict, list, str, int, float, bool or None.  ``tests/test_emitter.py``
compares the two on every committed template, random specs and the tricky scalars.

Most scalars need no rendering at all: ``one_line`` proves, with PyYAML's own resolver and
sufficient conditions of its scalar analysis, how a one-line printable-ASCII string is
written (plain as it is, or in single quotes); an ``int`` is written as ``str(value)``.
Only the rest go through ``yaml.dump``, once each (the writer's caches live as long as it
does).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver


class Unsupported(Exception):
    """A value the writer does not lay out itself (the caller uses ``yaml.dump``)."""


SCALARS = (str, int, float, bool, type(None))
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = Resolver()
# One line that YAML's plain style takes as it is, in block context: it starts with none of
# the indicators (``-?:,[]{}#&*!|>'"%@```` and ``.`` for ``...``), has no ``#``, no ``:``
# before a space, a colon or the end, and no space at the end. A sufficient condition of
# PyYAML's ``Emitter.analyze_scalar`` allowing plain style.
_PLAIN = re.compile(r"[A-Za-z0-9_/$(][^#:\s]*(?:(?::+| +)[^#:\s]+)*")
# One line that block context cannot take plain: an indicator first (``- ``, ``? ``, ``: ``
# or alone; ``#,[]{}&*!|>'"%@```` ), ``---`` or ``...`` first, ``: `` or ``:`` last, `` #``,
# a space first or last. A sufficient condition of ``analyze_scalar`` refusing plain style.
_NOT_PLAIN = re.compile(r"^[-?:](?: |$)|^[#,\[\]{}&*!|>'\"%@`]|^---|^\.\.\.|: |:$| #|^ | $")


def one_line(text: str, limit: int) -> str | None:
    """How PyYAML writes ``text`` (a value, a sequence item or a simple key, in block
    context) when it is one line of printable ASCII shorter than ``limit``; None when this
    function does not know (the caller asks ``yaml.dump``). Keys need a limit of 100 at most
    (``render.plain_key``; PyYAML writes ``? k`` for a plain key of 127 characters); values
    half the emitter's width, so that nothing is folded.

    Plain, as it is, when ``_PLAIN`` says block context takes it and PyYAML's resolver reads
    it back as a string (not ``yes``, ``null``, ``0x10``, ``2024-01-01`` ...). Single-quoted
    (quotes doubled) when ``_NOT_PLAIN`` says block context refuses it plain or the resolver
    reads it as something else: such a line always allows single quotes (no line break, no
    special character). tests/test_emitter.py checks both against what both emitters write."""
    if not text or len(text) >= limit or not text.isascii() or not text.isprintable():
        return None
    plain = _PLAIN.fullmatch(text) is not None  # (never both: the conditions are opposite)
    if _resolved_tag(text) != _STR_TAG or (not plain and _NOT_PLAIN.search(text)):
        return "'" + text.replace("'", "''") + "'"
    return text if plain else None


def _resolved_tag(text: str) -> str:
    """``Resolver().resolve(ScalarNode, text, (True, False))`` for a non-empty ``text``: the tag
    of the first implicit resolver of its first character that matches, else str. Looked up
    here without the call, which copies the resolver lists on every one (about a millisecond of
    mcp-gateway's 2,500 distinct strings); PyYAML's own when a resolver for any character or a
    path resolver is registered, which this lookup does not follow."""
    implicit = _RESOLVER.yaml_implicit_resolvers
    if None in implicit or _RESOLVER.yaml_path_resolvers:
        return str(_RESOLVER.resolve(ScalarNode, text, (True, False)))
    for tag, regexp in implicit.get(text[0], ()):
        if regexp.match(text):
            return str(tag)
    return _STR_TAG


class BlockWriter:
    """Writes documents with ``dumper``'s scalar rendering; one instance caches scalars.
    ``key_ok`` and ``text_ok`` say which keys and strings the caller accepts (others raise
    ``Unsupported``)."""

    def __init__(
        self, dumper: type[Any], width: int, key_ok: Callable[[object], bool], text_ok: Callable[[str], bool]
    ) -> None:
        self._dumper = dumper
        self._width = width
        self._key_ok = key_ok
        self._text_ok = text_ok
        # str -> (first line, continuation lines); other scalars by (type, value), since
        # 1, 1.0 and True are one dict key
        self._strs: dict[str, tuple[str, list[str]]] = {}
        self._values: dict[tuple[type, Any], tuple[str, list[str]]] = {}
        self._keys: dict[str, str] = {}

    def _dump(self, data: Any) -> str:
        return yaml.dump(
            data, Dumper=self._dumper, sort_keys=False, default_flow_style=False, width=self._width, allow_unicode=True
        )

    def _key(self, key: Any) -> str:
        hit = self._keys.get(key) if type(key) is str else None
        if hit is None:
            if type(key) is not str or not self._key_ok(key):
                raise Unsupported(key)
            known = one_line(key, 100)
            if known is not None:
                hit = self._keys[key] = known
                return hit
            text = self._dump({key: 0})
            if not text.endswith(": 0\n") or "\n" in text[:-4]:
                raise Unsupported(key)
            hit = self._keys[key] = text[:-4]
        return hit

    def _render(self, value: Any) -> tuple[str, list[str]]:
        """(first line, continuation lines as written under a key at column 0)."""
        # A quoted string is folded at the emitter's width counted from its column, which
        # the cached rendering (column 3) does not know: long strings go through yaml.dump.
        if type(value) is str:
            known = one_line(value, self._width // 2 + 1)
            if known is not None:
                return known, []
            if len(value) > self._width // 2 or not self._text_ok(value):
                raise Unsupported(value)
        elif type(value) is int:
            return str(value), []
        text = self._dump({"k": value})
        if not text.startswith("k: ") or not text.endswith("\n"):
            raise Unsupported(value)
        lines = text[3:-1].split("\n")
        if len(lines) > 1 and not (lines[0].startswith("|") and "+" not in lines[0]):
            raise Unsupported(value)
        return lines[0], lines[1:]

    def _scalar(self, value: Any) -> tuple[str, list[str]]:
        if type(value) is str:
            hit = self._strs.get(value)
            if hit is None:
                hit = self._strs[value] = self._render(value)
            return hit
        try:
            slot = (type(value), value)
            hit = self._values.get(slot)
        except TypeError:
            raise Unsupported(value) from None
        if hit is None:
            hit = self._values[slot] = self._render(value)
        return hit

    def _put_scalar(self, value: Any, col: int, out: list[str]) -> None:
        first, rest = self._scalar(value)
        out.append(" " + first + "\n")
        pad = " " * col
        for line in rest:
            out.append((pad + line if line else "") + "\n")

    def _value(self, value: Any, col: int, out: list[str]) -> None:
        """``value`` after ``key:`` where the key starts at column ``col``."""
        if type(value) is dict:
            if value:
                out.append("\n")
                self._mapping(value, col + 2, out, inline=False)
            else:
                out.append(" {}\n")
        elif type(value) is list:
            if value:
                out.append("\n")
                self._sequence(value, col, out, inline=False)
            else:
                out.append(" []\n")
        elif isinstance(value, SCALARS):
            self._put_scalar(value, col, out)
        else:
            raise Unsupported(value)

    def _mapping(self, node: dict[Any, Any], col: int, out: list[str], inline: bool, ordered: bool = False) -> None:
        pad = " " * col
        lead = "" if inline else pad
        keys, strs = self._keys, self._strs
        for key in node if ordered else sorted(node):
            name = keys.get(key)  # only str keys are cached, and no other key equals one
            if name is None:
                name = self._key(key)
            value = node[key]
            kind = type(value)
            # the common cases written here: a one-line string, a mapping, a sequence
            if kind is str:
                hit = strs.get(value)
                if hit is None:
                    hit = strs[value] = self._render(value)
                if not hit[1]:
                    out.append(f"{lead}{name}: {hit[0]}\n")
                    lead = pad
                    continue
            elif kind is dict and value:
                out.append(f"{lead}{name}:\n")
                lead = pad
                self._mapping(value, col + 2, out, inline=False)
                continue
            elif kind is list and value:
                out.append(f"{lead}{name}:\n")
                lead = pad
                self._sequence(value, col, out, inline=False)
                continue
            out.append(f"{lead}{name}:")
            lead = pad
            self._value(value, col, out)

    def _sequence(self, items: list[Any], col: int, out: list[str], inline: bool) -> None:
        pad = " " * col
        lead = "" if inline else pad
        strs = self._strs
        for item in items:
            if type(item) is str:
                hit = strs.get(item)
                if hit is None:
                    hit = strs[item] = self._render(item)
                if not hit[1]:
                    out.append(f"{lead}- {hit[0]}\n")
                    lead = pad
                    continue
            out.append(lead + "-")
            lead = pad
            if type(item) is dict and item:
                out.append(" ")
                self._mapping(item, col + 2, out, inline=True)
            elif type(item) is list and item:
                out.append(" ")
                self._sequence(item, col + 2, out, inline=True)
            else:
                self._value(item, col, out)

    def document(self, top: dict[str, Any]) -> str:
        """``top``'s keys in the order given, every nested mapping sorted by key."""
        out: list[str] = []
        self._mapping(top, 0, out, inline=False, ordered=True)
        return "".join(out)
