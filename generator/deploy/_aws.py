"""Shared plumbing: boto3 clients with an explicit endpoint, describing a stack, reading
templates (the read kernel's loader, ``generator.cfn.load``), output."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import sys
from typing import Any
from urllib.parse import urlparse

from generator.cfn.load import load_file, load_text

# Exit codes shared by the modules and the scripts.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


def add_aws_args(parser: argparse.ArgumentParser) -> None:
    """--endpoint-url and --region (the region defaults to AWS_REGION / AWS_DEFAULT_REGION)."""
    parser.add_argument(
        "--endpoint-url",
        help="AWS endpoint (e.g. the local emulator); passed explicitly to every client",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's region)",
    )


def client(service: str, args: argparse.Namespace | None = None, *, endpoint_url: str | None = None,
           region: str | None = None):
    """A boto3 client; ``endpoint_url`` is always passed when one is configured. Clients
    are cached per (service, endpoint, region): creating one costs tens of milliseconds."""
    if args is not None:
        endpoint_url = endpoint_url or getattr(args, "endpoint_url", None)
        region = region or getattr(args, "region", None)
    return _client(service, endpoint_url, region)


@functools.cache
def _client(service: str, endpoint_url: str | None, region: str | None):
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "config": Config(retries={"max_attempts": 8, "mode": "standard"},
                         connect_timeout=10, read_timeout=60),
    }
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if service == "s3":
            kwargs["config"] = kwargs["config"].merge(Config(s3={"addressing_style": "path"}))
    return boto3.session.Session().client(service, **kwargs)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address (127.0.0.0/8, ::1 or localhost)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- CloudFormation stacks and templates -------------------------------------------------

# Templates are read with the one loader of the read kernel; these names stay for callers.
load_template = load_file
load_template_text = load_text


def describe(cfn, stack: str) -> dict | None:
    """The stack's description, or None when it does not exist."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore is slow to import; only API users need it

    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


# --- output ------------------------------------------------------------------------------

def _use_color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, color: str, stream=sys.stdout) -> str:
    codes = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1",
             "redbold": "1;31", "dim": "2"}
    if not _use_color(stream):
        return text
    return f"\033[{codes[color]}m{text}\033[0m"


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain-text table with a header rule."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*row).rstrip() for row in rows]
    return "\n".join(lines)


def die(message: str, code: int = EXIT_FAIL) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)
