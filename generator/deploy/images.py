"""Images that live in the platform's own ECR repositories (``Metadata.stackgen.images``
of the parent template; see docs/platforms-post-deploy.md).

Each entry names a service, its ``<Service>ImageReady`` parameter ("false": the service
runs no task, a schedule stays disabled), the stack output with the repository URI and
the parameter with the tag the task runs. deploy.sh sets the ready parameter:

- first deploy (no stack yet, or one a failed create left): "false" for every entry, since
  the repository does not exist before the stack creates it; after the deploy it prints
  the push commands (from the stack outputs) and "then run the same deploy.sh command
  again";
- later deploys: "true" when ECR has the tag (DescribeImages), else it refuses with the
  push commands, or with --allow-missing-images sets "false" and warns that the service
  scales to 0;
- a value in the parameters file: "false" is kept as given; "true" is checked like the
  default.

Command (after a deploy)::

    python -m generator.deploy.images push-hint --stack-name S --template main.yaml
                                                 [--aws-cli aws] [--again CMD]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from generator.cfn.load import load_file
from generator.deploy._aws import add_aws_args, cli_prefix, client, describe, guard

FIRST_DEPLOY = ("NONE", "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE")


def entries(template: dict) -> list[dict]:
    """The parent template's Metadata.stackgen.images (services whose image comes from a
    repository of the platform)."""
    found = ((template.get("Metadata") or {}).get("stackgen") or {}).get("images") or []
    return [e for e in found if isinstance(e, dict) and e.get("parameter")]


@dataclass
class Image:
    entry: dict
    tag: str
    uri: str | None = None  # the repository URI, when the stack has the output
    present: bool | None = None  # whether ECR has uri:tag (None: not asked)

    @property
    def service(self) -> str:
        return str(self.entry.get("service") or self.entry["parameter"])

    @property
    def image(self) -> str:
        return f"{self.uri}:{self.tag}" if self.uri else f"<{self.entry.get('repository_output')}>:{self.tag}"


def tag_of(template: dict, entry: dict, values: dict[str, str]) -> str:
    name = entry.get("tag_parameter")
    if not name:
        return "latest"
    default = ((template.get("Parameters") or {}).get(name) or {}).get("Default", "")
    return str(values.get(name, default))


def in_ecr(args, uri: str, tag: str) -> bool:
    """Whether the repository of ``uri`` holds ``tag``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore is slow to import

    repository = uri.split("/", 1)[1] if "/" in uri else uri
    try:
        found = client("ecr", args).describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        raise
    return bool(found.get("imageDetails"))


def outputs_of(stack: dict | None) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", [])}


def look(args, template: dict, values: dict[str, str], stack: dict | None) -> list[Image]:
    """Every image of the template, with its repository URI and presence when the stack
    has its repository."""
    outputs = outputs_of(stack)
    found = []
    for entry in entries(template):
        image = Image(entry, tag_of(template, entry, values), outputs.get(str(entry.get("repository_output"))) or None)
        if image.uri:
            image.present = in_ecr(args, image.uri, image.tag)
        found.append(image)
    return found


def push_commands(args, images: list[Image], aws_cli: str = "aws") -> list[str]:
    """The login and push commands, as a user runs them, for images with a repository."""
    lines: list[str] = []
    logged_in: set[str] = set()
    login = f"{cli_prefix(args.endpoint_url)}{aws_cli} ecr get-login-password"
    if args.region:
        login += f" --region {args.region}"
    if args.endpoint_url:
        login += f" --endpoint-url {args.endpoint_url}"
    for image in images:
        if not image.uri:
            continue
        registry = image.uri.split("/", 1)[0]
        lines.append(f"  {image.service}: tag your image as {image.image}, then:")
        if registry not in logged_in:
            logged_in.add(registry)
            lines.append(f"    {login} | docker login --username AWS --password-stdin {registry}")
        lines.append(f"    docker push {image.image}")
    return lines


@dataclass
class Decision:
    values: dict[str, str]  # <Service>ImageReady -> "true" / "false"
    notes: list[str]  # what was decided, for the terminal
    refused: list[Image]  # images that must be pushed first (no --allow-missing-images)


def decide(images: list[Image], status: str, values: dict[str, str], allow_missing: bool) -> Decision:
    out = Decision({}, [], [])
    first = status in FIRST_DEPLOY
    for image in images:
        name = image.entry["parameter"]
        given = values.get(name)
        if given == "false":
            out.notes.append(f"{name}=false (from the parameters file): {image.service} runs no task")
            continue
        if first:
            out.values[name] = "false"
            out.notes.append(
                f"{name}=false: first deploy, the repository of {image.service} is created empty "
                "by this deploy (push commands follow the deploy)"
            )
        elif image.present:
            out.values[name] = "true"
        elif allow_missing:
            out.values[name] = "false"
            out.notes.append(
                f"WARNING: {image.image} is not in its repository: {name}=false, {image.service} "
                "scales to 0 (its running tasks stop) until the image is pushed (--allow-missing-images)"
            )
        else:
            out.refused.append(image)
    return out


def push_hint(args: argparse.Namespace) -> int:
    stack = describe(client("cloudformation", args), args.stack_name)
    if stack is None:
        return 0
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    template = load_file(args.template)
    waiting = [
        i for i in look(args, template, params, stack) if params.get(i.entry["parameter"]) == "false" and not i.present
    ]
    if not waiting:
        return 0
    print(
        f"Images to push: {', '.join(i.service for i in waiting)} run(s) no task until the image is in "
        "the platform's repository:"
    )
    for line in push_commands(args, waiting, args.aws_cli):
        print(line)
    print(f"then run the same deploy.sh command again{': ' + args.again if args.again else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.images", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("push-hint", help="print the push commands of the images a deployed stack waits for")
    p.add_argument("--stack-name", required=True)
    p.add_argument("--template", required=True, help="the parent template (its Metadata.stackgen.images)")
    p.add_argument("--aws-cli", default="aws", help="the AWS CLI as the user runs it")
    p.add_argument("--again", help="the deploy.sh command to run again, as printed")
    add_aws_args(p)
    args = parser.parse_args(argv)
    return push_hint(args)


if __name__ == "__main__":
    sys.exit(guard(main))
