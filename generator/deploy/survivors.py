"""What outlives a stack delete, listed once; and the purge of it.

Subcommands:
  before  list, once, what deleting the stack leaves behind: its retained resources (EFS,
          log groups, ECR repositories and their images, the KMS key, secrets, buckets),
          the final snapshot of its database, secrets and keys in their recovery window;
          what a failed first create of it left (ROLLBACK_COMPLETE); what earlier instances
          of the same stack name left (:mod:`generator.deploy.leftovers`); its packaged
          templates in the artifact bucket; and what will make the delete fail. Also
          writes the environment's ``retain_on_delete`` (the parent template's
          ``Metadata.stackgen.retain_on_delete``) for delete.sh. --save FILE keeps it all
          for ``after`` and ``purge``.
  after   once the delete has finished: one line on how the survivors were checked through
          their service APIs, the final snapshots' names, anything CloudFormation retained
          that was not expected, and the resources it failed to delete (DELETE_FAILED).
          Exit 1 when the stack still exists.
  purge   delete what ``before`` saved (:mod:`generator.deploy.retained` per type); final
          database snapshots only with --snapshots. Exit 1 when something was not purged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from generator.cfn.load import load_text
from generator.deploy import leftovers, retained
from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, describe, guard, paint
from generator.deploy.events import parse_ts, stack_events
from generator.deploy.stateful import default_deletion_policy

RETAIN = ("Retain", "RetainExceptOnCreate")
ARTIFACTS_SHOWN = 20  # keys listed one by one; beyond that, how many more
FAILED_CREATE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")


def _template(cfn, stack_id: str) -> dict:
    body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else load_text(body, stack_id)


def walk(cfn, stack_id: str, path: str = "", template: dict | None = None):
    """(path, template resource, live resource) for every resource in the tree."""
    template = template if template is not None else _template(cfn, stack_id)
    defs = template.get("Resources") or {}
    for res in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]:
        logical = res["LogicalResourceId"]
        full = f"{path}/{logical}" if path else logical
        yield full, defs.get(logical) or {}, res
        if res["ResourceType"] == "AWS::CloudFormation::Stack" and res.get("PhysicalResourceId"):
            yield from walk(cfn, res["PhysicalResourceId"], full)


def _protected(args, rtype: str, pid: str) -> bool:
    """Whether the live resource has deletion protection on (best effort)."""
    try:
        if rtype == "AWS::RDS::DBCluster":
            clusters = client("rds", args).describe_db_clusters(DBClusterIdentifier=pid)
            return bool(clusters["DBClusters"][0].get("DeletionProtection"))
        if rtype == "AWS::RDS::DBInstance":
            found = client("rds", args).describe_db_instances(DBInstanceIdentifier=pid)
            return bool(found["DBInstances"][0].get("DeletionProtection"))
        if rtype == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            attrs = client("elbv2", args).describe_load_balancer_attributes(LoadBalancerArn=pid)["Attributes"]
            return any(a["Key"] == "deletion_protection.enabled" and a["Value"] == "true" for a in attrs)
    except (ClientError, KeyError, IndexError):
        pass
    return False


def retain_on_delete(template: dict, env: str | None) -> str:
    """ "true"/"false" from the parent's Metadata.stackgen.retain_on_delete, else "unknown"."""
    table = ((template.get("Metadata") or {}).get("stackgen") or {}).get("retain_on_delete") or {}
    value = table.get(env) if env else None
    return "unknown" if value is None else str(bool(value)).lower()


