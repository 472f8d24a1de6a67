"""KMS on the data path: which actions a task role needs on the platform key to use an
encrypted store of the platform, derived from the IAM actions the spec grants on it.

A task permission (``services[].task_permissions``) whose resources name a store of the
platform (``${bucket:NAME}``, ``${secret:NAME}``, ``${ssm:NAME}``, ``${log_group}``) gets
exactly the KMS actions of this table on the platform CMK, conditioned on the service that
makes the call on the task's behalf (``kms:ViaService``) and on the store it reads or
writes (the encryption context the service sends).  ECS Exec's session key is a separate,
narrower grant (``EXEC_*``): it can never cover a data path.

Every row names the AWS document it comes from.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Store:
    """How a kind of store of the platform uses the platform CMK on a caller's behalf."""

    via: str | None
    """The service whose calls to KMS carry the caller's identity (kms:ViaService
    <via>.<region>.amazonaws.com); None: the caller needs no permission on the key."""
    context_key: str | None
    """The encryption-context key whose value names the store (kms:EncryptionContext:<key>)."""
    actions: dict[str, tuple[str, ...]]
    """IAM action -> the KMS actions the caller needs for it."""
    sources: tuple[str, ...]
    """The AWS documents the row is taken from."""


STORES: dict[str, Store] = {
    # Application buckets (generator.stacks.storage): SSE-KMS with the platform CMK and S3
    # Bucket Keys. "To upload an object encrypted with an AWS KMS key to Amazon S3, you need
    # kms:GenerateDataKey permissions on the key. To download ..., you need kms:Decrypt";
    # a multipart upload (authorized by s3:PutObject: CreateMultipartUpload, UploadPart,
    # CompleteMultipartUpload) needs both. CopyObject is s3:GetObject on the source plus
    # s3:PutObject on the target. The encryption context is aws:s3:arn: the bucket ARN
    # with a Bucket Key, the object ARN without one.
    "bucket": Store(
        via="s3", context_key="aws:s3:arn",
        actions={
            "s3:GetObject": ("kms:Decrypt",),
            "s3:GetObjectVersion": ("kms:Decrypt",),
            "s3:PutObject": ("kms:Decrypt", "kms:GenerateDataKey"),
        },
        sources=("https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
                 "https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions",
                 "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html")),
    # Secrets Manager secrets (generator.stacks.secrets, KmsKeyId: the platform CMK): "To
    # retrieve a secret, the user must have kms:Decrypt permission ... To update the secret,
    # ... both kms:Decrypt and kms:GenerateDataKey"; the encryption context holds SecretARN.
    "secret": Store(
        via="secretsmanager", context_key="SecretARN",
        actions={
            "secretsmanager:GetSecretValue": ("kms:Decrypt",),
            "secretsmanager:PutSecretValue": ("kms:Decrypt", "kms:GenerateDataKey"),
            "secretsmanager:UpdateSecret": ("kms:Decrypt", "kms:GenerateDataKey"),
        },
        sources=("https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",)),
    # SSM parameters of the spec are plain String parameters (generator.stacks.secrets,
    # Type: String): not encrypted, so reading them needs no key.
    "ssm": Store(
        via=None, context_key=None, actions={},
        sources=("https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-securestring.html",)),
    # Log groups encrypted with the platform CMK: CloudWatch Logs uses the key as its own
    # service principal (the key policy's CloudWatchLogs statement, generator.stacks.secrets),
    # not with the caller's permissions.
    "log_group": Store(
        via=None, context_key=None, actions={},
        sources=("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",)),
}

# ECS Exec with the cluster's KMS key: "add the kms:Decrypt permission to your task IAM
# role. This permission is used by your container to decrypt the data" (the caller of
# execute-command needs kms:GenerateDataKey, not the task). The SSM agent in the task
# calls KMS Decrypt itself (no kms:ViaService) with the encryption context
# {aws:ssm:SessionId, aws:ssm:TargetId} (amazon-ssm-agent agent/session/crypto/blockcipher.go),
# and an ECS target is "ecs:<cluster name>_<task id>_<container id>"
# (common/identity/availableidentities/ecs/ecs_identity.go).
EXEC_ACTIONS = ("kms:Decrypt",)
EXEC_CONTEXT_KEY = "aws:ssm:TargetId"
EXEC_TARGET_PREFIX = "ecs:"
EXEC_SOURCES = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html",
    "https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/session/crypto/blockcipher.go",
    "https://github.com/aws/amazon-ssm-agent/blob/mainline/common/identity/availableidentities/ecs/ecs_identity.go",
)


def kms_actions(store: str, iam_actions: Iterable[str]) -> tuple[str, ...]:
    """The KMS actions a caller granted ``iam_actions`` (IAM wildcards allowed) on a store of
    kind ``store`` needs on its key, sorted; () when none."""
    table = STORES[store].actions
    out: set[str] = set()
    for granted in iam_actions:
        for action, needed in table.items():
            if fnmatch.fnmatchcase(action.lower(), granted.lower()):
                out.update(needed)
    return tuple(sorted(out))
