"""The platform spec: a typed, validated model of what a user declares.

A spec is loaded and validated once (``load_spec``); every stack module reads the
resulting frozen ``Platform``.  Errors name the file and the field, one per line.
Only genuine deploy-time knobs become CloudFormation Parameters (see
``generator.parent.root_parameters``); everything else here is build time.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLUG = r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$"
PASCAL = r"^[A-Z][A-Za-z0-9]{0,62}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"

Slug = Annotated[str, Field(pattern=SLUG)]
PascalName = Annotated[str, Field(pattern=PASCAL)]
PortNumber = Annotated[int, Field(ge=1, le=65535, description="TCP port, 1-65535")]

# Fargate task size table (CPU units -> allowed memory MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
SECRET_WORDS = ("password", "secret", "token", "credential", "apikey", "privatekey")


class SpecError(Exception):
    """A spec failed validation. ``lines`` are ``file: field: message`` strings."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def fargate_size_ok(cpu: int, memory: int) -> bool:
    return memory in FARGATE_SIZES.get(cpu, ())


def looks_secret(name: str) -> bool:
    """True when a parameter name implies a secret value (word-wise, so 'Keycloak' is
    not 'key'); names of references to secrets ('...SecretArn', '...PasswordName') are not."""
    words = [w.lower() for w in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)]
    if words and words[-1] in ("arn", "arns", "name", "id", "ids", "uri", "url", "length", "path"):
        return False
    joined = "".join(words)
    if any(w in ("password", "secret", "token", "credential", "credentials") for w in words):
        return True
    return any(k in joined for k in ("apikey", "privatekey", "accesskey"))


def description_implies_secret(description: str) -> bool:
    """A description that speaks of a secret value (not of a reference to one)."""
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", description)}
    if words & {"arn", "name", "id", "uri", "url"}:
        return False
    return bool(words & {"password", "secret", "token", "credential", "credentials"}) or "api key" in description.lower()


# --------------------------------------------------------------------------- network


class SubnetTier(Model):
    """A tier of subnets, one per AZ, carved from the VPC CIDR with Fn::Cidr.

    Subnet k gets block number ``offset + k`` of size ``/(vpc_prefix + newbits)``,
    so the CIDRs follow the VpcCidr parameter at deploy time.
    """

    name: Slug
    public: bool = False
    newbits: int = Field(ge=1, le=16)
    offset: int = Field(ge=0, le=250)


EgressMode = Literal["nat-per-az", "single-nat", "vpc-endpoints", "public-ip"]


class Network(Model):
    vpc_cidr: str = "10.0.0.0/16"
    availability_zones: int = Field(default=3, ge=2, le=6)
    tiers: list[SubnetTier] = Field(
        default_factory=lambda: [
            SubnetTier(name="private", newbits=4, offset=0),
            SubnetTier(name="public", public=True, newbits=8, offset=48),
        ]
    )
    egress: EgressMode = "nat-per-az"
    egress_by_environment: dict[str, EgressMode] = Field(
        default_factory=dict, description="per-environment overrides of egress (not public-ip)")
    public_ip_reason: str | None = None
    interface_endpoints: list[str] = Field(default_factory=lambda: ["sts"])
    flow_log_retention_days: int = 365

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
    def _check(self) -> Network:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: names must be unique")
        if not any(not t.public for t in self.tiers):
            raise ValueError("tiers: at least one private tier is required")
        for mode in self.modes:
            if mode != "vpc-endpoints" and not any(t.public for t in self.tiers):
                raise ValueError(f"tiers: egress {mode!r} needs a public tier")
        if "public-ip" in self.egress_by_environment.values() or (
                self.egress == "public-ip" and self.egress_by_environment):
            raise ValueError("egress_by_environment: public-ip cannot vary by environment")
        if self.egress == "public-ip" and not self.public_ip_reason:
            raise ValueError("public_ip_reason: required when egress is 'public-ip'")
        net = ipaddress.ip_network(self.vpc_cidr)
        seen: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for t in self.tiers:
            prefix = net.prefixlen + t.newbits
            if prefix > 28:
                raise ValueError(f"tiers[{t.name}]: /{prefix} subnets are smaller than /28")
            blocks = 2**t.newbits
            if t.offset + self.availability_zones > blocks:
                raise ValueError(
                    f"tiers[{t.name}]: offset {t.offset} + {self.availability_zones} AZs "
                    f"exceeds the {blocks} /{prefix} blocks in {self.vpc_cidr}"
                )
            if t.offset + self.availability_zones > 256:
                raise ValueError(f"tiers[{t.name}]: Fn::Cidr can carve at most 256 blocks")
            for cidr in self.tier_cidrs(t):
                for other_name, other in seen:
                    if cidr.overlaps(other):
                        raise ValueError(f"tiers[{t.name}]: {cidr} overlaps tier {other_name} ({other})")
                seen.append((t.name, cidr))
        return self

    def tier_cidrs(self, tier: SubnetTier) -> list[ipaddress.IPv4Network]:
        net = ipaddress.ip_network(self.vpc_cidr)
        subnets = list(net.subnets(prefixlen_diff=tier.newbits))
        return [subnets[tier.offset + k] for k in range(self.availability_zones)]  # type: ignore[misc]

    def tier(self, name: str) -> SubnetTier:
        return next(t for t in self.tiers if t.name == name)

    @property
    def default_private_tier(self) -> str:
        return next(t.name for t in self.tiers if not t.public)

    @property
    def public_tier(self) -> str | None:
        return next((t.name for t in self.tiers if t.public), None)

    @property
    def modes(self) -> set[str]:
        return {self.egress, *self.egress_by_environment.values()}

    def mode(self, environment: str) -> str:
        return self.egress_by_environment.get(environment, self.egress)

    def nats_for(self, mode: str) -> int:
        return {"nat-per-az": self.availability_zones, "single-nat": 1}.get(mode, 0)

    @property
    def nat_count(self) -> int:
        """NAT gateways the templates contain (the most any environment needs)."""
        return max(self.nats_for(m) for m in self.modes)


