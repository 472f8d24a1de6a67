"""Which resource types hold state, and which property changes replace a resource.

The stateful types are the one table in ``generator.cfn.facts`` (the invariants read it
too); the change-set summary highlights replacement or removal of these types, and the
delete report lists what of them outlives a stack delete.  Replacing properties come from
cfn-lint's bundled resource schemas.  ``python -m generator.deploy.stateful`` prints the table.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from generator.cfn.facts import STATEFUL_TYPES as FACTS

# type -> what it is, in the words of the warning: a view of the one table,
# generator.cfn.facts.STATEFUL_TYPES (its source is named there).
STATEFUL_TYPES: dict[str, str] = {rtype: kind.what for rtype, kind in FACTS.items()}

# Fallback when cfn-lint's resource schemas are not installed: the "Update requires:
# Replacement" properties of the stateful types (AWS resource reference).
_CREATE_ONLY_FALLBACK: dict[str, tuple[str, ...]] = {
    "AWS::RDS::DBCluster": ("DBClusterIdentifier", "DBSubnetGroupName", "DatabaseName",
                            "EngineMode", "KmsKeyId", "PubliclyAccessible", "SnapshotIdentifier",
                            "SourceDBClusterIdentifier", "SourceRegion", "StorageEncrypted",
                            "RestoreType", "UseLatestRestorableTime"),
    "AWS::RDS::DBInstance": ("DBClusterIdentifier", "DBInstanceIdentifier", "DBName",
                             "DBSubnetGroupName", "KmsKeyId", "MasterUsername",
                             "StorageEncrypted", "CharacterSetName", "Timezone"),
    "AWS::EFS::FileSystem": ("AvailabilityZoneName", "Encrypted", "KmsKeyId", "PerformanceMode"),
    "AWS::KMS::Key": (),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::ECR::Repository": ("RepositoryName", "EncryptionConfiguration"),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("Name", "Type", "Scheme"),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::DynamoDB::Table": ("TableName",),
}

# DeletionPolicy when a template sets none (AWS attribute reference).
def default_deletion_policy(rtype: str, props: dict | None) -> str:
    if rtype == "AWS::RDS::DBCluster":
        return "Snapshot"
    if rtype == "AWS::RDS::DBInstance" and not (props or {}).get("DBClusterIdentifier"):
        return "Snapshot"
    return "Delete"


@functools.lru_cache(maxsize=1)
def _cfnlint_schemas() -> tuple[Path, dict] | None:
    try:
        from cfnlint.data import schemas
    except ImportError:
        return None
    base = Path(schemas.__file__).parent
    try:
        index = json.loads((base / "providers" / "us-east-1.json").read_text())
    except (OSError, ValueError):
        return None
    return base, index


@functools.cache
def replacing_properties(rtype: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(properties whose change always replaces, properties that may replace), or None
    when the type is unknown."""
    found = _cfnlint_schemas()
    if found:
        base, index = found
        digest = index.get(rtype)
        if digest:
            try:
                schema = json.loads((base / "resources" / f"{digest}.json").read_text())
            except (OSError, ValueError):
                schema = None
            if schema is not None:
                always, maybe = set(), set()
                for pointer in schema.get("createOnlyProperties", []):
                    parts = pointer.split("/")[2:]
                    (always if len(parts) == 1 else maybe).add(parts[0])
                return frozenset(always), frozenset(maybe - always)
    if rtype in _CREATE_ONLY_FALLBACK:
        return frozenset(_CREATE_ONLY_FALLBACK[rtype]), frozenset()
    return None


def replacement_for(rtype: str, changed: set[str]) -> str:
    """CloudFormation's Replacement value (True/Conditional/False) for changed properties."""
    known = replacing_properties(rtype)
    if known is None:
        return "Conditional" if changed else "False"
    always, maybe = known
    if changed & always:
        return "True"
    if changed & maybe:
        return "Conditional"
    return "False"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.stateful",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", help="print the replacing properties of this type")
    args = parser.parse_args(argv)
    types = [args.type] if args.type else sorted(STATEFUL_TYPES)
    for rtype in types:
        known = replacing_properties(rtype)
        always = ", ".join(sorted(known[0])) if known else "unknown"
        print(f"{rtype:<44} {STATEFUL_TYPES.get(rtype, '-'):<20} replaced by: {always}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
