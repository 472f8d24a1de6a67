"""services: per ECS service its log group (CMK, retention), Fargate task definition
(awsvpc, valid size, health check, secrets via ValueFrom, EFS volumes with transit
encryption and access points) and ECS service (private subnets, no public IP,
circuit breaker with rollback, Service Connect or Cloud Map, ALB attachments)."""

from __future__ import annotations

from troposphere import Equals, FindInMap, GetAtt, If, Not, Ref, Sub, Template, ecs, logs, scheduler, servicediscovery

from generator import naming
from generator.contract import Interface, Part, StackInterface, whole
from generator.spec import Platform, Service
from generator.stacks import containers
from generator.stacks._base import (
    Stack,
    desired_count,
    desired_count_mapping,
    image_ready,
    keep,
    log_group_suppressions,
    remembered,
    takes_image_ready,
)
from generator.stacks._rules import attachments, domain_only
from generator.stacks.iam import secret_inputs
from generator.stacks.security_groups import client_groups, svc_key

NAME = "services"


def applies(spec: Platform, part: Part | None = None) -> bool:
    return bool((part or whole(spec)).services)


def _image_input(s: Service) -> str:
    return naming.repo_output(s.image.repository, "Uri") if s.image.repository else naming.image_param(s.name)


def takes_image_uri(part: Part, s: Service) -> bool:
    """Whether the service's image URI is a deploy-time parameter (``<Service>ImageUri``):
    for an image not in a platform repository, except in a group that continues a full one
    (``default-2``, ...), where the image is the spec's, written into the template, so that
    the parent's parameters do not grow with the number of services (200 per template)."""
    return not s.image.repository and not part.overflow


def _literal_image(part: Part, s: Service) -> str | None:
    """The image written into the template for a service whose URI is not a parameter."""
    if s.image.repository or takes_image_uri(part, s):
        return None
    return s.image.default or s.image.fallback


@remembered
def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    part = part or whole(spec)
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("KmsKeyArn")
    for s in part.members(spec):
        if s.is_service:
            i.takes(naming.cluster_output(spec.cluster_of(s), "Name"))
        i.takes(naming.subnets_output(spec.subnets_of(s)), "CommaDelimitedList")
        for g in _security_groups(spec, part, s):
            i.takes(naming.sg_output(g))
        i.takes(naming.role_output(s.name, "Execution"))
        i.takes(naming.role_output(s.name, "Task"))
        if _literal_image(part, s) is None:
            i.takes(_image_input(s), description=f"Container image of {s.name}")
        if s.image.repository:
            i.takes(naming.image_tag_param(s.name), description=f"Image tag of {s.name}")
        takes_image_ready(i, s)
        for tg in s.target_groups:
            i.takes(naming.tg_output(tg.name))
        if domain_only(s):
            i.takes("BaseDomain")
        if s.volumes:
            i.takes("FileSystemId")
            for v in s.volumes:
                i.takes(naming.access_point_output(v.access_point))
        for n in secret_inputs(spec, s):
            i.takes(n)
        for target in containers.environment_inputs(spec, s):
            i.takes(target)
        if s.schedule:
            i.takes(naming.cluster_output(spec.cluster_of(s), "Arn"))
            i.takes(naming.role_output(s.name, "Scheduler"))
            i.gives(naming.pascal(s.name, "ScheduleArn"), f"EventBridge Scheduler schedule of {s.name}", public=True)
            i.gives(naming.pascal(s.name, "TaskDefinitionArn"), f"Task definition ARN of {s.name}", public=True)
            continue
        if s.discovery or (spec.namespace and _is_sc_client(spec, s)):
            i.takes("NamespaceArn" if _uses_sc(spec, s) else "NamespaceId")
        i.gives(naming.service_output(s.name, "Name"), f"ECS service name of {s.name}")
        i.gives(naming.service_output(s.name, "Arn"), f"ECS service ARN of {s.name}", public=True)
        i.gives(naming.pascal(s.name, "TaskDefinitionArn"), f"Task definition ARN of {s.name}", public=True)
        if s.discovery:
            i.gives(naming.pascal(s.name, "DnsName"), f"Name other services use to reach {s.name}", public=True)
    # A service that uses the database starts once it exists, even when it reads only the
    # credentials (the secrets stack's) and not its address.
    waits = spec.database is not None and any(s.uses_database for s in part.members(spec))
    return i.freeze(after=("database",) if waits else ())


