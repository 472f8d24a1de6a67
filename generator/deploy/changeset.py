"""Create a change set (nested stacks included) and summarise it.

Subcommands:
  create   validate the parameters (NoEcho values from STACKGEN_PARAM_<Name>), upload the
           packaged parent template, create the change set and wait until it is ready;
           print "<id> <number of stateful risks> <the risks not accepted, comma-separated,
           or ->" (with --summary, after the summary), or "NO_CHANGES 0 -" after deleting
           a change set that holds no changes. It refuses while another change set of
           stackgen's is being created or executed on the stack, and records the stack ID
           of a stack it creates (generator.deploy.leftovers).
  summary  print adds, modifies, removes and replacements, the nested stacks' included;
           replacement or removal of a stateful resource (database, EFS, KMS key, secret,
           ECR repository, log group, load balancer, ...) is highlighted and makes the
           exit status 10

"Replaces" is decided from the change set's Replacement field and from the resource
schemas' create-only properties (generator.deploy.stateful.replacement_for): a row the
change set calls Modify whose changed properties (Details[].Target.Name) include a
create-only one is a replacement, and one whose properties may be create-only is a
possible replacement.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from generator.cfn.load import load_file
from generator.deploy import leftovers, nested, params
from generator.deploy._aws import EXIT_FAIL, EXIT_USAGE, add_aws_args, client, describe, guard, paint, prog
from generator.deploy.stateful import STATEFUL_TYPES, replacement_for

EXIT_STATEFUL = 10
OURS = "stackgen-"  # the prefix of the change sets deploy.sh creates
BUSY = ("CREATE_PENDING", "CREATE_IN_PROGRESS")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


def _wait_change_set(cfn, cs_id: str, interval: float, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = cfn.describe_change_set(ChangeSetName=cs_id)
        if desc["Status"] in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE"):
            return desc
        if time.monotonic() > deadline:
            raise TimeoutError(f"change set {cs_id} still {desc['Status']} after {timeout:.0f} s")
        time.sleep(interval)


def busy_change_sets(cfn, stack: str) -> list[str]:
    """Change sets of stackgen on ``stack`` that are being created or executed: another
    deploy is running."""
    try:
        summaries = cfn.list_change_sets(StackName=stack).get("Summaries", [])
    except ClientError as exc:
        if "does not exist" in str(exc):
            return []
        raise
    return [
        f"{c['ChangeSetName']} ({c.get('Status')}, {c.get('ExecutionStatus')})"
        for c in summaries
        if c.get("ChangeSetName", "").startswith(OURS)
        and (c.get("Status") in BUSY or c.get("ExecutionStatus") == "EXECUTE_IN_PROGRESS")
    ]


def create(args: argparse.Namespace) -> int:
    template = load_file(args.template)
    try:
        file_values = params.read_params_file(args.params_file)
    except params.ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cfn = client("cloudformation", args)
    stack = describe(cfn, args.stack_name)
    status = stack["StackStatus"] if stack else "NONE"
    others = busy_change_sets(cfn, args.stack_name) if stack else []
    if others:
        print(
            f"{prog()}: error: another deploy of {args.stack_name} is running (change set "
            f"{', '.join(others)}); run the same command again once it has finished",
            file=sys.stderr,
        )
        return EXIT_FAIL
    cs_type = "CREATE" if status in ("NONE", "REVIEW_IN_PROGRESS") else "UPDATE"
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])} if cs_type == "UPDATE" else set()
    resolved = params.resolve(template, file_values, previous=previous, params_path=str(args.params_file))
    if resolved.problems:
        print(f"error: invalid parameters ({args.params_file}):", file=sys.stderr)
        for problem in resolved.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    tags = [{"Key": k, "Value": v} for k, v in (t.split("=", 1) for t in args.tag)]
    template_url = args.template_url
    if not template_url:
        from generator.deploy.artifacts import upload_file

        template_url = upload_file(args, args.bucket, args.prefix, args.template_file)
    response = cfn.create_change_set(
        StackName=args.stack_name,
        ChangeSetName=args.change_set_name,
        ChangeSetType=cs_type,
        TemplateURL=template_url,
        Parameters=resolved.api_parameters(),
        Capabilities=CAPABILITIES,
        IncludeNestedStacks=True,
        Tags=tags,
        Description=f"stackgen deploy.sh ({cs_type.lower()})",
    )
    cs_id = response["Id"]
    if cs_type == "CREATE" and response.get("StackId"):
        leftovers.record(args.stack_name, response["StackId"], args.region, args.endpoint_url)
    desc = _wait_change_set(cfn, cs_id, args.interval, args.timeout)
    if desc["Status"] == "FAILED":
        reason = desc.get("StatusReason", "")
        if any(text in reason for text in _NO_CHANGES):
            cfn.delete_change_set(ChangeSetName=cs_id)
            _result(args, "NO_CHANGES", [], [])
            return 0
        print(f"{prog()}: error: change set failed: {reason}", file=sys.stderr)
        return EXIT_FAIL
    notes: list[str] = []
    desc, rows = collect(cfn, cs_id, Path(args.template), notes=notes)
    if args.summary:
        render(desc, rows, notes, brief=args.brief)
    risky = [r.path for r in rows if r.stateful]
    _result(args, cs_id, risky, unaccepted(risky, args.accept_replacement))
    return 0


def accepted_names(values: list[str]) -> list[str]:
    """The names given to --accept-replacement (repeatable, comma-separated)."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def unaccepted(risky: list[str], accept: list[str]) -> list[str]:
    """The stateful replacements/removals not named by --accept-replacement: a name is a
    row's path (Stack/Logical) or, when exactly one risky row has it, its logical ID."""
    names = set(accepted_names(accept))
    last: dict[str, list[str]] = {}
    for path in risky:
        last.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    ok = {p for p in risky if p in names}
    ok |= {paths[0] for name, paths in last.items() if name in names and len(paths) == 1}
    return [p for p in risky if p not in ok]


