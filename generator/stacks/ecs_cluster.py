"""ecs-cluster: ECS clusters with FARGATE/FARGATE_SPOT capacity providers, Container
Insights, encrypted ECS Exec logging, and the Cloud Map private DNS namespace that
Service Connect and service discovery use."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template, ecs, logs, servicediscovery

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack, keep, log_group_suppressions

NAME = "ecs-cluster"
EXEC_LOG_RETENTION = 365


def applies(spec: Platform) -> bool:
    return True


def _uses_service_connect(spec: Platform) -> bool:
    return any(s.discovery and s.discovery.mode == "service-connect" for s in spec.services)


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("KmsKeyArn")
    if spec.namespace:
        i.takes("VpcId")
        i.gives("NamespaceId", "Cloud Map namespace ID", public=True)
        if _uses_service_connect(spec):
            i.gives("NamespaceArn", "Cloud Map namespace ARN (Service Connect)")
    for c in spec.clusters:
        i.gives(naming.cluster_output(c.name, "Name"), f"Name of cluster {c.name}", public=True)
        i.gives(naming.cluster_output(c.name, "Arn"), f"ARN of cluster {c.name}", public=True)
    return i.freeze()


def build(spec: Platform) -> Template:
    st = Stack(NAME, "ECS clusters and the service discovery namespace", interface(spec))
    ns = None
    if spec.namespace:
        ns = st.add(
            servicediscovery.PrivateDnsNamespace(
                "Namespace",
                Name=spec.namespace,
                Vpc=st.ref("VpcId"),
                Description="Service Connect and service discovery namespace",
                Tags=naming.tags("namespace"),
            )
        )
        st.output("NamespaceId", GetAtt(ns, "Id"))
        if _uses_service_connect(spec):
            st.output("NamespaceArn", GetAtt(ns, "Arn"))
    for c in spec.clusters:
        group = st.add(
            log_group_suppressions(
                keep(
                    logs.LogGroup(
                        naming.logical(c.name, "ExecLogGroup"),
                        LogGroupName=naming.exec_log_group_name(c.name),
                        RetentionInDays=EXEC_LOG_RETENTION,
                        KmsKeyId=st.ref("KmsKeyArn"),
                    )
                ),
                EXEC_LOG_RETENTION,
            )
        )
        kw: dict[str, object] = {}
        uses_sc = any(
            s.discovery and s.discovery.mode == "service-connect" for s in spec.services if spec.cluster_of(s) == c.name
        )
        if ns is not None and uses_sc:
            kw["ServiceConnectDefaults"] = ecs.ServiceConnectDefaults(Namespace=GetAtt(ns, "Arn"))
        cluster = st.add(
            ecs.Cluster(
                naming.logical(c.name, "Cluster"),
                ClusterName=naming.unique_name(c.name),
                ClusterSettings=[
                    ecs.ClusterSetting(
                        Name="containerInsights", Value="enabled" if c.container_insights else "disabled"
                    )
                ],
                CapacityProviders=list(c.capacity_providers),
                DefaultCapacityProviderStrategy=[
                    ecs.CapacityProviderStrategyItem(CapacityProvider=s.provider, Weight=s.weight, Base=s.base)
                    for s in c.default_strategy
                ],
                Configuration=ecs.ClusterConfiguration(
                    ExecuteCommandConfiguration=ecs.ExecuteCommandConfiguration(
                        KmsKeyId=st.ref("KmsKeyArn"),
                        Logging="OVERRIDE",
                        LogConfiguration=ecs.ExecuteCommandLogConfiguration(
                            CloudWatchLogGroupName=Ref(group), CloudWatchEncryptionEnabled=True
                        ),
                    )
                ),
                Tags=naming.tags(f"cluster-{c.name}"),
                **kw,
            )
        )
        st.output(naming.cluster_output(c.name, "Name"), Ref(cluster))
        st.output(naming.cluster_output(c.name, "Arn"), GetAtt(cluster, "Arn"))
    return st.t
