"""The platform spec: a typed, validated model of what a user declares.

A spec is loaded and validated once (``load_spec``); every stack module reads the
resulting frozen ``Platform``.  Errors name the file and the field, one per line.
Only genuine deploy-time knobs become CloudFormation Parameters (see
``generator.parent.root_parameters``); everything else here is build time.

Layout: ``base`` (errors, patterns, shared helpers), ``network``, ``parameters``
(parameters, secrets, SSM), ``stores`` (EFS, database, ECR), ``services`` (clusters,
services and scheduled tasks), ``edge`` (load balancers, domain, alarms),
``platform`` (the whole spec and its cross-section checks), ``load`` (files to models).
"""

from __future__ import annotations

from generator.spec.base import (
    FARGATE_SIZES,
    PASCAL,
    PLACEHOLDER,
    SLUG,
    Model,
    SpecError,
    description_implies_secret,
    fargate_size_ok,
    looks_secret,
)
from generator.spec.containers import ContainerHealthCheck, DependsOn, Image, PortSpec, SecretRef, Sidecar
from generator.spec.edge import Alarms, Domain, IngressSource, Listener, LoadBalancer
from generator.spec.load import json_schema, load_spec, parse_spec
from generator.spec.network import EgressMode, Network, SubnetTier
from generator.spec.parameters import GenerateSpec, ParameterSpec, SecretSpec, SsmParameterSpec
from generator.spec.platform import BUILTIN_PARAMETERS, Platform
from generator.spec.services import (
    AllowFrom,
    CapacityStrategy,
    Cluster,
    Discovery,
    EgressCidr,
    PermissionSpec,
    Scaling,
    Service,
    Size,
    TargetGroupSpec,
    TargetHealthCheck,
    Volume,
)
from generator.spec.stores import AccessPoint, Database, Efs, Repository

__all__ = [
    "BUILTIN_PARAMETERS",
    "FARGATE_SIZES",
    "PASCAL",
    "PLACEHOLDER",
    "SLUG",
    "AccessPoint",
    "Alarms",
    "AllowFrom",
    "CapacityStrategy",
    "Cluster",
    "ContainerHealthCheck",
    "Database",
    "Discovery",
    "Domain",
    "EgressCidr",
    "EgressMode",
    "Efs",
    "GenerateSpec",
    "Image",
    "IngressSource",
    "Listener",
    "LoadBalancer",
    "Model",
    "Network",
    "ParameterSpec",
    "PermissionSpec",
    "Platform",
    "PortSpec",
    "Repository",
    "Scaling",
    "SecretRef",
    "SecretSpec",
    "Service",
    "Sidecar",
    "DependsOn",
    "Size",
    "SpecError",
    "SsmParameterSpec",
    "SubnetTier",
    "TargetGroupSpec",
    "TargetHealthCheck",
    "Volume",
    "description_implies_secret",
    "fargate_size_ok",
    "json_schema",
    "load_spec",
    "looks_secret",
    "parse_spec",
]
