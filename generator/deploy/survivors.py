"""What outlives a stack delete.

Subcommands:
  before  walk the stack and its nested stacks and list what will survive the delete:
          retained resources (EFS, log groups, ECR repositories and their images, ...),
          final database snapshots, secrets in their recovery window, KMS keys pending
          deletion; and what will make the delete fail (a non-empty ECR repository or
          bucket that is not retained). --save FILE keeps the list for `after`.
  after   once the delete has finished: report the resources CloudFormation retained
          (DELETE_SKIPPED), the ones it failed to delete (DELETE_FAILED, with reasons),
          and check the saved secrets and snapshots through their service APIs.
          Exit 1 when the stack still exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from generator.cfn.load import load_text
from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, describe, paint
from generator.deploy.events import parse_ts, stack_events
from generator.deploy.stateful import default_deletion_policy

RETAIN = ("Retain", "RetainExceptOnCreate")


def _template(cfn, stack_id: str) -> dict:
    body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else load_text(body, stack_id)


def walk(cfn, stack_id: str, path: str = ""):
    """(path, template resource, live resource) for every resource in the tree."""
    template = _template(cfn, stack_id)
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
            attrs = client("elbv2", args).describe_load_balancer_attributes(
                LoadBalancerArn=pid)["Attributes"]
            return any(a["Key"] == "deletion_protection.enabled" and a["Value"] == "true"
                       for a in attrs)
    except (ClientError, KeyError, IndexError):
        pass
    return False


def _detail(args, rtype: str, pid: str) -> str:
    """A short description of what a retained resource holds (best effort)."""
    try:
        if rtype == "AWS::Logs::LogGroup":
            groups = client("logs", args).describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
            group = next((g for g in groups if g["logGroupName"] == pid), None)
            if group:
                days = group.get("retentionInDays")
                return f"retention {days} days" if days else "retention: never expires"
        if rtype == "AWS::ECR::Repository":
            images = client("ecr", args).list_images(repositoryName=pid).get("imageIds", [])
            return f"{len(images)} image(s)"
        if rtype == "AWS::EFS::FileSystem":
            fs = client("efs", args).describe_file_systems(FileSystemId=pid)["FileSystems"][0]
            return f"{fs.get('SizeInBytes', {}).get('Value', 0)} bytes"
    except (ClientError, KeyError, IndexError):
        pass
    return ""


def before(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    stack = describe(cfn, args.stack_name)
    if args.status_file:
        Path(args.status_file).write_text((stack["StackStatus"] if stack else "NONE") + "\n",
                                          encoding="utf-8")
    if stack is None:
        if not args.status_file:
            print(f"stack {args.stack_name} does not exist")
        return 0
    survivors, blockers = [], []
    for path, definition, res in walk(cfn, stack["StackId"]):
        rtype, pid = res["ResourceType"], res.get("PhysicalResourceId", "")
        if rtype == "AWS::CloudFormation::Stack" or not pid:
            continue
        props = definition.get("Properties") or {}
        policy = definition.get("DeletionPolicy") or default_deletion_policy(rtype, props)
        policy = policy if isinstance(policy, str) else "Delete (conditional policy)"
        entry = {"path": path, "type": rtype, "id": pid, "policy": policy}
        if policy in RETAIN:
            detail = _detail(args, rtype, pid)
            entry["what"] = "retained" + (f" ({detail})" if detail else "")
        elif policy == "Snapshot":
            entry["what"] = "deleted after a final snapshot"
            if _protected(args, rtype, pid):
                blockers.append(f"{path} ({rtype} {pid}): deletion protection is on; its "
                                "delete will fail until it is turned off")
        elif rtype == "AWS::SecretsManager::Secret":
            entry["what"] = ("deleted; if Secrets Manager keeps it in a recovery window it "
                             "stays restorable (aws secretsmanager restore-secret)")
        elif rtype == "AWS::KMS::Key":
            window = props.get("PendingWindowInDays", 30)
            entry["what"] = f"pending deletion for {window} days (cancel-key-deletion)"
        else:
            if _protected(args, rtype, pid):
                blockers.append(f"{path} ({rtype} {pid}): deletion protection is on; its delete "
                                "will fail until it is turned off")
            empty_on_delete = str(props.get("EmptyOnDelete")).lower() == "true"
            if rtype == "AWS::ECR::Repository" and not empty_on_delete:
                detail = _detail(args, rtype, pid)
                if detail and not detail.startswith("0 "):
                    blockers.append(f"{path} ({rtype} {pid}): holds {detail} and is not "
                                    "retained or EmptyOnDelete; its delete will fail")
            continue
        survivors.append(entry)
    print(f"What survives deleting {stack['StackName']}:")
    if not survivors:
        print("  nothing: every resource is deleted")
    for entry in survivors:
        print(f"  - {entry['path']} ({entry['type']} {entry['id']}): {entry['what']}")
    if args.bucket:
        print(f"  - artifacts under s3://{args.bucket}/{args.prefix or stack['StackName']}/ "
              "(kept unless --purge-artifacts)")
    for blocker in blockers:
        print(paint(f"  WARNING: {blocker}", "redbold"))
    if args.save:
        Path(args.save).write_text(json.dumps({"stack_id": stack["StackId"],
                                               "survivors": survivors}, indent=2))
    return 0


def _exists(args, rtype: str, pid: str) -> bool | None:
    """Whether a resource still exists, through its service API (None: not checked)."""
    try:
        if rtype == "AWS::Logs::LogGroup":
            groups = client("logs", args).describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
            return any(g["logGroupName"] == pid for g in groups)
        if rtype == "AWS::ECR::Repository":
            client("ecr", args).describe_repositories(repositoryNames=[pid])
            return True
        if rtype == "AWS::EFS::FileSystem":
            return bool(client("efs", args).describe_file_systems(FileSystemId=pid)["FileSystems"])
        if rtype == "AWS::S3::Bucket":
            client("s3", args).head_bucket(Bucket=pid)
            return True
        if rtype == "AWS::SecretsManager::Secret":
            secret = client("secretsmanager", args).describe_secret(SecretId=pid)
            return not secret.get("DeletedDate")
        if rtype == "AWS::KMS::Key":
            key = client("kms", args).describe_key(KeyId=pid)["KeyMetadata"]
            return key.get("KeyState") not in ("PendingDeletion", "PendingReplicaDeletion")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if "NotFound" in code or code in ("404", "NoSuchBucket"):
            return False
        raise
    return None


def _check_saved(args, entry: dict) -> str:
    """What the service API says now about a saved survivor."""
    rtype, pid = entry["type"], entry["id"]
    try:
        if entry["policy"] in RETAIN:
            exists = _exists(args, rtype, pid)
            if exists is False:
                return "GONE: it was deleted although its DeletionPolicy is " + entry["policy"]
            detail = _detail(args, rtype, pid)
            state = "retained, still exists" if exists else "retained (not checked)"
            return state + (f" ({detail})" if detail else "")
        if rtype == "AWS::SecretsManager::Secret":
            secret = client("secretsmanager", args).describe_secret(SecretId=pid)
            deleted = secret.get("DeletedDate")
            return f"in its recovery window (deleted {deleted:%Y-%m-%d %H:%M} UTC)" \
                if deleted else "still active"
        if entry["policy"] == "Snapshot" and rtype == "AWS::RDS::DBCluster":
            snaps = client("rds", args).describe_db_cluster_snapshots(
                DBClusterIdentifier=pid).get("DBClusterSnapshots", [])
            names = ", ".join(s["DBClusterSnapshotIdentifier"] for s in snaps)
            return f"final snapshot(s): {names}" if names else "no snapshot found"
        if rtype == "AWS::KMS::Key":
            key = client("kms", args).describe_key(KeyId=pid)["KeyMetadata"]
            when = key.get("DeletionDate")
            return f"pending deletion until {when:%Y-%m-%d}" if when else \
                f"key state {key.get('KeyState')}"
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "NotFound" in code and rtype == "AWS::SecretsManager::Secret":
            return "deleted at once (no recovery window)"
        return f"not found ({code})" if "NotFound" in code else f"unknown ({code})"
    return entry.get("what", "")


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
            if event.get("ResourceType") == "AWS::CloudFormation::Stack" and \
                    pid.startswith("arn:") and pid != sid and pid not in labels:
                labels[pid] = name
                queue.append(pid)
            if event.get("ResourceStatus") == "DELETE_SKIPPED":
                skipped.append(f"{name} ({event.get('ResourceType')} "
                               f"{event.get('PhysicalResourceId', '')})")
            elif event.get("ResourceStatus") == "DELETE_FAILED" and \
                    event.get("PhysicalResourceId") != sid:
                failed.append(f"{name} ({event.get('ResourceType')}): "
                              f"{event.get('ResourceStatusReason') or 'no reason given'}")
    if skipped:
        print("Retained by CloudFormation (DELETE_SKIPPED):")
        for item in dict.fromkeys(skipped):
            print(f"  - {item}")
    if saved.get("survivors"):
        print("Survivors now:")
        for entry in saved["survivors"]:
            print(f"  - {entry['path']} ({entry['type']} {entry['id']}): "
                  f"{_check_saved(args, entry)}")
    if failed:
        print(paint("DELETE_FAILED:", "redbold"))
        for item in dict.fromkeys(failed):
            print(paint(f"  - {item}", "red"))
    if status != "DELETE_COMPLETE":
        print(paint(f"The stack still exists ({status}).", "redbold"))
        return EXIT_FAIL
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.survivors",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("before", help="list what will survive deleting the stack")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--bucket", help="artifact bucket, to mention the stack's artifacts")
    p.add_argument("--prefix", help="artifact prefix (default: the stack name)")
    p.add_argument("--save", help="write the list to this JSON file for `after`")
    p.add_argument("--status-file", help="write the stack's status (or NONE) here")
    add_aws_args(p)
    p = sub.add_parser("after", help="report retained / failed resources after the delete")
    p.add_argument("--stack-name", required=True, help="stack name or id")
    p.add_argument("--load", help="the JSON file `before --save` wrote")
    p.add_argument("--since", default="0", help="only events after this timestamp")
    add_aws_args(p)
    args = parser.parse_args(argv)
    return before(args) if args.command == "before" else after(args)


if __name__ == "__main__":
    sys.exit(main())