def _result(args: argparse.Namespace, change_set: str, risky: list[str], todo: list[str]) -> None:
    """The machine-readable result: "<change set id or NO_CHANGES> <stateful risks>
    <the risks not accepted, comma-separated, or ->"."""
    line = f"{change_set} {len(risky)} {','.join(todo) or '-'}\n"
    if args.result_file:
        Path(args.result_file).write_text(line, encoding="utf-8")
    else:
        sys.stdout.write(line)


@dataclass
class Row:
    action: str
    path: str
    rtype: str
    replacement: str = ""
    properties: list[str] = field(default_factory=list)
    policy: str = ""
    predicted: bool = False
    note: str = ""

    @property
    def verb(self) -> str:
        if self.rtype == "AWS::CloudFormation::Stack" and self.action == "Modify":
            return "Modify"  # a nested stack is updated in place; its rows below say how
        if self.action == "Modify" and self.replacement == "True":
            return "Replace"
        if self.action == "Modify" and self.replacement == "Conditional":
            return "Replace?"
        return self.action

    @property
    def stateful(self) -> str | None:
        kind = STATEFUL_TYPES.get(self.rtype)
        if kind and (self.action in ("Remove", "Import") or self.verb.startswith("Replace")):
            return kind
        return None


def schema_replacement(change: dict) -> str:
    """Replacement as the resource schema's create-only properties decide it for the
    changed properties of a row (True / Conditional / False): a property changed for
    certain (Static) that is create-only replaces; one that only may change (Dynamic)
    may replace."""
    rtype = change.get("ResourceType", "")
    if change.get("Action") != "Modify" or rtype == "AWS::CloudFormation::Stack":
        return "False"
    static: set[str] = set()
    dynamic: set[str] = set()
    for detail in change.get("Details", []):
        target = detail.get("Target") or {}
        if target.get("Attribute") == "Properties" and target.get("Name"):
            (dynamic if detail.get("Evaluation") == "Dynamic" else static).add(target["Name"])
    if "ChangedProperties" in change and not change.get("Details"):
        static |= set(change["ChangedProperties"])
    if not static and not dynamic:
        return "False"
    certain = replacement_for(rtype, static) if static else "False"
    if certain == "True":
        return "True"
    maybe = replacement_for(rtype, dynamic) if dynamic else "False"
    return "Conditional" if "Conditional" in (certain, maybe) or maybe == "True" else "False"


