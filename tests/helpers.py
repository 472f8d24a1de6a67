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


def grouped(templates: dict[str, dict[str, Any]], stack: str) -> dict[str, Any]:
    """The Resources, Parameters and Outputs of a per-group stack (``services``) over every
    service group: ``services.yaml`` and ``services-<group>.yaml`` (generator.placement)."""
    out: dict[str, Any] = {"Resources": {}, "Parameters": {}, "Outputs": {}}
    for name in sorted(templates):
        group = name.removesuffix(".yaml").removeprefix(stack)
        if name.endswith(".yaml") and name.startswith(stack) and (group == "" or group.startswith("-")):
            if stack == "security-groups" or not name.startswith("security-groups"):
                for section in out:
                    out[section].update(templates[name].get(section) or {})
    return out


def web_service(name: str, target_group: dict[str, Any]) -> dict[str, Any]:
    """A minimal web service (nginx on 8080, non-root, read-only root) with one target group:
    the unit the load-balancer tests multiply."""
    return {
        "name": name,
        "image": {"default": "public.ecr.aws/nginx/nginx:1.27"},
        "cpu": 256,
        "memory": 512,
        "ports": [{"name": "http", "port": 8080}],
        "health_check": {"command": "curl -f http://localhost:8080/ || exit 1"},
        "user": "1000:1000",
        "readonly_root_filesystem": True,
        "target_groups": [target_group],
    }
