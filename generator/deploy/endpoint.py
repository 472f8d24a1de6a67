"""Is the AWS endpoint there? One bounded call before anything is read, created or uploaded.

    python -m generator.deploy.endpoint check [--endpoint-url URL] [--region R]

prints the account ID and exits 0. An endpoint that does not answer, and missing or
rejected credentials, are one line on stderr and exit 2, saying what to do: deploy.sh and
delete.sh call it first, so a stopped emulator is one line instead of a traceback from
whichever call happened to come first.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

from generator.deploy._aws import (
    EXIT_ENDPOINT,
    EXIT_USAGE,
    add_aws_args,
    explain,
    guard,
    is_loopback_url,
    make_command,
    one_line,
    prog,
)

# One attempt, short waits: this call only asks "is anybody there".
PROBE_LOOPBACK = (2, 8)
PROBE_AWS = (5, 20)


def _port(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def unreachable(url: str | None, exc: BaseException) -> str:
    """The one line for an endpoint that did not answer the probe."""
    name = type(exc).__name__
    if url and is_loopback_url(url):
        if "Timeout" in name and "Connect" not in name:
            return (
                f"{url} accepts connections but does not answer ({one_line(exc)}): the emulator "
                "there is stuck; restart it, then run the same command again"
            )
        return (
            f"nothing answers at {url} ({one_line(exc)}): the local emulator is not running on port "
            f"{_port(url)}; start it with: {make_command('emulator-start', f'EMULATOR_PORT={_port(url)}')}"
        )
    where = url or "AWS"
    return (
        f"cannot reach {where} ({one_line(exc)}): check the network, any HTTP(S)_PROXY "
        "setting and --region, then run the same command again"
    )


def check(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415 - boto3 is slow to import
    from botocore.config import Config  # noqa: PLC0415

    connect, read = PROBE_LOOPBACK if args.endpoint_url and is_loopback_url(args.endpoint_url) else PROBE_AWS
    kwargs = {
        "config": Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=connect, read_timeout=read)
    }
    if args.region:
        kwargs["region_name"] = args.region
    if args.endpoint_url:
        kwargs["endpoint_url"] = args.endpoint_url
    try:
        sts = boto3.session.Session().client("sts", **kwargs)
        account = sts.get_caller_identity()["Account"]
    except Exception as exc:  # noqa: BLE001 - every failure of the probe is one line
        known = explain(exc)
        if known is None:
            raise
        line = unreachable(args.endpoint_url, exc) if known[1] == EXIT_ENDPOINT else known[0]
        print(f"{prog()}: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    print(account)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.endpoint", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="one bounded call (sts get-caller-identity): print the account ID")
    add_aws_args(p)
    args = parser.parse_args(argv)
    return check(args)


if __name__ == "__main__":
    sys.exit(guard(main))