_ORDER = {"": 0, "False": 0, "Conditional": 1, "True": 2}


def row_of(change: dict, prefix: str, predicted: bool) -> Row:
    """The summary row of one ResourceChange; "replaces" from the change set's Replacement
    or, when stronger, from the resource schema (:func:`schema_replacement`)."""
    props = change.get("ChangedProperties")
    if props is None:
        props = sorted(
            {
                d["Target"].get("Name") or d["Target"].get("Attribute", "")
                for d in change.get("Details", [])
                if d.get("Target")
            }
        )
    path = f"{prefix}/{change['LogicalResourceId']}" if prefix else change["LogicalResourceId"]
    row = Row(
        change["Action"],
        path,
        change.get("ResourceType", ""),
        change.get("Replacement", ""),
        [p for p in props if p],
        change.get("PolicyAction", ""),
        predicted,
    )
    schema = schema_replacement(change)
    if _ORDER[schema] > _ORDER.get(row.replacement, 0):
        said = row.replacement or "none"
        row.replacement = schema
        row.note = (
            f"create-only in the resource schema; the change set said Replacement {said}"
            if schema == "True"
            else f"may be create-only in the resource schema; the change set said Replacement {said}"
        )
    return row


def _stack_contents(cfn, stack_id: str, prefix: str) -> list[Row]:
    """Rows for everything inside a nested stack that a Remove takes with it."""
    rows: list[Row] = []
    try:
        resources = cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
    except ClientError:
        return rows
    for res in resources:
        rows.append(Row("Remove", f"{prefix}/{res['LogicalResourceId']}", res["ResourceType"], predicted=True))
        if res["ResourceType"] == "AWS::CloudFormation::Stack" and res.get("PhysicalResourceId"):
            rows += _stack_contents(cfn, res["PhysicalResourceId"], f"{prefix}/{res['LogicalResourceId']}")
    return rows


def _describe_all(cfn, cs_id: str) -> dict:
    desc = cfn.describe_change_set(ChangeSetName=cs_id)
    changes = list(desc.get("Changes", []))
    token = desc.get("NextToken")
    while token:
        page = cfn.describe_change_set(ChangeSetName=cs_id, NextToken=token)
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    desc["Changes"] = changes
    return desc


def collect(
    cfn, cs_id: str, template_path: Path | None, prefix: str = "", notes: list[str] | None = None
) -> tuple[dict, list[Row]]:
    """The change set's description and its rows, nested change sets expanded (or
    predicted from the local templates when the endpoint has no nested change sets)."""
    notes = [] if notes is None else notes
    desc = _describe_all(cfn, cs_id)
    template = load_file(template_path) if template_path and template_path.exists() else None
    parent_params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in desc.get("Parameters", [])}
    # (row index, change) of the nested stacks whose inside is predicted
    to_predict: list[tuple[int, dict]] = []
    groups: list[list[Row]] = []
    for item in desc["Changes"]:
        change = item.get("ResourceChange") or {}
        if not change:
            continue
        group = [row_of(change, prefix, False)]
        groups.append(group)
        if change.get("ResourceType") != "AWS::CloudFormation::Stack":
            continue
        path = group[0].path
        child_path = None
        if template is not None:
            url = str(
                ((template.get("Resources") or {}).get(change["LogicalResourceId"], {}).get("Properties") or {}).get(
                    "TemplateURL", ""
                )
            )
            if url and "://" not in url and template_path is not None:
                child_path = (template_path.parent / url).resolve()
        if change.get("ChangeSetId"):
            _, sub = collect(cfn, change["ChangeSetId"], child_path, path, notes)
            group += sub
        elif change["Action"] == "Remove" and change.get("PhysicalResourceId"):
            group += _stack_contents(cfn, change["PhysicalResourceId"], path)
        elif change["Action"] == "Add" and child_path and child_path.exists():
            child = load_file(child_path)
            group += [
                Row("Add", f"{path}/{k}", v.get("Type", ""), predicted=True)
                for k, v in (child.get("Resources") or {}).items()
            ]
        elif change["Action"] == "Modify" and template is not None and change.get("PhysicalResourceId"):
            to_predict.append((len(groups) - 1, change))
    if to_predict:
        _predict_nested(cfn, desc, template, template_path, parent_params, to_predict, groups, notes)
    return desc, [row for group in groups for row in group]


