"""Validate a parameters file against a template's Parameters and collect NoEcho values.

The parameters file is the format ``aws cloudformation deploy --parameter-overrides
file://FILE`` accepts with awscli 1.x: a JSON list of ``"Key=Value"`` strings.

Rules (each violation is reported, and the exit status is 2):
- the file is a JSON list of "Key=Value" strings, with no duplicate keys;
- every key is a parameter of the template;
- NoEcho parameters (secrets) are never read from files: their value comes from the
  environment variable ``STACKGEN_PARAM_<Name>`` (or a prompt on a terminal, done by the
  calling script), and on an update of an existing stack the previous value is kept;
- every parameter without a Default gets a value;
- values meet the template's constraints (AllowedValues, AllowedPattern, Min/MaxLength,
  Min/MaxValue, Number);
- the template's ``Rules`` hold (CloudFormation checks them when the change set is
  created; checked here first, so e.g. BaseDomain without HostedZoneId is one line
  before anything is uploaded). Rules are decided with the one Conditions evaluator
  (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``); a rule it cannot decide is left
  to CloudFormation.
Secret values are never printed: messages name the parameter, never its value.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator.cfn.conditions import ANY_OTHER, Conditions, text_of
from generator.cfn.load import load_file
from generator.cfn.refs import references
from generator.deploy._aws import EXIT_USAGE, add_aws_args, client, guard, prog

ENV_PREFIX = "STACKGEN_PARAM_"


class ParamError(Exception):
    """A problem with the parameters file or a value; the message never holds a secret."""


@dataclass
class Resolved:
    values: dict[str, str] = field(default_factory=dict)  # from the file
    secrets: dict[str, str] = field(default_factory=dict)  # NoEcho, from the environment
    use_previous: list[str] = field(default_factory=list)  # NoEcho, kept from the stack
    need_prompt: list[str] = field(default_factory=list)  # NoEcho, no value anywhere
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def api_parameters(self) -> list[dict[str, object]]:
        """The Parameters member of CreateChangeSet (holds secrets: never print it)."""
        out: list[dict[str, object]] = [{"ParameterKey": k, "ParameterValue": v} for k, v in self.values.items()]
        out += [{"ParameterKey": k, "ParameterValue": v} for k, v in self.secrets.items()]
        out += [{"ParameterKey": k, "UsePreviousValue": True} for k in self.use_previous]
        return out


def read_params_file(path: str | Path) -> dict[str, str]:
    """Parse a parameters file: a JSON list of "Key=Value" strings."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError(f"parameters file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ParamError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ParamError(
            f'{path}: expected a JSON list of "Key=Value" strings, e.g. ["Environment=dev"] '
            "(the shape `aws cloudformation deploy --parameter-overrides file://` accepts)"
        )
    values: dict[str, str] = {}
    for item in data:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamError(f'{path}: entry {item.split("=")[0]!r} is not of the form "Key=Value"')
        if key in values:
            raise ParamError(f"{path}: parameter {key} is given twice")
        values[key] = value
    return values


# "Exactly N CIDR(s) ..." -- the description stackgen writes for a list parameter whose
# entries each become a generated resource (security-group rules), so the count is fixed.
LIST_COUNT = re.compile(r"Exactly (\d+) ")
# The ID formats of the AWS-specific parameter types an existing VPC is given with (network.existing):
# CloudFormation checks that the IDs exist at create time; a malformed one is caught here first.
# Source: EC2 User Guide, "Resource IDs" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html):
# a prefix and 8 or 17 characters of lowercase letters and digits.
AWS_ID_PATTERNS = {
    "AWS::EC2::VPC::Id": r"vpc-([0-9a-z]{8}|[0-9a-z]{17})",
    "AWS::EC2::Subnet::Id": r"subnet-([0-9a-z]{8}|[0-9a-z]{17})",
}


