"""Invariants of a generated template set (seeds/003 Properties 1-11 and more).

Each checker takes a ``TemplateSet`` (and, where the rule depends on intent, the spec)
and returns a list of ``Finding`` s (``generator.cfn.Finding``: the problem starts with
``file:LogicalId``, ``rule`` is the checker's name); an empty list means the invariant
holds.  ``tests/test_invariant_mutations.py`` proves each one can fail.  Nothing here
imports the stack modules: the checks read templates only.  By what they check:

- ``tasks``      task definitions (Fargate size, awslogs, health checks), target groups,
                 EFS access points, log groups, ports a service routes to, task counts
                 within the scaling range per environment, the containers of a task (names,
                 essential, DependsOn order, ports, CPU/memory shares) (Properties 1-5, 9, 22, 24, 25)
- ``security``   least-privilege IAM, NoEcho secrets, stateful policies, CMK encryption,
                 world-open ingress through parameter defaults, policy resources a parameter
                 could widen to '*' (7, 8, 13, 14, 21, 23)
- ``network``    security-group ingress, private services, HTTPS listeners, data paths (10, 15, 18, 19)
- ``egress``     data stores out of public subnets, endpoint-only tasks without an internet route
- ``structure``  domain names, parameter defaults, references, logical ids, quotas (6, 11, 12, 16, 17)
- ``routing``    listener rule priorities and conditions, HTTP2/GRPC target groups only behind HTTPS
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from generator.cfn.templateset import TemplateSet
from generator.invariants.base import Violations
from generator.invariants.egress import data_stores_private, endpoint_only_isolation
from generator.invariants.network import data_reachability, listener_tls, private_services, security_group_ingress
from generator.invariants.routing import listener_rule_priorities, protocol_version_listeners
from generator.invariants.security import (
    encrypted_with_cmk,
    iam_least_privilege,
    noecho_secrets,
    parameter_resources_bounded,
    stateful_policies,
    world_ingress,
)
from generator.invariants.structure import (
    domain_names,
    logical_ids,
    parameter_defaults,
    quotas,
    references_resolve,
    stable_ids,
)
from generator.invariants.tasks import (
    awslogs_logging,
    container_health_checks,
    desired_within_scaling,
    efs_access_points,
    fargate_task_definitions,
    log_groups,
    service_ports_mapped,
    target_group_health_checks,
    task_containers,
)
from generator.spec import Platform

TEMPLATE_ONLY: dict[str, Callable[[TemplateSet], Violations]] = {
    "fargate_task_definitions": fargate_task_definitions,
    "awslogs_logging": awslogs_logging,
    "container_health_checks": container_health_checks,
    "target_group_health_checks": target_group_health_checks,
    "efs_access_points": efs_access_points,
    "domain_names": domain_names,
    "iam_least_privilege": iam_least_privilege,
    "noecho_secrets": noecho_secrets,
    "log_groups": log_groups,
    "security_group_ingress": security_group_ingress,
    "references_resolve": references_resolve,
    "stateful_policies": stateful_policies,
    "encrypted_with_cmk": encrypted_with_cmk,
    "private_services": private_services,
    "logical_ids": logical_ids,
    "quotas": quotas,
    "listener_tls": listener_tls,
    "data_reachability": data_reachability,
    "world_ingress": world_ingress,
    "service_ports_mapped": service_ports_mapped,
    "parameter_resources_bounded": parameter_resources_bounded,
    "desired_within_scaling": desired_within_scaling,
    "data_stores_private": data_stores_private,
    "endpoint_only_isolation": endpoint_only_isolation,
    "listener_rule_priorities": listener_rule_priorities,
    "protocol_version_listeners": protocol_version_listeners,
    "task_containers": task_containers,
}

__all__ = ["TEMPLATE_ONLY", "Violations", "check_all", "parameter_defaults", "stable_ids", *TEMPLATE_ONLY]


def check_all(templates: dict[str, dict[str, Any]], spec: Platform | None = None) -> dict[str, Violations]:
    """Run every template-only invariant (plus spec-aware ones when a spec is given)."""
    ts = TemplateSet(templates)
    out = {name: fn(ts) for name, fn in TEMPLATE_ONLY.items()}
    if spec is not None:
        out["log_groups"] = log_groups(ts, spec)
        out["private_services"] = private_services(ts, allow_public_ip=spec.network.egress == "public-ip")
    return {k: v for k, v in out.items() if v}
