"""storage: S3 buckets the platform's tasks use for application data
(CMK-encrypted, versioned, public access blocked, TLS-only)."""

from __future__ import annotations

from troposphere import GetAtt, Join, Ref, Template, s3

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack, keep, suppress

NAME = "storage"


def applies(spec: Platform) -> bool:
    return bool(spec.buckets)


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("KmsKeyArn")
    for b in spec.buckets:
        i.gives(naming.bucket_output(b, "Name"), f"Name of bucket {b}", public=True)
        i.gives(naming.bucket_output(b, "Arn"), f"ARN of bucket {b}")
    return i.freeze()


LOGS = "This bucket receives S3 server access logs; logging its own access would recurse."


def build(spec: Platform) -> Template:
    st = Stack(NAME, "application S3 buckets", interface(spec))
    logs = st.add(suppress(keep(s3.Bucket(
        "ServerAccessLogBucket",
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"))]),
        PublicAccessBlockConfiguration=_no_public(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        NotificationConfiguration=_events(),
        LifecycleConfiguration=_lifecycle(expire_days=365),
        Tags=naming.tags("s3-access-logs"),
    )), checkov={"CKV_AWS_18": LOGS},
        guard={"s3_bucket_logging_enabled_check": LOGS,
               "s3_bucket_default_encryption_kms_check": "S3 server access log delivery supports only SSE-S3 "
                                                         "(AES256) target buckets, not SSE-KMS.",
               "s3_bucket_object_lock_enabled_check": "Access logs expire through the lifecycle rule; object "
                                                      "lock would block expiry."}))
    logs.Metadata["stackgen"]["encryption_exception"] = "S3 server access log delivery supports only SSE-S3."
    _tls_only(st, "ServerAccessLogBucketPolicy", logs, extra=[{
        "Sid": "S3ServerAccessLogDelivery", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": Join("", [GetAtt(logs, "Arn"), "/*"]),
        "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}}])
    for b in spec.buckets:
        bucket = st.add(suppress(keep(s3.Bucket(
            naming.logical(b, "Bucket"),
            BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    BucketKeyEnabled=True,
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=st.ref("KmsKeyArn")))]),
            PublicAccessBlockConfiguration=_no_public(),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
            LoggingConfiguration=s3.LoggingConfiguration(DestinationBucketName=Ref(logs), LogFilePrefix=f"{b}/"),
            NotificationConfiguration=_events(),
            LifecycleConfiguration=_lifecycle(expire_days=None),
            Tags=naming.tags(f"bucket-{b}"),
        )), guard={"s3_bucket_object_lock_enabled_check":
                   "Tasks rewrite application data in place; versioning (noncurrent versions kept 90 days) "
                   "protects against loss, object lock would make every write permanent."}))
        _tls_only(st, naming.logical(b, "BucketPolicy"), bucket)
        st.output(naming.bucket_output(b, "Name"), Ref(bucket))
        st.output(naming.bucket_output(b, "Arn"), GetAtt(bucket, "Arn"))
    return st.t


def _no_public() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True,
                                             RestrictPublicBuckets=True)


def _events() -> s3.NotificationConfiguration:
    return s3.NotificationConfiguration(EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True))


def _lifecycle(expire_days: int | None) -> s3.LifecycleConfiguration:
    rule: dict[str, object] = {
        "Id": "tidy-versions", "Status": "Enabled",
        "NoncurrentVersionExpiration": s3.NoncurrentVersionExpiration(NoncurrentDays=90),
        "AbortIncompleteMultipartUpload": s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
    }
    if expire_days:
        rule["ExpirationInDays"] = expire_days
    return s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(**rule)])


def _tls_only(st: Stack, lid: str, bucket: s3.Bucket, extra: list[dict[str, object]] | None = None) -> None:
    arn = GetAtt(bucket, "Arn")
    st.add(s3.BucketPolicy(lid, Bucket=Ref(bucket), PolicyDocument={
        "Version": "2012-10-17",
        "Statement": [*(extra or []), {
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, Join("", [arn, "/*"])], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
