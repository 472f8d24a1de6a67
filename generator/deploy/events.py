"""Stack status and events: poll a stack (and its nested stacks) and explain failures.

Subcommands:
  status     print the stack's status, or NONE when it does not exist
  mark       print the timestamp of the stack's newest event (the start of the next watch)
  watch      stream new events of the stack and every nested stack, polling describe-stacks
             every --interval seconds until the stack settles; exit 0 on success, 1 on
             failure (after printing the root cause). With --execute-change-set or
             --delete it starts the operation itself, after marking where it starts.
  rootcause  print the events of the nested stack that failed first

The AWS CLI v1 `deploy`/`wait` commands poll every 30 s; this polls at --interval.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time

from botocore.exceptions import ClientError

from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, describe, guard, one_line, paint, prog
from generator.deploy.outputs import print_outputs

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
# Reasons that only report another resource's failure.
_PROPAGATED = re.compile(
    r"(Resource (creation|update|deletion) cancelled|Embedded stack .* was not successfully"
    r"|The following resource\(s\) failed to|cancelled|Stack creation cancelled)",
    re.IGNORECASE,
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_terminal(status: str) -> bool:
    return not status.endswith("_IN_PROGRESS")


def parse_ts(text: str | None) -> dt.datetime:
    if not text or text == "0":
        return EPOCH
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def stack_events(cfn, stack: str, since: dt.datetime) -> list[dict]:
    """Events of one stack newer than ``since``, oldest first."""
    out: list[dict] = []
    kwargs = {"StackName": stack}
    while True:
        try:
            page = cfn.describe_stack_events(**kwargs)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return out[::-1]
            raise
        older = False
        for event in page.get("StackEvents", []):
            if event["Timestamp"] <= since:
                older = True
                break
            out.append(event)
        token = page.get("NextToken")
        if older or not token:
            break
        kwargs["NextToken"] = token
    out.reverse()
    return out


def _is_self(event: dict) -> bool:
    return event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get("PhysicalResourceId") == event.get(
        "StackId"
    )


def _nested_id(event: dict) -> str | None:
    if event.get("ResourceType") != "AWS::CloudFormation::Stack" or _is_self(event):
        return None
    pid = event.get("PhysicalResourceId") or ""
    return pid if pid.startswith("arn:") else None


def _stack_name_of(stack_id: str) -> str:
    """The name in a stack ARN (arn:...:stack/NAME/UUID); the input when not an ARN."""
    parts = stack_id.split(":stack/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else stack_id


def find_nested(cfn, parent_id: str, event: dict, since: dt.datetime) -> str | None:
    """The id of the nested stack an event is about when the event has none (a nested
    stack that failed while being created): the newest stack named PARENT-LOGICALID-*."""
    if event.get("ResourceType") != "AWS::CloudFormation::Stack" or _is_self(event):
        return None
    found = _nested_id(event)
    if found:
        return found
    prefix = f"{_stack_name_of(parent_id)}-{event['LogicalResourceId']}-"
    best = None
    try:
        for page in cfn.get_paginator("list_stacks").paginate():
            for summary in page.get("StackSummaries", []):
                if (
                    summary["StackName"].startswith(prefix)
                    and summary["CreationTime"] >= since
                    and (best is None or summary["CreationTime"] > best["CreationTime"])
                ):
                    best = summary
    except ClientError:
        return None
    return best["StackId"] if best else None


def _status_color(status: str) -> str:
    if status.endswith("FAILED") or "ROLLBACK" in status:
        return "red"
    if status.endswith("COMPLETE"):
        return "green"
    if status.endswith("SKIPPED"):
        return "yellow"
    return "dim"


def format_event(event: dict, label: str) -> str:
    when = event["Timestamp"].astimezone(dt.UTC).strftime("%H:%M:%S")
    name = f"{label}/{event['LogicalResourceId']}" if label else event["LogicalResourceId"]
    status = event.get("ResourceStatus", "")
    line = f"{when}  {paint(f'{status:<28}', _status_color(status))}  {name:<36}  {event.get('ResourceType', '')}"
    reason = event.get("ResourceStatusReason")
    if reason and reason != "User Initiated":
        line += f"  {reason}"
    return line.rstrip()


class Tree:
    """The stack and the nested stacks discovered through its events.

    A nested stack is polled until its own events show it settled, and again once its
    parent reports it in progress (a rollback revisits it): with many nested stacks this
    keeps DescribeStackEvents calls, and throttling, down."""

    def __init__(self, cfn, root: str, since: dt.datetime):
        self.cfn = cfn
        self.root = root
        self.since = since
        self.labels: dict[str, str] = {root: ""}
        self.seen: set[str] = set()
        self.settled: set[str] = set()

    def poll(self) -> list[tuple[dict, str]]:
        new: list[tuple[dict, str]] = []
        queue = [sid for sid in self.labels if sid not in self.settled]
        while queue:
            sid = queue.pop(0)
            for event in stack_events(self.cfn, sid, self.since):
                if event["EventId"] in self.seen:
                    continue
                self.seen.add(event["EventId"])
                status = event.get("ResourceStatus", "")
                nested = _nested_id(event)
                if not nested and status.endswith("FAILED"):
                    nested = find_nested(self.cfn, sid, event, self.since)
                if nested and nested not in self.labels:
                    parent = self.labels[sid]
                    self.labels[nested] = (f"{parent}/" if parent else "") + event["LogicalResourceId"]
                    queue.append(nested)
                elif nested and status.endswith("_IN_PROGRESS") and nested in self.settled:
                    self.settled.discard(nested)
                    queue.append(nested)
                if sid != self.root and _is_self(event):
                    if is_terminal(status):
                        self.settled.add(sid)
                    elif sid in self.settled:
                        self.settled.discard(sid)
                    continue  # the parent's record of the nested stack says the same
                new.append((event, self.labels[sid]))
        new.sort(key=lambda item: item[0]["Timestamp"])
        return new


def root_cause(cfn, stack: str, since: dt.datetime, label: str = "") -> tuple[str, list[dict]]:
    """(label of the nested stack that failed first, its failure events)."""
    failed = [
        e for e in stack_events(cfn, stack, since) if e.get("ResourceStatus", "").endswith("FAILED") and not _is_self(e)
    ]
    if not failed:
        return label, []
    failed.sort(key=lambda e: (e["Timestamp"], bool(_PROPAGATED.search(e.get("ResourceStatusReason") or ""))))
    first = failed[0]
    nested = find_nested(cfn, stack, first, since)
    if nested:
        sub_label = (f"{label}/" if label else "") + first["LogicalResourceId"]
        deeper_label, deeper = root_cause(cfn, nested, since, sub_label)
        if deeper:
            return deeper_label, deeper
    direct = [e for e in failed if not _PROPAGATED.search(e.get("ResourceStatusReason") or "")]
    return label, direct or [first]


def print_root_cause(cfn, stack: str, since: dt.datetime, out=sys.stdout) -> bool:
    label, events = root_cause(cfn, stack, since)
    if not events:
        return False
    where = f"nested stack {label}" if label else "the parent stack"
    print(paint(f"Root cause (first failure, in {where}):", "redbold", out), file=out)
    for event in events:
        name = f"{label}/{event['LogicalResourceId']}" if label else event["LogicalResourceId"]
        print(
            f"  {name} ({event.get('ResourceType')}): {event.get('ResourceStatus')}: "
            f"{event.get('ResourceStatusReason') or 'no reason given'}",
            file=out,
        )
    return True


def newest_event(cfn, stack: str) -> str:
    """Timestamp of the stack's newest event ("0" when there is no stack)."""
    if describe(cfn, stack) is None:
        return "0"
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    newest = max((e["Timestamp"] for e in events), default=None)
    return newest.isoformat() if newest else "0"


