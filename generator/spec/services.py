"""Compute: clusters, services (or scheduled tasks) and what each one declares."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from generator import awsfacts
from generator.spec.base import ENV_NAME, Model, PascalName, PortNumber, RetentionDays, Slug, fargate_size_ok
from generator.spec.schedule import check_expression, check_time_zone


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

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        max_len, _, source = awsfacts.name_limits("AWS::ElasticLoadBalancingV2::TargetGroup", "HealthCheckPath")
        if not v.startswith("/"):
            raise ValueError(f"{v!r}: a health check path starts with '/'")
        if re.search(r"\s", v):
            raise ValueError(f"{v!r}: a health check path has no spaces")
        if max_len is not None and len(v) > max_len:
            raise ValueError(f"{len(v)} characters; at most {max_len} ({source})")
        return v

    @field_validator("matcher")
    @classmethod
    def _matcher(cls, v: str) -> str:
        # ALB HttpCode (cfn-lint schema of AWS::ElasticLoadBalancingV2::TargetGroup Matcher):
        # codes 200-499, as a list ("200,202") or a range ("200-299").
        for part in v.split(","):
            codes = part.split("-")
            if len(codes) > 2 or not all(c.isdigit() and 200 <= int(c) <= 499 for c in codes):
                raise ValueError(f"{v!r}: HTTP codes 200-499, as a list (200,202) or a range (200-299)")
        return v

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
    log_retention_days: RetentionDays = 30
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
    schedule: str | None = Field(
        default=None, description="run as a scheduled task (EventBridge Scheduler) instead of a service")
    schedule_timezone: str = "UTC"

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        err = check_expression(v) if v is not None else None
        if err:
            raise ValueError(err)
        return v

    @field_validator("schedule_timezone")
    @classmethod
    def _time_zone(cls, v: str) -> str:
        err = check_time_zone(v)
        if err:
            raise ValueError(err)
        return v

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