def live_survivors(args, cfn, stack: dict, template: dict) -> tuple[list[dict], list[str]]:
    """(what outlives deleting the live stack, what will make its delete fail)."""
    survivors, blockers = [], []
    for path, definition, res in walk(cfn, stack["StackId"], template=template):
        rtype, pid = res["ResourceType"], res.get("PhysicalResourceId", "")
        if rtype == "AWS::CloudFormation::Stack" or not pid:
            continue
        props = definition.get("Properties") or {}
        policy = definition.get("DeletionPolicy") or default_deletion_policy(rtype, props)
        policy = policy if isinstance(policy, str) else "Delete (conditional policy)"
        entry = {"path": path, "type": rtype, "id": pid, "policy": policy}
        if policy in RETAIN:
            detail = retained.detail(args, rtype, pid)
            entry["what"] = "retained" + (f" ({detail})" if detail else "")
        elif policy == "Snapshot":
            entry["what"] = "deleted after a final snapshot (the snapshot is kept)"
            if _protected(args, rtype, pid):
                blockers.append(
                    f"{path} ({rtype} {pid}): deletion protection is on; its delete will fail until it is turned off"
                )
        elif rtype == "AWS::SecretsManager::Secret":
            entry["what"] = (
                "deleted into Secrets Manager's recovery window (restorable with "
                "aws secretsmanager restore-secret until it ends)"
            )
        elif rtype == "AWS::KMS::Key":
            window = props.get("PendingWindowInDays", 30)
            entry["what"] = f"pending deletion for {window} days (cancel-key-deletion)"
        else:
            if _protected(args, rtype, pid):
                blockers.append(
                    f"{path} ({rtype} {pid}): deletion protection is on; its delete will fail until it is turned off"
                )
            empty_on_delete = str(props.get("EmptyOnDelete")).lower() == "true"
            if rtype == "AWS::ECR::Repository" and not empty_on_delete:
                detail = retained.detail(args, rtype, pid)
                if detail and not detail.startswith("0 "):
                    blockers.append(
                        f"{path} ({rtype} {pid}): holds {detail} and is not "
                        "retained or EmptyOnDelete; its delete will fail"
                    )
            continue
        survivors.append(entry)
    return survivors, blockers


def artifacts(args, stack_name: str) -> tuple[str, list[str] | str]:
    """(the s3:// prefix of the stack's packaged templates, their keys or why they cannot
    be listed)."""
    from generator.deploy.artifacts import default_bucket, list_keys  # noqa: PLC0415 - only `before` needs it

    bucket = args.bucket or default_bucket(args)
    prefix = (args.prefix or stack_name).strip("/") + "/"
    return f"s3://{bucket}/{prefix}", list_keys(args, bucket, prefix)


