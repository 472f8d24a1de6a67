"""Test helpers shared across test modules (import as ``tests.helpers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = sorted((ROOT / "platforms").glob("*.yaml"))


def resources(t: dict[str, Any], type_: str | None = None) -> dict[str, dict[str, Any]]:
    res = t.get("Resources", {})
    return {k: v for k, v in res.items() if type_ is None or v["Type"] == type_}


def props(r: dict[str, Any]) -> dict[str, Any]:
    return r.get("Properties", {})
