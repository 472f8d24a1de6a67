"""The default path of render.to_yaml (generator.emit's block writer over libyaml's scalar
rendering) writes exactly the bytes of PyYAML's pure-Python emitter (render.PureDumper):
on every committed platform, on random specs, and on the scalars where emitters differ
most (multi-line, unicode, long lines, digit strings, YAML's special words), at every
depth. The snapshots prove the committed bytes; this proves the paths agree beyond them."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml.emitter import Emitter

from generator import emit, render
from generator.emit import BlockWriter, Unsupported, one_line
from generator.spec import Platform, load_spec
from tests.helpers import PLATFORMS
from tests.strategies import valid_platforms

TRICKY = [
    "",
    " ",
    "plain",
    "two words",
    "multi\nline\n",
    "keep\n\n",
    "\n",
    "a\n\n\n",
    "no trailing newline\nhere",
    "trailing space \nline",
    " leading space",
    "trailing space ",
    "\tTab",
    "tab\tinside",
    "line\r\nwindows",
    "next\x85line",
    "sep\u2028",
    "ünïcödé",
    "日本語",
    "emoji 🚀",
    "zero\u200bwidth",
    "\ufeffbom",
    "a" * 5000,
    "word " * 1000,
    "0",
    "0123",
    "012345678912",
    "123456789012",
    "1e3",
    "1_000",
    "0x1F",
    "0o17",
    ".5",
    "+1",
    "-0",
    "1.0",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    ".inf",
    "-.Inf",
    ".nan",
    "2026-12-01",
    "2026-12-01T10:00:00Z",
    "12:30",
    "1:2:3",
    "=",
    "<<",
    ":",
    "a: b",
    "- x",
    "-",
    "?",
    "? x",
    "#",
    "a #b",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "%",
    "|",
    ">",
    "'single'",
    '"double"',
    "{a: 1}",
    "[1, 2]",
    "a,b",
    "${Name}-${Environment}",
    "arn:${AWS::Partition}:s3:::x/*",
    "curl -f http://localhost:8080/ || exit 1",
    "key: value\n  - item\n",
    "k" * 99,
    "k" * 100,
    "k" * 127,
    "k" * 128,
    "k" * 129,
    "é" * 64,
    "é" * 65,
    "é" * 127,
    "日" * 43,
]


def _doc(value: object) -> dict[str, object]:
    return {"Resources": {"R": {"Properties": {"V": value}, "Type": "AWS::SQS::Queue"}}}


def _same(template: dict[str, object]) -> None:
    fast, pure = render.to_yaml(template), render.to_yaml(template, render.PureDumper)
    assert fast == pure


def test_the_emitter_is_libyaml() -> None:
    assert issubclass(render.Dumper, yaml.CSafeDumper)


def test_tricky_scalars_come_out_byte_identical() -> None:
    for value in TRICKY:
        _same(_doc(value))
        _same(_doc([value, {value: value}]))
        # every place a scalar can sit: a sequence in a sequence, a mapping in a sequence in
        # a mapping, deeper indentation (a literal block's lines follow the column)
        _same(_doc([[value, [value, {"k": value}]], {"a": [{"b": value, "c": [[value]]}]}, [[]], [{}]]))
    _same(_doc(TRICKY))
    _same(_doc([0, -1, 2**63, 1.5, 1e-7, 1e20, True, False, None, [], {}]))


@settings(max_examples=50)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_random_documents_come_out_byte_identical(value: object) -> None:
    _same(_doc(value))


def test_committed_platforms_come_out_byte_identical() -> None:
    for path in PLATFORMS:
        for name, template in render.synthesize(load_spec(path)).items():
            assert render.to_yaml(template) == render.to_yaml(template, render.PureDumper), (path.stem, name)


@settings(max_examples=10)  # the pure emitter is the slow side; the scalar tests above go wider
@given(spec=valid_platforms(8))
def test_random_specs_come_out_byte_identical(spec: Platform) -> None:
    for template in render.synthesize(spec).values():
        _same(template)


def test_every_printable_bmp_character_comes_out_byte_identical() -> None:
    """render.plain_text lets the C emitter write any printable BMP character: check them all,
    alone and amid text, through the raw emitters (no fallback)."""

    def dump(value: object, dumper: type) -> list[str]:
        return yaml.dump(
            {"k": value}, Dumper=dumper, default_flow_style=False, allow_unicode=True, width=100000
        ).splitlines()

    chars = [chr(cp) for cp in range(0x20, 0x10000) if chr(cp).isprintable()]
    # Each list item is a scalar of its own: every character alone, then amid text.
    for value in (chars, " ".join(chars), "x".join(chars), "\n".join(chars[::97])):
        fast, pure = dump(value, render.Dumper), dump(value, render.PureDumper)
        assert len(fast) == len(pure)
        assert [a for a, b in zip(fast, pure, strict=True) if a != b] == []


def test_the_comparison_can_fail() -> None:
    """A dumper that differs (PyYAML's default string style, no literal blocks) is caught."""

    class Default(yaml.SafeDumper):
        pass

    template = _doc("multi\nline\n")
    assert render.to_yaml(template, Default) != render.to_yaml(template)


def test_keys_the_emitters_disagree_on_go_through_the_pure_emitter() -> None:
    """Why render.plain_key exists: libyaml writes these keys differently from PyYAML."""
    for key, value in (("", 1), ("k" * 128, 1), ("é" * 65, 1), ("k", "next\x85line"), ("k", "emoji \U0001f680")):
        raw = {"Resources": {key: value}}
        c = yaml.dump(raw, Dumper=render.Dumper, default_flow_style=False, allow_unicode=True, width=100000)
        pure = yaml.dump(raw, Dumper=render.PureDumper, default_flow_style=False, allow_unicode=True, width=100000)
        assert c != pure, key
        assert not (render.plain_key(key) and render.plain_text(str(value)))
        assert render.to_yaml(raw) == render.to_yaml(raw, render.PureDumper)


def test_the_block_writer_lays_out_every_committed_template_itself() -> None:
    """The fast path is the one taken: no committed template falls back to yaml.dump."""
    writer = BlockWriter(render.Dumper, render.WIDTH, render.plain_key, render.plain_text)
    for path in PLATFORMS:
        for name, template in render.synthesize(load_spec(path)).items():
            top = {k: template[k] for k in render.TOP_ORDER if k in template}
            assert writer.document(top) == render.to_yaml(template, render.PureDumper), (path.stem, name)


def test_what_the_block_writer_cannot_lay_out_falls_back_to_yaml_dump() -> None:
    writer = BlockWriter(render.Dumper, render.WIDTH, render.plain_key, render.plain_text)
    # a literal that keeps its trailing blank lines ends the document with '...'; a string
    # long enough to be folded at the width; a key the emitters disagree on; a tuple
    for value in ("keep\n\n", "word " * 20001, {"": 1}, ("a", "b")):
        with pytest.raises(Unsupported):
            writer.document({"Resources": {"R": {"V": value}}})
        _same(_doc(value) if not isinstance(value, tuple) else _doc(list(value)))


# --------------------------------------------------------------------------- the one-line fast path
# emit.one_line lets the writer put a string down without yaml.dump: whatever it answers, both
# emitters write, as a value, a simple key and a sequence item.

YAML_WORDS = ["yes", "no", "on", "off", "null", "~", "true", "0x10", "1_000", "2024-01-01", "010", "1.0", "755"]
BRIEF = YAML_WORDS + ["1e3", ".inf", "-", "-a", "a:b", "#x", "", "+1", ":", "a b", "a: b", "a #b", "a ", "---x"]
ALPHABET = "aZ09_-./$ :#{}[],'\"%@&*!|>?~=+()"


def _written(text: str, want: str) -> None:
    """Both emitters write ``text`` as ``want`` in every position."""
    for dumper in (render.Dumper, render.PureDumper):
        for data, line in (({"k": text}, f"k: {want}\n"), ({text: 0}, f"{want}: 0\n"), ([text], f"- {want}\n")):
            got = yaml.dump(data, Dumper=dumper, default_flow_style=False, allow_unicode=True, width=render.WIDTH)
            assert got == line, (text, dumper.__name__)


def _check_one_line(text: str) -> None:
    want = one_line(text, 100)
    if want is None:
        return
    _written(text, want)
    # PyYAML's own analysis agrees on the style
    analysis = Emitter(io.StringIO()).analyze_scalar(text)
    if want == text:
        assert analysis.allow_block_plain and not analysis.multiline
    else:
        assert want.startswith("'") and analysis.allow_single_quoted


def test_one_line_on_tricky_strings() -> None:
    for text in TRICKY + BRIEF:
        _check_one_line(text)
    # YAML 1.1's other types, read back by PyYAML's resolver, are quoted
    for word in YAML_WORDS:
        assert one_line(word, 100) == f"'{word}'"
    # what templates are mostly made of is known, plain or quoted
    for text in ("svc-1", "${Name}-${Environment}-web", "AWS::ECS::Service", "a:b", "a b", "1e3", "/health"):
        assert one_line(text, 100) == text
        _written(text, text)
    for text, want in (("svc1: memory above 85%", "'svc1: memory above 85%'"), ("it's: x", "'it''s: x'")):
        assert one_line(text, 100) == want
        _written(text, want)
    # a long value (not a key) is known under a longer limit
    long = "arn:${AWS::Partition}:logs:" + "x/" * 60
    assert one_line(long, 100) is None
    assert one_line(long, render.WIDTH // 2 + 1) == long


def test_one_line_on_every_short_string() -> None:
    """Every string of up to three characters of a YAML-hostile alphabet."""
    alphabet = "a0 -:.#?$'"
    for n in (1, 2, 3):
        for chars in itertools.product(alphabet, repeat=n):
            _check_one_line("".join(chars))


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=16) | st.sampled_from(TRICKY + BRIEF))
def test_one_line_on_random_strings(text: str) -> None:
    _check_one_line(text)


