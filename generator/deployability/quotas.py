"""The CloudFormation and service quotas a generated platform must fit: the one table.

Each figure has its default value, whether an account can have it raised (a platform
is held to the default, since nothing in a spec says an account has more), and the AWS
page it comes from.  The deployability check (``generator.deployability.limits``), the
quota invariant (``generator.invariants.structure.quotas``) and synthesis's reading of
troposphere's per-template guards (``generator.synth``) all read these numbers; no
other module writes one.  The figures were checked against the pages on the dates in
``../shared/reference/performance-and-limits.md`` (sections 5 and 7).
"""

from __future__ import annotations

from dataclasses import dataclass

CLOUDFORMATION = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
ALB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html"
ECS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html"
VPC = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups"
PRIVATELINK = "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html"


@dataclass(frozen=True)
class Quota:
    """One quota: what it limits, its default, whether it can be raised, its source page."""

    what: str
    value: int
    adjustable: bool
    source: str

    def cite(self) -> str:
        """The quota as messages name it: '<what>: <value> (adjustable|not adjustable), <page>'."""
        return f"{self.what}: {self.value:,} ({'adjustable' if self.adjustable else 'not adjustable'}), {self.source}"


QUOTAS: dict[str, Quota] = {
    # CloudFormation, per template ("Understand CloudFormation quotas").
    "resources": Quota("resources per template", 500, False, CLOUDFORMATION),
    "parameters": Quota("parameters per template", 200, False, CLOUDFORMATION),
    "outputs": Quota("outputs per template", 200, False, CLOUDFORMATION),
    "mappings": Quota("mappings per template", 200, False, CLOUDFORMATION),
    # "Mapping attributes: maximum number of mapping attributes for each mapping"; cfn-lint's
    # schema (data/schemas/other/mappings/configuration.json) holds both levels of a mapping
    # to it: at most 200 top-level keys, and at most 200 attributes under each of them.
    "mapping_attributes": Quota("mapping attributes per mapping", 200, False, CLOUDFORMATION),
    # The page says 1 MB; cfn-lint (helpers.LIMITS["template"]["body"]) reads it as 1,000,000 bytes.
    "template_bytes_s3": Quota("template body size in an S3 object (TemplateURL)", 1_000_000, False, CLOUDFORMATION),
    "template_bytes_inline": Quota("template body size in a request (TemplateBody)", 51_200, False, CLOUDFORMATION),
    "dynamic_references": Quota("dynamic references per template", 60, False, CLOUDFORMATION),
    # CloudFormation, per stack operation across a nested hierarchy.
    "hierarchy_resources": Quota(
        "resources created, updated or deleted per stack operation, nested stacks included",
        2_500,
        False,
        CLOUDFORMATION,
    ),
    # Elastic Load Balancing ("Quotas for your Application Load Balancers").
    "listeners_per_alb": Quota("listeners per Application Load Balancer", 50, True, ALB),
    "target_groups_per_alb": Quota("target groups per Application Load Balancer", 100, False, ALB),
    "rules_per_alb": Quota("rules per Application Load Balancer (excluding default rules)", 100, True, ALB),
    "certificates_per_alb": Quota(
        "certificates per Application Load Balancer (excluding default certificates)", 25, True, ALB
    ),
    "target_groups_per_action": Quota("target groups per action per Application Load Balancer", 5, False, ALB),
    "load_balancers_per_target_group": Quota("load balancers per target group", 1, False, ALB),
    # Amazon ECS ("Amazon ECS service quotas").
    "target_groups_per_service": Quota("target groups per service", 5, False, ECS),
    # Amazon VPC ("Amazon VPC quotas", security groups).  Rules are counted separately for
    # IPv4 and IPv6; a rule that references a security group or prefix list counts in both.
    "inbound_rules_per_sg": Quota("inbound rules per security group", 60, True, VPC),
    "outbound_rules_per_sg": Quota("outbound rules per security group", 60, True, VPC),
    "sgs_per_network_interface": Quota("security groups per network interface", 5, True, VPC),
    # "This quota multiplied by the quota for security groups per network interface cannot
    # exceed 1,000": however the two are raised, one interface holds at most 1,000 rules per direction.
    "rules_per_network_interface": Quota(
        "rules per security group x security groups per network interface", 1_000, False, VPC
    ),
    # AWS PrivateLink ("AWS PrivateLink quotas").
    "interface_endpoints_per_vpc": Quota(
        "interface and Gateway Load Balancer endpoints per VPC", 50, True, PRIVATELINK
    ),
}

# A count above this share of a quota is reported as a warning: the margin cfn-lint uses for
# its own approaching-a-limit warnings (cfn-lint helpers.LIMITS["threshold"]).
WARNING_SHARE = 0.9


def quota(name: str) -> Quota:
    return QUOTAS[name]


def value(name: str) -> int:
    return QUOTAS[name].value
