"""The parameters deploy.sh fills in, so a parameters file need not (and should not) hold them.

``DEPLOY_FILLED`` is the table of parameters whose value depends on where and when the
deploy happens, not on the platform; ``stackgen params --check`` and ``stackgen init``
(generator/scaffold.py) read it and do not ask for them:

- ``S3PrefixListId``: the ID of the AWS-managed prefix list ``com.amazonaws.<region>.s3``,
  different in every region, looked up in the region deployed to
  (:mod:`generator.deploy.regional`);

and, for every entry of the parent's ``Metadata.stackgen.images``, ``<Service>ImageReady``
(:mod:`generator.deploy.images`; those have a Default, so no file needs them either).

A value the parameters file sets is kept (a user may pin S3PrefixListId, or keep a
service at 0 with ``<Service>ImageReady=false``).

Command (deploy.sh)::

    python -m generator.deploy.filled --template main.yaml --params-file FILE --stack-name S
        --out FILLED.json [--status-file F] [--allow-missing-images] [--aws-cli aws]
        [--again CMD] [--region R] [--endpoint-url URL]

writes FILE plus the filled values to FILLED.json (the same "Key=Value" list), prints
what it filled, and exits 2, having created nothing, when a value cannot be found (no
prefix list in the region) or an image a running service needs is not in its repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.cfn.load import load_file
from generator.deploy import images, regional
from generator.deploy._aws import EXIT_USAGE, add_aws_args, client, describe, guard, prog
from generator.deploy.params import ParamError, read_params_file

DEPLOY_FILLED: dict[str, str] = {
    "S3PrefixListId": "deploy.sh looks up com.amazonaws.<region>.s3 in the region it deploys to",
}


def fill(args: argparse.Namespace) -> int:
    template = load_file(args.template)
    try:
        values = read_params_file(args.params_file)
    except ParamError as exc:
        print(f"{prog()}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stack = describe(client("cloudformation", args), args.stack_name)
    status = stack["StackStatus"] if stack else "NONE"
    if args.status_file:
        Path(args.status_file).write_text(status + "\n", encoding="utf-8")
    specs = template.get("Parameters") or {}
    filled: dict[str, str] = {}
    if "S3PrefixListId" in specs and "S3PrefixListId" not in values:
        try:
            filled["S3PrefixListId"] = regional.s3_prefix_list_id(args.region, args)
        except regional.RegionalError as exc:
            print(f"{prog()}: error: S3PrefixListId: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"S3PrefixListId={filled['S3PrefixListId']} ({regional.s3_prefix_list_name(args.region)}, "
            f"looked up in {args.region})",
            file=sys.stderr,
        )
    found = images.look(args, template, values, stack if status not in images.FIRST_DEPLOY else None)
    decision = images.decide(found, status, values, args.allow_missing_images)
    for note in decision.notes:
        print(note, file=sys.stderr)
    if decision.refused:
        names = ", ".join(f"{i.image} ({i.entry['parameter']})" for i in decision.refused)
        print(
            f"{prog()}: error: not deployed: the image of {', '.join(i.service for i in decision.refused)} is not "
            f"in its repository: {names}; push it:",
            file=sys.stderr,
        )
        for line in images.push_commands(args, decision.refused, args.aws_cli):
            print(line, file=sys.stderr)
        again = f": {args.again}" if args.again else ""
        print(
            f"then run the same deploy.sh command again{again}; or add --allow-missing-images to deploy with "
            f"{', '.join(i.entry['parameter'] + '=false' for i in decision.refused)} (the service scales to 0)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    filled.update(decision.values)  # an image decision overrides a "true" in the file
    merged = {**values, **filled}
    Path(args.out).write_text(json.dumps([f"{k}={v}" for k, v in merged.items()], indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.filled", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", required=True, help="the parent template (main.yaml)")
    parser.add_argument("--params-file", required=True, help="the user's parameters file")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--out", required=True, help="write the filled parameters file here")
    parser.add_argument("--status-file", help="write the stack's status (or NONE) here")
    parser.add_argument(
        "--allow-missing-images",
        action="store_true",
        help="deploy a service whose image is not pushed with <Service>ImageReady=false",
    )
    parser.add_argument("--aws-cli", default="aws", help="the AWS CLI as the user runs it (in printed commands)")
    parser.add_argument("--again", help="the deploy.sh command to run again, as printed")
    add_aws_args(parser)
    return fill(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(guard(main))
