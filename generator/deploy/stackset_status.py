"""A stack set as CloudFormation sees it: its description, instances (with their overrides),
operations watched to their end, one line per instance status change; and the artifact
bucket's read statement for the stack set's target accounts.

``watch_operation`` polls DescribeStackSetOperation and ListStackSetOperationResults every
``interval`` seconds and prints ``<account> <region> <status>[: <reason>]`` whenever an
instance's status (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED) or reason changes, until
the operation is SUCCEEDED, FAILED or STOPPED. The wait is bounded: after ``timeout``
seconds it prints one line (the operation goes on in CloudFormation; the command that shows
it) and returns False.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from generator.deploy import stackset_inputs as inputs
from generator.deploy._aws import client, paint, prog, table

DONE = ("SUCCEEDED", "FAILED", "STOPPED")
COLORS = {"SUCCEEDED": "green", "FAILED": "red", "CANCELLED": "yellow", "RUNNING": "blue", "PENDING": "dim"}


def _pages(method: Callable[..., dict], key: str, **kwargs: Any) -> list[dict]:
    out: list[dict] = []
    token = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        out += page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return out


def list_instances(cfn, name: str, call: dict[str, Any]) -> list[dict]:
    """Every stack instance (summary) of the stack set, with its ParameterOverrides
    (ListStackInstances has no overrides: DescribeStackInstance has)."""
    found = []
    for summary in _pages(cfn.list_stack_instances, "Summaries", StackSetName=name, **call):
        detail = cfn.describe_stack_instance(
            StackSetName=name,
            StackInstanceAccount=summary["Account"],
            StackInstanceRegion=summary["Region"],
            **call,
        )["StackInstance"]
        found.append({**summary, **detail})
    return sorted(found, key=lambda i: (i["Region"], i["Account"]))


def print_instances(instances: list[dict], out=sys.stdout) -> None:
    if not instances:
        print("The stack set has no instances.", file=out)
        return
    rows = [
        [
            i["Account"],
            i["Region"],
            str(i.get("Status", "")),
            str((i.get("StackInstanceStatus") or {}).get("DetailedStatus", "")),
            " ".join(str(i.get("StatusReason") or "").split()),
        ]
        for i in instances
    ]
    print(table(rows, ["Account", "Region", "Status", "Detailed", "Reason"]), file=out)


def result_line(result: dict) -> str:
    status = str(result.get("Status", ""))
    reason = " ".join(str(result.get("StatusReason") or "").split())
    gate = result.get("AccountGateResult") or {}
    if gate.get("Status") == "FAILED":
        reason = f"account gate failed: {gate.get('StatusReason', '')}".strip()
    text = f"  {result['Account']}  {result['Region']:<15} {paint(status, COLORS.get(status, 'bold'))}"
    return text + (f": {reason}" if reason else "")


def watch_operation(
    cfn,
    name: str,
    operation_id: str,
    interval: float,
    timeout: float,
    call: dict[str, Any],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Stream the operation's per-instance results until it ends; True when it SUCCEEDED."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    deadline = clock() + timeout
    while True:
        operation = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id, **call)[
            "StackSetOperation"
        ]
        results = _pages(
            cfn.list_stack_set_operation_results, "Summaries", StackSetName=name, OperationId=operation_id, **call
        )
        for result in sorted(results, key=lambda r: (r["Region"], r["Account"])):
            key = (result["Account"], result["Region"])
            state = (str(result.get("Status", "")), str(result.get("StatusReason") or ""))
            if seen.get(key) != state:
                seen[key] = state
                print(result_line(result), flush=True)
        status = str(operation.get("Status", ""))
        if status in DONE:
            failed = sum(1 for s, _ in seen.values() if s == "FAILED")
            line = f"operation {operation_id} {status}"
            if failed:
                line += f" ({failed} instance(s) failed)"
            if status != "SUCCEEDED" and operation.get("StatusReason"):
                line += f": {' '.join(str(operation['StatusReason']).split())}"
            print(line, file=sys.stdout if status == "SUCCEEDED" else sys.stderr)
            return status == "SUCCEEDED"
        if clock() >= deadline:
            print(
                f"{prog()}: error: operation {operation_id} of stack set {name} is still {status} after "
                f"{timeout:g} s; it goes on in CloudFormation: aws cloudformation describe-stack-set-operation "
                f"--stack-set-name {name} --operation-id {operation_id}",
                file=sys.stderr,
            )
            return False
        sleep(interval)


def describe_stack_set(cfn, name: str, call: dict[str, Any]) -> dict | None:
    try:
        return cfn.describe_stack_set(StackSetName=name, **call)["StackSet"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("StackSetNotFoundException", "StackSetNotFound"):
            return None
        raise


def caller_account(args: argparse.Namespace) -> str:
    return str(client("sts", args).get_caller_identity()["Account"])


def region_args(args: argparse.Namespace, region: str) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "region": region})


def ordered_regions(wanted: list[str], instances: list[dict]) -> list[str]:
    have = {i["Region"] for i in instances}
    return [r for r in wanted if r in have] + sorted(have - set(wanted))


def put_read_statement(args: argparse.Namespace, bucket: str, stack_set: str, statement: dict | None) -> None:
    s3 = client("s3", args)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError:
        policy = None
    merged = inputs.merge_statement(policy, inputs.read_statement_sid(stack_set), statement)
    if merged["Statement"]:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(merged))
    elif policy is not None:
        s3.delete_bucket_policy(Bucket=bucket)
