"""Live diagnostics (generator.diagnose) against resources that moto's mock_aws holds
in process: a good endpoints-only deployment, a good NAT deployment, and broken
variants of each.  No request leaves the process."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from generator import diagnose

REGION = "us-east-1"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/file-writer:v1"
REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/file-writer"
LOG_GROUP = "/ecs/file-writer"
SESSION = boto3.Session(region_name=REGION)  # one session: botocore parses each service model once


def client(name: str) -> Any:
    return SESSION.client(name)


@dataclass
class Env:
    vpc: str = ""
    subnets: list[str] = field(default_factory=list)
    route_tables: list[str] = field(default_factory=list)
    task_sg: str = ""
    endpoint_sg: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)
    nats: list[str] = field(default_factory=list)
    role: str = ""
    secret: str = ""
    cluster: str = "writer"


def policy(secret: str, pull: tuple[str, ...] = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": list(pull), "Resource": REPO_ARN},
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*",
                },
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret},
            ],
        }
    )


def build(mode: str = "endpoints", private_dns: bool = True, dns_hostnames: bool = True) -> Env:
    """One service in two private subnets (one route table each), endpoints-only or NAT."""
    ec2, iam, ecs = (client(n) for n in ("ec2", "iam", "ecs"))
    e = Env()
    e.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=e.vpc, EnableDnsHostnames={"Value": dns_hostnames})
    for k, az in enumerate(("a", "b")):
        sn = ec2.create_subnet(VpcId=e.vpc, CidrBlock=f"10.0.{k}.0/24", AvailabilityZone=REGION + az)["Subnet"]
        rt = ec2.create_route_table(VpcId=e.vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=rt, SubnetId=sn["SubnetId"])
        e.subnets.append(sn["SubnetId"])
        e.route_tables.append(rt)
    e.task_sg = ec2.create_security_group(GroupName="task", Description="task", VpcId=e.vpc)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=e.task_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    if mode == "endpoints":
        e.endpoint_sg = ec2.create_security_group(GroupName="endpoints", Description="e", VpcId=e.vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=e.endpoint_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": e.task_sg}]}
            ],
        )
        pl = ec2.describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
        )["PrefixLists"][0]["PrefixListId"]
        ec2.authorize_security_group_egress(
            GroupId=e.task_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": e.endpoint_sg}]},
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]},
            ],
        )
        for svc in ("ecr.api", "ecr.dkr", "logs", "secretsmanager"):
            e.endpoints[svc] = ec2.create_vpc_endpoint(
                VpcId=e.vpc,
                ServiceName=f"com.amazonaws.{REGION}.{svc}",
                VpcEndpointType="Interface",
                SubnetIds=e.subnets,
                SecurityGroupIds=[e.endpoint_sg],
                PrivateDnsEnabled=private_dns or svc != "ecr.dkr",
            )["VpcEndpoint"]["VpcEndpointId"]
        e.endpoints["s3"] = ec2.create_vpc_endpoint(
            VpcId=e.vpc,
            ServiceName=f"com.amazonaws.{REGION}.s3",
            VpcEndpointType="Gateway",
            RouteTableIds=e.route_tables,
        )["VpcEndpoint"]["VpcEndpointId"]
    else:
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=e.vpc)
        pub = ec2.create_subnet(VpcId=e.vpc, CidrBlock="10.0.100.0/24", AvailabilityZone=REGION + "a")["Subnet"]
        prt = ec2.create_route_table(VpcId=e.vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=prt, SubnetId=pub["SubnetId"])
        ec2.create_route(RouteTableId=prt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=pub["SubnetId"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
        e.nats.append(nat)
        for rt in e.route_tables:
            ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        ec2.authorize_security_group_egress(
            GroupId=e.task_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
    e.secret = client("secretsmanager").create_secret(Name="file-writer/token", SecretString="x")["ARN"]
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
            ],
        }
    )
    e.role = iam.create_role(RoleName="writer-execution", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="writer-execution", PolicyName="execution", PolicyDocument=policy(e.secret))
    # The stack: moto's CloudFormation creates the cluster and the service; the network
    # configuration and the real task definition are applied with the ECS API.
    template = {
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": e.cluster}},
            "Bootstrap": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "bootstrap",
                    "ContainerDefinitions": [{"Name": "x", "Image": "x", "Memory": 512}],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "ServiceName": "writer",
                    "Cluster": {"Ref": "Cluster"},
                    "TaskDefinition": {"Ref": "Bootstrap"},
                    "DesiredCount": 1,
                },
            },
        }
    }
    client("cloudformation").create_stack(StackName="file-writer", TemplateBody=json.dumps(template))
    td = ecs.register_task_definition(
        family="file-writer",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn=e.role,
        containerDefinitions=[
            {
                "name": "writer",
                "image": IMAGE,
                "memory": 512,
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": LOG_GROUP,
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": "writer",
                    },
                },
                "secrets": [{"name": "TOKEN", "valueFrom": e.secret}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(
        cluster=e.cluster,
        service="writer",
        taskDefinition=td,
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": e.subnets, "securityGroups": [e.task_sg], "assignPublicIp": "DISABLED"}
        },
    )
    return e


def run() -> diagnose.Diagnose:
    d = diagnose.Diagnose(SESSION)
    d.run("file-writer")
    return d


def problems(d: diagnose.Diagnose) -> list[tuple[str, str]]:
    return [(f.rule, f.problem) for f in d.findings]


@pytest.fixture
def aws(moto_aws: None) -> None:
    """Every AWS call served by moto in process (tests/conftest.py)."""


# --------------------------------------------------------------------------- good deployments


def test_endpoints_deployment_is_clean(aws: None) -> None:
    build("endpoints")
    d = run()
    assert d.task_count == 1
    assert d.findings == []
    assert d.notes == [
        f"arn:aws:iam::{ACCOUNT}:role/writer-execution: IAM policy simulation unavailable "
        "(NotImplementedError); evaluated the role's policies locally",
        "image pulls: the stack has no PullFailureAlarm; no pull figures",
    ]


def test_nat_deployment_is_clean(aws: None) -> None:
    build("nat")
    assert run().findings == []


# --------------------------------------------------------------------------- broken variants


def test_missing_s3_gateway_endpoint(aws: None) -> None:
    e = build("endpoints")
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[e.endpoints["s3"]])
    d = run()
    assert problems(d) == [
        (
            "route",
            f"service writer: no route to s3 (image layers) from subnet {sn}: route table {rt} has no "
            "0.0.0.0/0 route, and no S3 gateway endpoint is on that route table",
        )
        for sn, rt in zip(e.subnets, e.route_tables, strict=True)
    ]
    assert d.findings[0].fix == (
        f"aws ec2 create-vpc-endpoint --vpc-id {e.vpc} --vpc-endpoint-type Gateway --service-name "
        f"com.amazonaws.{REGION}.s3 --route-table-ids {e.route_tables[0]} (or add a NAT route)"
    )


def test_missing_ecr_dkr_endpoint(aws: None) -> None:
    e = build("endpoints")
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[e.endpoints["ecr.dkr"]])
    f = run().findings
    assert [x.problem for x in f] == [
        f"service writer: no route to ecr.dkr from subnet {sn}: route table {rt} has no 0.0.0.0/0 route, and there "
        f"is no com.amazonaws.{REGION}.ecr.dkr interface endpoint"
        for sn, rt in zip(e.subnets, e.route_tables, strict=True)
    ]
    assert f[0].fix.startswith(
        f"aws ec2 create-vpc-endpoint --vpc-id {e.vpc} --vpc-endpoint-type Interface "
        f"--service-name com.amazonaws.{REGION}.ecr.dkr --subnet-ids {' '.join(e.subnets)}"
    )


def test_endpoint_sg_does_not_admit_the_task(aws: None) -> None:
    e = build("endpoints")
    client("ec2").revoke_security_group_ingress(
        GroupId=e.endpoint_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": e.task_sg}]}
        ],
    )
    [f] = run().findings
    assert (f.rule, f.problem) == (
        "security-group",
        f"service writer: endpoint security group {e.endpoint_sg} "
        f"does not admit tcp/443 from task security groups {e.task_sg} (ecr.api, ecr.dkr, "
        "logs, secretsmanager)",
    )
    assert f.fix == (
        f"aws ec2 authorize-security-group-ingress --group-id {e.endpoint_sg} --protocol tcp --port 443 "
        f"--source-group {e.task_sg}"
    )


def test_task_egress_to_the_s3_prefix_list_missing(aws: None) -> None:
    e = build("endpoints")
    ec2 = client("ec2")
    pl = next(
        p
        for p in ec2.describe_security_groups(GroupIds=[e.task_sg])["SecurityGroups"][0]["IpPermissionsEgress"]
        if p["PrefixListIds"]
    )["PrefixListIds"][0]["PrefixListId"]
    ec2.revoke_security_group_egress(
        GroupId=e.task_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}],
    )
    [f] = run().findings
    assert f.problem == (
        f"service writer: task security groups {e.task_sg} allow no tcp/443 egress to the S3 "
        f"prefix list {pl} (image layers through {e.endpoints['s3']})"
    )


def test_execution_role_without_batch_get_image(aws: None) -> None:
    e = build("endpoints")
    client("iam").put_role_policy(
        RoleName="writer-execution",
        PolicyName="execution",
        PolicyDocument=policy(e.secret, pull=("ecr:GetDownloadUrlForLayer",)),
    )
    [f] = run().findings
    assert (f.rule, f.problem) == (
        "iam",
        "service writer: execution role writer-execution is not allowed "
        f"ecr:BatchGetImage on {REPO_ARN} (the image pull)",
    )


def test_iam_policy_simulation_is_used_when_available(aws: None) -> None:
    build("endpoints")
    d = diagnose.Diagnose(SESSION)
    calls: list[tuple[str, str]] = []

    class Simulating:
        """The moto IAM client, plus SimulatePrincipalPolicy denying secret reads."""

        def __init__(self, inner: Any):
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def simulate_principal_policy(
            self,
            PolicySourceArn: str,
            ActionNames: list[str],  # noqa: N803
            ResourceArns: list[str],
        ) -> dict[str, Any]:
            calls.append((ActionNames[0], ResourceArns[0]))
            decision = "implicitDeny" if ActionNames[0].startswith("secretsmanager:") else "allowed"
            return {"EvaluationResults": [{"EvalActionName": ActionNames[0], "EvalDecision": decision}]}

    d.iam = Simulating(d.iam)
    d.run("file-writer")
    assert [f.rule for f in d.findings] == ["iam"]
    assert d.findings[0].problem.startswith(
        "service writer: execution role writer-execution is not allowed "
        "secretsmanager:GetSecretValue on arn:aws:secretsmanager:"
    )
    assert ("ecr:BatchGetImage", REPO_ARN) in calls
    assert d.notes == [
        f"arn:aws:iam::{ACCOUNT}:role/writer-execution: permissions from IAM policy simulation",
        "image pulls: the stack has no PullFailureAlarm; no pull figures",
    ]


def test_endpoint_without_private_dns(aws: None) -> None:
    e = build("endpoints", private_dns=False)
    f = run().findings
    assert (f[0].rule, f[0].problem) == (
        "endpoint",
        f"service writer: interface endpoint {e.endpoints['ecr.dkr']} (com.amazonaws.{REGION}.ecr.dkr) "
        "has private DNS disabled, so tasks resolve the public name and bypass it",
    )
    assert f[0].fix == f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {e.endpoints['ecr.dkr']} --private-dns-enabled"
    assert [x.rule for x in f[1:]] == ["route", "route"]  # and with no NAT, ecr.dkr is unreachable


def test_vpc_without_dns_hostnames(aws: None) -> None:
    e = build("endpoints", dns_hostnames=False)
    [f] = run().findings
    assert (f.rule, f.where) == ("dns", "")
    assert f.problem == (
        f"vpc {e.vpc}: enableDnsHostnames is false, so the private DNS names of the interface endpoints do not resolve"
    )
    assert f.fix == f"aws ec2 modify-vpc-attribute --vpc-id {e.vpc} --enable-dns-hostnames '{{\"Value\":true}}'"


def test_nat_route_missing_in_one_az(aws: None) -> None:
    e = build("nat")
    client("ec2").delete_route(RouteTableId=e.route_tables[1], DestinationCidrBlock="0.0.0.0/0")
    msgs = [f.problem for f in run().findings]
    assert msgs == [
        f"service writer: no route to {d} from subnet {e.subnets[1]}: route table {e.route_tables[1]} "
        "has no 0.0.0.0/0 route"
        + (
            ", and no S3 gateway endpoint is on that route table"
            if d.startswith("s3")
            else f", and there is no com.amazonaws.{REGION}.{d} interface endpoint"
        )
        for d in ("ecr.api", "ecr.dkr", "s3 (image layers)", "logs", "secretsmanager")
    ]


def test_nat_gateway_deleted(aws: None) -> None:
    e = build("nat")
    client("ec2").delete_nat_gateway(NatGatewayId=e.nats[0])
    f = run().findings
    assert len(f) == 10  # five destinations from two subnets
    assert f[0].problem == (
        f"service writer: no route to ecr.api from subnet {e.subnets[0]}: route table "
        f"{e.route_tables[0]} sends 0.0.0.0/0 to NAT gateway {e.nats[0]}, which is deleted, and "
        f"there is no com.amazonaws.{REGION}.ecr.api interface endpoint"
    )


def test_stopped_task_reasons(aws: None) -> None:
    e = build("endpoints")
    ecs = client("ecs")
    td = ecs.describe_services(cluster=e.cluster, services=["writer"])["services"][0]["taskDefinition"]
    reasons = [
        "Scaling activity initiated by (deployment ecs-svc/1)",
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
        "failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): "
        'RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": '
        "dial tcp 52.46.0.1:443: i/o timeout",
    ]
    ids = []
    for reason in reasons:
        t = ecs.run_task(
            cluster=e.cluster,
            taskDefinition=td,
            launchType="FARGATE",
            group="service:writer",
            networkConfiguration={"awsvpcConfiguration": {"subnets": e.subnets, "securityGroups": [e.task_sg]}},
        )
        arn = t["tasks"][0]["taskArn"]
        ecs.stop_task(cluster=e.cluster, task=arn, reason=reason)
        ids.append(arn.split("/")[-1])
    [f] = run().findings
    assert f.rule == "stopped-task"
    assert f.problem == (
        f"service writer: task {ids[1]} stopped: {reasons[1]} -> the ECS agent could not fetch the "
        "registry auth token or a secret before starting the task"
    )
    assert "scripts/ecr-connectivity-check.sh" in f.fix


def test_scheduled_task_from_an_eventbridge_rule(aws: None) -> None:
    e = build("endpoints")
    td = client("ecs").describe_services(cluster=e.cluster, services=["writer"])["services"][0]["taskDefinition"]
    rule = {"Type": "AWS::Events::Rule", "Properties": {"Name": "nightly-export", "ScheduleExpression": "rate(1 day)"}}
    client("cloudformation").create_stack(
        StackName="schedules", TemplateBody=json.dumps({"Resources": {"Nightly": rule}})
    )
    client("events").put_targets(
        Rule="nightly-export",
        Targets=[
            {
                "Id": "writer",
                "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{e.cluster}",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
                "EcsParameters": {
                    "TaskDefinitionArn": td,
                    "NetworkConfiguration": {
                        "awsvpcConfiguration": {
                            "Subnets": e.subnets[:1],
                            "SecurityGroups": [e.task_sg],
                            "AssignPublicIp": "DISABLED",
                        }
                    },
                },
            }
        ],
    )
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[e.endpoints["ecr.api"]])
    d = diagnose.Diagnose(SESSION)
    d.run("schedules")
    assert d.task_count == 1
    assert [f.problem for f in d.findings] == [
        f"scheduled task nightly-export: no route to ecr.api from subnet {e.subnets[0]}: route table "
        f"{e.route_tables[0]} has no 0.0.0.0/0 route, and there is no com.amazonaws.{REGION}.ecr.api interface "
        "endpoint"
    ]


def test_scheduled_task_from_an_eventbridge_scheduler_schedule(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    e = build("endpoints")
    td = client("ecs").describe_services(cluster=e.cluster, services=["writer"])["services"][0]["taskDefinition"]
    client("scheduler").create_schedule(
        Name="writer-hourly",
        ScheduleExpression="cron(0 * * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{e.cluster}",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            "EcsParameters": {
                "TaskDefinitionArn": td,
                "LaunchType": "FARGATE",
                "NetworkConfiguration": {
                    "awsvpcConfiguration": {
                        "Subnets": e.subnets,
                        "SecurityGroups": [e.task_sg],
                        "AssignPublicIp": "DISABLED",
                    }
                },
            },
        },
    )
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[e.endpoints["secretsmanager"]])
    d = diagnose.Diagnose(SESSION)
    # moto's CloudFormation cannot create AWS::Scheduler::Schedule: list the stack as CloudFormation would.
    monkeypatch.setattr(
        d,
        "stack_resources",
        lambda stack: [
            {
                "ResourceType": "AWS::Scheduler::Schedule",
                "LogicalResourceId": "WriterSchedule",
                "PhysicalResourceId": "writer-hourly",
            }
        ],
    )
    d.run("file-writer")
    assert d.task_count == 1
    assert [f.problem for f in d.findings] == [
        f"schedule writer-hourly: no route to secretsmanager from subnet {sn}: route table {rt} has no 0.0.0.0/0 "
        f"route, and there is no com.amazonaws.{REGION}.secretsmanager interface endpoint"
        for sn, rt in zip(e.subnets, e.route_tables, strict=True)
    ]


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:v1: dial tcp 10.0.0.5:443: i/o timeout",
            "the image pull timed out: no network path to ecr.dkr or to S3 (image layers)",
        ),
        (
            "CannotPullContainerError: pull access denied, repository does not exist or may require authorization: "
            "403 Forbidden",
            "the image pull was refused: IAM or an endpoint policy denies it",
        ),
        (
            "CannotPullContainerError: ref pull has been retried: 123.dkr.ecr.us-east-1.amazonaws.com/x:v9: not found",
            "the image or tag does not exist",
        ),
        (
            "ResourceInitializationError: failed to validate logger args: The specified log group does not exist.",
            "the awslogs driver could not start",
        ),
        ("Essential container in task exited", "the application exited"),
    ],
)
def test_stop_reason_classes(reason: str, cause: str) -> None:
    found = next(c for pat, c, _fix in diagnose.STOP_REASONS if pat.search(reason))
    assert found == cause


# --------------------------------------------------------------------------- CLI


def test_cli(aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boto3, "Session", lambda **kw: SESSION)  # reuse the parsed service models
    e = build("endpoints")
    assert diagnose.main(["--stack", "file-writer", "--region", REGION]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "diagnose passed: stack file-writer: 1 tasks, 0 findings"
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[e.endpoints["logs"]])
    assert diagnose.main(["--stack", "file-writer", "--region", REGION]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"FAIL [route] service writer: no route to logs from subnet {e.subnets[0]}: route table "
        f"{e.route_tables[0]} has no 0.0.0.0/0 route, and there is no com.amazonaws.{REGION}.logs "
        "interface endpoint"
    )
    assert out[1].startswith("     fix: aws ec2 create-vpc-endpoint")
    assert diagnose.main(["--stack", "file-writer", "--region", REGION, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["tasks"] == 1 and data["findings"][0]["rule"] == "route"
    assert diagnose.main(["--stack", "no-such-stack", "--region", REGION]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_execution_role_without_log_permissions_names_the_log_group(aws: None) -> None:
    """The live side derives the permissions with the preflight's task_needs(): the message
    names the log group's ARN, as the preflight's does."""
    e = build("endpoints")
    doc = json.loads(policy(e.secret))
    doc["Statement"] = [s for s in doc["Statement"] if not str(s["Action"]).startswith("['logs:")]
    client("iam").put_role_policy(RoleName="writer-execution", PolicyName="execution", PolicyDocument=json.dumps(doc))
    assert [(f.rule, f.problem) for f in run().findings] == [
        (
            "iam",
            f"service writer: execution role writer-execution is not allowed {a} on "
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP} (the awslogs log driver)",
        )
        for a in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]
