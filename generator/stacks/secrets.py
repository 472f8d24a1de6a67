"""secrets: the platform CMK (with rotation and alias), Secrets Manager secrets
(generated, or from NoEcho parameters), database credentials, and plain SSM
parameters for non-secret configuration."""

from __future__ import annotations

import json

import awacs.kms as kms
from awacs.aws import Allow, ArnLike, Bool, BoolIfExists, Condition, Deny, PolicyDocument, Principal, Statement
from troposphere import GetAtt, Ref, Sub, Template
from troposphere import kms as tkms
from troposphere import secretsmanager as tsm
from troposphere import ssm as tssm

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import PLACEHOLDER, Platform
from generator.stacks._base import Stack, keep

NAME = "secrets"
DB_SECRET = "database-credentials"

_KEY_ADMIN = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
]


def applies(spec: Platform) -> bool:
    return True


def _ssm_params(spec: Platform) -> list[str]:
    return sorted(
        {ph for p in spec.ssm_parameters for ph in PLACEHOLDER.findall(p.value) if not ph.startswith("AWS::")}
    )


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name", description="Platform name used in physical names")
    i.takes("Environment", description="Deployment environment")
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    for s in spec.secrets:
        if s.from_parameter:
            i.takes(s.from_parameter, description=f"Value of secret {s.name}", no_echo=True)
    for ph in _ssm_params(spec):
        i.takes(ph)
    if spec.database:
        i.takes("DatabaseUsername", description="Database master username")
    i.gives("KmsKeyArn", "ARN of the platform CMK", public=True)
    for s in spec.secrets:
        i.gives(naming.secret_output(s.name), f"ARN of secret {s.name}")
    if spec.database:
        i.gives(naming.secret_output(DB_SECRET), "ARN of the database credentials secret")
    return i.freeze()


def _key_policy() -> PolicyDocument:
    root = Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")])
    logs = Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")])
    alarms = Principal("Service", ["cloudwatch.amazonaws.com", "events.amazonaws.com"])
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="AccountAdministers",
                Effect=Allow,
                Principal=root,
                Action=[kms.Action(a.split(":")[1]) for a in _KEY_ADMIN],
                Resource=["*"],
            ),
            Statement(
                Sid="GrantsOnlyForAwsServices",
                Effect=Allow,
                Principal=root,
                Action=[kms.CreateGrant, kms.ListGrants, kms.RevokeGrant],
                Resource=["*"],
                Condition=Condition(Bool({"kms:GrantIsForAWSResource": "true"})),
            ),
            Statement(
                Sid="DenyGrantsExceptForAwsServices",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[kms.CreateGrant],
                Resource=["*"],
                Condition=Condition(
                    BoolIfExists({"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"})
                ),
            ),
            Statement(
                Sid="CloudWatchLogs",
                Effect=Allow,
                Principal=logs,
                Action=[
                    kms.Encrypt,
                    kms.Decrypt,
                    kms.Action("ReEncrypt*"),
                    kms.Action("GenerateDataKey*"),
                    kms.DescribeKey,
                ],
                Resource=["*"],
                Condition=Condition(
                    ArnLike(
                        {
                            "kms:EncryptionContext:aws:logs:arn": Sub(
                                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                            )
                        }
                    )
                ),
            ),
            Statement(
                Sid="AlarmsPublishToEncryptedTopic",
                Effect=Allow,
                Principal=alarms,
                Action=[kms.Decrypt, kms.Action("GenerateDataKey*")],
                Resource=["*"],
            ),
        ],
    )


def build(spec: Platform) -> Template:
    st = Stack(NAME, "KMS key, Secrets Manager secrets and SSM parameters", interface(spec))
    key = st.add(
        keep(
            tkms.Key(
                "PlatformKey",
                Description=Sub("stackgen platform key for ${Name}-${Environment}"),
                EnableKeyRotation=True,
                PendingWindowInDays=7,
                KeyPolicy=_key_policy(),
                Tags=naming.tags("platform-key"),
            )
        )
    )
    st.add(tkms.Alias("PlatformKeyAlias", AliasName=naming.kms_alias_name(), TargetKeyId=Ref(key)))
    for s in spec.secrets:
        kw: dict[str, object] = {
            "Description": s.description,
            "KmsKeyId": Ref(key),
            "Tags": naming.tags(f"secret-{s.name}"),
        }
        if s.generate:
            g: dict[str, object] = {
                "PasswordLength": s.generate.length,
                "ExcludePunctuation": s.generate.exclude_punctuation,
            }
            if s.generate.json_key:
                g["SecretStringTemplate"] = "{}"
                g["GenerateStringKey"] = s.generate.json_key
            kw["GenerateSecretString"] = tsm.GenerateSecretString(**g)
        else:
            kw["SecretString"] = st.ref(s.from_parameter or "")
        res = st.add(keep(tsm.Secret(naming.logical(s.name, "Secret"), **kw)))
        st.output(naming.secret_output(s.name), Ref(res))
    if spec.database:
        db = st.add(
            keep(
                tsm.Secret(
                    "DatabaseCredentialsSecret",
                    Description="Database master credentials (generated; RDS Proxy and tasks read it)",
                    KmsKeyId=Ref(key),
                    GenerateSecretString=tsm.GenerateSecretString(
                        SecretStringTemplate=Sub(json.dumps({"username": "${DatabaseUsername}"})),
                        GenerateStringKey="password",
                        PasswordLength=32,
                        ExcludeCharacters="\"@/\\'`",
                    ),
                    Tags=naming.tags("secret-database"),
                )
            )
        )
        st.output(naming.secret_output(DB_SECRET), Ref(db))
    for p in spec.ssm_parameters:
        st.add(
            tssm.Parameter(
                naming.logical(p.name, "Parameter"),
                Name=naming.ssm_name(p.name),
                Type="String",
                Value=Sub(p.value) if PLACEHOLDER.search(p.value) else p.value,
                Description=p.description,
            )
        )
    st.output("KmsKeyArn", GetAtt(key, "Arn"))
    return st.t
