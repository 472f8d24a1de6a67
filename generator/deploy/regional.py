"""Facts of the region a stack is deployed to, looked up at deploy time.

The AWS-managed S3 prefix list (``com.amazonaws.<region>.s3``) has a different ID in every
region (us-east-1's is pl-63a5400a): a value written into a parameters file for one region
is wrong in every other.  ``s3_prefix_list_id`` asks the region itself, as
``aws ec2 describe-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.<region>.s3``
does, so deploy.sh can pass ``S3PrefixListId`` for the region it deploys to.

Command::

    python -m generator.deploy.regional s3-prefix-list --region R [--endpoint-url URL]

prints the ID on stdout and exits 0; a region without that prefix list, an unreachable
endpoint or missing credentials is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import re
import sys

from generator.deploy._aws import EXIT_USAGE, add_aws_args, client, guard

PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")  # the S3PrefixListId parameter's AllowedPattern
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")  # us-east-1, ap-southeast-1, us-gov-west-1, ...


class RegionalError(Exception):
    """A regional fact that cannot be looked up; the message is one line for the user."""


def s3_prefix_list_name(region: str) -> str:
    return f"com.amazonaws.{region}.s3"


def s3_prefix_list_id(region: str, args: argparse.Namespace | None = None) -> str:
    """The ID of the region's AWS-managed S3 prefix list (the shared boto3 client of ``_aws``;
    ``args`` may carry ``endpoint_url``).  Raises RegionalError."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - botocore is slow to import

    if not region:
        raise RegionalError("no region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    if not REGION.match(region):
        raise RegionalError(f"{region!r} is not an AWS region name (like us-east-1)")
    name = s3_prefix_list_name(region)
    try:
        ec2 = client("ec2", args, region=region)
        found = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [name]}])["PrefixLists"]
    except (BotoCoreError, ClientError) as exc:
        raise RegionalError(f"cannot look up {name} in {region}: {str(exc).splitlines()[0]}") from None
    ids = sorted({p["PrefixListId"] for p in found if p.get("PrefixListName") == name})
    if len(ids) != 1:
        what = "no" if not ids else f"{len(ids)} ({', '.join(ids)})"
        raise RegionalError(f"region {region} has {what} prefix list named {name}")
    if not PREFIX_LIST_ID.match(ids[0]):
        raise RegionalError(f"{name} in {region} has the ID {ids[0]!r}, which S3PrefixListId does not accept")
    return ids[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator.deploy.regional",
        description="Regional facts a deploy needs, looked up in the region.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s3 = sub.add_parser(
        "s3-prefix-list",
        help="print the ID of the region's com.amazonaws.<region>.s3 prefix list (the S3PrefixListId parameter)",
    )
    add_aws_args(s3)
    args = parser.parse_args(argv)
    try:
        print(s3_prefix_list_id(args.region, args))
    except RegionalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(guard(main))
