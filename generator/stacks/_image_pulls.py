"""Image pulls measured (seeds/001 requirements 1.2 and 5.3, seeds/000 task 6): every task
start's pull recorded as metrics in the platform's namespace, and alarms when pulls are slow.

The failure path (rule -> log group -> metric filter -> ``ImagePullFailures``) lives in
monitoring.py; this module adds the success path, which needs arithmetic that metric filters
cannot do:

  EventBridge rule ``PullTimerRule`` (ECS Task State Change, lastStatus and desiredStatus
  RUNNING, pullStoppedAt present, the platform's clusters)
  -> Lambda ``PullTimerFunction`` (code: generator/stacks/pull_timer_code.py, inline)
  -> ``ImagePullSeconds`` (pullStoppedAt - pullStartedAt) and ``ImagePullSucceeded`` (1),
     each for the platform (no dimension) and per task (ServiceName or TaskFamily)
  -> ``PullSlowAlarm`` (Maximum above ``alarms.image_pull_seconds``) -> the alarm topic.

Event fields: "Amazon ECS task state change events",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html — events are
sent when a task changes state (PENDING to RUNNING, RUNNING to STOPPED, a container's change),
and createdAt, pullStartedAt, startedAt, pullStoppedAt and updatedAt are "ISO string
timestamps"; detail also carries lastStatus, desiredStatus, group (service:NAME or
family:NAME), clusterArn and taskDefinitionArn. pullStoppedAt is "the Unix timestamp for the
time when the container image pull completed" (API_Task,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html). A task turns RUNNING
only after its images are pulled, so its RUNNING event carries both pull timestamps.
A task reports RUNNING more than once (a container change, for instance), so ``desiredStatus``
RUNNING drops the events of a task that is being stopped; a repeated RUNNING event of a running
task still adds a second datapoint of the same duration (Maximum unchanged, the count one high).
"""

from __future__ import annotations

from pathlib import Path

import awacs.cloudwatch as acw
import awacs.logs as alogs
from awacs.aws import Condition, StringEquals
from troposphere import GetAtt, Ref, Sub, awslambda, events, iam, logs
from troposphere import cloudwatch as cw

from generator import naming, policies
from generator.spec import Platform
from generator.stacks._base import Stack, keep, log_group_suppressions, suppress

CODE = Path(__file__).with_name("pull_timer_code.py")
# AWS::Lambda::Function Code.ZipFile: "maximum of 4096 characters" (CloudFormation user guide,
# AWS::Lambda::Function Code).
ZIPFILE_MAX = 4096
RUNTIME = "python3.12"
LOG_RETENTION_DAYS = 365  # as the failure log group: CT.CLOUDWATCH.PR.2 asks for at least a year
NAMESPACE_VARIABLE = "METRIC_NAMESPACE"
SUCCEEDED, SECONDS = "ImagePullSucceeded", "ImagePullSeconds"


def code() -> str:
    """The function's source, exactly as the tests import it."""
    text = CODE.read_text(encoding="utf-8")
    if len(text) > ZIPFILE_MAX:
        raise ValueError(f"{CODE.name} has {len(text)} characters; Code.ZipFile allows {ZIPFILE_MAX}")
    return text


def rule_pattern(cluster_arns: list[object]) -> dict[str, object]:
    """The task starts whose pull completed, on the platform's clusters."""
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "lastStatus": ["RUNNING"],
            "desiredStatus": ["RUNNING"],
            "clusterArn": cluster_arns,
            "pullStoppedAt": [{"exists": True}],
        },
    }


