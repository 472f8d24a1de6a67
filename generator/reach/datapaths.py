"""Data paths: what a task's role reads or writes in the platform's own encrypted stores,
and the KMS permissions that access needs on the store's key.

A data path is declared by the task role: an Allow statement whose action is one a store
of the set serves (``s3:PutObject``) on that store (its bucket's objects).  When the store
is encrypted with a customer managed key, the caller also needs the KMS actions of
:data:`STORES` on that key, or the call is denied at run time (a task can start and
still fail to write).  The store calls KMS on the caller's behalf, so the grant is judged
in that call's context (``kms:ViaService`` and the store's encryption context, as
``reach.iam`` evaluates conditions): a key grant conditioned for another use (ECS Exec's
session key, another bucket) does not serve the path.  :func:`data_paths` derives them; the preflight checks them like
the start-time permissions (``reach.verdicts``), and so does the deployability check.

Stores whose key the caller needs no permission on are listed with no actions and the
page that says so: CloudWatch Logs encrypts with the key as its own service principal;
SSM parameters a template creates are never SecureString (CloudFormation cannot create
one); EFS encryption at rest is transparent to NFS clients.

The table is this package's until the generator's own (``generator/kms_actions.py`` on
the branch that adds the statements) and this one are made one; the rows agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import Renderer
from generator.reach.iam import Statement, TemplatePolicies, allows
from generator.reach.model import Perm, Task

Key = tuple[str, str]
DATA_PATH = "the data path"  # how a data path's permission names its purpose (Perm.why)


def _s3_rule(p: dict[str, Any]) -> dict[str, Any]:
    for rule in ((p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []):
        default = (rule or {}).get("ServerSideEncryptionByDefault") or {}
        if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            return dict(rule)
    return {}


def _s3_key(p: dict[str, Any]) -> Any:
    return (_s3_rule(p).get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")


def _s3_context(p: dict[str, Any], arn: str) -> dict[str, str]:
    """S3's encryption context: the bucket's ARN with an S3 Bucket Key, else the object's."""
    bucket_key = _s3_rule(p).get("BucketKeyEnabled") in (True, "true")
    return {"kms:EncryptionContext:aws:s3:arn": arn if bucket_key else f"{arn}/object"}


@dataclass(frozen=True)
class Store:
    """How a resource type uses its key on a caller's behalf."""

    what: str  # how messages name it
    key: Callable[[dict[str, Any]], Any]  # the key in the resource's properties (None: not a CMK)
    actions: dict[str, tuple[str, ...]]  # IAM action on the store -> KMS actions the caller needs
    sample: str  # the resource an action is evaluated on: {arn} is the store's ARN
    sources: tuple[str, ...]
    via: str = ""  # the service that calls KMS on the caller's behalf (kms:ViaService <via>.<region>...)
    context: Callable[[dict[str, Any], str], dict[str, str]] = lambda p, arn: {}  # its encryption context