def _is_sc_client(spec: Platform, s: Service) -> bool:
    """A service in a cluster where some service publishes through Service Connect."""
    return any(
        o.discovery and o.discovery.mode == "service-connect" and spec.cluster_of(o) == spec.cluster_of(s)
        for o in spec.services
    )


def _uses_sc(spec: Platform, s: Service) -> bool:
    return (s.discovery is not None and s.discovery.mode == "service-connect") or (
        s.discovery is None and bool(spec.namespace) and _is_sc_client(spec, s)
    )


def _security_groups(spec: Platform, part: Part, s: Service) -> list[str]:
    """The security groups a service's tasks carry: its own, and in a later service group the
    client groups through which it reaches shared ones (generator.stacks.security_groups)."""
    return [svc_key(s.name)] + client_groups(spec, part, s)


def build(spec: Platform, part: Part | None = None) -> Template:  # noqa: C901, PLR0915
    part = part or whole(spec)
    members = part.members(spec)
    st = Stack(part.stack(NAME), "log groups, task definitions and ECS services", interface(spec, part))
    sized = [s for s in members if s.sizing]
    if sized:
        st.t.add_mapping(
            "Sizing",
            {
                env: {k: v for sized_service in sized for k, v in containers.sizing_entries(sized_service, env)}
                for env in spec.environments
            },
        )
    desired_count_mapping(st, spec, members)
    for s in members:
        sid = naming.pascal(s.name)
        group = st.add(
            log_group_suppressions(
                keep(
                    logs.LogGroup(
                        naming.logical(s.name, "LogGroup"),
                        LogGroupName=naming.log_group_name(s.container),
                        RetentionInDays=s.log_retention_days,
                        KmsKeyId=st.ref("KmsKeyArn"),
                    )
                ),
                s.log_retention_days,
            )
        )
        literal = _literal_image(part, s)
        if literal is not None:
            image: object = literal
        elif s.image.repository:
            image = Sub("${Uri}:${Tag}", Uri=st.ref(_image_input(s)), Tag=st.ref(naming.image_tag_param(s.name)))
        elif s.image.fallback:
            cond = f"{sid}HasImage"
            st.t.add_condition(cond, Not(Equals(st.ref(_image_input(s)), "")))
            image = If(cond, st.ref(_image_input(s)), s.image.fallback)
        else:
            image = st.ref(_image_input(s))
        env = containers.environment(spec, s.environment)
        secrets = containers.secrets(st, s.secrets)
        if s.sizing:
            cpu: object = FindInMap("Sizing", st.ref("Environment"), naming.pascal(s.name, "Cpu"))
            memory: object = FindInMap("Sizing", st.ref("Environment"), naming.pascal(s.name, "Memory"))
        else:
            cpu, memory = str(s.cpu), str(s.memory)
        hc = s.health_check
        container: dict[str, object] = {
            "Name": s.container,
            "Image": image,
            "Essential": True,
            "PortMappings": containers.port_mappings(s.ports),
            "HealthCheck": containers.health_check(hc),
            "LogConfiguration": containers.log_configuration(group, s.container),
            "ReadonlyRootFilesystem": s.readonly_root_filesystem,
            "Memory": containers.own_memory(st, s),
            "Privileged": False,
        }
        if s.depends_on:
            container["DependsOn"] = containers.depends_on(s.depends_on)
        if env:
            container["Environment"] = env
        if secrets:
            container["Secrets"] = secrets
        if s.user:
            container["User"] = s.user
        if s.execute_command:
            container["LinuxParameters"] = ecs.LinuxParameters(InitProcessEnabled=True)
        volumes = []
        mounts = [
            ecs.MountPoint(SourceVolume=v.access_point.replace("_", "-"), ContainerPath=v.path, ReadOnly=v.read_only)
            for v in s.volumes
        ]
        for path in s.scratch_paths:
            name = "scratch" + path.replace("/", "-").replace("_", "-").replace(".", "-").rstrip("-")
            volumes.append(ecs.Volume(Name=name))  # task storage, writable, lives as long as the task
            mounts.append(ecs.MountPoint(SourceVolume=name, ContainerPath=path, ReadOnly=False))
        if mounts:
            container["MountPoints"] = mounts
        if s.volumes:
            for ap in sorted({v.access_point for v in s.volumes}):
                volumes.append(
                    ecs.Volume(
                        Name=ap.replace("_", "-"),
                        EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
                            FilesystemId=st.ref("FileSystemId"),
                            TransitEncryption="ENABLED",
                            AuthorizationConfig=ecs.AuthorizationConfig(
                                AccessPointId=st.ref(naming.access_point_output(ap)), IAM="DISABLED"
                            ),
                        ),
                    )
                )
        td_kw: dict[str, object] = {}
        if volumes:
            td_kw["Volumes"] = volumes
        exemptions = containers.exemptions(s)
        if exemptions:
            td_kw["Metadata"] = {"stackgen": exemptions}
        if s.sizing:
            mib = "/".join(f"{e} {s.sizing[e].memory}" for e in spec.environments)
            metadata = td_kw.setdefault("Metadata", {})
            assert isinstance(metadata, dict)
            metadata.setdefault("stackgen", {})["guard_allowlist"] = {
                "ecs_task_definition_memory_hard_limit_check": "Container Memory is Fn::FindInMap Sizing by "
                f"Environment ({mib} MiB, all >= 4); "
                "cfn-guard cannot evaluate the intrinsic."
            }
        td = st.add(
            ecs.TaskDefinition(
                naming.logical(s.name, "TaskDefinition"),
                Family=naming.resource_name(s.name),
                RequiresCompatibilities=["FARGATE"],
                NetworkMode="awsvpc",
                Cpu=cpu,
                Memory=memory,
                ExecutionRoleArn=st.ref(naming.role_output(s.name, "Execution")),
                TaskRoleArn=st.ref(naming.role_output(s.name, "Task")),
                RuntimePlatform=ecs.RuntimePlatform(OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"),
                ContainerDefinitions=[
                    ecs.ContainerDefinition(**container),
                    *(containers.sidecar(st, spec, c, group) for c in s.sidecars),
                ],
                Tags=naming.tags(f"task-{s.name}"),
                **td_kw,
            )
        )
        public_ip = "ENABLED" if spec.network.egress == "public-ip" else "DISABLED"
        # The spec's reason for public IPs, next to every resource that assigns one: the gate accepts it
        # for Control Tower ECS.PR.9 on ECS services (and only there), deploy tools read it to warn.
        exposure: dict[str, object] = (
            {"Metadata": {"stackgen": {"public_ip": {"reason": spec.network.public_ip_reason}}}}
            if public_ip == "ENABLED"
            else {}
        )
        ready = image_ready(st, s)
        if s.schedule:
            _schedule(st, spec, part, s, td, public_ip, ready, exposure)
            continue
        svc_kw: dict[str, object] = attachments(st, s, max(60, hc.start_period + hc.interval))
        if _uses_sc(spec, s):
            sc: dict[str, object] = {"Enabled": True, "Namespace": st.ref("NamespaceArn")}
            if s.discovery:
                port = s.port_by_name(s.discovery.port)
                sc["Services"] = [
                    ecs.ServiceConnectService(
                        PortName=s.discovery.port,
                        DiscoveryName=s.discovery.name,
                        ClientAliases=[ecs.ServiceConnectClientAlias(Port=port, DnsName=s.discovery.name)],
                    )
                ]
            svc_kw["ServiceConnectConfiguration"] = ecs.ServiceConnectConfiguration(**sc)
        elif s.discovery:
            sd = st.add(
                servicediscovery.Service(
                    naming.logical(s.name, "DiscoveryService"),
                    Name=s.discovery.name,
                    NamespaceId=st.ref("NamespaceId"),
                    DnsConfig=servicediscovery.DnsConfig(
                        RoutingPolicy="MULTIVALUE", DnsRecords=[servicediscovery.DnsRecord(Type="A", TTL=10)]
                    ),
                    HealthCheckCustomConfig=servicediscovery.HealthCheckCustomConfig(FailureThreshold=1),
                )
            )
            svc_kw["ServiceRegistries"] = [ecs.ServiceRegistry(RegistryArn=GetAtt(sd, "Arn"))]
        service = st.add(
            ecs.Service(
                naming.logical(s.name, "Service"),
                ServiceName=s.name,
                Cluster=st.ref(naming.cluster_output(spec.cluster_of(s), "Name")),
                TaskDefinition=Ref(td),
                DesiredCount=If(ready, desired_count(st, s), 0) if ready else desired_count(st, s),
                PlatformVersion="LATEST",
                NetworkConfiguration=ecs.NetworkConfiguration(
                    AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                        Subnets=st.ref(naming.subnets_output(spec.subnets_of(s))),
                        SecurityGroups=[st.ref(naming.sg_output(g)) for g in _security_groups(spec, part, s)],
                        AssignPublicIp=public_ip,
                    )
                ),
                DeploymentConfiguration=ecs.DeploymentConfiguration(
                    DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
                    MinimumHealthyPercent=s.deployment_min_healthy_percent,
                    MaximumPercent=s.deployment_max_percent,
                ),
                EnableExecuteCommand=s.execute_command,
                EnableECSManagedTags=True,
                PropagateTags="SERVICE",
                Tags=naming.tags(f"service-{s.name}"),
                **svc_kw,
                **exposure,
            )
        )
        st.output(naming.service_output(s.name, "Name"), GetAtt(service, "Name"))
        st.output(naming.service_output(s.name, "Arn"), Ref(service))
        st.output(naming.pascal(s.name, "TaskDefinitionArn"), Ref(td))
        if s.discovery:
            st.output(
                naming.pascal(s.name, "DnsName"),
                s.discovery.name if _uses_sc(spec, s) else f"{s.discovery.name}.{spec.namespace}",
            )
    return st.t


