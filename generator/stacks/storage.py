"""storage: S3 buckets the platform's tasks use for application data
(CMK-encrypted, versioned, public access blocked, TLS-only)."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, Template, s3

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import (
    Stack,
    bucket_events,
    bucket_lifecycle,
    keep,
    log_bucket,
    private_bucket,
    suppress,
    tls_only_policy,
)

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


def build(spec: Platform) -> Template:
    st = Stack(NAME, "application S3 buckets", interface(spec))
    logs = log_bucket(
        st,
        "ServerAccessLogBucket",
        "S3 server access logs",
        {"Service": "logging.s3.amazonaws.com"},
        Sub("arn:${AWS::Partition}:s3:::${B}/*", B=Ref("ServerAccessLogBucket")),
    )
    for b in spec.buckets:
        bucket = st.add(
            suppress(
                keep(
                    s3.Bucket(
                        naming.logical(b, "Bucket"),
                        BucketEncryption=s3.BucketEncryption(
                            ServerSideEncryptionConfiguration=[
                                s3.ServerSideEncryptionRule(
                                    BucketKeyEnabled=True,
                                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                                        SSEAlgorithm="aws:kms", KMSMasterKeyID=st.ref("KmsKeyArn")
                                    ),
                                )
                            ]
                        ),
                        PublicAccessBlockConfiguration=private_bucket(),
                        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                        OwnershipControls=s3.OwnershipControls(
                            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
                        ),
                        LoggingConfiguration=s3.LoggingConfiguration(
                            DestinationBucketName=Ref(logs), LogFilePrefix=f"{b}/"
                        ),
                        NotificationConfiguration=bucket_events(),
                        LifecycleConfiguration=bucket_lifecycle(expire_days=None),
                        Tags=naming.tags(f"bucket-{b}"),
                    )
                ),
                guard={
                    "s3_bucket_object_lock_enabled_check": "Tasks rewrite application data in place; versioning "
                    "(noncurrent versions kept 90 days) "
                    "protects against loss, object lock would make every write permanent."
                },
            )
        )
        tls_only_policy(st, naming.logical(b, "BucketPolicy"), bucket)
        st.output(naming.bucket_output(b, "Name"), Ref(bucket))
        st.output(naming.bucket_output(b, "Arn"), GetAtt(bucket, "Arn"))
    return st.t
