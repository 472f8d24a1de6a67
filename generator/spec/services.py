"""Compute: clusters, services (or scheduled tasks) and what each one declares."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from generator import awsfacts, policies
from generator.spec.base import (
    ENV_NAME,
    Model,
    PascalName,
    PortNumber,
    Reason,
    RetentionDays,
    Slug,
    fargate_size_ok,
    new_dict,
    new_list,
)
from generator.spec.containers import (
    CONTAINER_NAME,
    MAX_SIDECARS,
    ContainerHealthCheck,
    DependsOn,
    Image,
    PortSpec,
    SecretRef,
    Sidecar,
    task_error,
)
from generator.spec.routing import ProtocolVersion, Route, matcher_error
from generator.spec.schedule import check_expression, check_time_zone

# A service group's name: a slug of at most 32 characters that does not end in a digit (a full
# group continues as <group>-2, <group>-3, ..., names no spec may give).
GROUP_NAME = r"^[a-z][a-z0-9-]{0,30}[a-z]$"


CapacityProvider = Literal["FARGATE", "FARGATE_SPOT"]
CAPACITY_PROVIDERS: tuple[CapacityProvider, ...] = ("FARGATE", "FARGATE_SPOT")


class CapacityStrategy(Model):
    provider: Literal["FARGATE", "FARGATE_SPOT"]
    """Capacity provider: FARGATE or FARGATE_SPOT."""
    weight: int = Field(ge=0, le=1000)
    """Relative share of tasks placed on this provider."""
    base: int = Field(default=0, ge=0, le=100000)
    """Tasks placed on this provider before weights apply."""


class Cluster(Model):
    name: Slug
    """Cluster name (slug); created as <Name>-<Environment>-<name>."""
    container_insights: bool = True
    """Turn on CloudWatch Container Insights."""
    capacity_providers: list[CapacityProvider] = Field(default_factory=lambda: list(CAPACITY_PROVIDERS))
    """Capacity providers the cluster may use."""
    default_strategy: list[CapacityStrategy] = Field(
        default_factory=lambda: [CapacityStrategy(provider="FARGATE", weight=1, base=1)]
    )
    """Default capacity provider strategy of its services."""

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
    """HTTP path the load balancer checks; starts with '/'."""
    port: PortNumber | None = Field(default=None, description="None means traffic-port")
    interval: int = Field(default=30, ge=5, le=300)
    """Seconds between health checks."""
    timeout: int = Field(default=5, ge=2, le=120)
    """Seconds before a check fails; less than interval."""
    healthy_threshold: int = Field(default=2, ge=2, le=10)
    """Consecutive successes before a target is healthy."""
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)
    """Consecutive failures before a target is unhealthy."""
    matcher: str = "200"
    """HTTP codes that count as healthy: 200-499, a list (200,202) or a range (200-299); for protocol_version GRPC gRPC status codes 0-99 (e.g. 12, what ELB's default check /AWS.ALB/healthcheck gets)."""

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
        # ALB HttpCode 200-499 or, for a GRPC target group, GrpcCode 0-99 (generator.spec.routing,
        # which checks the code against the target group's protocol_version).
        if matcher_error("HTTP1", v) and matcher_error("GRPC", v):
            raise ValueError(f"{v!r}: HTTP codes 200-499 (or gRPC status codes 0-99), as a list (200,202) or a range")
        return v

    @model_validator(mode="after")
    def _timeout(self) -> TargetHealthCheck:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be less than interval")
        return self


class TargetGroupSpec(Model):
    """A target group the service registers ``container_port`` in."""

    name: Slug
    """Target group name (slug); listeners forward to it."""
    load_balancer: Slug
    """The load balancer whose listeners use it."""
    container_port: PortNumber
    """Container port registered as the target (one of the service's ports)."""
    health_check: TargetHealthCheck = Field(default_factory=TargetHealthCheck)
    """The load balancer's health check of the targets."""
    deregistration_delay: int = Field(default=5, ge=0, le=3600)
    """Seconds a target drains before deregistration."""
    stickiness_seconds: int | None = Field(default=None, ge=1, le=604800)
    """Turn on load-balancer cookie stickiness for this many seconds."""
    protocol_version: ProtocolVersion = "HTTP1"
    """How the load balancer talks to the targets: HTTP1, HTTP2 or GRPC (those two only through https listeners; GRPC checks health with gRPC status codes). Changing it replaces the target group."""
    routes: list[Route] = Field(default_factory=new_list)
    """Listener rules that send matching requests here (host and/or path, explicit priority), on every listener of the load balancer unless a route names listeners."""


class Volume(Model):
    access_point: str
    """The EFS access point (efs.access_points[].name) to mount."""
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$")]
    """Mount path in the container."""
    read_only: bool = False
    """Mount read-only."""


class EgressCidr(Model):
    """Extra task egress to a CIDR that a deploy-time parameter supplies (e.g. an SMB share)."""

    port: PortNumber
    """Destination port."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """tcp or udp."""
    cidr_parameter: PascalName
    """Parameter (declared in parameters) that holds the destination CIDR at deploy time."""
    description: str = Field(min_length=1)
    """Why the task needs this egress (the security group rule's description)."""


class AllowFrom(Model):
    service: Slug
    """The service allowed in."""
    ports: list[PortNumber] = Field(min_length=1)
    """Ports of this service it may reach."""


class Scaling(Model):
    min: int = Field(default=2, ge=0, le=1000)
    """Minimum task count."""
    max: int = Field(default=4, ge=1, le=1000)
    """Maximum task count."""
    cpu: int | None = Field(default=70, ge=1, le=100)
    """Target CPU utilization in percent (none: no CPU policy)."""
    memory: int | None = Field(default=80, ge=1, le=100)
    """Target memory utilization in percent (none: no memory policy)."""
    scale_in_cooldown: int = Field(default=300, ge=0)
    """Seconds between scale-in steps."""
    scale_out_cooldown: int = Field(default=60, ge=0)
    """Seconds between scale-out steps."""

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.cpu is None and self.memory is None:
            raise ValueError("at least one of cpu / memory targets is required")
        return self


class ScalingRange(Model):
    """Per-environment bounds that replace scaling.min / scaling.max in one environment."""

    min: int | None = Field(default=None, ge=0, le=1000)
    """Minimum task count in this environment (default: scaling.min)."""
    max: int | None = Field(default=None, ge=1, le=1000)
    """Maximum task count in this environment (default: scaling.max)."""


class Size(Model):
    cpu: int
    """CPU units (256 = 0.25 vCPU)."""
    memory: int
    """Memory in MiB, a valid Fargate size for cpu."""

    @model_validator(mode="after")
    def _fargate(self) -> Size:
        if not fargate_size_ok(self.cpu, self.memory):
            raise ValueError(f"cpu {self.cpu} / memory {self.memory} is not a valid Fargate size")
        return self


class Discovery(Model):
    """How other services find this one: Service Connect alias or Cloud Map A record."""

    mode: Literal["service-connect", "cloud-map"] = "service-connect"
    """service-connect (an alias in the platform namespace) or cloud-map (an A record)."""
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    """Name other services use to reach it."""
    port: str = Field(description="name of one of the service's ports")


class Service(Model):
    name: Slug
    """Service name (slug); the ECS service and task family are named after it."""
    container_name: Annotated[str, Field(pattern=CONTAINER_NAME)] | None = None
    """Container name (default: the service name)."""
    cluster: Slug | None = None
    """Cluster it runs in (default: the first)."""
    group: Annotated[str, Field(pattern=GROUP_NAME)] | None = None
    """The service group it is placed in (generator.placement): its security group, roles, log group, task definition, service, scaling and alarms are in the stacks security-groups-<group>, iam-<group>, services-<group>, autoscaling-<group> and monitoring-<group> (the group 'default': security-groups, iam, services, autoscaling, monitoring). Default: 'database' for a service that uses the database (its secrets read the database credentials or its environment ${db:...}), so that the other services are created while the database is, else 'default'. A services stack waits for the database stack when one of its services uses the database; 'group: default' keeps a database user in the first group (its place before this default). A full group continues as <group>-2, <group>-3, ... Changing a deployed service's group moves it to other stacks, which deletes and re-creates it."""
    image: Image
    """Its container image."""
    cpu: int | None = None
    """CPU units of the task (with memory; or use sizing)."""
    memory: int | None = None
    """Memory of the task in MiB (a valid Fargate size for cpu)."""
    sizing: dict[str, Size] | None = None
    """Task size per environment (instead of cpu/memory), one entry per environment."""
    ports: list[PortSpec] = Field(default_factory=new_list)
    """Container ports (TCP). Empty for a worker (a queue consumer) or a scheduled task: nothing may reach it (no target_groups, allow_from or discovery)."""
    health_check: ContainerHealthCheck
    """The container health check."""
    depends_on: list[DependsOn] = Field(default_factory=new_list)
    """Sidecars that must reach a condition (START, COMPLETE, SUCCESS, HEALTHY) before the service's own container starts, e.g. [{container: log-router, condition: START}]."""
    sidecars: list[Sidecar] = Field(default_factory=new_list, max_length=MAX_SIDECARS)
    """Further containers of the task (a log router, a proxy, an agent), each with its own image, cpu/memory share, essential flag, depends_on, environment, secrets, ports and health check; its logs go to the service's log group under its own stream prefix."""
    environment: dict[str, str] = Field(default_factory=new_dict)
    """Environment variables; values may use ${Parameter}, ${AWS::Region}, ${lb:NAME:url|host}, ${db:endpoint|port|name}, ${bucket:NAME} (the bucket's name; the task needs a task_permissions statement on it)."""
    secrets: dict[str, SecretRef] = Field(default_factory=new_dict)
    """Environment variables read from secrets, SSM parameters or the database credentials."""
    volumes: list[Volume] = Field(default_factory=new_list)
    """EFS access points mounted into the container."""
    allow_from: list[AllowFrom] = Field(default_factory=new_list)
    """Other services that may connect, and to which ports."""
    target_groups: list[TargetGroupSpec] = Field(default_factory=new_list)
    """Load balancer target groups it registers in."""
    discovery: Discovery | None = None
    """How other services find it."""
    subnets: Slug | None = None
    """Subnet tier its tasks run in (default: the first private tier)."""
    scaling: Scaling | None = None
    """Target-tracking autoscaling."""
    desired_count: int | None = Field(default=None, ge=0)
    """Task count (default: scaling.min, or 1)."""
    desired_count_by_environment: dict[Slug, Annotated[int, Field(ge=0)]] = Field(default_factory=new_dict)
    """Per-environment overrides of desired_count, e.g. {dev: 1, prod: 3}; other environments keep desired_count."""
    scaling_by_environment: dict[Slug, ScalingRange] = Field(default_factory=new_dict)
    """Per-environment overrides of scaling.min / scaling.max, e.g. {dev: {min: 1, max: 2}}; needs scaling."""
    log_retention_days: RetentionDays = 30  # type: ignore[valid-type]  # a Literal of cfn-lint's values, built at import
    """Retention of its log group, one of CloudWatch Logs' allowed periods."""
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?$")] | None = None
    """Non-root user (uid or uid:gid) the container runs as."""
    root_user_reason: Reason | None = None
    """Why it must run as root; required when user is not set."""
    readonly_root_filesystem: bool = False
    """Mount the root file system read-only."""
    writable_root_reason: Reason | None = None
    """Why the root file system must be writable; required when readonly_root_filesystem is false."""
    scratch_paths: list[Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]+$")]] = Field(
        default_factory=new_list, description="writable task-storage mounts (e.g. /tmp) for a read-only root"
    )
    execute_command: bool = True
    """Allow ECS Exec sessions into its tasks."""
    deployment_min_healthy_percent: int = Field(default=100, ge=0, le=100)
    """Minimum healthy percent during deployments."""
    deployment_max_percent: int = Field(default=200, ge=100, le=200)
    """Maximum percent of tasks during deployments."""
    task_permissions: list[PermissionSpec] = Field(default_factory=new_list)
    """Extra IAM statements for its task role."""
    egress_cidrs: list[EgressCidr] = Field(default_factory=new_list)
    """Extra egress to CIDRs supplied by parameters (e.g. an SMB share)."""
    schedule: str | None = Field(
        default=None, description="run as a scheduled task (EventBridge Scheduler) instead of a service"
    )
    schedule_timezone: str = "UTC"
    """IANA time zone the schedule is evaluated in."""

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
        if not self.task_ports and not self.schedule:
            self._check_worker()
        if len({p.port for p in self.ports}) != len(self.ports) or len({p.name for p in self.ports}) != len(self.ports):
            raise ValueError("ports: names and numbers must be unique")
        for c in self.sidecars:
            if len({p.port for p in c.ports}) != len(c.ports) or len({p.name for p in c.ports}) != len(c.ports):
                raise ValueError(f"sidecars[{c.name}].ports: names and numbers must be unique")
        sizes = (
            [(e, z.cpu, z.memory) for e, z in sorted(self.sizing.items())]
            if self.sizing
            else [("", self.cpu or 0, self.memory or 0)]
        )
        err = task_error(self.container, self.ports, self.depends_on, self.sidecars, sizes)
        if err:
            raise ValueError(err)
        port_numbers = [p.port for p in self.task_ports]
        port_names = [p.name for p in self.task_ports]
        for tg in self.target_groups:
            if tg.container_port not in port_numbers:
                raise ValueError(
                    f"target_groups[{tg.name}]: container_port {tg.container_port} is not in ports "
                    "(of its own container or a sidecar)"
                )
        for a in self.allow_from:
            for p in a.ports:
                if p not in port_numbers:
                    raise ValueError(
                        f"allow_from[{a.service}]: port {p} is not in ports (of its own container or a sidecar)"
                    )
        if self.discovery and self.discovery.port not in port_names:
            raise ValueError(f"discovery.port: {self.discovery.port!r} is not a port name of the task")
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
            for field, value in (
                ("target_groups", self.target_groups),
                ("discovery", self.discovery),
                ("scaling", self.scaling),
                ("desired_count", self.desired_count),
                ("desired_count_by_environment", self.desired_count_by_environment),
                ("scaling_by_environment", self.scaling_by_environment),
            ):
                if value:
                    raise ValueError(f"{field}: a scheduled task ({self.schedule}) is not a service")
        if (
            self.scaling
            and self.desired_count is not None
            and not (self.scaling.min <= self.desired_count <= self.scaling.max)
        ):
            raise ValueError("desired_count must lie within scaling min..max")
        if self.scaling_by_environment and self.scaling is None:
            raise ValueError("scaling_by_environment: overrides scaling, which the service does not declare")
        return self

    def _check_worker(self) -> None:
        """A service with no ports (a worker, e.g. a queue consumer) listens on nothing: nothing may
        route to it or connect to it, and it has no name to be found by."""
        for field, value in (
            ("target_groups", self.target_groups),
            ("allow_from", self.allow_from),
            ("discovery", self.discovery),
        ):
            if value:
                raise ValueError(
                    f"{field}: a service with no ports (a worker) cannot be reached; "
                    "declare the port it listens on in ports"
                )

    @property
    def is_worker(self) -> bool:
        """A service that listens on no port (a queue consumer): no ingress, no discovery entry."""
        return self.is_service and not self.task_ports

    @property
    def container(self) -> str:
        return self.container_name or self.name

    @property
    def task_ports(self) -> list[PortSpec]:
        """The ports of every container of the task: its own container's, then each sidecar's."""
        return [*self.ports, *(p for c in self.sidecars for p in c.ports)]

    def container_of_port(self, port: int) -> str:
        """The name of the container of the task that maps ``port``."""
        return next((c.name for c in self.sidecars if any(p.port == port for p in c.ports)), self.container)

    @property
    def all_secrets(self) -> list[SecretRef]:
        """The secret references of every container of the task."""
        return [*self.secrets.values(), *(r for c in self.sidecars for r in c.secrets.values())]

    @property
    def environments_by_field(self) -> list[tuple[str, dict[str, str]]]:
        """(field, environment) of every container of the task, for messages that name the field."""
        return [("environment", self.environment)] + [
            (f"sidecars[{i}].environment", c.environment) for i, c in enumerate(self.sidecars)
        ]

    @property
    def secrets_by_field(self) -> list[tuple[str, dict[str, SecretRef]]]:
        """(field, secrets) of every container of the task, for messages that name the field."""
        return [("secrets", self.secrets)] + [
            (f"sidecars[{i}].secrets", c.secrets) for i, c in enumerate(self.sidecars)
        ]

    @property
    def uses_database(self) -> bool:
        """Whether it reads the database credentials or its address (${db:...}): it waits for the database."""
        return any(r.database for r in self.all_secrets) or any(
            "${db:" in v for _, env in self.environments_by_field for v in env.values()
        )

    @property
    def is_service(self) -> bool:
        return self.schedule is None

    @property
    def desired(self) -> int:
        """The task count; with per-environment counts the lowest of any environment (the alarm on
        too few running tasks must not fire where fewer are wanted)."""
        if self.schedule:
            return 0
        return min([self.desired_in(""), *(self.desired_in(e) for e in self.counted_environments)])

    @property
    def counted_environments(self) -> list[str]:
        """Environments whose task counts or scaling range differ from the service's own."""
        return sorted(set(self.desired_count_by_environment) | set(self.scaling_by_environment))

    def desired_in(self, env: str) -> int:
        """The task count in environment ``env`` ('' or an environment with no override: the service's own)."""
        if self.schedule:
            return 0
        if env in self.desired_count_by_environment:
            return self.desired_count_by_environment[env]
        if self.desired_count is not None:
            return self.desired_count
        return self.scaling_range(env)[0] if self.scaling else 1

    def scaling_range(self, env: str) -> tuple[int, int]:
        """(min, max) task count of autoscaling in environment ``env``; needs scaling."""
        assert self.scaling is not None
        o = self.scaling_by_environment.get(env)
        lo = o.min if o is not None and o.min is not None else self.scaling.min
        hi = o.max if o is not None and o.max is not None else self.scaling.max
        return lo, hi

    def port_by_name(self, name: str) -> int:
        return next(p.port for p in self.task_ports if p.name == name)


class PermissionSpec(Model):
    """An extra task-role statement. Resources may use placeholders (see resources)."""

    sid: Annotated[str, Field(pattern=r"^[A-Za-z0-9]+$")]
    """Statement id (letters and digits)."""
    actions: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+:[A-Za-z0-9*]+$")]] = Field(min_length=1)
    """IAM actions (service:Action); no service-wide wildcards."""
    resources: list[str] = Field(min_length=1)
    """Resource ARNs; may use ${bucket:NAME}, ${secret:NAME}, ${ssm:NAME}, ${log_group}, ${AWS::...}, ${Name}, ${Environment} and ${Parameter} of a declared parameter (the KMS actions a bucket or secret needs are added)."""

    @field_validator("sid")
    @classmethod
    def _not_a_generated_sid(cls, v: str) -> str:
        if v in policies.TASK_ROLE_SIDS:
            raise ValueError(
                f"{v!r} is the id of a statement stackgen writes in the task role itself "
                "(IAM requires unique Sids in a policy); choose another"
            )
        return v

    @field_validator("actions")
    @classmethod
    def _no_wildcards(cls, v: list[str]) -> list[str]:
        for a in v:
            if a.split(":")[1] == "*":
                raise ValueError(f"{a}: service-wide wildcards are not allowed")
        return v


Service.model_rebuild()
