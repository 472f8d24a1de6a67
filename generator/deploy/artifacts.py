"""The artifact bucket that ``aws cloudformation package`` uploads nested templates to.

Subcommands:
  bucket-name  print the default bucket name: stackgen-artifacts-<account>-<region>
  ensure       create the bucket if needed; make sure it is encrypted, blocks public
               access, is versioned and refuses plain-HTTP access; print its name
  upload       upload one file under <prefix>/<md5 of its content>.template, print its URL
  package      aws cloudformation package with the project's own awscli, in this process
  purge        delete every object version (and delete marker) under <prefix>/

Artifacts are content-addressed: an unchanged template keeps its key (and URL), so an
unchanged nested stack is not touched by an update.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from generator.deploy._aws import EXIT_FAIL, add_aws_args, client, guard, session
from generator.deploy.retained import empty_bucket

_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}
_PUBLIC_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def region_of(args: argparse.Namespace) -> str:
    if args.region:
        return args.region
    return session().region_name or "us-east-1"


def default_bucket(args: argparse.Namespace) -> str:
    account = client("sts", args).get_caller_identity()["Account"]
    return f"stackgen-artifacts-{account}-{region_of(args)}"


def _tls_only_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def ensure(args: argparse.Namespace) -> int:
    bucket = ensure_bucket(args)
    if bucket is None:
        return EXIT_FAIL
    print(bucket)
    return 0


def ensure_bucket(args: argparse.Namespace) -> str | None:
    """The bucket (``args.bucket`` or the default name), created and secured if needed, its
    state on stderr; None (and why on stderr) when it exists but is not accessible."""
    s3 = client("s3", args)
    bucket = args.bucket = args.bucket or default_bucket(args)
    created = False
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            print(
                f"error: artifact bucket {bucket} exists but is not accessible "
                f"({_code(exc)}); it may belong to another account. Pass --bucket.",
                file=sys.stderr,
            )
            return None
        region = region_of(args)
        kwargs: dict = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        created = True
    applied = []
    settings = [
        (
            "encryption",
            lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
            lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_ENCRYPTION),
        ),
        (
            "public access block",
            lambda: all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()),
            lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_PUBLIC_BLOCK),
        ),
        (
            "versioning",
            lambda: s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled",
            lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
        ),
        (
            "TLS-only policy",
            lambda: "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"],
            lambda: s3.put_bucket_policy(Bucket=bucket, Policy=_tls_only_policy(bucket)),
        ),
    ]
    for name, present, apply in settings:
        try:
            ok = bool(present())
        except ClientError:
            ok = False
        if ok:
            continue
        try:
            apply()
            applied.append(name)
        except ClientError as exc:
            print(f"warning: could not set {name} on s3://{bucket}: {_code(exc)}", file=sys.stderr)
    state = "created" if created else "exists"
    extra = f"; set {', '.join(applied)}" if applied and not created else ""
    print(
        f"artifact bucket s3://{bucket} {state} (encrypted, public access blocked, versioned, TLS only{extra})",
        file=sys.stderr,
    )
    return bucket


def object_url(args: argparse.Namespace, bucket: str, key: str) -> str:
    if args.endpoint_url:
        return f"{args.endpoint_url.rstrip('/')}/{bucket}/{key}"
    region = region_of(args)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def upload_file(args: argparse.Namespace, bucket: str, prefix: str, path: str) -> str:
    """Upload under <prefix>/<md5 of the content>.template; return the object's URL."""
    body = Path(path).read_bytes()
    key = f"{prefix.strip('/')}/{hashlib.md5(body).hexdigest()}.template"
    client("s3", args).put_object(Bucket=bucket, Key=key, Body=body)
    return object_url(args, bucket, key)


def upload(args: argparse.Namespace) -> int:
    print(upload_file(args, args.bucket, args.prefix, args.file))
    return 0


def package(args: argparse.Namespace) -> int:
    """``aws cloudformation package`` of the project's own AWS CLI (awscli, pinned), run in
    this process: the CLI's packager itself (nested templates exported, uploaded under
    <prefix>/<md5>.template unless already there, TemplateURL rewritten, the result written
    with the CLI's YAML dumper), so the bytes and keys are the CLI's, without the CLI's start
    (about 1.5 s CPU: it loads every command of every service first). Its S3 client is the
    helpers' (the endpoint explicit, path-style, bounded waits) in the CLI's s3v4 signing.
    The CLI's reading of the templates runs on libyaml (``package_yaml``: the same data);
    its writing is the CLI's own."""
    from awscli.customizations.cloudformation import exceptions  # noqa: PLC0415 - only packaging needs awscli
    from awscli.customizations.cloudformation.artifact_exporter import Template  # noqa: PLC0415
    from awscli.customizations.cloudformation.yamlhelper import yaml_dump  # noqa: PLC0415
    from awscli.customizations.s3uploader import S3Uploader  # noqa: PLC0415

    from generator.deploy import package_yaml  # noqa: PLC0415

    if not Path(args.template_file).is_file():
        raise SystemExit(str(exceptions.InvalidTemplatePathError(template_path=args.template_file)))
    uploader = S3Uploader(client("s3", args), args.bucket, args.prefix, None, False)
    uploader.artifact_metadata = None
    with package_yaml.in_awscli():  # the CLI's reading of the templates, on libyaml
        exported = Template(args.template_file, str(Path.cwd()), uploader).export()
    Path(args.output_template_file).write_text(yaml_dump(exported), encoding="utf-8")
    print(f"Packaged {args.template_file} into {args.output_template_file}")
    return 0


def list_keys(args: argparse.Namespace, bucket: str, prefix: str) -> list[str] | str:
    """The keys of the current objects under ``prefix`` (none when the bucket is missing),
    or the error code when they cannot be listed."""
    keys: list[str] = []
    try:
        for page in client("s3", args).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
    except ClientError as exc:
        if _code(exc) in ("NoSuchBucket", "404"):
            return []
        return _code(exc) or "error"
    return sorted(keys)


def purge(args: argparse.Namespace) -> int:
    prefix = args.prefix.strip("/") + "/"
    try:
        deleted = empty_bucket(args, args.bucket, prefix)
    except ClientError as exc:
        if _code(exc) in ("NoSuchBucket", "404"):
            print(f"artifact bucket s3://{args.bucket} does not exist; nothing to purge")
            return 0
        raise
    print(f"purged s3://{args.bucket}/{prefix}: {deleted} object version(s) deleted")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.artifacts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bucket-name", help="print the default artifact bucket name")
    add_aws_args(p)
    p = sub.add_parser("ensure", help="create/secure the artifact bucket; print its name")
    p.add_argument("--bucket", help="default: stackgen-artifacts-<account>-<region>")
    add_aws_args(p)
    p = sub.add_parser("upload", help="upload a file content-addressed; print its URL")
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--file", required=True)
    add_aws_args(p)
    p = sub.add_parser("package", help="aws cloudformation package (the project's awscli), in this process")
    p.add_argument("--template-file", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--output-template-file", required=True)
    add_aws_args(p)
    p = sub.add_parser("purge", help="delete every object version under a prefix")
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    add_aws_args(p)
    args = parser.parse_args(argv)
    if args.command == "bucket-name":
        print(default_bucket(args))
        return 0
    return {"ensure": ensure, "upload": upload, "package": package, "purge": purge}[args.command](args)


if __name__ == "__main__":
    sys.exit(guard(main))
