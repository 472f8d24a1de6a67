"""The root stacks of a platform, for deploy.sh and delete.sh (generator.roots).

A platform over one stack operation's 2,500 resources is several root stacks: the base
root ``main.yaml`` (stack NAME) and service-set roots ``main-services-N.yaml`` (stack
NAME-services-N).  deploy.sh deploys them in order, each with its own change set; delete.sh
deletes the service-set roots first, the base root last.  A platform of one root is
unaffected: ``list`` prints ``main.yaml`` alone and ``stacks`` prints nothing.

Commands::

    python -m generator.deploy.roots list --template-dir DIR
        the root files in deploy order, one per line: FILE<TAB>STACK-NAME-SUFFIX
    python -m generator.deploy.roots params --template ROOT.yaml --params-file FILE
        --stack-name BASE --out OUT.json [--region R] [--endpoint-url URL]
        the parameters file of a service-set root: FILE's values of the parameters the root
        declares, and each parameter fed from an earlier root's output (its
        Metadata.stackgen.root.from_outputs) read from that root's stack; exit 2, having
        created nothing, when an earlier root is not deployed or lacks the output
    python -m generator.deploy.roots stacks --stack-name BASE [--region R] [--endpoint-url URL]
        the service-set root stacks of BASE that exist, in delete order (last root first)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.cfn.load import load_file, load_text
from generator.deploy._aws import EXIT_USAGE, add_aws_args, client, describe, guard, prog
from generator.deploy.params import ParamError, read_params_file
from generator.deployability import rootset


def listing(template_dir: str | Path) -> list[tuple[str, str]]:
    """(file, stack-name suffix) of every root in deploy order."""
    base = load_file(Path(template_dir) / rootset.BASE)
    files = rootset.root_files({rootset.BASE: base})
    return [(f, rootset.stack_suffix(f)) for f in files]


def root_parameters(template: dict, values: dict[str, str], outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """A root's parameter values: ``values`` (the parameters file) limited to what the root
    declares, and its parameters fed from earlier roots' ``outputs`` (root file ->
    {OutputKey: OutputValue}).  Raises ParamError for an output an earlier root lacks."""
    declared = template.get("Parameters") or {}
    out = {k: v for k, v in values.items() if k in declared}
    for name, producer in sorted(rootset.from_outputs(template).items()):
        if name in outputs.get(producer, {}):
            out[name] = outputs[producer][name]
        elif "Default" not in declared.get(name, {}):
            raise ParamError(
                f"parameter {name} comes from the output {name} of the root {producer}, which its stack does not "
                "have: deploy the roots in order (deploy.sh does)"
            )
    return out


def _params(args: argparse.Namespace) -> int:
    template = load_file(args.template)
    try:
        values = read_params_file(args.params_file) if args.params_file else {}
        cfn = client("cloudformation", args)
        outputs: dict[str, dict[str, str]] = {}
        for producer in sorted(set(rootset.from_outputs(template).values())):
            name = args.stack_name + rootset.stack_suffix(producer)
            stack = describe(cfn, name)
            if stack is None:
                raise ParamError(f"the root stack {name} ({producer}) does not exist: deploy the roots in order")
            outputs[producer] = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        filled = root_parameters(template, values, outputs)
    except ParamError as exc:
        print(f"{prog()}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    Path(args.out).write_text(json.dumps([f"{k}={v}" for k, v in sorted(filled.items())], indent=2) + "\n")
    return 0


def _stacks(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    files: list[str] = []
    base = describe(cfn, args.stack_name)
    if base is not None:
        body = cfn.get_template(StackName=args.stack_name).get("TemplateBody", "")
        template = load_text(body) if isinstance(body, str) else body
        files = rootset.root_files({rootset.BASE: template})[1:]
    # Also what a listing cannot show (a base root already deleted): NAME-services-2, -3, ... until one is missing.
    number = 2
    while rootset.service_root_file(number) in files or describe(
        cfn, args.stack_name + rootset.stack_suffix(rootset.service_root_file(number))
    ):
        if rootset.service_root_file(number) not in files:
            files.append(rootset.service_root_file(number))
        number += 1
    names = [args.stack_name + rootset.stack_suffix(f) for f in files]
    for name in reversed(names):
        if name == args.stack_name or describe(cfn, name) is not None:
            print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.roots", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list")
    p.add_argument("--template-dir", required=True)
    p = sub.add_parser("params")
    p.add_argument("--template", required=True)
    p.add_argument("--params-file", default="")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--out", required=True)
    add_aws_args(p)
    p = sub.add_parser("stacks")
    p.add_argument("--stack-name", required=True)
    add_aws_args(p)
    args = parser.parse_args(argv)
    if args.command == "list":
        for file, suffix in listing(args.template_dir):
            print(f"{file}\t{suffix}")
        return 0
    return _params(args) if args.command == "params" else _stacks(args)


if __name__ == "__main__":
    sys.exit(guard(main))
