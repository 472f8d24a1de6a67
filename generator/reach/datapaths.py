"""Data paths: what a task's role reads or writes in the platform's own encrypted stores,
and the KMS permissions that access needs on the store's key.

A data path is declared by the task role: an Allow statement whose action is one a store
of the set serves (``s3:PutObject``) on that store (its bucket's objects).  When the store
is encrypted with a customer managed key, the caller also needs the KMS actions of
:data:`STORES` (``KMS_DATA_PATHS``) on that key, or the call is denied at run time (a task can start and
still fail to write).  The store calls KMS on the caller's behalf, so the grant is judged
in that call's context (``kms:ViaService`` and the store's encryption context, as
``reach.iam`` evaluates conditions): a key grant conditioned for another use (ECS Exec's
session key, another bucket) does not serve the path.  :func:`data_paths` derives them; the preflight checks them like
the start-time permissions (``reach.verdicts``), and so does the deployability check.

Stores whose key the caller needs no permission on are listed with no actions and the
page that says so: CloudWatch Logs encrypts with the key as its own service principal;
SSM parameters a template creates are never SecureString (CloudFormation cannot create
one); EFS encryption at rest is transparent to NFS clients.

The facts are the one table ``generator.cfn.facts.KMS_DATA_PATHS``, from which the
generator grants the same actions (``generator.kms_actions``); this module adds how to
read each type's key and encryption context from a resource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from generator.cfn.facts import KMS_DATA_PATHS, KmsUse
from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import Renderer
from generator.reach.iam import Statement, TemplatePolicies, allows
from generator.reach.model import Perm, Task

Key = tuple[str, str]
DATA_PATH = "the data path"  # how a data path's permission names its purpose (Perm.why)


def _s3_rule(p: dict[str, Any]) -> dict[str, Any]:
    for rule in (p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []:
        default = (rule or {}).get("ServerSideEncryptionByDefault") or {}
        if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            return dict(rule)
    return {}


def _s3_key(p: dict[str, Any]) -> Any:
    return (_s3_rule(p).get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")


def _s3_context(p: dict[str, Any], arn: str) -> dict[str, str]:
    """S3's encryption context: the bucket's ARN with an S3 Bucket Key, else the object's."""
    bucket_key = _s3_rule(p).get("BucketKeyEnabled") in (True, "true")
    key = KMS_DATA_PATHS["AWS::S3::Bucket"].context_key
    return {f"kms:EncryptionContext:{key}": arn if bucket_key else f"{arn}/object"}


@dataclass(frozen=True)
class Store:
    """How a resource type uses its key on a caller's behalf: the facts of
    ``generator.cfn.facts.KMS_DATA_PATHS`` and how to read them from a resource."""

    facts: KmsUse
    key: Callable[[dict[str, Any]], Any]  # the key in the resource's properties (None: not a CMK)
    sample: str = "{arn}"  # the resource an action is evaluated on: {arn} is the store's ARN
    context: Callable[[dict[str, Any], str], dict[str, str]] = lambda p, arn: {}  # its encryption context

    @property
    def what(self) -> str:
        return self.facts.what

    @property
    def actions(self) -> dict[str, tuple[str, ...]]:
        return self.facts.actions

    @property
    def sources(self) -> tuple[str, ...]:
        return self.facts.sources

    @property
    def via(self) -> str:
        return self.facts.via or ""


def _context_of(type_: str) -> Callable[[dict[str, Any], str], dict[str, str]]:
    key = KMS_DATA_PATHS[type_].context_key
    return lambda p, arn: {f"kms:EncryptionContext:{key}": arn}


_READERS: dict[str, tuple[Callable[[dict[str, Any]], Any], str, Callable[[dict[str, Any], str], dict[str, str]]]] = {
    "AWS::S3::Bucket": (_s3_key, "{arn}/object", _s3_context),
    "AWS::SecretsManager::Secret": (lambda p: p.get("KmsKeyId"), "{arn}", _context_of("AWS::SecretsManager::Secret")),
    "AWS::SQS::Queue": (lambda p: p.get("KmsMasterKeyId"), "{arn}", _context_of("AWS::SQS::Queue")),
    "AWS::SNS::Topic": (lambda p: p.get("KmsMasterKeyId"), "{arn}", _context_of("AWS::SNS::Topic")),
}
STORES: dict[str, Store] = {
    t: Store(facts, *_READERS[t]) if t in _READERS else Store(facts, lambda p: None)
    for t, facts in KMS_DATA_PATHS.items()
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
        return (
            f"{self.action} on {self.store_what} {self.store[1]}, which is encrypted with "
            f"{self.key[1] if self.key else self.key_shown}"
        )

    def perm(self) -> Perm:
        """The permission the task role needs for this path, as the preflight checks it."""
        return Perm(
            self.kms_actions,
            self.key_match,
            self.key_shown,
            self.key,
            f"{DATA_PATH} {self.why}",
            role="task",
            context=dict(self.context),
        )


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


def data_paths(
    ts: TemplateSet, tasks: list[Task], policies: TemplatePolicies, match: Renderer, show: Renderer
) -> list[DataPath]:
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
            request = {"kms:ViaService": f"{store.via}.{region}.amazonaws.com", **store.context(props, arn or "")}
            stores.append(((f, lid), store, arn, ko.key, key_match, key_shown, tuple(sorted(request.items()))))
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
                out.append(
                    DataPath(
                        task.label,
                        role.name,
                        action,
                        skey,
                        store.what,
                        kkey,
                        kmatch,
                        kshown,
                        kms,
                        store.sources,
                        context,
                    )
                )
    return out