def _check_value(name: str, spec: dict, value: str, secret: bool) -> list[str]:
    """Constraint violations of one value; a secret's value is never quoted."""
    shown = "the value" if secret else repr(value)
    problems = []
    ptype = str(spec.get("Type", "String"))
    items = [value]
    if ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<"):
        items = [v.strip() for v in value.split(",")] if value else []
    for item in items:
        if ptype in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                problems.append(f"{name}: {shown} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"{name}: {shown} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"{name}: {shown} is above MaxValue {spec['MaxValue']}")
        allowed = spec.get("AllowedValues")
        if allowed is not None:
            ok = str(item) in {str(a) for a in allowed}
            if not ok and ptype == "Number":
                try:
                    ok = float(item) in {float(a) for a in allowed}
                except ValueError:
                    ok = False
            if not ok:
                choices = ", ".join(str(a) for a in allowed)
                problems.append(f"{name}: {shown} is not one of the AllowedValues [{choices}]")
    id_pattern = AWS_ID_PATTERNS.get(ptype.removeprefix("List<").removesuffix(">"))
    for item in items if id_pattern else ():
        if re.fullmatch(str(id_pattern), item) is None:
            problems.append(f"{name}: {item!r} is not an ID of type {ptype}")
    if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
        # CloudFormation matches AllowedPattern against each value of a CommaDelimitedList.
        pattern = spec.get("AllowedPattern")
        for item in items:
            if pattern is not None and re.fullmatch(str(pattern), item) is None:
                problems.append(
                    f"{name}: {item if not secret else 'a value'!r} does not match AllowedPattern {pattern}"
                )
        # stackgen generates one rule per list entry; the description states how many there are.
        count = LIST_COUNT.match(str(spec.get("Description", "")))
        if count and len(items) != int(count.group(1)):
            problems.append(
                f"{name}: {len(items)} value(s) given, but the template was generated for exactly "
                f"{count.group(1)} (one rule per entry); change the spec's list and regenerate"
            )
    if ptype == "String" or secret:
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            problems.append(f"{name}: {shown} is shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            problems.append(f"{name}: {shown} is longer than MaxLength {spec['MaxLength']}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), value) is None:
            problems.append(f"{name}: {shown} does not match AllowedPattern {pattern}")
    return problems


