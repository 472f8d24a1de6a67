"""What earlier instances of a stack left behind, found from CloudFormation's own record.

A delete keeps what has DeletionPolicy Retain (DELETE_SKIPPED) and a final snapshot of
what has Snapshot; so does the rollback of a failed first create (ROLLBACK_COMPLETE), whose
leftovers otherwise only scroll past. CloudFormation keeps a deleted stack's events under
its stack ID (DescribeStackEvents takes the ID of a deleted stack) and lists deleted stacks
(ListStacks), so the leftovers can be found after the stack is gone:

- the stack IDs: every ID deploy.sh recorded when it created a stack of that name
  (``record``, in ``.stackgen/stacks.json`` of the checkout, or ``STACKGEN_STATE_DIR``),
  and the deleted or rolled-back root stacks of that name that ListStacks returns;
- the nested stacks of each: the stack resources named in its events;
- the leftovers: every DELETE_SKIPPED resource, and the final snapshots of the database
  clusters the stack deleted; only those that still exist are reported
  (:mod:`generator.deploy.retained` asks each service).

Subcommands:
  record  --stack-name S --stack-id ID   remember a stack ID (deploy.sh, on create)
  list    --stack-name S                 print what earlier instances left behind
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError

from generator.deploy import retained
from generator.deploy._aws import ROOT, add_aws_args, client, guard

STATE_FILE = "stacks.json"
STACK = "AWS::CloudFormation::Stack"
GONE_STATUSES = ("DELETE_COMPLETE", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED")


# --- the local record of stack IDs ----------------------------------------------------------


def state_dir() -> Path:
    """Where deploy.sh keeps local state (stack IDs, locks); ignored by git."""
    path = Path(os.environ.get("STACKGEN_STATE_DIR") or ROOT / ".stackgen")
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# local deploy state of stackgen (stack IDs, locks): never committed\n*\n")
    return path


def _key(stack_name: str, region: str | None, endpoint_url: str | None) -> str:
    return f"{endpoint_url or 'aws'} {region or '-'} {stack_name}"


def _load() -> dict[str, list[dict]]:
    path = state_dir() / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, list[dict]]) -> None:
    folder = state_dir()
    fd, tmp = tempfile.mkstemp(prefix=".stacks.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
    os.replace(tmp, folder / STATE_FILE)


def record(stack_name: str, stack_id: str, region: str | None, endpoint_url: str | None) -> None:
    """Remember that ``stack_id`` is an instance of ``stack_name`` (idempotent)."""
    data = _load()
    entries = data.setdefault(_key(stack_name, region, endpoint_url), [])
    if all(e.get("id") != stack_id for e in entries):
        entries.append({"id": stack_id, "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        _save(data)


def forget(stack_name: str, stack_ids: set[str], region: str | None, endpoint_url: str | None) -> None:
    """Drop recorded IDs (their leftovers were purged)."""
    data = _load()
    key = _key(stack_name, region, endpoint_url)
    kept = [e for e in data.get(key, []) if e.get("id") not in stack_ids]
    if kept != data.get(key, []):
        if kept:
            data[key] = kept
        else:
            data.pop(key, None)
        _save(data)


def recorded(stack_name: str, region: str | None, endpoint_url: str | None) -> list[str]:
    return [e["id"] for e in _load().get(_key(stack_name, region, endpoint_url), []) if e.get("id")]


# --- CloudFormation's record ------------------------------------------------------------------


def instances(cfn, stack_name: str, region: str | None, endpoint_url: str | None) -> list[str]:
    """IDs of the instances of ``stack_name`` that no longer run: recorded ones and the
    deleted or rolled-back root stacks of that name CloudFormation lists."""
    ids = list(recorded(stack_name, region, endpoint_url))
    try:
        for page in cfn.get_paginator("list_stacks").paginate(StackStatusFilter=list(GONE_STATUSES)):
            for summary in page.get("StackSummaries", []):
                if summary["StackName"] == stack_name and not summary.get("ParentId"):
                    ids.append(summary["StackId"])
    except ClientError:
        pass
    return list(dict.fromkeys(ids))


def _events(cfn, stack_id: str) -> list[dict]:
    out: list[dict] = []
    kwargs = {"StackName": stack_id}
    while True:
        try:
            page = cfn.describe_stack_events(**kwargs)
        except ClientError as exc:
            if "does not exist" in str(exc) or "ValidationError" in str(exc):
                return out
            raise
        out += page.get("StackEvents", [])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def _nested_by_name(cfn, parent_name: str, logical_id: str) -> list[str]:
    """Nested stacks named PARENT-LOGICALID-* (a nested stack that failed while being
    created has no ID in its parent's events)."""
    prefix = f"{parent_name}-{logical_id}-"
    found = []
    try:
        for page in cfn.get_paginator("list_stacks").paginate():
            found += [s["StackId"] for s in page.get("StackSummaries", []) if s["StackName"].startswith(prefix)]
    except ClientError:
        return []
    return found


def left_behind(cfn, root_id: str) -> list[dict]:
    """Every resource the instance ``root_id`` (with its nested stacks) left behind, as
    {path, type, id, why}; whether it still exists is not checked here."""
    out: list[dict] = []
    seen_ids = {root_id}
    queue = [(root_id, "")]
    rolled_back = False  # the root rolled back: a failed first create
    while queue:
        sid, path = queue.pop(0)
        name = sid.split(":stack/", 1)[-1].split("/", 1)[0]
        events = sorted(_events(cfn, sid), key=lambda e: e["Timestamp"])
        if sid == root_id:
            rolled_back = any(
                e.get("ResourceStatus") == "ROLLBACK_IN_PROGRESS" and e.get("PhysicalResourceId") == sid for e in events
            )
        for event in events:
            logical, rtype = event["LogicalResourceId"], event.get("ResourceType", "")
            pid = event.get("PhysicalResourceId") or ""
            full = f"{path}/{logical}" if path else logical
            if rtype == STACK and pid != sid and logical != name:
                children = [pid] if pid.startswith("arn:") else _nested_by_name(cfn, name, logical)
                for child in children:
                    if child not in seen_ids:
                        seen_ids.add(child)
                        queue.append((child, full))
                continue
            when = event["Timestamp"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
            if event.get("ResourceStatus") == "DELETE_SKIPPED" and pid:
                why = "the rollback of a failed create" if rolled_back else "a delete"
                out.append({"path": full, "type": rtype, "id": pid, "why": f"retained by {why} ({when} UTC)"})
            elif rtype == "AWS::RDS::DBCluster" and event.get("ResourceStatus") == "DELETE_COMPLETE" and pid:
                out.append(
                    {
                        "path": full,
                        "type": "AWS::RDS::DBCluster",
                        "id": pid,
                        "why": f"deleted {when} UTC",
                        "snapshots_of": pid,
                    }
                )
    unique: dict[tuple[str, str], dict] = {}
    for entry in out:
        unique.setdefault((entry["type"], entry["id"]), entry)
    return list(unique.values())


def still_there(args, entries: list[dict], source: str) -> list[dict]:
    """The entries that still exist (a deleted database cluster stands for its final
    snapshots), each marked with ``source`` (the stack ID it came from)."""
    out = []
    for entry in entries:
        if entry.get("snapshots_of"):
            try:
                names = retained.cluster_snapshots(args, entry["snapshots_of"])
            except ClientError:
                names = []
            out += [
                {
                    "path": entry["path"],
                    "type": retained.SNAPSHOT,
                    "id": snap,
                    "source": source,
                    "what": f"final snapshot of database cluster {entry['id']} ({entry['why']})",
                }
                for snap in names
            ]
            continue
        if retained.exists(args, entry["type"], entry["id"]) is False:
            continue
        detail = retained.detail(args, entry["type"], entry["id"])
        out.append({**entry, "source": source, "what": entry["why"] + (f"; {detail}" if detail else "")})
    return out


def earlier(args, stack_name: str, exclude: str | None = None) -> list[dict]:
    """What the earlier instances of ``stack_name`` left behind that still exists."""
    cfn = client("cloudformation", args)
    found: list[dict] = []
    for sid in instances(cfn, stack_name, args.region, args.endpoint_url):
        if sid != exclude:
            found += still_there(args, left_behind(cfn, sid), sid)
    return found


def print_entries(entries: list[dict], title: str, out=sys.stdout) -> None:
    if not entries:
        return
    print(title, file=out)
    for entry in entries:
        print(f"  - {entry['path']} ({entry['type']} {entry['id']}): {entry['what']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.leftovers", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record", help="remember a stack ID of a stack name (deploy.sh, on create)")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--stack-id", required=True)
    add_aws_args(p)
    p = sub.add_parser("list", help="what earlier instances of a stack left behind")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--exclude-id", help="a stack ID to leave out (the running instance)")
    p.add_argument("--stack-id", help="only this instance (e.g. the stack a failed create left)")
    add_aws_args(p)
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.stack_name, args.stack_id, args.region, args.endpoint_url)
        return 0
    if args.stack_id:
        entries = still_there(args, left_behind(client("cloudformation", args), args.stack_id), args.stack_id)
    else:
        entries = earlier(args, args.stack_name, args.exclude_id)
    print_entries(entries, f"Left behind by earlier instances of {args.stack_name} (they still exist):")
    if not entries:
        print(f"Nothing left behind by earlier instances of {args.stack_name}.")
    return 0


if __name__ == "__main__":
    sys.exit(guard(main))
