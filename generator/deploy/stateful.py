"""Which resource types hold state, and which property changes replace a resource.

The stateful types are the one table in ``generator.cfn.facts`` (the invariants read it
too); the change-set summary highlights replacement or removal of these types, and the
delete report lists what of them outlives a stack delete.  Replacing properties come from
cfn-lint's bundled resource schemas, read once in ``generator.awsfacts``.
``python -m generator.deploy.stateful`` prints the table.
"""

from __future__ import annotations

import argparse
import sys

from generator import awsfacts
from generator.cfn.facts import STATEFUL_TYPES as FACTS

# type -> what it is, in the words of the warning: a view of the one table,
# generator.cfn.facts.STATEFUL_TYPES (its source is named there).
STATEFUL_TYPES: dict[str, str] = {rtype: kind.what for rtype, kind in FACTS.items()}


# DeletionPolicy when a template sets none (AWS attribute reference).
def default_deletion_policy(rtype: str, props: dict | None) -> str:
    if rtype == "AWS::RDS::DBCluster":
        return "Snapshot"
    if rtype == "AWS::RDS::DBInstance" and not (props or {}).get("DBClusterIdentifier"):
        return "Snapshot"
    return "Delete"


def replacing_properties(rtype: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(properties whose change always replaces, properties that may replace), or None
    when the type is unknown: the create-only properties of the resource schemas
    (``generator.awsfacts.create_only_paths``), a whole property or a part of one, and
    the conditionally create-only ones (``conditionalCreateOnlyProperties``: a DB
    cluster's Engine is replaced or upgraded in place depending on the change)."""
    paths = awsfacts.create_only_paths(rtype)
    if paths is None:
        return None
    always = {p[0] for p in paths if len(p) == 1}
    maybe = {p[0] for p in paths if len(p) > 1} | awsfacts.conditional_create_only_properties(rtype)
    return frozenset(always), frozenset(maybe - always)


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
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.stateful", description=__doc__.split("\n\n")[0])
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
