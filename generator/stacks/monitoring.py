"""monitoring: an encrypted SNS alarm topic (email subscription when AlarmEmail is
set), CPU/memory alarms per service, running-below-desired alarms, load
balancer alarms (unhealthy hosts, target 5XX, response time), and image pulls:
failures here, durations and successes in generator/stacks/_image_pulls.py."""

from __future__ import annotations

import json

from troposphere import Equals, If, Not, NoValue, Ref, Sub, Template, events, logs, sns
from troposphere import cloudwatch as cw

from generator import naming
from generator.contract import Interface, Part, StackInterface, whole
from generator.lb_placement import layout
from generator.spec import Platform, Service
from generator.stacks._base import (
    Stack,
    desired_count,
    desired_count_mapping,
    image_ready,
    keep,
    log_group_suppressions,
    remembered,
    takes_image_ready,
    when,
)
from generator.stacks._image_pulls import add_image_pulls
from generator.stacks._rules import target_group_full_name

PULL_FAILURE_REASONS = ("CannotPullContainerError", "ResourceInitializationError")

NAME = "monitoring"


def applies(spec: Platform, part: Part | None = None) -> bool:
    part = part or whole(spec)
    return part.shared or any(s.is_service for s in part.members(spec))


@remembered
def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    part = part or whole(spec)
    i = Interface()
    if part.shared:  # the topic's and the pull-failure log group's names and tags
        i.takes("Name")
        i.takes("Environment")
        i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
        i.takes("KmsKeyArn")
        i.takes("AlarmEmail", description="Email for alarm notifications ('' = none)")
        for c in spec.clusters:
            i.takes(naming.cluster_output(c.name, "Arn"))
    else:
        i.takes("AlarmTopicArn", description="SNS topic that receives alarms (the monitoring stack's)")
        if any(s.is_service and s.counted_environments for s in part.members(spec)):
            i.takes("Environment")  # the DesiredCount Mapping's key
    for s in part.members(spec):
        if not s.is_service:
            continue
        i.takes(naming.cluster_output(spec.cluster_of(s), "Name"))
        i.takes(naming.service_output(s.name, "Name"))
        if _ever_runs(spec, s):
            takes_image_ready(i, s)
        for tg in s.target_groups:
            i.takes(naming.tg_output(tg.name))
            i.takes(naming.lb_output(layout(spec).serving(tg.name).name, "FullName"))
    if part.shared:
        for shard in layout(spec).shards:
            i.takes(naming.lb_output(shard.name, "FullName"))
        i.gives("AlarmTopicArn", "SNS topic that receives alarms", public=True)
        i.gives(
            "PullFailureLogGroupName", "Log group of tasks stopped by image-pull or secret-pull failures", public=True
        )
    return i.freeze()


def _ever_runs(spec: Platform, s: Service) -> bool:
    """Whether some environment runs tasks of the service (its RunningTasksLow alarm exists)."""
    return any(s.desired_in(e) for e in ["", *spec.environments])


def _alarm(
    st: Stack,
    lid: str,
    desc: str,
    ns: str,
    metric: str,
    dims: dict[str, object],
    stat: str,
    op: str,
    threshold: object,  # a number, or Fn::FindInMap of a per-environment count
    periods: int,
    period: int,
    topic: object,
    condition: str | None = None,
) -> None:
    st.add(
        when(
            cw.Alarm(
                lid,
                AlarmDescription=desc,
                Namespace=ns,
                MetricName=metric,
                Dimensions=[cw.MetricDimension(Name=k, Value=v) for k, v in sorted(dims.items())],
                Statistic=stat,
                ComparisonOperator=op,
                Threshold=threshold,
                EvaluationPeriods=periods,
                Period=period,
                TreatMissingData="notBreaching",
                AlarmActions=[topic],
                OKActions=[topic],
            ),
            condition,
        )
    )


def build(spec: Platform, part: Part | None = None) -> Template:
    part = part or whole(spec)
    if not part.shared:
        st = Stack(part.stack(NAME), "alarms of the services of one service group", interface(spec, part))
        desired_count_mapping(st, spec, part.members(spec))
        _service_alarms(st, spec, part, st.ref("AlarmTopicArn"))
        return st.t
    st = Stack(NAME, "alarms and the alarm topic", interface(spec, part))
    desired_count_mapping(st, spec, part.members(spec))
    st.t.add_condition("HasAlarmEmail", Not(Equals(st.ref("AlarmEmail"), "")))
    topic = st.add(
        sns.Topic(
            "AlarmTopic",
            KmsMasterKeyId=st.ref("KmsKeyArn"),
            Subscription=If(
                "HasAlarmEmail", [sns.Subscription(Protocol="email", Endpoint=st.ref("AlarmEmail"))], NoValue
            ),
            Tags=naming.tags("alarms"),
        )
    )
    t = Ref(topic)
    st.output("AlarmTopicArn", t)
    _pull_failures(st, spec, t)
    add_image_pulls(st, spec, t)
    _service_alarms(st, spec, part, t)
    a = spec.alarms
    for shard in layout(spec).shards:  # every ALB of a load balancer (generator.lb_placement)
        ldims = {"LoadBalancer": st.ref(naming.lb_output(shard.name, "FullName"))}
        _alarm(
            st,
            naming.logical(shard.name, "Target5xxAlarm"),
            f"{shard.name}: target 5XX above {a.target_5xx}",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            ldims,
            "Sum",
            "GreaterThanThreshold",
            a.target_5xx,
            2,
            300,
            t,
        )
        _alarm(
            st,
            naming.logical(shard.name, "ResponseTimeAlarm"),
            f"{shard.name}: target response time above {a.response_time_seconds}s",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            ldims,
            "Average",
            "GreaterThanThreshold",
            a.response_time_seconds,
            2,
            300,
            t,
        )
    return st.t