def watch(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    stack = describe(cfn, args.stack_name)
    if stack is None:
        print(f"error: stack {args.stack_name} does not exist", file=sys.stderr)
        return EXIT_FAIL
    root = stack["StackId"]  # the id keeps working after a delete
    name = stack["StackName"]
    if args.execute_change_set or args.delete:
        args.since = newest_event(cfn, root)  # the operation starts after this
        if args.mark_file:
            with open(args.mark_file, "w", encoding="utf-8") as out:
                out.write(args.since)
        try:
            if args.execute_change_set:
                cfn.execute_change_set(ChangeSetName=args.execute_change_set)
            else:
                cfn.delete_stack(StackName=root)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            what = "execute the change set" if args.execute_change_set else "delete the stack"
            print(
                f"{prog()}: error: cannot {what} of {name} ({code}: {one_line(exc)}): another deploy or "
                "delete of it has started in the meantime; run the same command again once it has "
                "finished",
                file=sys.stderr,
            )
            return EXIT_FAIL
    since = parse_ts(args.since)
    tree = Tree(cfn, root, since)
    deadline = time.monotonic() + args.timeout
    while True:
        stack = describe(cfn, root)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        for event, label in tree.poll():
            print(format_event(event, label), flush=True)
        if is_terminal(status):
            break
        if time.monotonic() > deadline:
            print(f"error: timed out after {args.timeout:.0f} s; stack is {status}", file=sys.stderr)
            return EXIT_FAIL
        time.sleep(args.interval)
    if status in SUCCESS:
        print(paint(f"{name}: {status}", "green"))
        if args.outputs and stack is not None:
            print_outputs(stack)
        return 0
    print(paint(f"{name}: {status}", "redbold"))
    reason = stack.get("StackStatusReason") if stack else None
    if reason:
        print(f"  status reason: {reason}")
    print_root_cause(cfn, root, since)
    return EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.events", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("status", "mark", "watch", "rootcause"):
        p = sub.add_parser(name)
        p.add_argument("--stack-name", required=True, help="stack name or id")
        add_aws_args(p)
        if name in ("watch", "rootcause"):
            p.add_argument("--since", default="0", help="only events after this timestamp (from `mark`)")
        if name == "watch":
            p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
            p.add_argument("--timeout", type=float, default=4 * 3600.0)
            action = p.add_mutually_exclusive_group()
            action.add_argument(
                "--execute-change-set",
                metavar="ARN",
                help="execute this change set, then watch (--since is taken just before)",
            )
            action.add_argument("--delete", action="store_true", help="delete the stack, then watch")
            p.add_argument("--mark-file", help="with --execute-change-set/--delete: write the start timestamp here")
            p.add_argument("--outputs", action="store_true", help="on success, print the outputs table")
    args = parser.parse_args(argv)
    cfn = client("cloudformation", args)
    if args.command == "status":
        stack = describe(cfn, args.stack_name)
        print(stack["StackStatus"] if stack else "NONE")
        return 0
    if args.command == "mark":
        print(newest_event(cfn, args.stack_name))
        return 0
    if args.command == "rootcause":
        found = print_root_cause(cfn, args.stack_name, parse_ts(args.since))
        return 0 if found else EXIT_FAIL
    return watch(args)


if __name__ == "__main__":
    sys.exit(guard(main))
