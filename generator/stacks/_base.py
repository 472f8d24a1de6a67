"""Helpers shared by the stack modules: a template seeded from the declared
interface, guarded access to inputs, outputs, and stateful-resource policies."""

from __future__ import annotations

import functools
from typing import Any, Protocol

from troposphere import AWSObject, Equals, FindInMap, GetAtt, Join, Or, Output, Parameter, Ref, Template, s3

from generator import naming
from generator.contract import ContractError, Interface, Part, StackInterface
from generator.spec import Platform, Service

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
DEV_ONLY = (
    "deletion_protection.enabled is !If [IsDev, false, true]: on in test and prod (verified by "
    "cfn-lint E9102), off only for ephemeral dev stacks."
)
KEY_FROM_PARAMETER = (
    "KmsKeyId is the platform CMK passed in as KmsKeyArn from the secrets stack; "
    "CT.CLOUDWATCH.PR.3 only follows keys defined in the same template."
)


class InterfaceOf(Protocol):
    """A grouped stack module's ``interface``."""

    def __call__(self, spec: Platform, part: Part | None = None) -> StackInterface: ...


def remembered(fn: InterfaceOf) -> InterfaceOf:
    """``fn``, remembering its answer for the last (spec, part) asked about, by identity:
    ``parent.children`` asks for a grouped stack's interface and the module's ``build`` asks
    again for the same objects (both frozen, so the answer cannot have changed)."""
    last: list[tuple[Platform, Part | None, StackInterface]] = []

    @functools.wraps(fn)
    def interface(spec: Platform, part: Part | None = None) -> StackInterface:
        if last and last[0][0] is spec and last[0][1] is part:
            return last[0][2]
        iface = fn(spec, part)
        last[:] = [(spec, part, iface)]
        return iface

    return interface


class Stack:
    """A child template under construction, bound to its declared interface."""

    def __init__(self, name: str, description: str, iface: StackInterface):
        self.name = name
        self.iface = iface
        self._inputs = frozenset(iface.input_names)
        self._outputs = {o.name: o for o in reversed(iface.outputs)}  # the first of a name wins
        self.t = Template()
        self.t.set_version("2010-09-09")
        self.t.set_description(f"stackgen {name}: {description}")
        for i in iface.inputs:
            kw: dict[str, Any] = {"Type": i.type, "Description": i.description}
            if i.no_echo:
                kw["NoEcho"] = True
            self.t.add_parameter(Parameter(i.name, **kw))

    def ref(self, name: str) -> Ref:
        """Ref to a declared input; referencing an undeclared one is a contract error."""
        if name not in self._inputs:
            raise ContractError(f"stack {self.name}: uses undeclared input {name}")
        return Ref(name)

    def add(self, resource: AWSObject) -> Any:
        return self.t.add_resource(resource)

    def output(self, name: str, value: object) -> None:
        decl = self._outputs.get(name)
        if decl is None:
            raise ContractError(f"stack {self.name}: emits undeclared output {name}")
        self.t.add_output(Output(name, Value=value, Description=decl.description))


def keep(resource: AWSObject, policy: str = "Retain") -> AWSObject:
    """Set both DeletionPolicy and UpdateReplacePolicy on a stateful resource."""
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource


def env_condition(st: Stack, spec: Platform, envs: list[str]) -> str | None:
    """A condition true in exactly ``envs`` (None when that is every environment),
    named after them ('InProd', 'InDevTest'); needs the Environment input."""
    chosen = sorted(set(envs))
    if set(chosen) == set(spec.environments):
        return None
    if not chosen:
        raise ValueError("env_condition: no environment; leave the resource out instead")
    name = "In" + "".join(naming.pascal(e) for e in chosen)
    if name not in st.t.conditions:
        tests = [Equals(st.ref("Environment"), e) for e in chosen]
        st.t.add_condition(name, tests[0] if len(tests) == 1 else Or(*tests))
    return name


def takes_image_ready(i: Interface, s: Service) -> None:
    """Declare the ImageReady input of a service whose image comes from a platform repository."""
    if s.image.repository:
        i.takes(naming.image_ready_param(s.name), description=f"'true' once the image of {s.name} is pushed")


def image_ready(st: Stack, s: Service) -> str | None:
    """The condition that the image of ``s`` is in its platform repository (None when its image is a
    URI: nothing to wait for).  A first deploy creates the repository empty, so a service that had to
    start from it would fail its circuit breaker and roll the stack back."""
    if not s.image.repository:
        return None
    name = naming.image_ready_condition(s.name)
    if name not in st.t.conditions:
        st.t.add_condition(name, Equals(st.ref(naming.image_ready_param(s.name)), "true"))
    return name


def desired_count_mapping(st: Stack, spec: Platform, services: list[Service]) -> None:
    """The DesiredCount Mapping (by Environment) of those ``services`` whose count varies by environment."""
    varied = [s for s in services if s.is_service and s.counted_environments]
    if varied:
        # Mapping values are strings or lists (AWS docs, Mappings syntax); ECS and CloudWatch read numbers.
        st.t.add_mapping(
            "DesiredCount",
            {env: {naming.pascal(s.name): str(s.desired_in(env)) for s in varied} for env in spec.environments},
        )