def _service_alarms(st: Stack, spec: Platform, part: Part, t: object) -> None:
    """CPU, memory, running-task and unhealthy-target alarms of the part's services."""
    a = spec.alarms
    for s in part.members(spec):
        if not s.is_service:
            continue
        dims = {
            "ClusterName": st.ref(naming.cluster_output(spec.cluster_of(s), "Name")),
            "ServiceName": st.ref(naming.service_output(s.name, "Name")),
        }
        _alarm(
            st,
            naming.logical(s.name, "CpuHighAlarm"),
            f"{s.name}: CPU above {a.cpu_high}%",
            "AWS/ECS",
            "CPUUtilization",
            dims,
            "Average",
            "GreaterThanThreshold",
            a.cpu_high,
            2,
            300,
            t,
        )
        _alarm(
            st,
            naming.logical(s.name, "MemoryHighAlarm"),
            f"{s.name}: memory above {a.memory_high}%",
            "AWS/ECS",
            "MemoryUtilization",
            dims,
            "Average",
            "GreaterThanThreshold",
            a.memory_high,
            2,
            300,
            t,
        )
        if _ever_runs(spec, s):
            # No task runs until an image from a platform repository is pushed: no alarm either.
            # A per-environment count is the threshold in each environment (0: never fires).
            wanted = "the desired count" if s.counted_environments else f"the desired {s.desired}"
            _alarm(
                st,
                naming.logical(s.name, "RunningTasksLowAlarm"),
                f"{s.name}: fewer running tasks than {wanted}",
                "ECS/ContainerInsights",
                "RunningTaskCount",
                dims,
                "Minimum",
                "LessThanThreshold",
                desired_count(st, s),
                3,
                60,
                t,
                image_ready(st, s),
            )
        for tg in s.target_groups:
            tdims = {
                "TargetGroup": target_group_full_name(st, tg.name),
                "LoadBalancer": st.ref(naming.lb_output(layout(spec).serving(tg.name).name, "FullName")),
            }
            _alarm(
                st,
                naming.logical(tg.name, "UnhealthyHostsAlarm"),
                f"{tg.name}: unhealthy targets",
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                tdims,
                "Maximum",
                "GreaterThanThreshold",
                0,
                2,
                60,
                t,
            )


def _pull_failures(st: Stack, spec: Platform, topic: object) -> None:
    """ECS tasks stopped because an image or its secrets could not be pulled (seeds/000-002):
    EventBridge rule -> log group -> metric filter -> alarm -> topic."""
    group = st.add(
        log_group_suppressions(
            keep(
                logs.LogGroup(
                    "PullFailureLogGroup",
                    LogGroupName=naming.events_log_group_name("ecs-pull-failures"),
                    RetentionInDays=365,
                    KmsKeyId=st.ref("KmsKeyArn"),
                )
            ),
            365,
        )
    )
    group_arn = Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${G}", G=Ref(group))
    st.add(
        logs.ResourcePolicy(
            "PullFailureLogPolicy",
            PolicyName=naming.unique_name("ecs-pull-failures"),
            PolicyDocument=Sub(
                json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "EventBridgeWrites",
                                "Effect": "Allow",
                                "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": "${Arn}:*",
                            }
                        ],
                    },
                    sort_keys=True,
                ),
                Arn=group_arn,
            ),
        )
    )
    st.add(
        events.Rule(
            "PullFailureRule",
            Description="ECS tasks stopped by CannotPullContainerError or ResourceInitializationError",
            State="ENABLED",
            EventPattern={
                "source": ["aws.ecs"],
                "detail-type": ["ECS Task State Change"],
                "detail": {
                    "lastStatus": ["STOPPED"],
                    "clusterArn": [st.ref(naming.cluster_output(c.name, "Arn")) for c in spec.clusters],
                    "stoppedReason": [{"prefix": r} for r in PULL_FAILURE_REASONS],
                },
            },
            Targets=[events.Target(Id="PullFailureLog", Arn=group_arn)],
        )
    )
    st.add(
        logs.MetricFilter(
            "PullFailureMetricFilter",
            LogGroupName=Ref(group),
            FilterPattern='{ $.detail.lastStatus = "STOPPED" }',
            MetricTransformations=[
                logs.MetricTransformation(
                    MetricNamespace=naming.metric_namespace(),
                    MetricName="ImagePullFailures",
                    MetricValue="1",
                    DefaultValue=0,
                )
            ],
        )
    )
    st.add(
        cw.Alarm(
            "PullFailureAlarm",
            AlarmDescription="A task could not pull its image or secrets: run `.venv/bin/stackgen diagnose --stack "
            "<stack>` "
            "and read the stoppedReason in the PullFailure log group",
            Namespace=naming.metric_namespace(),
            MetricName="ImagePullFailures",
            Statistic="Sum",
            ComparisonOperator="GreaterThanThreshold",
            Threshold=0,
            EvaluationPeriods=1,
            Period=300,
            TreatMissingData="notBreaching",
            AlarmActions=[topic],
            OKActions=[topic],
        )
    )
    st.output("PullFailureLogGroupName", Ref(group))
