"""Shared plumbing: boto3 clients with an explicit endpoint and bounded waits, describing a
stack, reading templates (the read kernel's loader, ``generator.cfn.load``), output, and
:func:`guard`, which turns a dead or frozen endpoint, missing credentials or an AWS refusal
into one line instead of a traceback."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from generator.cfn.load import load_file, load_text

# Exit codes shared by the modules and the scripts.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
# The endpoint stopped answering (or never did): the message is printed; the scripts stop
# without adding a line of their own.
EXIT_ENDPOINT = 3

ROOT = Path(__file__).resolve().parents[2]

# How long one call may wait. A loopback endpoint (the local emulator) answers in
# milliseconds, so a frozen one is given up on after ~35 s; AWS gets more patience.
# (connect timeout s, read timeout s, attempts); botocore's standard retry mode retries
# throttling, 5xx and connection errors with backoff.
TIMEOUTS_LOOPBACK = (3, 10, 3)
TIMEOUTS_AWS = (10, 30, 6)
# "CONNECT,READ,ATTEMPTS" in place of TIMEOUTS_LOOPBACK, for a loopback endpoint only (never
# AWS): the e2e tests freeze the emulator and show the bounded wait in seconds, not half a minute.
LOOPBACK_TIMEOUTS_ENV = "STACKGEN_LOOPBACK_TIMEOUTS"


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


def client(
    service: str, args: argparse.Namespace | None = None, *, endpoint_url: str | None = None, region: str | None = None
):
    """A boto3 client; ``endpoint_url`` is always passed when one is configured. Clients
    are cached per (service, endpoint, region): creating one costs tens of milliseconds."""
    if args is not None:
        endpoint_url = endpoint_url or getattr(args, "endpoint_url", None)
        region = region or getattr(args, "region", None)
    return _client(service, endpoint_url, region)


@functools.cache
def session():
    """The process's one boto3 session. Every client is made from it, so botocore reads its
    data files (endpoints.json, 1.2 MB; the service models) once per process instead of
    once per client (about 0.1 s CPU per extra client); clients are still made per
    (service, endpoint, region)."""
    import boto3

    return boto3.session.Session()


@functools.cache
def _client(service: str, endpoint_url: str | None, region: str | None):
    from botocore.config import Config

    connect, read, attempts = timeouts(endpoint_url)
    kwargs: dict[str, Any] = {
        "config": Config(
            retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=connect, read_timeout=read
        ),
    }
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if service == "s3":
            kwargs["config"] = kwargs["config"].merge(Config(s3={"addressing_style": "path"}))
    return session().client(service, **kwargs)


def timeouts(endpoint_url: str | None) -> tuple[float, float, int]:
    """(connect timeout s, read timeout s, attempts) of a call to ``endpoint_url``: AWS's, or
    the loopback ones (``STACKGEN_LOOPBACK_TIMEOUTS`` when set). A malformed value is a
    usage error (exit 2, one line)."""
    if not (endpoint_url and is_loopback_url(endpoint_url)):
        return TIMEOUTS_AWS
    raw = os.environ.get(LOOPBACK_TIMEOUTS_ENV, "").strip()
    if not raw:
        return TIMEOUTS_LOOPBACK
    parts = [p.strip() for p in raw.split(",")]
    try:
        connect, read, attempts = float(parts[0]), float(parts[1]), int(parts[2])
        valid = len(parts) == 3 and connect > 0 and read > 0 and attempts >= 1
    except (ValueError, IndexError):
        valid = False
    if not valid:
        print(
            f"{prog()}: error: {LOOPBACK_TIMEOUTS_ENV}={raw!r}: expected CONNECT,READ,ATTEMPTS "
            "(seconds > 0, seconds > 0, a whole number >= 1), e.g. 3,10,3",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_USAGE)
    return connect, read, attempts


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
    codes = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "redbold": "1;31", "dim": "2"}
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


def prog() -> str:
    """The script the helper runs for (deploy.sh or delete.sh export PROG), for messages."""
    return os.environ.get("PROG") or "stackgen"


def shown_path(path: Path) -> str:
    """A path as a user types it from the current directory: relative below it, else absolute."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    text = str(rel)
    return text if "/" in text else f"./{text}"


def make_command(*words: str) -> str:
    """``make WORDS`` as typed from the current directory (``make -C ROOT`` elsewhere)."""
    here = Path.cwd().resolve() == ROOT
    return " ".join(["make", *([] if here else ["-C", str(ROOT)]), *words])


def cli_prefix(endpoint_url: str | None) -> str:
    """What a printed AWS command needs in front against a loopback endpoint: the dummy
    credentials the local emulator accepts (never a user's real ones)."""
    if endpoint_url and is_loopback_url(endpoint_url):
        return "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
    return ""


_LOST = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ProxyConnectionError",
)
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "NoRegionError")
_BAD_CREDENTIALS = (
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def explain(exc: BaseException) -> tuple[str, int] | None:
    """(one line, exit status) for an exception a user can act on, else None (a bug)."""
    name = type(exc).__name__
    if name in _LOST:
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        what = "did not answer in time" if "Timeout" in name else "cannot be reached"
        nxt = (
            os.environ.get("STACKGEN_ON_ENDPOINT_LOSS")
            or "check the endpoint (and the network), then run the same command again"
        )
        return f"{url} {what} ({one_line(exc)}); {nxt}", EXIT_ENDPOINT
    if name in _NO_CREDENTIALS:
        return (
            f"no AWS credentials or region ({one_line(exc)}): configure them "
            "(aws configure, AWS_PROFILE) or pass --endpoint-url for the local emulator",
            EXIT_USAGE,
        )
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        op = getattr(exc, "operation_name", "") or "the call"
        if code in _BAD_CREDENTIALS:
            return f"AWS rejected the credentials ({code}: {one_line(exc)})", EXIT_USAGE
        return f"AWS refused {op}: {one_line(exc)}", EXIT_FAIL
    return None


def guard(main: Callable[[], int]) -> int:
    """Run a helper's main: a lost endpoint, missing credentials or an AWS refusal is one
    line on stderr (never a traceback); anything else is a bug and says so."""
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{prog()}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place errors become messages
        known = explain(exc)
        if known is not None:
            print(f"{prog()}: error: {known[0]}", file=sys.stderr)
            return known[1]
        if os.environ.get("STACKGEN_DEBUG") == "1":
            raise
        print(
            f"{prog()}: internal error (a bug in stackgen, please report it): "
            f"{type(exc).__name__}: {one_line(exc)} (STACKGEN_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAIL
