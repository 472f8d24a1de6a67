"""``delete.sh --stack-set``: list what the stack set's instances leave behind, delete the
instances (and wait for the operation), then the stack set and its read statements in the
artifact buckets. Called by :mod:`generator.deploy.stacksets` (``delete`` subcommand).

What survives is read from the live stacks in the caller's account (physical IDs, through
:func:`generator.deploy.survivors.walk`); the stacks of other accounts cannot be read with the
administrator's credentials, so for those the resources that survive are named from the stack
set's templates (logical IDs, the DeletionPolicy or the type's default).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from botocore.exceptions import ClientError

from generator.cfn.load import load_text
from generator.deploy import artifacts
from generator.deploy import stackset_inputs as inputs
from generator.deploy._aws import EXIT_FAIL, EXIT_USAGE, client, prog
from generator.deploy.stackset_status import (
    caller_account,
    describe_stack_set,
    list_instances,
    ordered_regions,
    put_read_statement,
    region_args,
    watch_operation,
)
from generator.deploy.stateful import default_deletion_policy
from generator.deploy.survivors import walk

SURVIVES = ("Retain", "RetainExceptOnCreate", "Snapshot")


def survivors_of(args: argparse.Namespace, stack_set: dict, instance: dict, own: str) -> list[str]:
    """What deleting one instance leaves behind: from the live stack in the caller's account
    (physical IDs), else from the stack set's templates (logical IDs; another account's stacks
    cannot be read with these credentials)."""
    lines = []
    where = f"{instance['Account']} {instance['Region']}"
    if instance["Account"] == own and instance.get("StackId"):
        cfn = client("cloudformation", args, region=instance["Region"])
        try:
            for path, res, live in walk(cfn, instance["StackId"]):
                policy = res.get("DeletionPolicy") or default_deletion_policy(
                    live["ResourceType"], res.get("Properties")
                )
                if policy in SURVIVES:
                    pid = live.get("PhysicalResourceId") or "-"
                    lines.append(f"  {where}: {path} ({live['ResourceType']}, {policy}): {pid}")
            return lines
        except ClientError:
            pass
    for path, rtype, policy in template_survivors(args, stack_set):
        lines.append(f"  {where}: {path} ({rtype}, {policy})")
    return lines


def template_survivors(args: argparse.Namespace, stack_set: dict) -> list[tuple[str, str, str]]:
    body = load_text(stack_set.get("TemplateBody") or "{}", args.stack_set_name)
    found: list[tuple[str, str, str]] = []
    s3 = client("s3", args)
    for lid, res in (body.get("Resources") or {}).items():
        url = ((res or {}).get("Properties") or {}).get("TemplateURL")
        if res.get("Type") != inputs.STACK_TYPE or not isinstance(url, dict):
            continue
        key = str(url.get("Fn::Sub", "")).rsplit("}/", 1)[-1]
        try:
            child = load_text(s3.get_object(Bucket=args.bucket, Key=key)["Body"].read().decode(), key)
        except ClientError:
            continue
        for clid, cres in (child.get("Resources") or {}).items():
            rtype = str(cres.get("Type"))
            policy = cres.get("DeletionPolicy") or default_deletion_policy(rtype, cres.get("Properties"))
            if policy in SURVIVES:
                found.append((f"{lid}/{clid}", rtype, str(policy)))
    return found


def delete(args: argparse.Namespace, targets: inputs.Targets) -> int:
    cfn = client("cloudformation", args)
    call = targets.call()
    stack_set = describe_stack_set(cfn, args.stack_set_name, call)
    if stack_set is None:
        print(f"Stack set {args.stack_set_name} does not exist ({args.region}); nothing to delete.")
        return 0
    own = caller_account(args)
    args.bucket = args.bucket or artifacts.default_bucket(args)
    instances = list_instances(cfn, args.stack_set_name, call)
    chosen = [i for i in instances if not targets.regions or i["Region"] in targets.regions]
    if chosen:
        print(f"What survives deleting the {len(chosen)} instance(s) of {args.stack_set_name}:")
        for inst in chosen:
            for line in survivors_of(args, stack_set, inst, own) or [f"  {inst['Account']} {inst['Region']}: nothing"]:
                print(line)
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                f"{prog()}: error: confirmation is required and stdin is not a terminal: pass --yes to delete "
                f"{args.stack_set_name}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if input(f"Type the stack set name ({args.stack_set_name}) to delete it: ").strip() != args.stack_set_name:
            print(f"{prog()}: error: not deleted: the name typed did not match", file=sys.stderr)
            return EXIT_FAIL
    if chosen:
        regions = ordered_regions(targets.regions, chosen)
        where: dict[str, Any]
        ous = sorted({i["OrganizationalUnitId"] for i in chosen if i.get("OrganizationalUnitId")} | set(targets.ous))
        if stack_set.get("PermissionModel") == "SERVICE_MANAGED":
            if not ous:
                print(
                    f"{prog()}: error: the instances of {args.stack_set_name} name no organizational unit: pass "
                    "--organizational-units ou-...[,...] (a service-managed stack set deletes by OU)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            where = {"DeploymentTargets": {"OrganizationalUnitIds": ous}}
        else:
            where = {"Accounts": sorted({i["Account"] for i in chosen})}
        op = cfn.delete_stack_instances(
            StackSetName=args.stack_set_name,
            Regions=regions,
            RetainStacks=False,
            OperationPreferences=targets.preferences_for(regions),
            **where,
            **call,
        )["OperationId"]
        print(f"==> Deleting the instances in {', '.join(regions)} (operation {op})")
        if not watch_operation(cfn, args.stack_set_name, op, args.interval, args.operation_timeout, call):
            print(f"{prog()}: error: the instances of {args.stack_set_name} were not all deleted", file=sys.stderr)
            return EXIT_FAIL
    left = list_instances(cfn, args.stack_set_name, call)
    if left:
        print(
            f"Stack set {args.stack_set_name} keeps {len(left)} instance(s) in {', '.join(ordered_regions([], left))}."
        )
        return 0
    cfn.delete_stack_set(StackSetName=args.stack_set_name, **call)
    prefix = args.bucket[: -len(args.region)] if args.bucket.endswith(f"-{args.region}") else None
    for region in sorted({i["Region"] for i in instances} | {args.region}) if prefix else []:
        with contextlib.suppress(ClientError):
            put_read_statement(region_args(args, region), f"{prefix}{region}", args.stack_set_name, None)
    print(f"==> Deleted stack set {args.stack_set_name}.")
    return 0