def before(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    stack = describe(cfn, args.stack_name)
    status = stack["StackStatus"] if stack else "NONE"
    if args.status_file:
        Path(args.status_file).write_text(status + "\n", encoding="utf-8")
    survivors: list[dict] = []
    blockers: list[str] = []
    failed_create: list[dict] = []
    retain = "unknown"
    if stack is not None:
        template = _template(cfn, stack["StackId"])
        retain = retain_on_delete(template, args.env)
        if status in FAILED_CREATE:
            failed_create = leftovers.still_there(args, leftovers.left_behind(cfn, stack["StackId"]), stack["StackId"])
        elif not args.leftovers_only:
            survivors, blockers = live_survivors(args, cfn, stack, template)
    if args.retain_file:
        Path(args.retain_file).write_text(retain + "\n", encoding="utf-8")
    earlier = leftovers.earlier(args, args.stack_name, stack["StackId"] if stack else None)
    if stack is not None and not args.leftovers_only and status not in FAILED_CREATE:
        print(f"What survives deleting {stack['StackName']}:")
        if not survivors:
            print("  nothing: every resource is deleted")
        for entry in survivors:
            print(f"  - {entry['path']} ({entry['type']} {entry['id']}): {entry['what']}")
    leftovers.print_entries(
        failed_create, f"Left behind by the failed create of {args.stack_name} ({status}; they still exist):"
    )
    leftovers.print_entries(earlier, f"Left behind by earlier instances of {args.stack_name} (they still exist):")
    if args.leftovers_only and not failed_create and not earlier:
        print(f"Nothing left behind by earlier instances of {args.stack_name}.")
    where, keys = artifacts(args, args.stack_name)
    if isinstance(keys, str):
        print(f"Artifacts: the packaged templates under {where} cannot be listed ({keys})")
        keys = []
    else:
        print(f"Artifacts: {len(keys)} packaged template(s) under {where} (kept unless --purge-artifacts)")
    for key in keys[:ARTIFACTS_SHOWN]:
        print(f"  - {key}")
    if len(keys) > ARTIFACTS_SHOWN:
        print(f"  ... and {len(keys) - ARTIFACTS_SHOWN} more (aws s3 ls {where})")
    for blocker in blockers:
        print(paint(f"  WARNING: {blocker}", "redbold"))
    if args.save:
        Path(args.save).write_text(
            json.dumps(
                {
                    "stack_id": stack["StackId"] if stack else None,
                    "survivors": survivors,
                    "leftovers": failed_create + earlier,
                },
                indent=2,
            )
        )
    return 0


def _check_saved(args, entry: dict) -> tuple[bool, str]:
    """(as expected, what the service API says now) about a saved survivor."""
    rtype, pid = entry["type"], entry["id"]
    if entry["policy"] in RETAIN:
        exists = retained.exists(args, rtype, pid)
        if exists is False:
            return False, "GONE: it was deleted although its DeletionPolicy is " + entry["policy"]
        return True, "still exists"
    if entry["policy"] == "Snapshot" and rtype == "AWS::RDS::DBCluster":
        names = retained.cluster_snapshots(args, pid)
        return bool(names), f"final snapshot(s): {', '.join(names)}" if names else "no snapshot found"
    if rtype == "AWS::SecretsManager::Secret":
        return True, retained.detail(args, rtype, pid) or "deleted at once (no recovery window)"
    return True, retained.detail(args, rtype, pid) or entry.get("what", "")


def after(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    saved = json.loads(Path(args.load).read_text()) if args.load else {}
    stack_id = saved.get("stack_id") or args.stack_name
    since = parse_ts(args.since)
    stack = describe(cfn, stack_id)
    status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
    labels = {stack_id: ""}
    skipped, failed = [], []
    queue = [stack_id]
    while queue:
        sid = queue.pop(0)
        for event in stack_events(cfn, sid, since):
            label = labels[sid]
            name = f"{label}/{event['LogicalResourceId']}" if label else event["LogicalResourceId"]
            pid = event.get("PhysicalResourceId") or ""
            if (
                event.get("ResourceType") == "AWS::CloudFormation::Stack"
                and pid.startswith("arn:")
                and pid != sid
                and pid not in labels
            ):
                labels[pid] = name
                queue.append(pid)
            if event.get("ResourceStatus") == "DELETE_SKIPPED" and pid:
                skipped.append(
                    {
                        "path": name,
                        "type": event.get("ResourceType", ""),
                        "id": pid,
                        "policy": "Retain",
                        "what": "retained (not expected)",
                    }
                )
            elif event.get("ResourceStatus") == "DELETE_FAILED" and pid != sid:
                failed.append(
                    f"{name} ({event.get('ResourceType')}): {event.get('ResourceStatusReason') or 'no reason given'}"
                )
    survivors = saved.get("survivors", [])
    known = {(s["type"], s["id"]) for s in survivors}
    unexpected = [s for s in {(s["type"], s["id"]): s for s in skipped}.values() if (s["type"], s["id"]) not in known]
    notes = []
    ok = 0
    for entry in survivors:
        fine, now = _check_saved(args, entry)
        ok += fine
        if not fine or entry["policy"] == "Snapshot":
            notes.append(f"  - {entry['path']} ({entry['type']} {entry['id']}): {now}")
    if survivors:
        print(
            f"Checked through their service APIs: {ok} of {len(survivors)} survivor(s) listed above "
            "are as expected" + (":" if notes else ".")
        )
        for note in notes:
            print(note if "GONE" not in note else paint(note, "redbold"))
    if unexpected:
        print("Also retained by CloudFormation (DELETE_SKIPPED), not in the list above:")
        for entry in unexpected:
            print(f"  - {entry['path']} ({entry['type']} {entry['id']})")
    if args.load and unexpected:
        saved["survivors"] = survivors + unexpected
        Path(args.load).write_text(json.dumps(saved, indent=2))
    if failed:
        print(paint("DELETE_FAILED:", "redbold"))
        for item in dict.fromkeys(failed):
            print(paint(f"  - {item}", "red"))
    if status != "DELETE_COMPLETE":
        print(paint(f"The stack still exists ({status}).", "redbold"))
        return EXIT_FAIL
    return 0


def targets(saved: dict, snapshots: bool, args) -> tuple[list[dict], list[dict]]:
    """(what a purge deletes, what it keeps) of what ``before`` (and ``after``) saved."""
    purge: list[dict] = []
    keep: list[dict] = []
    for entry in saved.get("survivors", []):
        if entry["policy"] in RETAIN or entry["type"] == "AWS::SecretsManager::Secret":
            purge.append(entry)
        elif entry["policy"] == "Snapshot" and entry["type"] == "AWS::RDS::DBCluster":
            try:
                names = retained.cluster_snapshots(args, entry["id"])
            except ClientError:
                names = []
            for name in names:
                snap = {"path": entry["path"], "type": retained.SNAPSHOT, "id": name}
                (purge if snapshots else keep).append(snap)
    for entry in saved.get("leftovers", []):
        (purge if snapshots or entry["type"] != retained.SNAPSHOT else keep).append(entry)
    return purge, keep


def purge(args: argparse.Namespace) -> int:
    saved = json.loads(Path(args.load).read_text())
    todo, keep = targets(saved, args.snapshots, args)
    failures: set[str] = set()
    for entry in todo:
        try:
            done = retained.purge(args, entry["type"], entry["id"], snapshots=args.snapshots)
        except retained.PurgeError as exc:
            failures.add(entry.get("source") or saved.get("stack_id") or "")
            print(paint(f"  NOT PURGED: {entry['path']} ({entry['type']} {entry['id']}): {exc}", "redbold"))
            continue
        print(f"  - {entry['path']}: {done}")
    for entry in keep:
        print(f"  - {entry['path']}: kept final snapshot {entry['id']} (--purge-snapshots deletes it)")
    # The recorded stack IDs whose leftovers are all gone are not needed any more.
    sources = {e.get("source") for e in saved.get("leftovers", []) if e.get("source")}
    if saved.get("stack_id") and not args.leftovers_only:
        sources.add(saved["stack_id"])
    leftovers.forget(args.stack_name, sources - failures, args.region, args.endpoint_url)
    return EXIT_FAIL if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.survivors", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("before", help="list what will survive deleting the stack")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--env", help="the environment (for its retain_on_delete)")
    p.add_argument("--bucket", help="artifact bucket (default: stackgen-artifacts-<account>-<region>)")
    p.add_argument("--prefix", help="artifact prefix (default: the stack name)")
    p.add_argument("--save", help="write the list to this JSON file for `after` and `purge`")
    p.add_argument("--status-file", help="write the stack's status (or NONE) here")
    p.add_argument("--retain-file", help="write the environment's retain_on_delete (true, false, unknown) here")
    p.add_argument(
        "--leftovers-only", action="store_true", help="only what earlier instances (or a failed create) left behind"
    )
    add_aws_args(p)
    p = sub.add_parser("after", help="report retained / failed resources after the delete")
    p.add_argument("--stack-name", required=True, help="stack name or id")
    p.add_argument("--load", help="the JSON file `before --save` wrote")
    p.add_argument("--since", default="0", help="only events after this timestamp")
    add_aws_args(p)
    p = sub.add_parser("purge", help="delete what `before` saved")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--load", required=True, help="the JSON file `before --save` wrote")
    p.add_argument("--snapshots", action="store_true", help="delete final database snapshots too")
    p.add_argument("--leftovers-only", action="store_true", help="the stack itself was not deleted")
    add_aws_args(p)
    args = parser.parse_args(argv)
    return {"before": before, "after": after, "purge": purge}[args.command](args)


if __name__ == "__main__":
    sys.exit(guard(main))
