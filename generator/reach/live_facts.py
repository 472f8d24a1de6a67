"""The live answers in the reachability model's terms, for ``reach.live``: a live task
(``LiveTask``), its containers' start-time facts from ``describe-task-definition``, a live
security group's rules, and the table of stopped-task reasons with their causes and fixes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from generator.reach.model import Rule
from generator.reach.needs import Container, Logs, Secret, Value


@dataclass
class LiveTask:
    label: str
    name: str
    cluster: str
    subnets: list[str]
    sgs: list[str]
    public_ip: bool
    task_definition: dict[str, Any]
    group: str = ""  # ECS task group ('service:NAME') for stopped-task lookups


# Stopped-task reasons -> (cause, fix). First match wins.
STOP_REASONS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(
            r"unable to pull secrets or registry auth|unable to retrieve secret|"
            r"ResourceInitializationError:.*(secretsmanager|ssm|GetSecretValue|GetParameters)",
            re.I,
        ),
        "the ECS agent could not fetch the registry auth token or a secret before starting the task",
        "fix the ecr.api / secretsmanager / ssm findings above (route, endpoint, security group, execution role); then "
        "run scripts/ecr-connectivity-check.sh as a one-off task in the same subnets and security groups",
    ),
    (
        re.compile(
            r"CannotPullContainerError.*(timeout|dial tcp|deadline exceeded|request canceled|no route|"
            r"connection refused|Client\.Timeout)",
            re.I,
        ),
        "the image pull timed out: no network path to ecr.dkr or to S3 (image layers)",
        "give the task subnets a path to ecr.dkr and S3: the ecr.dkr interface endpoint with private DNS plus the S3 "
        "gateway endpoint on their route tables, or a 0.0.0.0/0 route to a NAT gateway; allow tcp/443 egress",
    ),
    (
        re.compile(r"CannotPullContainerError.*(AccessDenied|access denied|403|not authorized|denied)", re.I),
        "the image pull was refused: IAM or an endpoint policy denies it",
        "grant the execution role ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, and "
        "allow s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/* in the S3 gateway endpoint policy",
    ),
    (
        re.compile(r"CannotPullContainerError.*(not found|manifest unknown|does not exist)", re.I),
        "the image or tag does not exist",
        "push the image (or fix the tag/URI in the task definition); check the repository's lifecycle policy",
    ),
    (
        re.compile(r"failed to (validate|initialize) logger|log group.*does not exist|awslogs", re.I),
        "the awslogs driver could not start",
        "create the log group (or set awslogs-create-group with logs:CreateLogGroup), and give the subnets a path to "
        "the logs endpoint",
    ),
    (
        re.compile(r"EFS|efs-utils|mount\.nfs", re.I),
        "the EFS volume could not be mounted",
        "allow tcp/2049 from the task security group to the mount targets' security group, with a mount target in "
        "every "
        "AZ the tasks use",
    ),
    (
        re.compile(r"ELB health checks", re.I),
        "the load balancer marked the task unhealthy",
        "check the target group's health-check path and port and the grace period against the app's start time",
    ),
    (
        re.compile(r"container health checks", re.I),
        "the container health check failed",
        "run the health-check command in the container (ECS Exec) and compare with its interval and start period",
    ),
    (
        re.compile(r"Essential container in task exited", re.I),
        "the application exited",
        "read the container's logs and exit code (containers[].reason / exitCode)",
    ),
]
BENIGN = re.compile(
    r"Scaling activity initiated|Deployment|Service .* deleted|Task stopped by user|"
    r"SpotInterruption",
    re.I,
)


def containers(td: dict[str, Any]) -> list[Container]:
    """The start-time facts of a live task definition's containers."""
    out = []
    for c in td.get("containerDefinitions", []):
        logs = None
        lc = c.get("logConfiguration") or {}
        if lc.get("logDriver") == "awslogs":
            opts = lc.get("options", {})
            logs = Logs(
                Value.live(opts.get("awslogs-group", "")),
                opts.get("awslogs-stream-prefix"),
                str(opts.get("awslogs-create-group", "")).lower() == "true",
            )
        creds = (c.get("repositoryCredentials") or {}).get("credentialsParameter")
        secrets = tuple(
            Secret(
                str(s.get("name")),
                Value.live(s.get("valueFrom", "")),
                "secretsmanager" if ":secretsmanager:" in s.get("valueFrom", "") else "ssm",
            )
            for s in c.get("secrets", [])
        )
        out.append(
            Container(
                str(c.get("name", "c")),
                Value.live(c.get("image", "")),
                None,
                logs,
                Value.live(creds) if creds else None,
                secrets,
            )
        )
    return out


def group_rules(group: dict[str, Any], egress: bool) -> list[Rule]:
    """A live security group's rules in the model's terms (one Rule per peer)."""
    out = []
    for p in group.get("IpPermissionsEgress" if egress else "IpPermissions", []):
        proto, lo, hi = str(p.get("IpProtocol", "-1")), p.get("FromPort", 0), p.get("ToPort", 65535)
        out += [Rule(proto, lo, hi, sg=pair.get("GroupId")) for pair in p.get("UserIdGroupPairs", [])]
        out += [Rule(proto, lo, hi, prefix_list=x.get("PrefixListId") or "") for x in p.get("PrefixListIds", [])]
        for rng in p.get("IpRanges", []):
            try:
                out.append(Rule(proto, lo, hi, cidr=ipaddress.IPv4Network(rng["CidrIp"])))
            except (KeyError, ValueError):
                continue
    return out