# --------------------------------------------------------------------------- deploy-time parameters


class ParameterSpec(Model):
    """A deploy-time knob the user declares; it becomes a parent Parameter."""

    name: PascalName
    description: str = Field(min_length=1)
    type: Literal["String", "Number"] = "String"
    default: str | None = None
    allowed_values: list[str] | None = None
    no_echo: bool = False

    @model_validator(mode="after")
    def _secret_rules(self) -> ParameterSpec:
        if looks_secret(self.name) and not self.no_echo:
            raise ValueError(f"{self.name}: a secret-looking parameter must set no_echo: true")
        if self.no_echo and self.default is not None:
            raise ValueError(f"{self.name}: a no_echo parameter must not have a default")
        if self.allowed_values and self.default is not None and self.default not in self.allowed_values:
            raise ValueError(f"{self.name}: default {self.default!r} is not in allowed_values")
        return self


# --------------------------------------------------------------------------- secrets


class GenerateSpec(Model):
    length: int = Field(default=32, ge=16, le=4096)
    exclude_punctuation: bool = False
    json_key: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretSpec(Model):
    """A Secrets Manager secret, generated by AWS or taken from a NoEcho parameter."""

    name: Slug
    description: str = Field(min_length=1)
    generate: GenerateSpec | None = None
    from_parameter: PascalName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretSpec:
        if (self.generate is None) == (self.from_parameter is None):
            raise ValueError("exactly one of generate / from_parameter is required")
        return self

    @property
    def json_key(self) -> str | None:
        return self.generate.json_key if self.generate else None


class SsmParameterSpec(Model):
    """A plain (non-secret) SSM String parameter, e.g. configuration a task reads."""

    name: Slug
    description: str = Field(min_length=1)
    value: str = Field(min_length=1)


# --------------------------------------------------------------------------- data stores