def resolve(
    template: dict,
    file_values: dict[str, str],
    *,
    env: Mapping[str, str] | None = None,
    previous: set[str] | frozenset = frozenset(),
    interactive: bool = False,
    params_path: str = "parameters file",
) -> Resolved:
    """Check the file's values against the template and collect NoEcho values from ``env``.

    ``previous`` names the parameters of the existing stack (an update keeps the previous
    value of a NoEcho parameter that has no new value). With ``interactive``, a NoEcho
    parameter with no value is listed in ``need_prompt`` instead of being a problem.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    specs = template.get("Parameters") or {}
    out = Resolved()
    for key in file_values:
        if key not in specs:
            near = [p for p in specs if p.lower() == key.lower()]
            hint = f" (did you mean {near[0]}?)" if near else ""
            out.problems.append(
                f"{params_path}: unknown parameter {key}{hint}; the template's parameters are: {', '.join(specs)}"
            )
    for name, spec in specs.items():
        spec = spec or {}
        secret = str(spec.get("NoEcho", "false")).lower() == "true"
        env_name = ENV_PREFIX + name
        if secret:
            if name in file_values:
                out.problems.append(
                    f"{params_path}: {name} is a NoEcho (secret) parameter; secrets are never "
                    f"read from files: remove it and set {env_name} instead"
                )
                continue
            if env_name in environ:
                value = environ[env_name]
                out.problems += _check_value(name, spec, value, secret=True)
                out.secrets[name] = value
            elif name in previous:
                out.use_previous.append(name)
            elif "Default" in spec:
                pass
            elif interactive:
                out.need_prompt.append(name)
            else:
                out.problems.append(
                    f"{name} is a NoEcho (secret) parameter with no value: set {env_name} "
                    "(stdin is not a terminal, so there is no prompt)"
                )
            continue
        if env_name in environ:
            out.warnings.append(f"{env_name} is ignored: {name} is not a NoEcho parameter; set it in {params_path}")
        if name in file_values:
            out.problems += _check_value(name, spec, file_values[name], secret=False)
            out.values[name] = file_values[name]
        elif "Default" not in spec:
            out.problems.append(f"{params_path}: required parameter {name} (no Default) has no value")
    return out


def rule_problems(template: dict, values: dict[str, str], params_path: str = "parameters file") -> list[str]:
    """The template's Rules that the values break, one line each naming the file and the
    parameters the rule reads (its condition and the assertion). ``values`` are the file's; the rest take their Default,
    and a parameter with neither (a secret) is a value that cannot be compared."""
    specs = template.get("Parameters") or {}
    known = {
        n: str(text_of(s.get("Default")))
        for n, s in specs.items()
        if isinstance(s, dict) and "Default" in s and text_of(s.get("Default")) is not None
    }
    known.update(values)

    def value(node):
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return known.get(node["Ref"], ANY_OTHER)
        return text_of(node)

    evaluator = Conditions({}, value)
    problems = []
    for name, rule in (template.get("Rules") or {}).items():
        if not isinstance(rule, dict):
            continue
        if "RuleCondition" in rule and evaluator.evaluate(rule["RuleCondition"]) is not True:
            continue
        for assertion in rule.get("Assertions") or []:
            if evaluator.evaluate(assertion.get("Assert")) is False:
                read = references(assertion.get("Assert")) | references(rule.get("RuleCondition"))
                fields = ", ".join(sorted(read & set(specs))) or name
                why = str(assertion.get("AssertDescription") or f"the template's rule {name} does not hold").rstrip(".")
                problems.append(f"{params_path}: {fields}: {why} (rule {name} of the template)")
    return problems


def stack_state(stack_name: str, args: argparse.Namespace) -> tuple[str, set[str]]:
    """(the stack's status or NONE, the parameter names an update can keep)."""
    from botocore.exceptions import ClientError

    cfn = client("cloudformation", args)
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return "NONE", set()
        raise
    status = stack["StackStatus"]
    if status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        return status, set()
    return status, {p["ParameterKey"] for p in stack.get("Parameters", [])}


def resolve_from_args(args: argparse.Namespace) -> Resolved:
    template = load_file(args.template)
    try:
        file_values = read_params_file(args.params_file)
    except ParamError as exc:
        return Resolved(problems=[str(exc)])
    previous: set[str] = set()
    if args.stack_name:
        status, previous = stack_state(args.stack_name, args)
        if args.status_file:
            Path(args.status_file).write_text(status + "\n", encoding="utf-8")
    shown = args.shown_as or str(args.params_file)
    result = resolve(template, file_values, previous=previous, interactive=args.interactive, params_path=shown)
    result.problems += rule_problems(template, file_values, shown)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator.deploy.params",
        description="Validate a parameters file against a template's Parameters. NoEcho "
        f"values come from {ENV_PREFIX}<Name> and are never printed. "
        "Exit 0 when valid, 2 on any problem.",
    )
    parser.add_argument("--template", required=True, help="the parent template (main.yaml)")
    parser.add_argument("--params-file", required=True, help="parameters/<platform>/<env>.json")
    parser.add_argument(
        "--stack-name",
        help="the stack: when it exists, NoEcho parameters without a new value keep their previous value",
    )
    parser.add_argument("--status-file", help="with --stack-name: write the stack's status (or NONE) here")
    parser.add_argument(
        "--shown-as",
        metavar="NAME",
        help="the file's name in messages (deploy.sh passes the user's file when it validates the copy it filled in)",
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="print the NoEcho parameters that still need a value (one per "
        "line, for the caller to prompt) instead of failing",
    )
    add_aws_args(parser)
    args = parser.parse_args(argv)
    result = resolve_from_args(args)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    shown = args.shown_as or args.params_file
    if len(result.problems) == 1:
        print(f"{prog()}: error: {result.problems[0]}", file=sys.stderr)
        return EXIT_USAGE
    if result.problems:
        print(f"{prog()}: error: invalid parameters ({shown}):", file=sys.stderr)
        for problem in result.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    for name in result.need_prompt:
        print(name)
    if not result.need_prompt:
        print(
            f"parameters ok: {len(result.values)} from {shown}, "
            f"{len(result.secrets)} secret(s) from {ENV_PREFIX}* or the prompt, "
            f"{len(result.use_previous)} secret(s) kept from the stack",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(guard(main))
