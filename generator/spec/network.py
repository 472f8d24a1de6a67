"""The VPC: subnet tiers carved from the VPC CIDR, and how tasks reach the internet."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from generator.cfn.facts import FN_CIDR_MAX_COUNT
from generator.spec.base import Model, Reason, RetentionDays, Slug, new_dict


class SubnetTier(Model):
    """A tier of subnets, one per AZ, carved from the VPC CIDR with Fn::Cidr.

    Subnet k gets block number ``offset + k`` of size ``/(vpc_prefix + newbits)``,
    so the CIDRs follow the VpcCidr parameter at deploy time.
    """

    name: Slug
    """Tier name (slug); services and the database pick their subnets by it."""
    public: bool = False
    """Public subnets (routed to the internet gateway): load balancers and NAT gateways live here."""
    newbits: int | None = Field(default=None, ge=1, le=16)
    """Prefix bits added to the VPC's: a /16 VPC with newbits 8 gives /24 subnets (required unless network.existing)."""
    offset: int | None = Field(default=None, ge=0, le=250)
    """Block number of the first subnet; subnet k (one per AZ) is block offset + k (required unless network.existing)."""
    nat: bool = False
    """A private tier whose route table sends 0.0.0.0/0 to one NAT gateway (in the first public subnet) although egress is vpc-endpoints: the services that must call an outside API run here (services[].subnets); every other tier keeps no route to the internet."""


EgressMode = Literal["nat-per-az", "single-nat", "vpc-endpoints", "public-ip"]


