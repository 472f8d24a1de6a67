"""The other two seed systems: BFF + AgentCore (seeds/004) and the private-subnet
scheduled-file-writer (seeds/000-002), each from its own spec with no stack code of
its own."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from generator import render
from generator.spec import load_spec
from tests.helpers import ROOT, props, resources


@pytest.fixture(scope="module")
def bff() -> dict[str, dict[str, Any]]:
    return render.synthesize(load_spec(ROOT / "platforms" / "bff-agentcore.yaml"))


@pytest.fixture(scope="module")
def writer() -> dict[str, dict[str, Any]]:
    return render.synthesize(load_spec(ROOT / "platforms" / "scheduled-file-writer.yaml"))


def _out(t: dict, name: str) -> Any:
    return t["main.yaml"]["Outputs"][name]["Value"]


# ---- seeds/004 contract tests ------------------------------------------------------


def test_t016_cluster_outputs(bff: dict) -> None:
    """T016: cluster ARN and name are parent outputs wired to the cluster stack."""
    assert _out(bff, "MainClusterArn") == {"Fn::GetAtt": ["EcsClusterStack", "Outputs.MainClusterArn"]}
    assert _out(bff, "MainClusterName") == {"Fn::GetAtt": ["EcsClusterStack", "Outputs.MainClusterName"]}
    assert bff["ecs-cluster.yaml"]["Outputs"]["MainClusterArn"]["Value"] == {"Fn::GetAtt": ["MainCluster", "Arn"]}


def test_t025_task_definition_and_role_outputs(bff: dict) -> None:
    """T025: task definition ARNs and task role ARNs are parent outputs."""
    for svc in ("Bff", "Agentcore"):
        assert _out(bff, f"{svc}TaskDefinitionArn") == {
            "Fn::GetAtt": ["ServicesDatabaseStack", f"Outputs.{svc}TaskDefinitionArn"]
        }
        assert bff["services-database.yaml"]["Outputs"][f"{svc}TaskDefinitionArn"]["Value"] == {
            "Ref": f"{svc}TaskDefinition"
        }
        assert _out(bff, f"{svc}TaskRoleArn") == {"Fn::GetAtt": ["IamDatabaseStack", f"Outputs.{svc}TaskRoleArn"]}
        assert bff["iam-database.yaml"]["Outputs"][f"{svc}TaskRoleArn"]["Value"] == {
            "Fn::GetAtt": [f"{svc}TaskRole", "Arn"]
        }


def test_t039_service_discovery_outputs(bff: dict) -> None:
    """T039: service ARNs, the Service Discovery namespace ID and the AgentCore DNS name."""
    for svc in ("Bff", "Agentcore"):
        assert _out(bff, f"{svc}ServiceArn") == {"Fn::GetAtt": ["ServicesDatabaseStack", f"Outputs.{svc}ServiceArn"]}
    assert _out(bff, "NamespaceId") == {"Fn::GetAtt": ["EcsClusterStack", "Outputs.NamespaceId"]}
    assert bff["services-database.yaml"]["Outputs"]["AgentcoreDnsName"]["Value"] == "agentcore.local"
    assert bff["ecs-cluster.yaml"]["Resources"]["Namespace"]["Properties"]["Name"] == "local"


# ---- seeds/004 structure -------------------------------------------------------------


def test_bff_subnet_tiers_match_the_seed() -> None:
    spec = load_spec(ROOT / "platforms" / "bff-agentcore.yaml")
    got = {t.name: [str(c) for c in spec.network.tier_cidrs(t)] for t in spec.network.tiers}
    assert got["private-app"] == ["10.0.11.0/24", "10.0.12.0/24"]
    assert got["private-agent"] == ["10.0.21.0/24", "10.0.22.0/24"]


def test_bff_sizing_per_environment(bff: dict) -> None:
    sizing = bff["services-database.yaml"]["Mappings"]["Sizing"]
    assert {e: (sizing[e]["BffCpu"], sizing[e]["BffMemory"]) for e in sizing} == {
        "dev": ("512", "1024"),
        "test": ("1024", "2048"),
        "prod": ("2048", "4096"),
    }
    td = props(bff["services-database.yaml"]["Resources"]["AgentcoreTaskDefinition"])
    assert td["Cpu"] == {"Fn::FindInMap": ["Sizing", {"Ref": "Environment"}, "AgentcoreCpu"]}


def test_bff_cluster_and_deployments(bff: dict) -> None:
    c = props(bff["ecs-cluster.yaml"]["Resources"]["MainCluster"])
    assert c["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]
    assert {s["CapacityProvider"]: s["Weight"] for s in c["DefaultCapacityProviderStrategy"]} == {
        "FARGATE": 70,
        "FARGATE_SPOT": 30,
    }
    for svc in ("BffService", "AgentcoreService"):
        d = props(bff["services-database.yaml"]["Resources"][svc])["DeploymentConfiguration"]
        assert (d["MinimumHealthyPercent"], d["MaximumPercent"]) == (50, 200)
        assert d["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    agent = props(bff["services-database.yaml"]["Resources"]["AgentcoreService"])
    assert "ServiceRegistries" in agent and "LoadBalancers" not in agent


def test_bff_autoscaling(bff: dict) -> None:
    targets = resources(bff["autoscaling-database.yaml"], "AWS::ApplicationAutoScaling::ScalableTarget")
    # Both images come from the platform's repositories: 2..10 once pushed, 0..0 before.
    assert {lid: (props(t)["MinCapacity"], props(t)["MaxCapacity"]) for lid, t in targets.items()} == {
        f"{s}ScalableTarget": ({"Fn::If": [f"{s}ImageIsReady", 2, 0]}, {"Fn::If": [f"{s}ImageIsReady", 10, 0]})
        for s in ("Agentcore", "Bff")
    }
    for p in resources(bff["autoscaling-database.yaml"], "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        cfg = props(p)["TargetTrackingScalingPolicyConfiguration"]
        assert cfg["ScaleInCooldown"] == cfg["ScaleOutCooldown"] == 300
        assert cfg["TargetValue"] in (70.0, 80.0)


def _ingress_sources(t: dict, group: str) -> set[tuple[str, int]]:
    out = set()
    for r in resources(t, "AWS::EC2::SecurityGroupIngress").values():
        p = props(r)
        if p["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}:
            out.add((_sg(p["SourceSecurityGroupId"]), p["FromPort"]))
    return out


def _egress(t: dict, group: str) -> list[dict[str, Any]]:
    sg = t["Resources"][group]
    rules = list(props(sg).get("SecurityGroupEgress", []))
    rules += [
        props(r)
        for r in resources(t, "AWS::EC2::SecurityGroupEgress").values()
        if props(r)["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    return rules


def _sg(node: dict) -> str:
    """A security group named by a GetAtt of this stack's, or a <Group>Id parameter (another stack's)."""
    return node["Fn::GetAtt"][0] if "Fn::GetAtt" in node else node["Ref"].removesuffix("Id")


def test_bff_security_groups(bff: dict) -> None:
    # Both services use the database: they are in the group database (security-groups-database).
    t = bff["security-groups-database.yaml"]
    # a later group's services take their load balancer's traffic through the group's targets
    # security group, which the bff task carries
    assert _ingress_sources(t, "BffServiceSecurityGroup") == set()
    assert _ingress_sources(t, "DatabasePublicTargetsSecurityGroup") == {("PublicLoadBalancerSecurityGroup", 3000)}
    bff_sgs = props(bff["services-database.yaml"]["Resources"]["BffService"])["NetworkConfiguration"]
    assert {"Ref": "DatabasePublicTargetsSecurityGroupId"} in bff_sgs["AwsvpcConfiguration"]["SecurityGroups"]
    assert _ingress_sources(t, "AgentcoreServiceSecurityGroup") == {("BffServiceSecurityGroup", 8080)}
    services = bff["services-database.yaml"]["Resources"]
    for svc in ("Bff", "Agentcore"):
        group = f"{svc}ServiceSecurityGroup"
        rules = _egress(t, group)
        carried = props(services[f"{svc}Service"])["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
        for client in (_sg(g) for g in carried if _sg(g) != group):
            rules += _egress(t, client)  # the group's client security groups, which the task carries too
        assert not any(r.get("CidrIp") == "0.0.0.0/0" for r in rules), "no 0.0.0.0/0 on tasks"
        assert {
            (_sg(r["DestinationSecurityGroupId"]), r["FromPort"]) for r in rules if "DestinationSecurityGroupId" in r
        } >= {("EndpointSecurityGroup", 443), ("DatabaseSecurityGroup", 5432)}
        assert "SecurityGroupIngress" not in props(t["Resources"][group])


def test_bff_database_in_dedicated_subnets(bff: dict) -> None:
    c = props(bff["database.yaml"]["Resources"]["DatabaseCluster"])
    assert c["Engine"] == "aurora-postgresql" and c["Port"] == 5432
    sg = props(bff["database.yaml"]["Resources"]["DatabaseSubnetGroup"])
    assert sg["SubnetIds"] == {"Ref": "PrivateDataSubnetIds"}
    assert "DBProxy" not in json.dumps(bff["database.yaml"])


def _policy_actions(role: dict) -> set[str]:
    return {
        a for pol in props(role).get("Policies", []) for s in pol["PolicyDocument"]["Statement"] for a in s["Action"]
    }


def test_bff_iam(bff: dict) -> None:
    roles = bff["iam-database.yaml"]["Resources"]
    assert _policy_actions(roles["BffTaskRole"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
        "kms:Decrypt",
    }
    agent = _policy_actions(roles["AgentcoreTaskRole"])
    assert {
        "bedrock:InvokeModel",
        "bedrock:InvokeAgent",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "ssm:GetParameter",
    } <= agent
    for lid, role in roles.items():
        for a in _policy_actions(role):
            assert not re.search(
                r":(Delete|Create(?!LogStream|ControlChannel|DataChannel)|Put(?!Object|LogEvents)"
                r"|Update|Modify|Attach|Detach)",
                a,
            ), (lid, a)
    assert {
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "logs:PutLogEvents",
        "ssm:GetParameters",
    } <= _policy_actions(roles["BffExecutionRole"])


def test_bff_logs_and_alarms(bff: dict) -> None:
    groups = resources(bff["services-database.yaml"], "AWS::Logs::LogGroup")
    assert {props(g)["RetentionInDays"] for g in groups.values()} == {7}
    alarms = resources(bff["monitoring-database.yaml"], "AWS::CloudWatch::Alarm")
    assert {"BffRunningTasksLowAlarm", "AgentcoreRunningTasksLowAlarm", "BffUnhealthyHostsAlarm"} <= set(alarms)
    assert props(alarms["BffUnhealthyHostsAlarm"])["Threshold"] == 0
    topic = props(bff["monitoring.yaml"]["Resources"]["AlarmTopic"])
    assert topic["Subscription"]["Fn::If"][0] == "HasAlarmEmail"
    tg = props(bff["alb.yaml"]["Resources"]["BffTargetGroup"])
    assert (
        tg["HealthCheckPath"],
        tg["HealthCheckIntervalSeconds"],
        tg["UnhealthyThresholdCount"],
        tg["HealthyThresholdCount"],
        tg["Port"],
    ) == ("/api/health", 30, 3, 2, 3000)


# ---- seeds/000-002 ---------------------------------------------------------------------


def test_writer_is_a_scheduled_task(writer: dict) -> None:
    s = writer["services.yaml"]
    assert not resources(s, "AWS::ECS::Service")
    sched = props(s["Resources"]["WriterSchedule"])
    assert sched["ScheduleExpression"] == "cron(0 * * * ? *)"
    ecs = sched["Target"]["EcsParameters"]
    assert ecs["LaunchType"] == "FARGATE"
    assert ecs["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_writer_network_has_endpoints_and_no_nat(writer: dict) -> None:
    n = writer["network.yaml"]
    assert not resources(n, "AWS::EC2::NatGateway") and not resources(n, "AWS::EC2::InternetGateway")
    names = {
        props(e)["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
        if "}.s3" not in props(e)["ServiceName"]["Fn::Sub"]
        else "s3"
        for e in resources(n, "AWS::EC2::VPCEndpoint").values()
    }
    eps = {
        props(e)["ServiceName"]["Fn::Sub"].replace("com.amazonaws.${AWS::Region}.", ""): props(e)
        for e in resources(n, "AWS::EC2::VPCEndpoint").values()
    }
    assert names
    assert set(eps) == {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "sts", "kms", "s3"}
    for name, e in eps.items():
        if name != "s3":
            assert e["PrivateDnsEnabled"] is True and e["VpcEndpointType"] == "Interface"
    layer = eps["s3"]["PolicyDocument"]["Statement"][0]
    assert layer["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"}]


def test_writer_security_group(writer: dict) -> None:
    t = writer["security-groups.yaml"]
    rules = _egress(t, "WriterServiceSecurityGroup")
    keyed = {(r.get("IpProtocol"), r["FromPort"]): r for r in rules}
    assert keyed[("tcp", 445)]["CidrIp"] == {"Ref": "SmbTargetCidr"}
    assert keyed[("udp", 53)]["CidrIp"] == {"Ref": "VpcCidr"} and keyed[("tcp", 53)]["CidrIp"] == {"Ref": "VpcCidr"}
    assert any(r.get("DestinationPrefixListId") == {"Ref": "S3PrefixListId"} for r in rules)
    assert any(r.get("DestinationSecurityGroupId") == {"Ref": "EndpointSecurityGroupId"} for r in rules)
    assert not any(r.get("CidrIp") == "0.0.0.0/0" for r in rules)


def test_writer_execution_role_is_exactly_the_seeds(writer: dict) -> None:
    role = writer["iam.yaml"]["Resources"]["WriterExecutionRole"]
    assert _policy_actions(role) == {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "kms:Decrypt",
    }


def test_writer_pull_failure_alarm(writer: dict) -> None:
    m = writer["monitoring.yaml"]["Resources"]
    pattern = props(m["PullFailureRule"])["EventPattern"]["detail"]["stoppedReason"]
    assert pattern == [{"prefix": "CannotPullContainerError"}, {"prefix": "ResourceInitializationError"}]
    assert props(m["PullFailureAlarm"])["MetricName"] == "ImagePullFailures"


def _code_strings(tree: ast.AST) -> list[str]:
    """String constants that are code, not docstrings."""
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_no_platform_is_special_cased_in_the_generator() -> None:
    """No generation code names a platform: adding one takes a spec file only."""
    names = [p.stem for p in (ROOT / "platforms").glob("*.yaml")]
    files = [*(ROOT / "generator").glob("*.py"), *(ROOT / "generator" / "stacks").glob("*.py")]
    assert files
    for f in files:
        for text in _code_strings(ast.parse(f.read_text())):
            for n in names:
                assert n not in text, f"{f.relative_to(ROOT)} special-cases platform {n}: {text!r}"


@pytest.mark.parametrize("platform", ["mcp-gateway", "bff-agentcore", "scheduled-file-writer"])
def test_parameters_folder(platform: str) -> None:
    for env in ("dev", "test", "prod"):
        values = json.loads((ROOT / "parameters" / platform / f"{env}.json").read_text())
        assert f"Environment={env}" in values
        assert not any(re.search(r"(?i)password|secret", v.split("=")[0]) for v in values)
