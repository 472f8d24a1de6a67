"""Checks of the spec shapes that span sections: deploy-time parameters inside task-permission
resources, bucket names in a container's environment, and per-environment task counts.

Each function returns the message of the first problem (the caller prefixes the field), or
None.  They take plain values, not the ``Platform``, so ``platform`` imports this module and
nothing here imports it back."""

from __future__ import annotations

import re
from collections.abc import Mapping

from generator.spec.base import PLACEHOLDER
from generator.spec.parameters import ParameterSpec
from generator.spec.services import Service

# Parent parameters the iam stack already takes, so a task-permission resource may name them.
PERMISSION_BUILTINS = ("Name", "Environment")
# What an AWS pseudo parameter stands for when a resource is rendered with the defaults.
_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}


def resource_parameter_error(resource: str, params: Mapping[str, ParameterSpec]) -> str | None:
    """Why a task-permission resource that names declared parameters would not give a policy IAM
    accepts (or one a deploy could widen to every resource), or None.

    IAM takes only an ARN or '*' as a Resource (MalformedPolicyDocument otherwise): with the
    parameters' defaults the resource must be an ARN.  A parameter that alone is the resource
    could be set to '*' at deploy time unless its allowed_pattern or allowed_values exclude it."""
    names = [ph for ph in PLACEHOLDER.findall(resource) if ph in params]
    if not names:
        return None
    for n in names:
        if params[n].no_echo:
            return f"${{{n}}} is a no_echo parameter; a policy document would show its value"
    if resource == f"${{{names[0]}}}":
        p = params[names[0]]
        widens = (p.allowed_values is None or "*" in p.allowed_values) and (
            p.allowed_pattern is None or re.fullmatch(p.allowed_pattern, "*") is not None
        )
        if widens:
            return (
                f"${{{p.name}}} alone is the resource, so a deploy could set it to '*'; give parameter "
                f"{p.name} an allowed_pattern (e.g. '^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{{12}}:[A-Za-z0-9_-]+$') "
                "or allowed_values"
            )
    if all(params[n].default is not None for n in names):

        def value(m: re.Match[str]) -> str:
            ph = m.group(1)
            if ph in params:
                return params[ph].default or ""
            return _PSEUDO.get(ph, "x")

        rendered = PLACEHOLDER.sub(value, resource)
        if rendered != "*" and not rendered.startswith("arn:"):
            return (
                f"with the parameters' defaults the resource is {rendered!r}, which IAM refuses "
                "(a Resource is an ARN, arn:..., or '*')"
            )
    return None


def environment_bucket_error(svc: Service, bucket: str, buckets: list[str]) -> str | None:
    """Why ``${bucket:NAME}`` in an environment variable of ``svc`` is wrong, or None: the
    bucket must be one of the spec's, and the task role must be allowed to use it (a name the task
    cannot read or write would fail with AccessDenied only after deploy)."""
    if bucket not in buckets:
        return f"${{bucket:{bucket}}}: unknown bucket {bucket!r}"
    if not any(f"${{bucket:{bucket}}}" in r for p in svc.task_permissions for r in p.resources):
        return (
            f"${{bucket:{bucket}}}: the task role has no permission on bucket {bucket!r}; add a "
            f"task_permissions statement whose resources name ${{bucket:{bucket}}}"
        )
    return None


def per_environment_error(svc: Service, environments: list[str]) -> str | None:
    """Why the per-environment task counts of a service are wrong, or None: every environment
    named must exist, and in each environment the desired count lies within the scaling range."""
    for field, table in (
        ("desired_count_by_environment", svc.desired_count_by_environment),
        ("scaling_by_environment", svc.scaling_by_environment),
    ):
        for env in table:
            if env not in environments:
                return f"{field}: unknown environment {env!r} (environments: {environments})"
    for env in environments if svc.scaling is not None else ():
        lo, hi = svc.scaling_range(env)
        if lo > hi:
            return f"scaling_by_environment.{env}: min {lo} exceeds max {hi}"
        count = svc.desired_in(env)
        if not lo <= count <= hi:
            return f"desired_count_by_environment.{env}: {count} is outside the scaling range {lo}..{hi} of {env}"
    return None
