"""CloudFormation's own template validation (ValidateTemplate) of many templates in one process:
validate.sh's remote step.

    python -m generator.deploy.validate_templates [--bucket B] [--region R] [--endpoint-url U] FILE...

Each file is sent as its TemplateBody; one over the TemplateBody quota is uploaded to the
artifact bucket first (``--bucket``, else the default one, created and secured as deploy.sh
does: generator.deploy.artifacts) and validated from its S3 URL, as deploy.sh deploys it.
One line per file: ``validate-template: ok   FILE`` on stdout, or ``validate-template:
FAIL FILE: <what CloudFormation said>`` on stderr.  One process and one client for every
file: the AWS CLI took about a second to start for each of them (162 templates at 300
services).

Exit 0: every file is valid.  1: at least one is not (or could not be uploaded).  2:
usage.  3: the endpoint stopped answering (one line, generator.deploy._aws.guard).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from generator.deploy import artifacts
from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, guard
from generator.deployability.quotas import QUOTAS

INLINE_LIMIT = QUOTAS["template_bytes_inline"].value  # TemplateBody, in bytes
PREFIX = "validate"


def validate(args: argparse.Namespace) -> int:
    cfn = client("cloudformation", args)
    bucket: str | None = None
    no_bucket = False
    failed = 0
    for name in args.files:
        body = Path(name).read_bytes()
        where = ""
        try:
            if len(body) <= INLINE_LIMIT:
                cfn.validate_template(TemplateBody=body.decode("utf-8"))
            else:
                if bucket is None and not no_bucket:
                    bucket = artifacts.ensure_bucket(args)
                    no_bucket = bucket is None
                if bucket is None:
                    print(f"validate-template: FAIL {name}: no artifact bucket to validate it from", file=sys.stderr)
                    failed = 1
                    continue
                url = artifacts.upload_file(args, bucket, PREFIX, name)
                cfn.validate_template(TemplateURL=url)
                where = " (from S3: over the inline limit)"
        except ClientError as exc:
            print(f"validate-template: FAIL {name}: {exc}", file=sys.stderr)
            failed = 1
            continue
        print(f"validate-template: ok   {name}{where}", flush=True)
    return EXIT_FAIL if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generator.deploy.validate_templates", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--bucket", help="artifact bucket for templates over the TemplateBody quota (default: deploy.sh's)")
    p.add_argument("files", nargs="+", metavar="FILE", help="templates to validate, in order")
    add_aws_args(p)
    args = p.parse_args(argv)
    for name in args.files:
        if not Path(name).is_file():
            print(f"{p.prog}: {name}: no such file", file=sys.stderr)
            return 2
    return guard(lambda: validate(args))


if __name__ == "__main__":
    raise SystemExit(main())
