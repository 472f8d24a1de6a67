"""Every logical ID, output name, parameter name and physical name comes from here.

Logical IDs are PascalCase built from stable semantic names (never from list
positions), e.g. ``logical("registry", "TaskDefinition") == "RegistryTaskDefinition"``.
"""

from __future__ import annotations

import re

from troposphere import Sub, Tags

_WORD = re.compile(r"[A-Za-z0-9]+")


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


# ---- physical names (always scoped by the Name and Environment parameters)


def log_group_name(container: str) -> Sub:
    return Sub(f"/ecs/${{Name}}-${{Environment}}/{container}")


def log_group_pattern(container: str) -> str:
    """The Sub string of a log group's ARN (for IAM)."""
    return f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/ecs/${{Name}}-${{Environment}}/{container}"


def exec_log_group_name(cluster: str) -> Sub:
    """ECS Exec session logs of a cluster."""
    return Sub(f"/aws/ecs/${{Name}}-${{Environment}}/{cluster}/exec")


def exec_log_group_arn(cluster: str) -> Sub:
    return Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
               f"/aws/ecs/${{Name}}-${{Environment}}/{cluster}/exec:*")


def ssm_name(param: str) -> Sub:
    return Sub(f"/${{Name}}/${{Environment}}/{param}")


def ssm_arn(param: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/${{Name}}/${{Environment}}/{param}")


def resource_name(suffix: str) -> Sub:
    """A physical name like 'mcp-gateway-dev-registry' (for tags, clusters, secrets)."""
    return Sub(f"${{Name}}-${{Environment}}-{suffix}")


def domain_name(record: str) -> Sub:
    """The regional pattern {service}.{region}.{base_domain}."""
    return Sub(f"{record}.${{AWS::Region}}.${{BaseDomain}}")


def tags(component: str) -> Tags:
    return Tags({"Name": resource_name(component), "stackgen:component": component})
