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


def stmt(sid: str, actions: Iterable[Action], resources: Sequence[Any], condition: Condition | None = None) -> Statement:
    acts = sorted(actions, key=lambda a: a.JSONrepr())
    kw: dict[str, Any] = {"Sid": sid, "Effect": Allow, "Action": acts, "Resource": list(resources)}
    if condition is not None:
        kw["Condition"] = condition
    return Statement(**kw)


def ecr_auth() -> Statement:
    return stmt("EcrAuthToken", [ecr.GetAuthorizationToken], ["*"])


def ecr_pull(resources: Sequence[Any]) -> Statement:
    return stmt("EcrPull", ECR_PULL, resources)


def logs_write(log_group_arns: Sequence[Any], sid: str = "LogsWrite") -> Statement:
    return stmt(sid, [logs.CreateLogStream, logs.PutLogEvents], log_group_arns)


def secrets_read(secret_arns: Sequence[Any]) -> Statement:
    return stmt("SecretsRead", [sm.GetSecretValue], secret_arns)


def ssm_read(param_arns: Sequence[Any]) -> Statement:
    return stmt("SsmRead", [ssm.GetParameters, ssm.GetParameter], param_arns)


def kms_decrypt_via(key_arn: Any, services: Sequence[str], sid: str = "KmsDecrypt") -> Statement:
    via = [Sub(f"{s}.${{AWS::Region}}.amazonaws.com") for s in sorted(services)]
    return stmt(sid, [kms.Decrypt], [key_arn], Condition(StringEquals({"kms:ViaService": via})))


def exec_channels() -> Statement:
    return stmt(
        "EcsExecChannels",
        [ssmmessages.CreateControlChannel, ssmmessages.CreateDataChannel,
         ssmmessages.OpenControlChannel, ssmmessages.OpenDataChannel],
        ["*"],
    )
