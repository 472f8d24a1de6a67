"""Every logical ID, output name, parameter name and physical name comes from here.

Logical IDs are PascalCase built from stable semantic names (never from list
positions), e.g. ``logical("registry", "TaskDefinition") == "RegistryTaskDefinition"``.
"""

from __future__ import annotations

import functools
import re

from troposphere import Ref, Select, Split, Sub, Tags

_WORD = re.compile(r"[A-Za-z0-9]+")


@functools.cache  # pure; synthesis asks for the same few thousand ids many times over
def pascal(*parts: str) -> str:
    """'auth-server', 'sg' -> 'AuthServerSg'. Keeps existing inner capitals ('VpcId')."""
    out = []
    for part in parts:
        for w in _WORD.findall(part):
            out.append(w[0].upper() + w[1:])
    result = "".join(out)
    if not result or not result[0].isalpha():
        raise ValueError(f"cannot build a logical id from {parts!r}")
    if len(result) > 255:
        raise ValueError(f"logical id too long: {result[:40]}...")
    return result


logical = pascal


def stack_id(stack: str) -> str:
    """Logical ID of a child stack resource in the parent: 'security-groups' -> 'SecurityGroupsStack'."""
    return pascal(stack, "Stack")


def stack_file(stack: str) -> str:
    return f"{stack}.yaml"


# ---- parameter / output names shared by producers and consumers


def image_param(service: str) -> str:
    return pascal(service, "ImageUri")


def image_tag_param(service: str) -> str:
    return pascal(service, "ImageTag")


def image_ready_param(service: str) -> str:
    """'true'/'false': whether the image of a service built from a platform repository has been pushed."""
    return pascal(service, "ImageReady")


def image_ready_condition(service: str) -> str:
    """The condition, in each stack that reads ``image_ready_param``, that it is 'true'."""
    return pascal(service, "ImageIsReady")


def sg_output(owner: str) -> str:
    return pascal(owner, "SecurityGroupId")


def secret_output(secret: str) -> str:
    return pascal(secret, "SecretArn")


def ssm_output(param: str) -> str:
    return pascal(param, "ParameterName")


def tg_output(tg: str) -> str:
    return pascal(tg, "TargetGroupArn")


def subnets_output(tier: str) -> str:
    return pascal(tier, "SubnetIds")


def route_tables_output(tier: str) -> str:
    return pascal(tier, "RouteTableIds")


def access_point_output(ap: str) -> str:
    return pascal(ap, "AccessPointId")


def role_output(owner: str, kind: str) -> str:
    return pascal(owner, kind, "RoleArn")


def cluster_output(cluster: str, attr: str = "Name") -> str:
    return pascal(cluster, "Cluster", attr)


def lb_output(lb: str, attr: str) -> str:
    return pascal(lb, "LoadBalancer", attr)


def cert_output(lb: str) -> str:
    return pascal(lb, "CertificateArn")


def repo_output(repo: str, attr: str = "Uri") -> str:
    return pascal(repo, "Repository", attr)


def service_output(service: str, attr: str) -> str:
    return pascal(service, "Service", attr)


def bucket_output(bucket: str, attr: str = "Name") -> str:
    return pascal(bucket, "Bucket", attr)


# ---- physical names
#
# Every name the generator sets is scoped by the Name and Environment parameters and by
# StackUid, a token unique per root stack instance: the first 8 hex characters of the UUID
# in the root stack's AWS::StackId (fixed for the life of a stack, new on every create).
# So a re-create after a delete never meets the names its predecessor retained, and two
# copies of one platform and environment (deploy.sh --stack-name) do not clash.

STACK_UID = "StackUid"
STACK_UID_DESCRIPTION = "Token unique per root stack instance (8 hex characters of its stack ID), in physical names"
INSTANCE = "${Name}-${Environment}-${StackUid}"


def stack_uid() -> Select:
    """The parent's value of every child's StackUid input: 'arn:...:stack/NAME/1a2b3c4d-...' -> '1a2b3c4d'."""
    return Select(0, Split("-", Select(2, Split("/", Ref("AWS::StackId")))))


def log_group_name(container: str) -> Sub:
    """A service's log group: /ecs/<Name>-<Environment>-<StackUid>/<container>."""
    return Sub(f"/ecs/{INSTANCE}/{container}")


def log_group_pattern(container: str) -> str:
    """The Sub string of a service log group's ARN (for IAM: this stack instance's group only)."""
    return f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/ecs/{INSTANCE}/{container}"


def exec_log_group_name(cluster: str) -> Sub:
    """ECS Exec session logs of a cluster."""
    return Sub(f"/aws/ecs/{INSTANCE}/{cluster}/exec")


def exec_log_group_arn(cluster: str) -> Sub:
    """IAM resource of a cluster's ECS Exec log group (this stack instance's only)."""
    return Sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"/aws/ecs/{INSTANCE}/{cluster}/exec:*"
    )


def flow_log_group_name() -> Sub:
    return Sub(f"/vpc/{INSTANCE}/flow-logs")


def events_log_group_name(purpose: str) -> Sub:
    """A log group EventBridge writes to: /aws/events/<instance>/<purpose>."""
    return Sub(f"/aws/events/{INSTANCE}/{purpose}")


def ssm_name(param: str) -> Sub:
    """/<Name>/<Environment>/<StackUid>/<param>: a path per instance, so GetParametersByPath works."""
    return Sub(f"/${{Name}}/${{Environment}}/${{StackUid}}/{param}")


def ssm_parameter_arn(param: str) -> Sub:
    """The exact ARN of an SSM parameter of this instance (a container's ValueFrom)."""
    return Sub(
        f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/${{Name}}/"
        f"${{Environment}}/${{StackUid}}/{param}"
    )


def ssm_arn(param: str) -> Sub:
    """IAM resource of an SSM parameter (this stack instance's only)."""
    return Sub(
        f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/${{Name}}/"
        f"${{Environment}}/${{StackUid}}/{param}"
    )


def kms_alias_name() -> Sub:
    return Sub(f"alias/{INSTANCE}")


def repository_name(repo: str) -> Sub:
    """An ECR repository: <Name>-<Environment>-<StackUid>/<repo>."""
    return Sub(f"{INSTANCE}/{repo}")


def unique_name(suffix: str) -> Sub:
    """A name AWS requires unique in the account and region (ECS clusters, the RDS proxy,
    log resource policies, metric namespaces): '<Name>-<Environment>-<StackUid>-<suffix>'."""
    return Sub(f"{INSTANCE}-{suffix}")


def metric_namespace() -> Sub:
    """The CloudWatch namespace of the platform's own metrics (alarms of one instance watch only its own)."""
    return Sub(f"stackgen/{INSTANCE}")


def resource_name(suffix: str) -> Sub:
    """'<Name>-<Environment>-<suffix>': Name tags, and task-definition families (a family is a
    revision series, not a unique name: a second registration adds a revision)."""
    return Sub(f"${{Name}}-${{Environment}}-{suffix}")


def domain_name(record: str) -> Sub:
    """The regional pattern {service}.{region}.{base_domain}."""
    return Sub(f"{record}.${{AWS::Region}}.${{BaseDomain}}")


def tags(component: str) -> Tags:
    return Tags({"Name": resource_name(component), "stackgen:component": component})