class AccessPoint(Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$")]
    uid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX UID, never 0 (root)")
    gid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX GID, never 0 (root)")
    permissions: Annotated[str, Field(pattern=r"^[0-7]{3,4}$")] = "755"


class Efs(Model):
    throughput_mode: Literal["bursting", "elastic"] = "bursting"
    access_points: list[AccessPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Efs:
        names = [a.name for a in self.access_points]
        if len(set(names)) != len(names):
            raise ValueError("access_points: names must be unique")
        return self


class Database(Model):
    engine: Literal["aurora-mysql", "aurora-postgresql"] = "aurora-mysql"
    engine_version: str = Field(min_length=1)
    database_name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    username: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")] = "dbadmin"
    min_acu: float = Field(default=0.5, ge=0, le=256)
    max_acu: float = Field(default=2, ge=1, le=256)
    backup_retention_days: int = Field(default=7, ge=7, le=35)
    backup_window: str = "02:00-04:00"
    maintenance_window: str = "sun:04:00-sun:05:00"
    subnets: Slug | None = None
    proxy: bool = True
    cluster_parameters: dict[str, str] = Field(default_factory=dict)

    @property
    def port(self) -> int:
        return 3306 if self.engine == "aurora-mysql" else 5432

    @property
    def family(self) -> str:
        major = self.engine_version.split(".")[0]
        if self.engine == "aurora-mysql":
            return "aurora-mysql8.0" if major.startswith("8") else f"aurora-mysql{major}"
        return f"aurora-postgresql{major}"

    @model_validator(mode="after")
    def _acu(self) -> Database:
        if self.min_acu > self.max_acu:
            raise ValueError("min_acu must not exceed max_acu")
        return self


class Repository(Model):
    name: Slug
    scan_on_push: bool = True
    immutable_tags: bool = True
    mutable_tags_reason: str | None = None
    keep_last_tagged: int = Field(default=10, ge=1)
    tag_prefix: str = "sha-"
    expire_untagged_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _reason(self) -> Repository:
        if not self.immutable_tags and not self.mutable_tags_reason:
            raise ValueError("mutable_tags_reason: required when immutable_tags is false")
        return self


# --------------------------------------------------------------------------- compute


class CapacityStrategy(Model):
    provider: Literal["FARGATE", "FARGATE_SPOT"]
    weight: int = Field(ge=0, le=1000)
    base: int = Field(default=0, ge=0, le=100000)


class Cluster(Model):
    name: Slug
    container_insights: bool = True
    capacity_providers: list[Literal["FARGATE", "FARGATE_SPOT"]] = Field(
        default_factory=lambda: ["FARGATE", "FARGATE_SPOT"]
    )
    default_strategy: list[CapacityStrategy] = Field(
        default_factory=lambda: [CapacityStrategy(provider="FARGATE", weight=1, base=1)]
    )

    @model_validator(mode="after")
    def _strategy(self) -> Cluster:
        for s in self.default_strategy:
            if s.provider not in self.capacity_providers:
                raise ValueError(f"default_strategy: {s.provider} is not in capacity_providers")
        if sum(1 for s in self.default_strategy if s.base) > 1:
            raise ValueError("default_strategy: only one provider may have a base")
        return self


class TargetHealthCheck(Model):
    path: str = "/health"
    port: PortNumber | None = Field(default=None, description="None means traffic-port")
    interval: int = Field(default=30, ge=5, le=300)
    timeout: int = Field(default=5, ge=2, le=120)
    healthy_threshold: int = Field(default=2, ge=2, le=10)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)
    matcher: str = "200"

    @model_validator(mode="after")
    def _timeout(self) -> TargetHealthCheck:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be less than interval")
        return self


class TargetGroupSpec(Model):
    """A target group the service registers ``container_port`` in."""

    name: Slug
    load_balancer: Slug
    container_port: PortNumber
    health_check: TargetHealthCheck = Field(default_factory=TargetHealthCheck)
    deregistration_delay: int = Field(default=5, ge=0, le=3600)
    stickiness_seconds: int | None = Field(default=None, ge=1, le=604800)


class ContainerHealthCheck(Model):
    command: str = Field(min_length=1, description="Run with CMD-SHELL inside the container")
    interval: int = Field(default=30, ge=5, le=300)
    timeout: int = Field(default=5, ge=2, le=60)
    retries: int = Field(default=3, ge=1, le=10)
    start_period: int = Field(default=60, ge=0, le=300)


class PortSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
    port: PortNumber


class Volume(Model):
    access_point: str
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$")]
    read_only: bool = False


class SecretRef(Model):
    """Where a container secret comes from: exactly one of secret / ssm / database."""

    secret: Slug | None = None
    key: str | None = None
    ssm: Slug | None = None
    database: Literal["username", "password"] | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if sum(x is not None for x in (self.secret, self.ssm, self.database)) != 1:
            raise ValueError("exactly one of secret / ssm / database is required")
        if self.key and not self.secret:
            raise ValueError("key: only valid with secret")
        return self


class EgressCidr(Model):
    """Extra task egress to a CIDR that a deploy-time parameter supplies (e.g. an SMB share)."""

    port: PortNumber
    protocol: Literal["tcp", "udp"] = "tcp"
    cidr_parameter: PascalName
    description: str = Field(min_length=1)


class AllowFrom(Model):
    service: Slug
    ports: list[PortNumber] = Field(min_length=1)


class Scaling(Model):
    min: int = Field(default=2, ge=0, le=1000)
    max: int = Field(default=4, ge=1, le=1000)
    cpu: int | None = Field(default=70, ge=1, le=100)
    memory: int | None = Field(default=80, ge=1, le=100)
    scale_in_cooldown: int = Field(default=300, ge=0)
    scale_out_cooldown: int = Field(default=60, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.cpu is None and self.memory is None:
            raise ValueError("at least one of cpu / memory targets is required")
        return self


class Size(Model):
    cpu: int
    memory: int

    @model_validator(mode="after")
    def _fargate(self) -> Size:
        if not fargate_size_ok(self.cpu, self.memory):
            raise ValueError(f"cpu {self.cpu} / memory {self.memory} is not a valid Fargate size")
        return self


class Image(Model):
    """The container image: a URI parameter default, with a fallback when it is left empty."""

    default: str = ""
    fallback: str | None = None
    repository: Slug | None = Field(default=None, description="an ECR repository in this spec")
    tag: str = "latest"

    @model_validator(mode="after")
    def _some(self) -> Image:
        if not (self.default or self.fallback or self.repository):
            raise ValueError("one of default / fallback / repository is required")
        if self.repository and (self.default or self.fallback):
            raise ValueError("repository excludes default / fallback")
        return self


class Discovery(Model):
    """How other services find this one: Service Connect alias or Cloud Map A record."""

    mode: Literal["service-connect", "cloud-map"] = "service-connect"
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    port: str = Field(description="name of one of the service's ports")


class Service(Model):
    name: Slug
    container_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    cluster: Slug | None = None
    image: Image
    cpu: int | None = None
    memory: int | None = None
    sizing: dict[str, Size] | None = None
    ports: list[PortSpec] = Field(default_factory=list)
    health_check: ContainerHealthCheck
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    volumes: list[Volume] = Field(default_factory=list)
    allow_from: list[AllowFrom] = Field(default_factory=list)
    target_groups: list[TargetGroupSpec] = Field(default_factory=list)
    discovery: Discovery | None = None
    subnets: Slug | None = None
    scaling: Scaling | None = None
    desired_count: int | None = Field(default=None, ge=0)
    log_retention_days: int = 30
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?$")] | None = None
    root_user_reason: str | None = None
    readonly_root_filesystem: bool = False
    writable_root_reason: str | None = None
    scratch_paths: list[Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]+$")]] = Field(
        default_factory=list, description="writable task-storage mounts (e.g. /tmp) for a read-only root")
    execute_command: bool = True
    deployment_min_healthy_percent: int = Field(default=100, ge=0, le=100)
    deployment_max_percent: int = Field(default=200, ge=100, le=200)
    task_permissions: list[PermissionSpec] = Field(default_factory=list)
    egress_cidrs: list[EgressCidr] = Field(default_factory=list)
    schedule: Annotated[str, Field(pattern=r"^(cron|rate)\(.+\)$")] | None = Field(
        default=None, description="run as a scheduled task (EventBridge Scheduler) instead of a service")
    schedule_timezone: str = "UTC"

    @field_validator("environment", "secrets")
    @classmethod
    def _env_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k in v:
            if not re.fullmatch(ENV_NAME, k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v

    @model_validator(mode="after")
    def _check(self) -> Service:
        if self.sizing is None:
            if self.cpu is None or self.memory is None:
                raise ValueError("cpu and memory (or sizing per environment) are required")
            if not fargate_size_ok(self.cpu, self.memory):
                raise ValueError(f"cpu {self.cpu} / memory {self.memory} is not a valid Fargate size")
        elif self.cpu is not None or self.memory is not None:
            raise ValueError("give either cpu/memory or sizing, not both")
        if not self.ports and not self.schedule:
            raise ValueError("ports: a service needs at least one port (only scheduled tasks may have none)")
        port_numbers = [p.port for p in self.ports]
        port_names = [p.name for p in self.ports]
        if len(set(port_numbers)) != len(port_numbers) or len(set(port_names)) != len(port_names):
            raise ValueError("ports: names and numbers must be unique")
        for tg in self.target_groups:
            if tg.container_port not in port_numbers:
                raise ValueError(f"target_groups[{tg.name}]: container_port {tg.container_port} is not in ports")
        for a in self.allow_from:
            for p in a.ports:
                if p not in port_numbers:
                    raise ValueError(f"allow_from[{a.service}]: port {p} is not in ports")
        if self.discovery and self.discovery.port not in port_names:
            raise ValueError(f"discovery.port: {self.discovery.port!r} is not a port name")
        overlap = set(self.environment) & set(self.secrets)
        if overlap:
            raise ValueError(f"{sorted(overlap)[0]} is both an environment variable and a secret")
        if self.user is None and not self.root_user_reason:
            raise ValueError("user: set a non-root user, or give root_user_reason")
        if self.user is not None and self.user.split(":")[0] in ("0", "root"):
            raise ValueError("user: must not be root; leave it unset and give root_user_reason")
        if len(set(self.scratch_paths)) != len(self.scratch_paths):
            raise ValueError("scratch_paths: paths must be unique")
        if set(self.scratch_paths) & {v.path for v in self.volumes}:
            raise ValueError("scratch_paths: a path is also an EFS volume mount")
        if not self.readonly_root_filesystem and not self.writable_root_reason:
            raise ValueError("writable_root_reason: required when readonly_root_filesystem is false")
        if self.schedule:
            for field, value in (("target_groups", self.target_groups), ("discovery", self.discovery),
                                 ("scaling", self.scaling), ("desired_count", self.desired_count)):
                if value:
                    raise ValueError(f"{field}: a scheduled task ({self.schedule}) is not a service")
        if self.scaling and self.desired_count is not None and not (
            self.scaling.min <= self.desired_count <= self.scaling.max
        ):
            raise ValueError("desired_count must lie within scaling min..max")
        return self

    @property
    def container(self) -> str:
        return self.container_name or self.name

    @property
    def is_service(self) -> bool:
        return self.schedule is None

    @property
    def desired(self) -> int:
        if self.schedule:
            return 0
        if self.desired_count is not None:
            return self.desired_count
        return self.scaling.min if self.scaling else 1

    def port_by_name(self, name: str) -> int:
        return next(p.port for p in self.ports if p.name == name)


class PermissionSpec(Model):
    """An extra task-role statement. Resources may use ${bucket:NAME} placeholders."""

    sid: Annotated[str, Field(pattern=r"^[A-Za-z0-9]+$")]
    actions: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+:[A-Za-z0-9*]+$")]] = Field(min_length=1)
    resources: list[str] = Field(min_length=1)

    @field_validator("actions")
    @classmethod
    def _no_wildcards(cls, v: list[str]) -> list[str]:
        for a in v:
            if a.split(":")[1] == "*":
                raise ValueError(f"{a}: service-wide wildcards are not allowed")
        return v


Service.model_rebuild()


# --------------------------------------------------------------------------- edge


class Listener(Model):
    """A listener. mode: https (only with a domain), redirect (HTTP->443 with a domain,
    else HTTP forward), auto (HTTPS with a domain, else HTTP)."""

    port: PortNumber
    mode: Literal["https", "redirect", "auto"]
    target_group: Slug


class LoadBalancer(Model):
    name: Slug
    dns_record: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    listeners: list[Listener] = Field(min_length=1)
    allow_from_services: list[Slug] = Field(default_factory=list)
    allow_from_nat: bool = False
    idle_timeout: int = Field(default=60, ge=1, le=4000)

    @model_validator(mode="after")
    def _ports(self) -> LoadBalancer:
        ports = [x.port for x in self.listeners]
        if len(set(ports)) != len(ports):
            raise ValueError("listeners: ports must be unique")
        return self


class Domain(Model):
    base_domain: str = Field(default="", description="default of the BaseDomain parameter; '' = no domain")


class Alarms(Model):
    cpu_high: int = Field(default=85, ge=1, le=100)
    memory_high: int = Field(default=85, ge=1, le=100)
    target_5xx: int = Field(default=10, ge=1)
    response_time_seconds: float = Field(default=1.0, gt=0)


# --------------------------------------------------------------------------- platform


class Platform(Model):
    name: Slug
    description: str = Field(min_length=1)
    environments: list[Slug] = Field(default_factory=lambda: ["dev", "test", "prod"])
    default_environment: Slug = "dev"
    network: Network = Field(default_factory=Network)
    ingress_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1, max_length=20)
    domain: Domain | None = None
    parameters: list[ParameterSpec] = Field(default_factory=list)
    secrets: list[SecretSpec] = Field(default_factory=list)
    ssm_parameters: list[SsmParameterSpec] = Field(default_factory=list)
    efs: Efs | None = None
    database: Database | None = None
    repositories: list[Repository] = Field(default_factory=list)
    buckets: list[Slug] = Field(default_factory=list)
    clusters: list[Cluster] = Field(min_length=1)
    namespace: Annotated[str, Field(pattern=r"^[a-z][a-z0-9.-]{0,200}$")] | None = None
    load_balancers: list[LoadBalancer] = Field(default_factory=list)
    services: list[Service] = Field(min_length=1, max_length=60)
    alarms: Alarms = Field(default_factory=Alarms)

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c, strict=True)
            except ValueError:
                raise ValueError(f"{c!r} is not a valid CIDR") from None
        return v

    @model_validator(mode="after")
    def _cross(self) -> Platform:  # noqa: C901, PLR0912 - one pass over the cross references
        def uniq(items: list[str], what: str) -> None:
            dup = sorted({i for i in items if items.count(i) > 1})
            if dup:
                raise ValueError(f"{what}: duplicate name {dup[0]!r}")

        def pascal_uniq(items: list[str], what: str) -> None:
            from generator.naming import pascal  # naming has no imports from here

            seen: dict[str, str] = {}
            for i in items:
                p = pascal(i)
                if p in seen and seen[p] != i:
                    raise ValueError(f"{what}: {i!r} and {seen[p]!r} map to the same id {p!r}")
                seen[p] = i

        if self.default_environment not in self.environments:
            raise ValueError("default_environment must be one of environments")
        for env in self.network.egress_by_environment:
            if env not in self.environments:
                raise ValueError(f"network.egress_by_environment: unknown environment {env!r}")
        svc_names = [s.name for s in self.services]
        uniq(svc_names, "services")
        pascal_uniq(svc_names, "services")
        pascal_uniq([lb.name for lb in self.load_balancers], "load_balancers")
        uniq([c.name for c in self.clusters], "clusters")
        uniq([lb.name for lb in self.load_balancers], "load_balancers")
        uniq([s.name for s in self.secrets], "secrets")
        uniq([p.name for p in self.ssm_parameters], "ssm_parameters")
        uniq([r.name for r in self.repositories], "repositories")
        uniq([p.name for p in self.parameters], "parameters")
        uniq(self.buckets, "buckets")
        uniq([s.container for s in self.services], "services.container_name")
        tg_names = [tg.name for s in self.services for tg in s.target_groups]
        uniq(tg_names, "target_groups")
        tiers = {t.name for t in self.network.tiers}
        clusters = {c.name for c in self.clusters}
        lbs = {lb.name: lb for lb in self.load_balancers}
        secrets = {s.name for s in self.secrets}
        ssm = {p.name for p in self.ssm_parameters}
        repos = {r.name for r in self.repositories}
        aps = {a.name for a in self.efs.access_points} if self.efs else set()
        params = {p.name: p for p in self.parameters}
        builtin = set(BUILTIN_PARAMETERS)
        clash = builtin & set(params)
        if clash:
            raise ValueError(f"parameters: {sorted(clash)[0]} is a built-in parameter name")
        for s in self.secrets:
            if s.from_parameter:
                p = params.get(s.from_parameter)
                if p is None:
                    raise ValueError(f"secrets[{s.name}].from_parameter: unknown parameter {s.from_parameter!r}")
                if not p.no_echo:
                    raise ValueError(f"secrets[{s.name}].from_parameter: {p.name} must be no_echo")
        if self.database and self.database.subnets and self.database.subnets not in tiers:
            raise ValueError(f"database.subnets: unknown tier {self.database.subnets!r}")
        if self.load_balancers and self.network.public_tier is None:
            raise ValueError("load_balancers: need a public subnet tier")
        if any(lb.dns_record for lb in self.load_balancers) and self.domain is None:
            raise ValueError("load_balancers: dns_record needs a domain section")
        if self.domain is not None:
            for lb in self.load_balancers:
                if lb.dns_record is None:
                    raise ValueError(f"load_balancers[{lb.name}].dns_record: required on a platform with a domain "
                                     "(every listener must serve or redirect to HTTPS)")
        for i, s in enumerate(self.services):
            where = f"services[{i}]"
            if s.cluster and s.cluster not in clusters:
                raise ValueError(f"{where}.cluster: unknown cluster {s.cluster!r}")
            if s.subnets and s.subnets not in tiers:
                raise ValueError(f"{where}.subnets: unknown tier {s.subnets!r}")
            if s.subnets and self.network.tier(s.subnets).public and self.network.egress != "public-ip":
                raise ValueError(f"{where}.subnets: tasks run in private tiers unless egress is public-ip")
            if s.image.repository and s.image.repository not in repos:
                raise ValueError(f"{where}.image.repository: unknown repository {s.image.repository!r}")
            if s.sizing is not None and set(s.sizing) != set(self.environments):
                raise ValueError(f"{where}.sizing: needs exactly the environments {self.environments}")
            for v in s.volumes:
                if v.access_point not in aps:
                    raise ValueError(f"{where}.volumes: unknown EFS access point {v.access_point!r}")
            for k, ref in s.secrets.items():
                if ref.secret and ref.secret not in secrets:
                    raise ValueError(f"{where}.secrets.{k}: unknown secret {ref.secret!r}")
                if ref.ssm and ref.ssm not in ssm:
                    raise ValueError(f"{where}.secrets.{k}: unknown ssm parameter {ref.ssm!r}")
                if ref.database and self.database is None:
                    raise ValueError(f"{where}.secrets.{k}: the platform has no database")
            for e in s.egress_cidrs:
                if e.cidr_parameter not in params:
                    raise ValueError(f"{where}.egress_cidrs: unknown parameter {e.cidr_parameter!r}")
            for a in s.allow_from:
                if a.service not in svc_names:
                    raise ValueError(f"{where}.allow_from: unknown service {a.service!r}")
                if a.service == s.name:
                    raise ValueError(f"{where}.allow_from: a service cannot allow itself")
                if s.schedule:
                    raise ValueError(f"{where}.allow_from: nothing can connect to a scheduled task")
            for tg in s.target_groups:
                if tg.load_balancer not in lbs:
                    raise ValueError(f"{where}.target_groups[{tg.name}]: unknown load balancer {tg.load_balancer!r}")
            if s.discovery and s.discovery.mode == "service-connect" and not self.namespace:
                raise ValueError(f"{where}.discovery: needs a platform namespace")
            if s.discovery and s.discovery.mode == "cloud-map" and not self.namespace:
                raise ValueError(f"{where}.discovery: needs a platform namespace")
            for k, val in s.environment.items():
                for ph in PLACEHOLDER.findall(val):
                    err = self._placeholder_error(ph, params)
                    if err:
                        raise ValueError(f"{where}.environment.{k}: {err}")
            for perm in s.task_permissions:
                for r in perm.resources:
                    for ph in PLACEHOLDER.findall(r):
                        kind, _, name = ph.partition(":")
                        if kind == "bucket" and name in self.buckets:
                            continue
                        if kind == "ssm" and name in ssm:
                            continue
                        if ph == "log_group":
                            continue
                        if ph in ("AWS::Partition", "AWS::Region", "AWS::AccountId"):
                            continue
                        raise ValueError(f"{where}.task_permissions[{perm.sid}]: unknown placeholder ${{{ph}}}")
        tg_by_name = {tg.name: (s, tg) for s in self.services for tg in s.target_groups}
        for lb in self.load_balancers:
            for x in lb.listeners:
                owner = tg_by_name.get(x.target_group)
                if owner is None:
                    raise ValueError(f"load_balancers[{lb.name}].listeners[{x.port}]: unknown target group")
                if owner[1].load_balancer != lb.name:
                    raise ValueError(
                        f"load_balancers[{lb.name}].listeners[{x.port}]: target group "
                        f"{x.target_group!r} belongs to load balancer {owner[1].load_balancer!r}"
                    )
                if x.mode in ("https",) and lb.dns_record is None:
                    raise ValueError(f"load_balancers[{lb.name}].listeners[{x.port}]: https needs dns_record")
            for src in lb.allow_from_services:
                if src not in svc_names:
                    raise ValueError(f"load_balancers[{lb.name}].allow_from_services: unknown service {src!r}")
        for s in self.services:
            for tg in s.target_groups:
                lb = lbs[tg.load_balancer]
                if not any(x.target_group == tg.name for x in lb.listeners):
                    raise ValueError(f"target group {tg.name!r} is not used by any listener of {lb.name!r}")
        for p in self.ssm_parameters:
            for ph in PLACEHOLDER.findall(p.value):
                if ph not in params and ph not in builtin and not ph.startswith("AWS::"):
                    raise ValueError(f"ssm_parameters[{p.name}].value: unknown placeholder ${{{ph}}}")
        return self

    def _placeholder_error(self, ph: str, params: dict[str, ParameterSpec]) -> str | None:
        if ph in ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"):
            return None
        if ph in params or ph in BUILTIN_PARAMETERS:
            if ph in params and params[ph].no_echo:
                return f"${{{ph}}} is a secret; pass it through secrets, not environment"
            return None
        kind, _, rest = ph.partition(":")
        if kind == "lb":
            name, _, attr = rest.partition(":")
            if name not in {lb.name for lb in self.load_balancers}:
                return f"${{{ph}}}: unknown load balancer {name!r}"
            if attr not in ("url", "host"):
                return f"${{{ph}}}: load balancer attribute must be url or host"
            return None
        if kind == "db":
            if self.database is None:
                return f"${{{ph}}}: the platform has no database"
            if rest not in ("endpoint", "port", "name"):
                return f"${{{ph}}}: database attribute must be endpoint, port or name"
            return None
        if kind == "namespace" and self.namespace:
            return None
        return f"unknown placeholder ${{{ph}}}"

    # ---- helpers used by the stack modules

    def cluster_of(self, svc: Service) -> str:
        return svc.cluster or self.clusters[0].name

    def subnets_of(self, svc: Service) -> str:
        if svc.subnets:
            return svc.subnets
        if self.network.egress == "public-ip" and self.network.public_tier:
            return self.network.public_tier
        return self.network.default_private_tier

    def endpoint_services(self, mode: str) -> list[str]:
        """Interface endpoints a mode needs: the spec's own, plus in vpc-endpoints mode
        what the tasks use (ECR, logs, STS always; secrets, SSM, KMS, ECS Exec on use)."""
        out = set(self.network.interface_endpoints)
        if mode == "vpc-endpoints":
            out |= {"ecr.api", "ecr.dkr", "logs", "sts"}
            refs = [r for s in self.services for r in s.secrets.values()]
            if any(r.secret or r.database for r in refs):
                out |= {"secretsmanager", "kms"}
            if any(r.ssm for r in refs):
                out |= {"ssm", "kms"}
            if any(s.execute_command for s in self.services):
                out |= {"ssmmessages", "kms"}  # ECS Exec sessions are encrypted with the platform key
        return sorted(out)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def load_balancer(self, name: str) -> LoadBalancer:
        return next(lb for lb in self.load_balancers if lb.name == name)

    def target_group(self, name: str) -> tuple[Service, TargetGroupSpec]:
        return next((s, tg) for s in self.services for tg in s.target_groups if tg.name == name)

    def secret(self, name: str) -> SecretSpec:
        return next(s for s in self.secrets if s.name == name)

    @property
    def has_domain(self) -> bool:
        return self.domain is not None and any(lb.dns_record for lb in self.load_balancers)

    @property
    def sized_per_environment(self) -> bool:
        return any(s.sizing for s in self.services)

    def db_clients(self) -> list[Service]:
        return [s for s in self.services if any(r.database for r in s.secrets.values())]

    def efs_clients(self) -> list[Service]:
        return [s for s in self.services if s.volumes]


# Parent parameters every platform may have, and the placeholders they back.
BUILTIN_PARAMETERS = ("Name", "Environment", "VpcCidr", "IngressCidrBlocks", "BaseDomain", "HostedZoneId",
                      "DatabaseUsername", "DatabaseMinAcu", "DatabaseMaxAcu", "AlarmEmail")


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_spec(path: str | Path) -> Platform:
    """Read and validate a spec file. Raises SpecError with one line per problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{p}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise SpecError([f"{p}: {where}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{p}: (top level): must be a mapping"])
    return parse_spec(data, str(p))


def parse_spec(data: dict[str, Any], source: str = "<spec>") -> Platform:
    """Validate a spec mapping. Top-level keys starting with ``x-`` hold YAML anchors and are ignored."""
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        return Platform.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ")
            if loc:
                lines.append(f"{source}: {_loc(loc)}: {msg}")
            else:
                lines.append(f"{source}: {msg}")
        raise SpecError(sorted(set(lines))) from None


def json_schema() -> dict[str, Any]:
    schema = Platform.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stackgen platform spec"
    return schema