def add_image_pulls(st: Stack, spec: Platform, topic: object) -> None:
    """The pull timer (rule, function, role, log group, permission) and the slow-pull alarms."""
    ns = naming.metric_namespace()
    group = st.add(
        log_group_suppressions(
            keep(
                logs.LogGroup(
                    "PullTimerLogGroup",
                    LogGroupName=Sub(f"/aws/lambda/{naming.INSTANCE}/pull-timer"),
                    RetentionInDays=LOG_RETENTION_DAYS,
                    KmsKeyId=st.ref("KmsKeyArn"),
                )
            ),
            LOG_RETENTION_DAYS,
        )
    )
    group_arn = GetAtt(group, "Arn")  # ends in ':*' (AWS::Logs::LogGroup return values)
    role = st.add(
        iam.Role(
            "PullTimerRole",
            Description="The pull timer function: puts image-pull metrics into the platform namespace",
            AssumeRolePolicyDocument=policies.trust("lambda.amazonaws.com"),
            Policies=[
                iam.Policy(
                    PolicyName="pull-timer",
                    PolicyDocument=policies.doc(
                        [
                            policies.stmt(
                                "PutPullMetrics",
                                [acw.PutMetricData],
                                ["*"],
                                Condition(StringEquals({"cloudwatch:namespace": ns})),
                            ),
                            policies.stmt("OwnLogs", [alogs.CreateLogStream, alogs.PutLogEvents], [group_arn]),
                        ]
                    ),
                )
            ],
            Tags=naming.tags("pull-timer-role"),
        )
    )
    function = st.add(
        suppress(
            awslambda.Function(
                "PullTimerFunction",
                Description="Image pull duration and success of each ECS task start, as CloudWatch metrics",
                Runtime=RUNTIME,
                Handler="index.handler",
                Code=awslambda.Code(ZipFile=code()),
                Role=GetAtt(role, "Arn"),
                MemorySize=128,
                Timeout=30,
                Environment=awslambda.Environment(Variables={NAMESPACE_VARIABLE: ns}),
                LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(group)),
                Tags=naming.tags("pull-timer"),
            ),
            checkov={
                "CKV_AWS_115": "No reserved concurrency: reserving any needs the account's unreserved concurrency to "
                "stay "
                "at 100 or more, which new accounts (reduced quotas) do not have, so the deploy would fail "
                "(https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). One "
                "short call per task start.",
                "CKV_AWS_116": "A lost invocation loses one datapoint of a metric nobody would replay from a queue; "
                "EventBridge and Lambda retry, and PullTimerErrorsAlarm reports failures to the alarm topic.",
                "CKV_AWS_117": "It calls only the CloudWatch API and holds no data; in a VPC it would need network "
                "interfaces and a monitoring endpoint in every platform VPC for no gain.",
                "CKV_AWS_173": "The only variable is the metric namespace, a public name; Lambda encrypts the "
                "environment at rest with its AWS managed key.",
            },
            guard={
                "lambda_inside_vpc_check": "It calls only the CloudWatch API and holds no data (see the checkov "
                "CKV_AWS_117 reason); a VPC would add network interfaces and a monitoring "
                "endpoint for no gain.",
            },
        )
    )
    rule = st.add(
        events.Rule(
            "PullTimerRule",
            Description="ECS task starts whose image pull completed: the pull timer records them",
            State="ENABLED",
            EventPattern=rule_pattern([st.ref(naming.cluster_output(c.name, "Arn")) for c in spec.clusters]),
            Targets=[events.Target(Id="PullTimer", Arn=GetAtt(function, "Arn"))],
        )
    )
    st.add(
        awslambda.Permission(
            "PullTimerPermission",
            Action="lambda:InvokeFunction",
            FunctionName=GetAtt(function, "Arn"),
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
        )
    )
    limit = spec.alarms.image_pull_seconds
    st.add(
        cw.Alarm(
            "PullSlowAlarm",
            AlarmDescription=f"An image pull took longer than {limit} s: run `.venv/bin/stackgen diagnose --stack "
            "<stack>` (pull "
            "figures, endpoints, routes) and compare ImagePullSeconds per ServiceName/TaskFamily",
            Namespace=ns,
            MetricName=SECONDS,
            Statistic="Maximum",
            ComparisonOperator="GreaterThanThreshold",
            Threshold=limit,
            EvaluationPeriods=1,
            Period=300,
            TreatMissingData="notBreaching",
            AlarmActions=[topic],
            OKActions=[topic],
        )
    )
    st.add(
        cw.Alarm(
            "PullTimerErrorsAlarm",
            AlarmDescription="The pull timer function failed: image-pull metrics are missing; read its log group",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[cw.MetricDimension(Name="FunctionName", Value=Ref(function))],
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