def desired_count(st: Stack, s: Service) -> object:
    """A service's desired task count: its count, or its entry in the DesiredCount Mapping."""
    if s.counted_environments:
        return FindInMap("DesiredCount", st.ref("Environment"), naming.pascal(s.name))
    return s.desired


def when(resource: AWSObject, cond: str | None) -> AWSObject:
    """Gate a resource on a condition (None = always)."""
    if cond:
        resource.Condition = cond
    return resource


def suppress(
    resource: AWSObject,
    *,
    guard: dict[str, str] | None = None,
    checkov: dict[str, str] | None = None,
    cfn_lint: dict[str, str] | None = None,
) -> AWSObject:
    """Record scanner suppressions next to the resource, each with its reason.

    guard: Control Tower rule name -> reason (Metadata.stackgen.guard_allowlist);
    checkov: check id -> reason (Metadata.checkov.skip); cfn_lint: rule id -> reason
    (Metadata.cfn-lint.config.ignore_checks plus Metadata.stackgen.suppressions)."""
    meta: dict[str, Any] = dict(getattr(resource, "Metadata", {}) or {})
    stackgen: dict[str, Any] = dict(meta.get("stackgen", {}))
    if guard:
        stackgen["guard_allowlist"] = {**stackgen.get("guard_allowlist", {}), **guard}
    if cfn_lint:
        stackgen["suppressions"] = {**stackgen.get("suppressions", {}), **cfn_lint}
        checks = sorted(set(meta.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])) | set(cfn_lint))
        meta["cfn-lint"] = {"config": {"ignore_checks": checks}}
    if checkov:
        skips = list(meta.get("checkov", {}).get("skip", []))
        skips += [{"id": k, "comment": v} for k, v in sorted(checkov.items())]
        meta["checkov"] = {"skip": skips}
    if stackgen:
        meta["stackgen"] = stackgen
    resource.Metadata = meta
    return resource


def log_group_suppressions(resource: AWSObject, retention: int) -> AWSObject:
    """The CT log-group rules a stackgen log group legitimately fails: its CMK is a
    parameter, and (when the spec asks for it) its retention is under 365 days."""
    guard = {"cloudwatch_log_group_encrypted_check": KEY_FROM_PARAMETER}
    if retention < 365:
        guard["cloudwatch_log_group_retention_period_check"] = (
            f"Retention of {retention} days is what the platform spec asks for (log_retention_days); "
            "raise it to 365 to meet CT.CLOUDWATCH.PR.2."
        )
    return suppress(resource, guard=guard)


def log_bucket(st: Stack, lid: str, component: str, delivery: object, delivery_resource: object) -> s3.Bucket:
    """An SSE-S3 bucket that receives AWS service logs (log delivery supports only SSE-S3),
    private, versioned, TLS-only, expiring after 365 days, with the log-bucket suppressions."""
    why = f"This bucket receives {component}; logging its own access would recurse."
    bucket = st.add(
        suppress(
            keep(
                s3.Bucket(
                    lid,
                    BucketEncryption=s3.BucketEncryption(
                        ServerSideEncryptionConfiguration=[
                            s3.ServerSideEncryptionRule(
                                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
                            )
                        ]
                    ),
                    PublicAccessBlockConfiguration=private_bucket(),
                    OwnershipControls=s3.OwnershipControls(
                        Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
                    ),
                    VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                    NotificationConfiguration=bucket_events(),
                    LifecycleConfiguration=bucket_lifecycle(expire_days=365),
                    Tags=naming.tags(component.replace(" ", "-")),
                )
            ),
            checkov={"CKV_AWS_18": why},
            guard={
                "s3_bucket_logging_enabled_check": why,
                "s3_bucket_default_encryption_kms_check": f"Delivery of {component} supports only SSE-S3 "
                "(AES256) buckets, not SSE-KMS.",
                "s3_bucket_object_lock_enabled_check": "Logs expire through the lifecycle rule; object lock "
                "would block expiry.",
            },
        )
    )
    bucket.Metadata["stackgen"]["encryption_exception"] = f"Delivery of {component} supports only SSE-S3 (AES256)."
    tls_only_policy(
        st,
        lid + "Policy",
        bucket,
        extra=[
            {
                "Sid": "LogDelivery",
                "Effect": "Allow",
                "Principal": delivery,
                "Action": "s3:PutObject",
                "Resource": delivery_resource,
            }
        ],
    )
    return bucket


def private_bucket() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def bucket_events() -> s3.NotificationConfiguration:
    return s3.NotificationConfiguration(EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True))


def bucket_lifecycle(expire_days: int | None) -> s3.LifecycleConfiguration:
    rule: dict[str, object] = {
        "Id": "tidy-versions",
        "Status": "Enabled",
        "NoncurrentVersionExpiration": s3.NoncurrentVersionExpiration(NoncurrentDays=90),
        "AbortIncompleteMultipartUpload": s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
    }
    if expire_days:
        rule["ExpirationInDays"] = expire_days
    return s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(**rule)])


def tls_only_policy(st: Stack, lid: str, bucket: s3.Bucket, extra: list[dict[str, object]] | None = None) -> None:
    """A bucket policy denying plain-HTTP access (Join form: CT.S3.PR.8 rejects Fn::Sub here)."""
    arn = GetAtt(bucket, "Arn")
    st.add(
        s3.BucketPolicy(
            lid,
            Bucket=Ref(bucket),
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    *(extra or []),
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, Join("", [arn, "/*"])],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        )
    )