def test_the_one_line_check_can_fail() -> None:
    """Written bare, 'yes' and '0x10' would be read back as a boolean and a number and
    'a: b' as a mapping; quoted, 'a' is not what the emitters write: _written sees it."""
    for text, wrong in (("yes", "yes"), ("0x10", "0x10"), ("a: b", "a: b"), ("a", "'a'")):
        with pytest.raises(AssertionError):
            _written(text, wrong)


def asked_of_the_resolver(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every string one_line looks up on the committed platforms' templates and the tricky ones."""
    lookup, seen = emit._resolved_tag, set()

    def recorded(text: str) -> str:
        seen.add(text)
        return lookup(text)

    with monkeypatch.context() as m:
        m.setattr(emit, "_resolved_tag", recorded)
        for text in TRICKY + BRIEF + ["".join(c) for c in itertools.product("yYnN0.-+~<=!&*tToOfF", repeat=2)]:
            one_line(text, 100)
        writer = BlockWriter(render.Dumper, render.WIDTH, render.plain_key, render.plain_text)
        for spec_path in PLATFORMS:
            for template in render.synthesize(load_spec(spec_path)).values():
                writer.document({k: template[k] for k in render.TOP_ORDER if k in template})
    return seen


def not_pyyamls(lookup: Callable[[str], str], texts: set[str]) -> list[str]:
    from yaml.nodes import ScalarNode
    from yaml.resolver import Resolver

    resolver = Resolver()
    return sorted(t for t in texts if lookup(t) != resolver.resolve(ScalarNode, t, (True, False)))


def test_one_lines_resolver_lookup_is_pyyamls(monkeypatch: pytest.MonkeyPatch) -> None:
    """one_line reads PyYAML's implicit resolvers without calling ``Resolver.resolve``: on every
    string it looks up it gives resolve's tag."""
    texts = asked_of_the_resolver(monkeypatch)
    assert len(texts) > 2000
    assert not_pyyamls(emit._resolved_tag, texts) == []


def test_the_resolver_lookup_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup that misses the resolvers (every string a str) is caught."""
    wrong = not_pyyamls(lambda text: "tag:yaml.org,2002:str", asked_of_the_resolver(monkeypatch))
    assert {"yes", "null", "0x1F"} <= set(wrong)