def _unstable(predicted: list[dict] | None) -> bool:
    """Whether a nested stack's outputs may change: something inside is added, removed or
    replaced for certain (or its inside is unknown). A change that is itself only
    possible (dynamic) does not spread further, which keeps the summary readable."""
    if predicted is None:
        return True
    return any(
        not c.get("Dynamic") and (c["Action"] != "Modify" or c.get("Replacement") in ("True", "Conditional"))
        for c in predicted
    )


def _predict_nested(cfn, desc, template, template_path, parent_params, to_predict, groups, notes) -> None:
    """Predict inside each modified nested stack. Outputs of a sibling that is added,
    removed or has replacements are "dynamic" (unknown until it is updated): what uses
    them is predicted again and its new changes are marked as such."""
    siblings = {g[0].path.rsplit("/", 1)[-1]: g[0] for g in groups}
    static: dict[str, list[dict] | None] = {}
    found_notes: dict[str, list[str]] = {}

    def run(change: dict, dynamic: frozenset) -> list[dict] | None:
        try:
            predicted, more = nested.predict(
                cfn,
                parent_template_path=template_path,
                parent_template=template,
                parent_params=parent_params,
                parent_stack_id=desc["StackId"],
                logical_id=change["LogicalResourceId"],
                nested_stack_id=change["PhysicalResourceId"],
                dynamic=dynamic,
            )
        except (ClientError, OSError, ValueError, TypeError) as exc:
            found_notes[change["LogicalResourceId"]] = [
                f"{change['LogicalResourceId']}: nested changes not predicted ({exc})"
            ]
            return None
        found_notes[change["LogicalResourceId"]] = more
        return predicted

    for _, change in to_predict:
        static[change["LogicalResourceId"]] = run(change, frozenset())
    unstable = {lid for lid, row in siblings.items() if row.action in ("Add", "Remove")}
    unstable |= {lid for lid, pred in static.items() if _unstable(pred)}
    final = dict(static)
    for _ in range(len(to_predict)):  # a fixed point: dynamic outputs can cascade
        grew = False
        for _, change in to_predict:
            lid = change["LogicalResourceId"]
            if final[lid] is None or not (unstable - {lid}):
                continue
            again = run(change, frozenset(unstable - {lid}))
            if again is None or again == final[lid]:
                continue
            known = [json_key(c) for c in static[lid] or []]
            for c in again:
                if json_key(c) not in known:
                    c["Dynamic"] = True
                    if c.get("Replacement") == "True":
                        c["Replacement"] = "Conditional"
            final[lid] = again
            if lid not in unstable and _unstable(again):
                unstable.add(lid)
                grew = True
        if not grew:
            break
    for index, change in to_predict:
        lid = change["LogicalResourceId"]
        notes += found_notes.get(lid, [])
        group = groups[index]
        predicted = final[lid]
        if predicted is None:
            continue
        if not predicted:
            group[0].note = "no resource change predicted inside *"
        for c in predicted:
            row = row_of(c, group[0].path, True)
            if c.get("Dynamic"):
                row.note = "if the outputs it uses change"
            group.append(row)


def json_key(change: dict) -> tuple:
    return (
        change["LogicalResourceId"],
        change["Action"],
        change.get("Replacement"),
        tuple(change.get("ChangedProperties", ())),
    )


_SYMBOL = {
    "Add": ("+", "green"),
    "Modify": ("~", "yellow"),
    "Remove": ("-", "red"),
    "Replace": ("!", "redbold"),
    "Replace?": ("!", "red"),
    "Import": (">", "blue"),
    "Dynamic": ("?", "yellow"),
}


