"""Finding and reading the CloudFormation templates the gate scans."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")


@dataclass
class Template:
    path: Path
    data: dict | None  # None when the file does not parse
    error: str | None = None

    @property
    def resources(self) -> dict[str, dict]:
        resources = (self.data or {}).get("Resources")
        if not isinstance(resources, dict):
            return {}
        return {k: v for k, v in resources.items() if isinstance(v, dict)}

    def line_of(self, *keys: Any) -> int | None:
        """1-based line of the node at Resources/<keys...> (cfn-lint nodes keep marks)."""
        node: Any = self.data
        line = None
        for key in keys:
            if isinstance(node, dict) and key in node:
                for k in node:
                    if k == key and hasattr(k, "start_mark"):
                        line = k.start_mark.line + 1
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                node = node[key]
                if hasattr(node, "start_mark"):
                    line = node.start_mark.line + 1
            else:
                break
        return line


def is_template_file(path: Path) -> bool:
    return path.is_file() and path.suffix in TEMPLATE_SUFFIXES


def discover(targets: list[str]) -> list[Path]:
    """Template files under the given files/directories, sorted, without duplicates.

    A file counts as a template when it parses to a mapping with `Resources`
    (parameter files, allow-lists and other YAML/JSON next to templates are skipped).
    """
    found: list[Path] = []
    resolved: set[Path] = set()
    for target in targets:
        p = Path(target)
        candidates = [p] if p.is_file() else sorted(x for x in p.rglob("*") if is_template_file(x))
        for c in candidates:
            if c.resolve() not in resolved and looks_like_template(c):
                resolved.add(c.resolve())
                found.append(c)
    return found


def looks_like_template(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")
    except OSError:
        return False
    return "Resources" in head and (
        "AWSTemplateFormatVersion" in head or "\nResources:" in head
        or head.startswith("Resources:") or '"Resources"' in head
    )


def load(path: Path) -> Template:
    data, matches = decode(str(path))
    if matches or not isinstance(data, dict):
        msg = "; ".join(m.message for m in matches) or "not a mapping"
        return Template(path, None, f"cannot parse: {msg}")
    return Template(path, data)
