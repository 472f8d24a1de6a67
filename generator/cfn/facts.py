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
TLS_POLICIES = frozenset({
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
})


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
