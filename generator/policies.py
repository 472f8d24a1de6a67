"""awacs policy factories. ARNs are always built with Sub("arn:${AWS::Partition}:...")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import awacs.ecr as ecr
import awacs.kms as kms
import awacs.logs as logs
import awacs.secretsmanager as sm
import awacs.ssm as ssm
import awacs.ssmmessages as ssmmessages
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Sub

# Actions with no resource-level permissions: the only ones allowed on Resource "*".
STAR_RESOURCE_ALLOWED = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)

ECR_PULL = [ecr.BatchCheckLayerAvailability, ecr.GetDownloadUrlForLayer, ecr.BatchGetImage]

# Statement ids stackgen writes itself. The task role's policy holds the ECS Exec statements
# (generator.stacks.iam) and the spec's task permissions; IAM requires unique Sids within a
# policy, so a task permission's sid may be none of TASK_ROLE_SIDS
# (generator.spec.services.PermissionSpec). tests/test_permission_sids.py proves TASK_ROLE_SIDS is
# exactly what a rendered task role holds besides the spec's own statements.
SID_ECR_AUTH = "EcrAuthToken"
SID_ECR_PULL = "EcrPull"
SID_LOGS_WRITE = "LogsWrite"
SID_SECRETS_READ = "SecretsRead"
SID_SSM_READ = "SsmRead"
SID_KMS_DECRYPT = "KmsDecrypt"
SID_EXEC_CHANNELS = "EcsExecChannels"
SID_EXEC_LOGS = "EcsExecLogs"
SID_EXEC_LOG_GROUPS = "EcsExecLogGroups"
SID_EXEC_SESSION_KEY = "EcsExecSessionKey"
TASK_ROLE_SIDS = frozenset({SID_EXEC_CHANNELS, SID_EXEC_LOGS, SID_EXEC_LOG_GROUPS, SID_EXEC_SESSION_KEY})


def arn(body: str) -> Sub:
    """Sub('arn:${AWS::Partition}:' + body)."""
    return Sub("arn:${AWS::Partition}:" + body)


def trust(service: str) -> PolicyDocument:
    """Trust policy for an AWS service, limited to this account (confused-deputy guard)."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Service", [service]),
                Action=[Action("sts", "AssumeRole")],
                Condition=Condition(StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")})),
            )
        ],
    )


def doc(statements: Sequence[Statement]) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements))


def stmt(
    sid: str, actions: Iterable[Action], resources: Sequence[Any], condition: Condition | None = None
) -> Statement:
    acts = sorted(actions, key=lambda a: a.JSONrepr())
    kw: dict[str, Any] = {"Sid": sid, "Effect": Allow, "Action": acts, "Resource": list(resources)}
    if condition is not None:
        kw["Condition"] = condition
    return Statement(**kw)


def ecr_auth() -> Statement:
    return stmt(SID_ECR_AUTH, [ecr.GetAuthorizationToken], ["*"])


def ecr_pull(resources: Sequence[Any]) -> Statement:
    return stmt(SID_ECR_PULL, ECR_PULL, resources)


def logs_write(log_group_arns: Sequence[Any], sid: str = SID_LOGS_WRITE) -> Statement:
    return stmt(sid, [logs.CreateLogStream, logs.PutLogEvents], log_group_arns)


def secrets_read(secret_arns: Sequence[Any]) -> Statement:
    return stmt(SID_SECRETS_READ, [sm.GetSecretValue], secret_arns)


def ssm_read(param_arns: Sequence[Any]) -> Statement:
    return stmt(SID_SSM_READ, [ssm.GetParameters, ssm.GetParameter], param_arns)


def kms_decrypt_via(key_arn: Any, services: Sequence[str], sid: str = SID_KMS_DECRYPT) -> Statement:
    via = [Sub(f"{s}.${{AWS::Region}}.amazonaws.com") for s in sorted(services)]
    return stmt(sid, [kms.Decrypt], [key_arn], Condition(StringEquals({"kms:ViaService": via})))


def exec_channels() -> Statement:
    return stmt(
        SID_EXEC_CHANNELS,
        [
            ssmmessages.CreateControlChannel,
            ssmmessages.CreateDataChannel,
            ssmmessages.OpenControlChannel,
            ssmmessages.OpenDataChannel,
        ],
        ["*"],
    )
