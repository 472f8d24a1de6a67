"""From a finding's template location back to the spec field it comes from.

Logical ids are built from the spec's names (``generator.naming.pascal``): ``MainListener7860``
is listener 7860 of load balancer ``main``, ``AgentcoreTaskRole`` the task role of service
``agentcore``.  A finding about resource ``lid`` is reported against the spec item whose
PascalCase name starts ``lid`` (the longest, of the kind the rest of the id names), and
refined by the rest of the id and the finding's ``path``:
``load_balancers[main].listeners[7860]``, ``services[agentcore].task_permissions``,
``services[web].environment.PORT``; a value of the spec's own parameter is named
``parameters[NAME]``.  What no spec name explains is named by the spec section that asks
for it (``network``, ``database``) or its template location; a template as a whole by the
spec list it grows with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from generator.cfn.finding import ERROR, Finding
from generator.naming import pascal

if TYPE_CHECKING:  # annotations only: deploy.sh's helpers import this without the spec models
    from generator.spec import Platform

# The start of what follows a spec name in a logical id -> (kind of spec item, sub-field).
HINTS: tuple[tuple[str, str, str], ...] = (
    ("TargetGroup", "target_group", ""),
    ("Listener", "load_balancer", ".listeners"),
    ("LoadBalancer", "load_balancer", ""),
    ("Certificate", "load_balancer", ".dns_record"),
    ("AliasRecord", "load_balancer", ".dns_record"),
    ("TaskRole", "service", ".task_permissions"),
    ("TaskDefinition", "service", ""),
    ("ExecutionRole", "service", ""),
    ("ScalableTarget", "service", ".scaling"),
    ("CpuScalingPolicy", "service", ".scaling"),
    ("MemoryScalingPolicy", "service", ".scaling"),
    ("Service", "service", ""),
    ("LogGroup", "service", ""),
    ("Repository", "repository", ""),
    ("ExecLogGroup", "cluster", ""),
    ("Cluster", "cluster", ""),
    ("Secret", "secret", ""),
    ("Parameter", "ssm_parameter", ""),
    ("Bucket", "bucket", ""),
    ("AccessPoint", "access_point", ""),
    ("Subnet", "tier", ""),
    ("RouteTable", "tier", ""),
)
# Generated resources no spec name is part of: the spec section that asks for them.
SECTIONS = (
    ("Database", "database"),
    ("FileSystem", "efs"),
    ("MountTarget", "efs"),
    ("Endpoint", "network"),
    ("Nat", "network"),
    ("InternetGateway", "network"),
    ("Vpc", "network"),
    ("FlowLog", "network"),
    ("PlatformKey", "secrets"),
)
# A whole template: the spec list it grows with.
FILES = {
    "services.yaml": "services",
    "alb.yaml": "load_balancers",
    "security-groups.yaml": "services",
    "iam.yaml": "services",
    "secrets.yaml": "secrets",
    "storage.yaml": "buckets",
    "ecr.yaml": "repositories",
    "monitoring.yaml": "services",
    "autoscaling.yaml": "services",
    "main.yaml": "services",
}


def file_field(where: str) -> str:
    """The spec list a whole template grows with. A split stack is named after the one it
    splits (``services-database.yaml``, ``alb-2.yaml``, ``alb-<group>.yaml``, the root
    ``main-services-2.yaml``): the longest ``-``-separated prefix that is in FILES."""
    if where in FILES:
        return FILES[where]
    stem = where.removesuffix(".yaml")
    while "-" in stem:
        stem = stem.rsplit("-", 1)[0]
        if f"{stem}.yaml" in FILES:
            return FILES[f"{stem}.yaml"]
    return where or "(templates)"


LISTENER_PORT = re.compile(r"^Listener(\d+)")
ENVIRONMENT = re.compile(r"Environment\[([^\]]+)\]")
PORT = re.compile(r"^port (\d+)$")


def _items(spec: Platform) -> list[tuple[str, str, str]]:
    """(kind, field, PascalCase name) of every named spec item."""
    out = [("service", f"services[{s.name}]", pascal(s.name)) for s in spec.services]
    out += [
        ("target_group", f"services[{s.name}].target_groups[{tg.name}]", pascal(tg.name))
        for s in spec.services
        for tg in s.target_groups
    ]
    out += [("load_balancer", f"load_balancers[{x.name}]", pascal(x.name)) for x in spec.load_balancers]
    out += [("cluster", f"clusters[{x.name}]", pascal(x.name)) for x in spec.clusters]
    out += [("secret", f"secrets[{x.name}]", pascal(x.name)) for x in spec.secrets]
    out += [("ssm_parameter", f"ssm_parameters[{x.name}]", pascal(x.name)) for x in spec.ssm_parameters]
    out += [("repository", f"repositories[{x.name}]", pascal(x.name)) for x in spec.repositories]
    out += [("bucket", f"buckets[{b}]", pascal(b)) for b in spec.buckets]
    out += [("tier", f"network.tiers[{t.name}]", pascal(t.name)) for t in spec.network.tiers]
    if spec.efs:
        out += [("access_point", f"efs.access_points[{a.name}]", pascal(a.name)) for a in spec.efs.access_points]
    return out


def spec_field(spec: Platform, f: Finding, items: list[tuple[str, str, str]] | None = None) -> str:
    """The spec field a finding is about (see the module doc)."""
    lid = f.resource
    if not lid:
        parameter = f.path.split(".")[1] if f.path.startswith("Parameters.") and f.path.count(".") >= 1 else None
        if parameter and parameter in {p.name for p in spec.parameters}:
            return f"parameters[{parameter}]"
        return file_field(f.where)
    items = _items(spec) if items is None else items
    best: tuple[int, int, str, str] | None = None
    for kind, field, name in items:
        if not lid.startswith(name):
            continue
        rest = lid[len(name) :]
        hint = next(((k, sub) for start, k, sub in HINTS if rest.startswith(start)), None)
        score = (1 if hint and hint[0] == kind else 0, len(name))
        if best is None or score > best[:2]:
            best = (*score, field, _refine(rest, hint[1] if hint and hint[0] == kind else "", f.path))
    if best is not None:
        return best[2] + best[3]
    section = next((s for start, s in SECTIONS if lid.startswith(start)), None)
    return section or f"{f.where}:{lid}"


def _refine(rest: str, sub: str, path: str) -> str:
    """The sub-field a logical id's rest and a finding's path point at."""
    if sub == ".listeners":
        m = LISTENER_PORT.match(rest)
        return f".listeners[{m.group(1)}]" if m else ""
    m = PORT.match(path)
    if m and rest.startswith("LoadBalancer"):
        return f".listeners[{m.group(1)}]"
    m = ENVIRONMENT.search(path)
    if m and rest.startswith("TaskDefinition"):
        return f".environment.{m.group(1)}"
    return sub


def spec_lines(findings: Iterable[Finding], spec: Platform | None, source: str) -> tuple[list[str], list[str]]:
    """(error lines, warning lines): ``source: field: problem``, sorted and without repeats."""
    items = _items(spec) if spec is not None else []
    errors: set[str] = set()
    warnings: set[str] = set()
    for f in findings:
        field = (
            spec_field(spec, f, items) if spec is not None else (f"{f.where}:{f.resource}" if f.resource else f.where)
        )
        line = f"{source}: {field}: {f.problem}"
        (errors if f.severity == ERROR else warnings).add(line if f.severity == ERROR else f"WARNING: {line}")
    return sorted(errors), sorted(warnings)