def render(desc: dict, rows: list[Row], notes: list[str], out=sys.stdout, brief: bool = False) -> int:
    """Print the summary; return the number of stateful replacements/removals.
    ``brief`` lists only the stateful replacements/removals (for a first create)."""
    print(f"Change set {desc.get('ChangeSetName', '')} for stack {desc.get('StackName', '')}:", file=out)
    if not rows:
        print("  (no resource changes)", file=out)
    width = max([len(r.path) for r in rows] + [10])
    for row in rows:
        if brief and not row.stateful:
            continue
        symbol, color = _SYMBOL.get(row.verb, ("?", "yellow"))
        line = f"  {symbol} {row.verb:<9} {row.path:<{width}}  {row.rtype}"
        if row.properties:
            line += f"  [{', '.join(row.properties)}]"
        if row.policy:
            line += f"  policy: {row.policy}"
        if row.predicted:
            line += "  *"
        if row.note:
            line += f"  ({row.note})"
        if row.stateful:
            line += f"  <== STATEFUL {row.stateful.upper()}"
            color = "redbold"
        print(paint(line, color, out), file=out)
    leaves = [r for r in rows if r.rtype != "AWS::CloudFormation::Stack"]
    count = {k: sum(1 for r in leaves if r.verb == k) for k in ("Add", "Modify", "Replace", "Replace?", "Remove")}
    print(
        f"Summary: {count['Add']} to add, {count['Modify']} to modify, "
        f"{count['Replace'] + count['Replace?']} to replace "
        f"({count['Replace?']} conditionally), {count['Remove']} to remove",
        file=out,
    )
    risky = [r for r in rows if r.stateful]
    if risky:
        print(
            paint(
                f"WARNING: {len(risky)} stateful resource(s) would be replaced or removed; their data may be lost:",
                "redbold",
                out,
            ),
            file=out,
        )
        for row in risky:
            what = (
                "removed" if row.action == "Remove" else ("replaced" if row.verb == "Replace" else "possibly replaced")
            )
            policy = f" (old resource: {row.policy})" if row.policy else ""
            print(paint(f"  - {row.path} ({row.rtype}, {row.stateful}): {what}{policy}", "redbold", out), file=out)
    if any(r.predicted or r.note for r in rows) and not brief:
        print(
            "  * predicted from the deployed and local templates: this endpoint returned "
            "no change set for that nested stack",
            file=out,
        )
    for note in notes:
        print(f"  note: {note}", file=out)
    return len(risky)


def summary(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    notes: list[str] = []
    template = Path(args.template) if args.template else None
    desc, rows = collect(cfn, args.change_set, template, notes=notes)
    risky = render(desc, rows, notes)
    return EXIT_STATEFUL if risky else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.changeset", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create", help="create a change set; print its id or NO_CHANGES")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--change-set-name", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--template-url", help="packaged parent template in S3")
    source.add_argument("--template-file", help="packaged parent template to upload (with --bucket and --prefix)")
    p.add_argument("--bucket")
    p.add_argument("--prefix")
    p.add_argument("--template", required=True, help="local parent template (its Parameters)")
    p.add_argument("--summary", action="store_true", help="print the summary once it is ready")
    p.add_argument("--brief", action="store_true", help="summary: list only stateful risks")
    p.add_argument(
        "--result-file",
        help='write "<change set id|NO_CHANGES> <stateful risks> <not accepted|->" here instead of to stdout',
    )
    p.add_argument("--params-file", required=True)
    p.add_argument(
        "--accept-replacement",
        action="append",
        default=[],
        metavar="PATH[,PATH...]",
        help="stateful replacements/removals accepted (Stack/LogicalId as the summary prints "
        "it, or a logical ID that names one); the rest are listed as not accepted",
    )
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=900.0)
    add_aws_args(p)
    p = sub.add_parser("summary", help="print the change set summary (exit 10: stateful risk)")
    p.add_argument("--change-set", required=True, help="change set id (ARN)")
    p.add_argument(
        "--template",
        help="local parent template, to predict nested changes when the endpoint returns no nested change sets",
    )
    add_aws_args(p)
    args = parser.parse_args(argv)
    if args.command == "create" and args.template_file and not (args.bucket and args.prefix):
        parser.error("--template-file needs --bucket and --prefix")
    return create(args) if args.command == "create" else summary(args)


if __name__ == "__main__":
    sys.exit(guard(main))
