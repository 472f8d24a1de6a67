"""Facts about AWS that the spec checks rely on, each from a named source.

Most come from the CloudFormation resource schemas that cfn-lint bundles
(``cfnlint/data/schemas``: AWS's registry schemas plus cfn-lint's patches); they are
read from the installed cfn-lint package (pinned in pyproject.toml) without importing
it.  The few limits the schemas do not state are in ``DOCUMENTED_LIMITS``, each with
the AWS document it comes from.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

# Domain names per ACM certificate (a load balancer's record and its routes' record hosts):
# "Domain names per ACM certificate", 10, adjustable, AWS Certificate Manager quotas,
# https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html
NAMES_PER_CERTIFICATE = 10

# The schema region whose provider index is read (resource schemas differ little by region).
SCHEMA_REGION = "us-east-1"


# Where a process without cfn-lint (the emulator's own venv) finds the same schemas: the
# emulator launcher sets it to the directory of the cfn-lint that .venv holds.
SCHEMAS_ENV = "STACKGEN_CFN_SCHEMAS"


@functools.cache
def schemas_dir() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    if os.environ.get(SCHEMAS_ENV):
        return Path(os.environ[SCHEMAS_ENV])
    raise RuntimeError(
        "cfn-lint is not installed: its bundled resource schemas hold the AWS limits "
        f"stackgen checks specs against (make venv installs it; or set {SCHEMAS_ENV})"
    )


@functools.cache
def _provider_index() -> dict[str, str]:
    return dict(json.loads((schemas_dir() / "providers" / f"{SCHEMA_REGION}.json").read_text(encoding="utf-8")))


@functools.cache
def resource_schema(resource_type: str) -> dict[str, Any] | None:
    """The CloudFormation registry schema of a resource type, or None when cfn-lint has none."""
    digest = _provider_index().get(resource_type)
    if digest is None:
        return None
    return dict(json.loads((schemas_dir() / "resources" / f"{digest}.json").read_text(encoding="utf-8")))


@functools.cache
def create_only_paths(resource_type: str) -> tuple[tuple[str, ...], ...] | None:
    """The schema's ``createOnlyProperties`` as property paths (``/properties/A/B`` is
    ``("A", "B")``): a change to one of them replaces the resource.  None when cfn-lint
    has no schema for the type."""
    schema = resource_schema(resource_type)
    if schema is None:
        return None
    return tuple(
        tuple(p.split("/")[2:]) for p in schema.get("createOnlyProperties", []) if p.startswith("/properties/")
    )


@functools.cache
def conditional_create_only_properties(resource_type: str) -> set[str]:
    """The schema's ``conditionalCreateOnlyProperties``: top-level properties whose change
    may replace the resource, depending on the change (AWS::RDS::DBCluster ``Engine``);
    empty when the type is unknown or has none."""
    schema = resource_schema(resource_type) or {}
    return {
        p.split("/")[2]
        for p in schema.get("conditionalCreateOnlyProperties", [])
        if p.startswith("/properties/") and len(p.split("/")) > 2
    }


def create_only_properties(resource_type: str) -> set[str]:
    """The top-level properties a change of which (or of the part a create-only pointer
    names inside them) replaces a resource of this type; empty when the type is unknown.
    The one create-only lookup: the change-set review, the stateful table and the
    emulator's providers read it."""
    return {path[0] for path in create_only_paths(resource_type) or () if path}


def property_schema(resource_type: str, prop: str) -> dict[str, Any]:
    """The schema of a top-level property, with a ``$ref`` to a definition resolved."""
    schema = resource_schema(resource_type) or {}
    node = dict(schema.get("properties", {}).get(prop, {}))
    ref = node.get("$ref", "")
    if ref.startswith("#/definitions/"):
        node = {**schema.get("definitions", {}).get(ref.removeprefix("#/definitions/"), {}), **node}
    return node


@functools.cache
def log_retention_days() -> tuple[int, ...]:
    """CloudWatch Logs' allowed retention periods (AWS::Logs::LogGroup RetentionInDays enum)."""
    values = property_schema("AWS::Logs::LogGroup", "RetentionInDays").get("enum")
    if not values:
        raise RuntimeError("cfn-lint's AWS::Logs::LogGroup schema lists no RetentionInDays values")
    return tuple(sorted(int(v) for v in values))


# Region prefixes of the partitions other than "aws" (China, GovCloud, ISO, European
# Sovereign Cloud): names are checked in the commercial partition's regions.
OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-", "eusc-")


@functools.cache
def regions() -> tuple[str, ...]:
    """The aws partition's regions that cfn-lint has schemas for (one provider file each)."""
    names = (p.stem for p in (schemas_dir() / "providers").glob("*.json"))
    return tuple(
        sorted(r for r in names if re.fullmatch(r"[a-z]{2}-[a-z]+-\d+", r) and not r.startswith(OTHER_PARTITIONS))
    )


def longest_region() -> str:
    """The longest region name: a name that embeds the region must fit in every region."""
    return max(regions(), key=lambda r: (len(r), r))


# Limits of names the generator sets that their resource schema does not state:
# (type, property) -> (max length or None = the schema's, pattern or "" = the schema's, source).
DOCUMENTED_LIMITS: dict[tuple[str, str], tuple[int | None, str, str]] = {
    ("AWS::ECS::Cluster", "ClusterName"): (
        255,
        r"^[A-Za-z0-9_-]+$",
        "Amazon ECS API reference, CreateCluster clusterName: up to 255 letters, numbers, underscores, hyphens",
    ),
    ("AWS::ECS::TaskDefinition", "Family"): (
        255,
        r"^[A-Za-z0-9_-]+$",
        "Amazon ECS API reference, RegisterTaskDefinition family: up to 255 letters, numbers, hyphens, underscores",
    ),
    ("AWS::ECS::Service", "ServiceName"): (
        255,
        r"^[A-Za-z0-9_-]+$",
        "Amazon ECS API reference, CreateService serviceName: up to 255 letters, numbers, underscores, hyphens",
    ),
    ("AWS::CertificateManager::Certificate", "DomainName"): (
        64,
        "",
        "ACM API reference, RequestCertificate DomainName: the domain name (the certificate's Common Name) "
        "cannot exceed 64 octets (RFC 5280)",
    ),
    ("AWS::RDS::DBProxy", "DBProxyName"): (
        None,
        r"^[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)$",
        "Amazon RDS API reference, CreateDBProxy DBProxyName: a letter first, then letters, digits, single "
        "hyphens; no hyphen last",
    ),
}

# CloudFormation API reference, CreateStack StackName: at most 128 characters (nested stacks included).
STACK_NAME_MAX = 128
# A nested stack is named <parent stack>-<logical id>-<13 random characters>.
NESTED_STACK_SUFFIX = 13


def name_limits(resource_type: str, prop: str) -> tuple[int | None, str, str]:
    """(max length or None, pattern or '', source) of a string property: the resource
    schema's own constraints, tightened by ``DOCUMENTED_LIMITS`` where AWS documents more."""
    schema = property_schema(resource_type, prop)
    max_len = schema.get("maxLength") if schema.get("type") == "string" else None
    pattern = str(schema.get("pattern", "")) if schema.get("type") == "string" else ""
    source = f"cfn-lint schema of {resource_type} {prop}"
    documented = DOCUMENTED_LIMITS.get((resource_type, prop))
    if documented:
        if documented[0] is not None:
            max_len = documented[0] if max_len is None else min(max_len, documented[0])
        pattern = documented[1] or pattern
        source = documented[2]
    return max_len, pattern, source