def _schedule(
    st: Stack,
    spec: Platform,
    part: Part,
    s: Service,
    td: ecs.TaskDefinition,
    public_ip: str,
    ready: str | None,
    exposure: dict[str, object],
) -> None:
    """A scheduled task: EventBridge Scheduler runs the task definition on the cron/rate (the
    schedule stays disabled until the image is pushed, when it comes from a platform repository)."""
    sched = st.add(
        scheduler.Schedule(
            naming.logical(s.name, "Schedule"),
            Description=f"Runs the {s.name} task on {s.schedule}",
            ScheduleExpression=s.schedule,
            ScheduleExpressionTimezone=s.schedule_timezone,
            FlexibleTimeWindow=scheduler.FlexibleTimeWindow(Mode="OFF"),
            State=If(ready, "ENABLED", "DISABLED") if ready else "ENABLED",
            Target=scheduler.Target(
                Arn=st.ref(naming.cluster_output(spec.cluster_of(s), "Arn")),
                RoleArn=st.ref(naming.role_output(s.name, "Scheduler")),
                RetryPolicy=scheduler.RetryPolicy(MaximumRetryAttempts=2, MaximumEventAgeInSeconds=3600),
                EcsParameters=scheduler.EcsParameters(
                    TaskDefinitionArn=Ref(td),
                    TaskCount=1,
                    LaunchType="FARGATE",
                    PlatformVersion="LATEST",
                    EnableECSManagedTags=True,
                    PropagateTags="TASK_DEFINITION",
                    NetworkConfiguration=scheduler.NetworkConfiguration(
                        AwsvpcConfiguration=scheduler.AwsVpcConfiguration(
                            Subnets=st.ref(naming.subnets_output(spec.subnets_of(s))),
                            SecurityGroups=[st.ref(naming.sg_output(g)) for g in _security_groups(spec, part, s)],
                            AssignPublicIp=public_ip,
                        )
                    ),
                ),
            ),
            **exposure,
        )
    )
    st.output(naming.pascal(s.name, "ScheduleArn"), GetAtt(sched, "Arn"))
    st.output(naming.pascal(s.name, "TaskDefinitionArn"), Ref(td))
