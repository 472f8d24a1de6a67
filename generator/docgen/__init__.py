"""``stackgen docs``: documentation and an architecture diagram generated from the templates.

``stackgen docs SPEC`` (synthesized in memory) or ``stackgen docs --templates DIR`` (a
generated set, ``DIR/main.yaml`` and, for a platform split into several root stacks, every
``main-services-N.yaml`` it lists) writes ``OUT/<name>.md`` and ``OUT/<name>.svg``
(default ``OUT``: ``docs/platforms``; ``<name>``: the spec's file stem or the directory's
name).  Both are byte-deterministic, so CI regenerates them and fails on a difference.

- ``model``     the architecture read from a template set (tiers, boxes, who may reach whom)
- ``diagram``   that model as Graphviz DOT, drawn by ``dot`` into a deterministic SVG
- ``markdown``  the reference page: parameters, outputs, nested stacks, environments

Exit codes: 0 written, 1 a bug in stackgen, 2 a usage error, an invalid spec or template
set, or graphviz (or the DejaVu Sans font) not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from generator import synth
from generator.cfn.load import TemplateError
from generator.deployability import rootset
from generator.docgen import diagram, markdown, model
from generator.spec import SpecError

EXIT_BUG = 1
EXIT_USAGE = 2
DEFAULT_OUT = "docs/platforms"


class DocsError(Exception):
    """A usage problem: one line, exit 2."""


__all__ = ["add_arguments", "cmd", "generate"]


def generate(templates: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    """File name -> text of the page and the diagram of one template set (every root of it).
    Raises DocsError when its roots do not fit together (a root reads an output no earlier
    root declares)."""
    _, problems = rootset.merge(templates)
    if problems:
        p = problems[0]
        raise DocsError(f"{p.file}: {p.problem}")
    svg = diagram.render_svg(diagram.to_dot(model.read(templates, name)))
    return {f"{name}.md": markdown.page(templates, name), f"{name}.svg": svg}


def write(files: dict[str, str], out: Path) -> list[Path]:
    """Write every file or none (each lands by an atomic rename)."""
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in sorted(files.items()):
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            staged.append((Path(tmp_name), out / name))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [final for _, final in staged]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", nargs="?", help="platform spec: synthesize in memory and document")
    p.add_argument("--templates", metavar="DIR", help="document a generated template set (DIR/main.yaml) instead")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")


def _read(args: argparse.Namespace) -> tuple[dict[str, dict[str, Any]], str]:
    if bool(args.spec) == bool(args.templates):
        raise DocsError("give either SPEC or --templates DIR")
    if args.spec:
        return synth.synthesize_checked(args.spec).templates, Path(args.spec).stem
    path = Path(args.templates)
    try:
        return rootset.load_roots(path), path.resolve().name
    except FileNotFoundError:
        raise DocsError(f"--templates {args.templates}: no main.yaml there") from None
    except (TemplateError, OSError) as exc:
        raise DocsError(f"--templates {args.templates}: {exc}") from None


def cmd(args: argparse.Namespace) -> int:
    try:
        templates, name = _read(args)
        files = generate(templates, name)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except (DocsError, diagram.DiagramError) as exc:
        print(f"stackgen docs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - anything the input did not cause is a bug
        print(
            f"stackgen docs: internal error (a bug in stackgen, please report): {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_BUG
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"--out {out}: is a file, not a directory", file=sys.stderr)
        return EXIT_USAGE
    written = write(files, out)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