class Network(Model):
    vpc_cidr: str = "10.0.0.0/16"
    """Default of the VpcCidr parameter: an IPv4 CIDR from /16 to /24."""
    availability_zones: int = Field(default=3, ge=2, le=6)
    """How many Availability Zones (and subnets per tier) the VPC spans."""
    tiers: list[SubnetTier] = Field(
        default_factory=lambda: [
            SubnetTier(name="private", newbits=4, offset=0),
            SubnetTier(name="public", public=True, newbits=8, offset=48),
        ]
    )
    """Subnet tiers, each one subnet per AZ; at least one private tier unless egress is public-ip (then a database or EFS still needs one)."""
    egress: EgressMode = "nat-per-az"
    """How tasks reach the internet and AWS APIs: nat-per-az, single-nat, vpc-endpoints (no NAT) or public-ip."""
    egress_by_environment: dict[str, EgressMode] = Field(
        default_factory=new_dict, description="per-environment overrides of egress (not public-ip)"
    )
    public_ip_reason: Reason | None = None
    """Why tasks may have public IPs; required with egress public-ip (it becomes the reason of the generated suppression of Control Tower ECS.PR.9 next to each service). public-ip applies to every environment."""
    interface_endpoints: list[str] = Field(default_factory=lambda: ["sts"])
    """Extra interface VPC endpoints (service names like 'sts', 'ecr.api'); vpc-endpoints mode adds what tasks use."""
    existing: bool = False
    """Bring an existing VPC: its ID (VpcId), each tier's subnet IDs (<Tier>SubnetIds, one per AZ) and, with vpc-endpoints egress, the route tables of the task tiers (PrivateRouteTableIds, for the S3 gateway endpoint) are deploy-time parameters, and vpc_cidr must be the VPC's CIDR; the network stack then creates only the VPC endpoints and their security group (routes, NAT, internet gateway and flow logs are the VPC owner's)."""
    flow_log_retention_days: RetentionDays = 365  # type: ignore[valid-type]  # a Literal of cfn-lint's values, built at import
    """Retention of the VPC flow logs, one of CloudWatch Logs' allowed periods."""

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid IPv4 network CIDR ({exc})") from None
        if net.version != 4 or not 16 <= net.prefixlen <= 24:
            raise ValueError("must be an IPv4 CIDR with a prefix between /16 and /24")
        return v

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, v: list[str]) -> list[str]:
        for e in v:
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", e):
                raise ValueError(f"{e!r} is not an AWS service endpoint name like 'ecr.api'")
        return sorted(set(v))

    @model_validator(mode="after")
    def _check(self) -> Network:  # noqa: C901, PLR0912 - one pass over the tiers
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: names must be unique")
        if not any(not t.public for t in self.tiers) and (self.egress != "public-ip" or self.egress_by_environment):
            raise ValueError("tiers: at least one private tier is required unless egress is public-ip")
        for mode in self.modes:
            if mode != "vpc-endpoints" and not any(t.public for t in self.tiers) and not self.existing:
                raise ValueError(f"tiers: egress {mode!r} needs a public tier")
        if self.egress == "public-ip" and not any(t.public for t in self.tiers):
            raise ValueError("tiers: egress 'public-ip' needs a public tier (tasks run in it)")
        if self.existing and "tiers" not in self.model_fields_set:
            raise ValueError("tiers: list the existing VPC's tiers by name and public flag (no newbits/offset)")
        for t in self.tiers:
            given = [f for f in ("newbits", "offset") if getattr(t, f) is not None]
            if self.existing and given:
                raise ValueError(
                    f"tiers[{t.name}].{given[0]}: not with existing (the subnets are parameters, not carved)"
                )
            if not self.existing and len(given) < 2:
                missing = "newbits" if t.newbits is None else "offset"
                raise ValueError(f"tiers[{t.name}].{missing}: required (or set existing: true)")
            if t.nat:
                if t.public:
                    raise ValueError(f"tiers[{t.name}].nat: only a private tier routes to a NAT")
                if self.existing:
                    raise ValueError(f"tiers[{t.name}].nat: not with existing (its route tables are the VPC owner's)")
                if self.modes != {"vpc-endpoints"}:
                    raise ValueError(
                        f"tiers[{t.name}].nat: only with egress vpc-endpoints in every environment "
                        "(the other modes route every private tier to the internet already)"
                    )
                if self.public_tier is None:
                    raise ValueError(f"tiers[{t.name}].nat: needs a public tier for the NAT gateway")
        if "public-ip" in self.egress_by_environment.values() or (
            self.egress == "public-ip" and self.egress_by_environment
        ):
            raise ValueError("egress_by_environment: public-ip cannot vary by environment")
        if self.egress == "public-ip" and not self.public_ip_reason:
            raise ValueError("public_ip_reason: required when egress is 'public-ip'")
        if self.public_ip_reason is not None and self.egress != "public-ip":
            raise ValueError("public_ip_reason: only with egress 'public-ip'")
        if self.existing:
            return self
        net = ipaddress.ip_network(self.vpc_cidr)
        seen: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for t in self.tiers:
            assert t.newbits is not None and t.offset is not None
            prefix = net.prefixlen + t.newbits
            if prefix > 28:
                raise ValueError(f"tiers[{t.name}]: /{prefix} subnets are smaller than /28")
            blocks = 2**t.newbits
            if t.offset + self.availability_zones > blocks:
                raise ValueError(
                    f"tiers[{t.name}]: offset {t.offset} + {self.availability_zones} AZs "
                    f"exceeds the {blocks} /{prefix} blocks in {self.vpc_cidr}"
                )
            # (offset <= 250 and at most 6 AZs keep this within the count today; the check
            # holds if either bound moves)
            if t.offset + self.availability_zones > FN_CIDR_MAX_COUNT:
                raise ValueError(f"tiers[{t.name}]: Fn::Cidr can carve at most {FN_CIDR_MAX_COUNT} blocks")
            for cidr in self.tier_cidrs(t):
                for other_name, other in seen:
                    if cidr.overlaps(other):
                        raise ValueError(f"tiers[{t.name}]: {cidr} overlaps tier {other_name} ({other})")
                seen.append((t.name, cidr))
        return self

    def tier_cidrs(self, tier: SubnetTier) -> list[ipaddress.IPv4Network]:
        assert tier.newbits is not None and tier.offset is not None
        net = ipaddress.ip_network(self.vpc_cidr)
        subnets = list(net.subnets(prefixlen_diff=tier.newbits))
        return [subnets[tier.offset + k] for k in range(self.availability_zones)]  # type: ignore[misc]

    def tier(self, name: str) -> SubnetTier:
        return next(t for t in self.tiers if t.name == name)

    @property
    def default_private_tier(self) -> str:
        """The first private tier (a platform without one has public-ip egress and no data stores)."""
        return next(t.name for t in self.tiers if not t.public)

    @property
    def has_private_tier(self) -> bool:
        return any(not t.public for t in self.tiers)

    @property
    def endpoint_tier(self) -> str:
        """Where the interface endpoints live: the first private tier, else (public-ip egress with
        public subnets only) the public tier, whose subnets the tasks run in."""
        return next((t.name for t in self.tiers if not t.public), None) or str(self.public_tier)

    @property
    def nat_tiers(self) -> list[str]:
        """Private tiers routed to the internet through the one NAT gateway of a vpc-endpoints platform."""
        return [t.name for t in self.tiers if t.nat]

    @property
    def public_tier(self) -> str | None:
        return next((t.name for t in self.tiers if t.public), None)

    @property
    def modes(self) -> set[str]:
        return {self.egress, *self.egress_by_environment.values()}

    def mode(self, environment: str) -> str:
        return self.egress_by_environment.get(environment, self.egress)

    def nats_for(self, mode: str) -> int:
        """NAT gateways the platform creates for every private tier in ``mode`` (none in an existing
        VPC, whose routes are its owner's; a vpc-endpoints platform's nat tiers have their own)."""
        if self.existing:
            return 0
        return {"nat-per-az": self.availability_zones, "single-nat": 1}.get(mode, 0)

    @property
    def nat_count(self) -> int:
        """NAT gateways the templates contain (the most any environment needs)."""
        return max(self.nats_for(m) for m in self.modes)


class NetworkSpec(Protocol):
    """What ``check_network`` reads of the platform (generator.spec.platform.Platform)."""

    network: Network
    database: Any
    efs: Any
    load_balancers: list[Any]


def check_network(spec: NetworkSpec) -> None:
    """Raise ValueError (naming the field) on a network shape the other sections cannot use."""
    net = spec.network
    if not net.has_private_tier:
        # public-ip egress with public subnets only: a data store never goes into a public subnet.
        if spec.database is not None:
            raise ValueError("database: needs a private tier in network.tiers (data stores never use public subnets)")
        if spec.efs is not None:
            raise ValueError("efs: needs a private tier in network.tiers (data stores never use public subnets)")
    for lb in spec.load_balancers:
        if lb.allow_from_nat and net.existing:
            raise ValueError(
                f"load_balancers[{lb.name}].allow_from_nat: the NAT gateways of an existing VPC are its owner's, "
                "so their addresses are not known to the platform"
            )
    if spec.database is not None and spec.database.subnets in net.nat_tiers:
        raise ValueError(f"database.subnets: {spec.database.subnets!r} is a nat tier; a database needs no internet")
