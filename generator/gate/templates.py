"""Finding and reading the CloudFormation templates the gate scans (with the read kernel's
loader, ``generator.cfn.load``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.cfn.load import TEMPLATE_SUFFIXES, Lines, TemplateError, load_file, load_file_with_lines


@dataclass
class Template:
    path: Path
    data: dict | None  # None when the file does not parse
    error: str | None = None
    lines: Lines = field(default_factory=lambda: Lines(None))

    @property
    def resources(self) -> dict[str, dict]:
        resources = (self.data or {}).get("Resources")
        if not isinstance(resources, dict):
            return {}
        return {k: v for k, v in resources.items() if isinstance(v, dict)}

    def line_of(self, *keys: Any) -> int | None:
        """1-based line of the node at ``keys`` (the deepest one that exists)."""
        return self.lines.line_of(*keys)


def is_template_file(path: Path) -> bool:
    return path.is_file() and path.suffix in TEMPLATE_SUFFIXES


def discover(targets: list[str]) -> list[Path]:
    """Template files under the given files/directories, sorted, without duplicates.

    A file counts as a template when it parses to a mapping with ``Resources``; one that
    does not parse counts when its text looks like a template, so that the gate reports
    it instead of skipping it (parameter files, allow-lists and other YAML/JSON next to
    templates are skipped).
    """
    found: list[Path] = []
    resolved: set[Path] = set()
    for target in targets:
        p = Path(target)
        candidates = [p] if p.is_file() else sorted(x for x in p.rglob("*") if is_template_file(x))
        for c in candidates:
            if c.resolve() not in resolved and is_template(c):
                resolved.add(c.resolve())
                found.append(c)
    return found


def is_template(path: Path) -> bool:
    try:
        return "Resources" in load_file(path)
    except TemplateError:
        return looks_like_template(path)
    except (OSError, UnicodeDecodeError):
        return False


def looks_like_template(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")
    except OSError:
        return False
    return "Resources" in head and (
        "AWSTemplateFormatVersion" in head
        or "\nResources:" in head
        or head.startswith("Resources:")
        or '"Resources"' in head
    )


def load(path: Path) -> Template:
    try:
        data, lines = load_file_with_lines(path)
    except (TemplateError, OSError, UnicodeDecodeError) as exc:
        return Template(path, None, f"cannot parse: {exc}")
    return Template(path, data, lines=lines)
