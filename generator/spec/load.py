"""Reading a spec file: YAML to a validated ``Platform``, errors as ``file: field: message``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.spec.base import SpecError
from generator.spec.platform import Platform


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_spec(path: str | Path) -> Platform:
    """Read and validate a spec file. Raises SpecError with one line per problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{p}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise SpecError([f"{p}: {where}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
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
    schema = Platform.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stackgen platform spec"
    return schema