STORES: dict[str, Store] = {
    # "To upload an object encrypted with an AWS KMS key to Amazon S3, you need kms:GenerateDataKey
    # permissions on the key. To download an object encrypted with an AWS KMS key, you need
    # kms:Decrypt"; a multipart upload (allowed by s3:PutObject) needs both.
    "AWS::S3::Bucket": Store(
        "bucket", _s3_key,
        {"s3:GetObject": ("kms:Decrypt",), "s3:GetObjectVersion": ("kms:Decrypt",),
         "s3:PutObject": ("kms:Decrypt", "kms:GenerateDataKey")},
        "{arn}/object",
        ("https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
         "https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions",
         "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html"),
        "s3", _s3_context),
    # "To retrieve a secret, the user must have kms:Decrypt ... To update the secret ... both
    # kms:Decrypt and kms:GenerateDataKey".
    "AWS::SecretsManager::Secret": Store(
        "secret", lambda p: p.get("KmsKeyId"),
        {"secretsmanager:GetSecretValue": ("kms:Decrypt",),
         "secretsmanager:PutSecretValue": ("kms:Decrypt", "kms:GenerateDataKey"),
         "secretsmanager:UpdateSecret": ("kms:Decrypt", "kms:GenerateDataKey")},
        "{arn}",
        ("https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",),
        "secretsmanager", lambda p, arn: {"kms:EncryptionContext:SecretARN": arn}),
    # Producers need kms:GenerateDataKey and kms:Decrypt, consumers kms:Decrypt.
    "AWS::SQS::Queue": Store(
        "queue", lambda p: p.get("KmsMasterKeyId"),
        {"sqs:SendMessage": ("kms:Decrypt", "kms:GenerateDataKey"), "sqs:ReceiveMessage": ("kms:Decrypt",)},
        "{arn}",
        ("https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",),
        "sqs", lambda p, arn: {"kms:EncryptionContext:aws:sqs:arn": arn}),
    "AWS::SNS::Topic": Store(
        "topic", lambda p: p.get("KmsMasterKeyId"),
        {"sns:Publish": ("kms:Decrypt", "kms:GenerateDataKey")},
        "{arn}",
        ("https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",),
        "sns", lambda p, arn: {"kms:EncryptionContext:aws:sns:topicArn": arn}),
    "AWS::Logs::LogGroup": Store(
        "log group", lambda p: None, {}, "{arn}",
        ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",)),
    "AWS::SSM::Parameter": Store(
        "SSM parameter", lambda p: None, {}, "{arn}",
        ("https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ssm-parameter.html",)),
    "AWS::EFS::FileSystem": Store(
        "file system", lambda p: None, {}, "{arn}",
        ("https://docs.aws.amazon.com/efs/latest/ug/encryption-at-rest.html",)),
}


@dataclass(frozen=True)
class DataPath:
    """A task role's declared access to an encrypted store, and what it needs on the key."""

    task: str  # the task's label
    role: str  # the role's logical id
    action: str  # the IAM action the role is granted on the store
    store: Key
    store_what: str
    key: Key | None  # the KMS key resource, when it is one of the set
    key_match: str | None  # the key's ARN for matching
    key_shown: str  # the key as messages show it
    kms_actions: tuple[str, ...]
    sources: tuple[str, ...]
    context: tuple[tuple[str, str], ...] = ()  # the KMS request's condition keys (kms:ViaService, ...)

    @property
    def why(self) -> str:
        return (f"{self.action} on {self.store_what} {self.store[1]}, which is encrypted with "
                f"{self.key[1] if self.key else self.key_shown}")

    def perm(self) -> Perm:
        """The permission the task role needs for this path, as the preflight checks it."""
        return Perm(self.kms_actions, self.key_match, self.key_shown, self.key, f"{DATA_PATH} {self.why}",
                    role="task", context=dict(self.context))


def task_role(ts: TemplateSet, task: Task) -> Origin | None:
    """The task role of a task's definition, when it is a role of the set."""
    td = (ts.resource(task.td_file, task.td_lid) or {}).get("Properties", {})
    if "TaskRoleArn" not in td:
        return None
    role = ts.origin(task.td_file, td["TaskRoleArn"])
    return role if ts.typed(role, "AWS::IAM::Role") is not None else None


def _grants(stmts: list[Statement], action: str, resource: str | None, origin: Key | None) -> bool:
    """An Allow of ``action`` on the store (a Deny is not a declaration of access)."""
    return allows(stmts, action, resource, origin)


def data_paths(ts: TemplateSet, tasks: list[Task], policies: TemplatePolicies, match: Renderer,
               show: Renderer) -> list[DataPath]:
    """Every data path of every task whose role grants an action on an encrypted store of the set."""
    stores: list[tuple[Key, Store, str | None, Key | None, str | None, str, tuple[tuple[str, str], ...]]] = []
    region = match.p.get("AWS::Region", "")
    for type_, store in STORES.items():
        if not store.actions:
            continue
        for f, lid, r in ts.present_resources(type_):
            props = ts.resolved(f, r.get("Properties") or {})
            key = store.key(props)
            if key is None:
                continue
            attr = "Ref" if type_ in ("AWS::SecretsManager::Secret", "AWS::SNS::Topic") else "Arn"
            arn = match.origin_value(Origin("resource", f, lid, attr))
            ko = ts.origin(f, key)
            if ts.typed(ko, "AWS::KMS::Key") is not None:
                ko = Origin("resource", ko.file, ko.name, "Arn")  # a key id and its ARN name the same key
                key_match, key_shown = match.origin_value(ko), show.origin_value(ko) or str(ko)
            else:
                key_match, key_shown = match(f, key), show(f, key) or str(ko)
            context = {"kms:ViaService": f"{store.via}.{region}.amazonaws.com", **store.context(props, arn or "")}
            stores.append(((f, lid), store, arn, ko.key, key_match, key_shown, tuple(sorted(context.items()))))
    out: list[DataPath] = []
    seen: set[tuple[str, str, Key]] = set()
    for task in tasks:
        role = task_role(ts, task)
        if role is None:
            continue
        stmts, _unknown = policies.role(role)
        for skey, store, arn, kkey, kmatch, kshown, context in stores:
            resource = store.sample.format(arn=arn) if arn else None
            # Objects in a bucket are matched by ARN only: a grant on the bucket itself is no grant on them.
            origin = skey if store.sample == "{arn}" else None
            for action, kms in store.actions.items():
                if (task.label, action, skey) in seen or not _grants(stmts, action, resource, origin):
                    continue
                seen.add((task.label, action, skey))
                out.append(DataPath(task.label, role.name, action, skey, store.what, kkey, kmatch, kshown, kms,
                                    store.sources, context))
    return out
