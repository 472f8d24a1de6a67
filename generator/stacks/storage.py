"""storage: S3 buckets the platform's tasks use for application data
(CMK-encrypted, versioned, public access blocked, TLS-only)."""

from __future__ import annotations

import awacs.s3 as as3
from awacs.aws import Bool, Condition, Deny, Principal, Statement
from troposphere import GetAtt, Ref, Sub, Template, s3

from generator import naming, policies
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack, keep

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
    for b in spec.buckets:
        bucket = st.add(keep(s3.Bucket(
            naming.logical(b, "Bucket"),
            BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    BucketKeyEnabled=True,
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=st.ref("KmsKeyArn")))]),
            PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
            Tags=naming.tags(f"bucket-{b}"),
        )))
        st.add(s3.BucketPolicy(
            naming.logical(b, "BucketPolicy"),
            Bucket=Ref(bucket),
            PolicyDocument=policies.doc([Statement(
                Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"),
                Action=[as3.Action("*")],
                Resource=[GetAtt(bucket, "Arn"), Sub("${Arn}/*", Arn=GetAtt(bucket, "Arn"))],
                Condition=Condition(Bool({"aws:SecureTransport": "false"})),
            )]),
        ))
        st.output(naming.bucket_output(b, "Name"), Ref(bucket))
        st.output(naming.bucket_output(b, "Arn"), GetAtt(bucket, "Arn"))
    return st.t
