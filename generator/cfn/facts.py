"""AWS facts that more than one part of stackgen reads, each table once, with its source.

``guard/stackgen.guard`` necessarily repeats :data:`TLS_POLICIES` in Guard DSL;
``tests/test_cfn_kernel.py`` proves the two lists are equal and that the policy the
generator emits is in them.
"""

from __future__ import annotations

from dataclasses import dataclass

# HTTPS/TLS listener security policies allowed on a load balancer: TLS 1.3 with TLS 1.2 as
# the floor, the restricted (Res), FIPS and post-quantum (PQ) variants; no "Ext" policies
# (they add CBC/SHA1 ciphers for legacy clients).  Source: "Security policies for your
# Application Load Balancer",
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
TLS_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    }
)

# Fn::Cidr [ipBlock, count, cidrBits]: count is "the number of CIDRs to generate. Valid range
# is between 1 and 256"; cidrBits are host bits (8 makes /24 blocks). Source: AWS
# CloudFormation Template Reference, Fn::Cidr,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-cidr.html
# Read by the spec (a tier's offset + AZs) and the preflight (any template's Fn::Cidr).
FN_CIDR_MAX_COUNT = 256


@dataclass(frozen=True)
class Stateful:
    """How a stateful resource type is treated.

    ``what`` names it in warnings ("database").  ``policies``: a template must set both
    DeletionPolicy and UpdateReplacePolicy on it.  ``holds_data``: deleting or replacing
    it loses data, so neither policy may be ``Delete``.  A type with neither is still
    stateful for the change-set review (replacing a load balancer changes its DNS name).
    """

    what: str
    policies: bool = True
    holds_data: bool = True


# Resource types whose replacement or removal the change-set review highlights, and the
# policies the invariants require.  Source: cfn-lint's StatefulResources.json (the list
# behind rule I3011, cfnlint/data/AdditionalSpecs/), of which these are the types a
# platform can hold; plus AWS::ECR::Repository and AWS::S3::Bucket, which I3011 skips
# because CloudFormation refuses to delete them non-empty (a delete that fails is still
# data at risk on replacement), and the load balancer (its DNS name is its identity).
# A test checks every type marked ``policies`` against cfn-lint's file.
STATEFUL_TYPES: dict[str, Stateful] = {
    "AWS::RDS::DBCluster": Stateful("database"),
    "AWS::RDS::DBInstance": Stateful("database", holds_data=False),  # Aurora members: the cluster holds the data
    "AWS::DynamoDB::Table": Stateful("database"),
    "AWS::ElastiCache::ReplicationGroup": Stateful("cache cluster"),
    "AWS::EFS::FileSystem": Stateful("file system"),
    "AWS::KMS::Key": Stateful("KMS key"),
    "AWS::SecretsManager::Secret": Stateful("secret"),
    "AWS::ECR::Repository": Stateful("container registry"),
    "AWS::Logs::LogGroup": Stateful("log group", holds_data=False),  # logs expire by retention anyway
    "AWS::ElasticLoadBalancingV2::LoadBalancer": Stateful("load balancer", policies=False, holds_data=False),
    "AWS::S3::Bucket": Stateful("bucket"),
}


@dataclass(frozen=True)
class KmsUse:
    """How a store encrypted with a customer managed key uses the key on a caller's behalf."""

    what: str
    """How messages name the store."""
    via: str | None
    """The service whose calls to KMS carry the caller's identity (kms:ViaService
    <via>.<region>.amazonaws.com); None: the caller needs no permission on the key."""
    context_key: str | None
    """The encryption-context key whose value names the store (kms:EncryptionContext:<key>)."""
    actions: dict[str, tuple[str, ...]]
    """IAM action on the store -> the KMS actions the caller needs on its key."""
    sources: tuple[str, ...]
    """The AWS documents the row is taken from."""


# KMS on the data path, by store type: the one table.  The generator grants the task roles
# these actions (generator.kms_actions, by spec store kind) and the read side proves a role
# has them (generator.reach.datapaths, by resource type).
KMS_DATA_PATHS: dict[str, KmsUse] = {
    # SSE-KMS with S3 Bucket Keys. "To upload an object encrypted with an AWS KMS key to
    # Amazon S3, you need kms:GenerateDataKey permissions on the key. To download ..., you
    # need kms:Decrypt"; a multipart upload (authorized by s3:PutObject: CreateMultipartUpload,
    # UploadPart, CompleteMultipartUpload) needs both. CopyObject is s3:GetObject on the
    # source plus s3:PutObject on the target. The encryption context is aws:s3:arn: the
    # bucket ARN with a Bucket Key, the object ARN without one.
    "AWS::S3::Bucket": KmsUse(
        "bucket",
        "s3",
        "aws:s3:arn",
        {
            "s3:GetObject": ("kms:Decrypt",),
            "s3:GetObjectVersion": ("kms:Decrypt",),
            "s3:PutObject": ("kms:Decrypt", "kms:GenerateDataKey"),
        },
        (
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions",
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html",
        ),
    ),
    # "To retrieve a secret, the user must have kms:Decrypt permission ... To update the
    # secret, ... both kms:Decrypt and kms:GenerateDataKey"; the encryption context holds SecretARN.
    "AWS::SecretsManager::Secret": KmsUse(
        "secret",
        "secretsmanager",
        "SecretARN",
        {
            "secretsmanager:GetSecretValue": ("kms:Decrypt",),
            "secretsmanager:PutSecretValue": ("kms:Decrypt", "kms:GenerateDataKey"),
            "secretsmanager:UpdateSecret": ("kms:Decrypt", "kms:GenerateDataKey"),
        },
        ("https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",),
    ),
    # Producers need kms:GenerateDataKey and kms:Decrypt, consumers kms:Decrypt.
    "AWS::SQS::Queue": KmsUse(
        "queue",
        "sqs",
        "aws:sqs:arn",
        {"sqs:SendMessage": ("kms:Decrypt", "kms:GenerateDataKey"), "sqs:ReceiveMessage": ("kms:Decrypt",)},
        ("https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",),
    ),
    "AWS::SNS::Topic": KmsUse(
        "topic",
        "sns",
        "aws:sns:topicArn",
        {"sns:Publish": ("kms:Decrypt", "kms:GenerateDataKey")},
        ("https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",),
    ),
    # CloudWatch Logs uses the key as its own service principal (the key policy's
    # CloudWatchLogs statement), not with the caller's permissions.
    "AWS::Logs::LogGroup": KmsUse(
        "log group",
        None,
        None,
        {},
        ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",),
    ),
    # Parameters a template creates are never SecureString (CloudFormation cannot create one):
    # reading them needs no key.
    "AWS::SSM::Parameter": KmsUse(
        "SSM parameter",
        None,
        None,
        {},
        (
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-securestring.html",
            "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ssm-parameter.html",
        ),
    ),
    # Encryption at rest is transparent to NFS clients.
    "AWS::EFS::FileSystem": KmsUse(
        "file system", None, None, {}, ("https://docs.aws.amazon.com/efs/latest/ug/encryption-at-rest.html",)
    ),
}
