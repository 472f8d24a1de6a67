"""Print a stack's outputs as a table (or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys

from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, describe, guard, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.outputs", description=__doc__)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--json", action="store_true", help="print {OutputKey: OutputValue}")
    add_aws_args(parser)
    args = parser.parse_args(argv)
    stack = describe(client("cloudformation", args), args.stack_name)
    if stack is None:
        print(f"error: stack {args.stack_name} does not exist", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        outputs = stack.get("Outputs", [])
        print(json.dumps({o["OutputKey"]: o.get("OutputValue", "") for o in outputs}, indent=2))
        return 0
    print_outputs(stack)
    return 0


def print_outputs(stack: dict) -> None:
    outputs = sorted(stack.get("Outputs", []), key=lambda o: o["OutputKey"])
    print(f"Outputs of {stack['StackName']} ({stack['StackStatus']}):")
    if not outputs:
        print("  (none)")
        return
    rows = [[o["OutputKey"], o.get("OutputValue", ""), o.get("Description", "")] for o in outputs]
    print(table(rows, ["Output", "Value", "Description"]))


if __name__ == "__main__":
    sys.exit(guard(main))
