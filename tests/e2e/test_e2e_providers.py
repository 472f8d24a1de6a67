"""The resource types the emulator launcher adds to ministack (generator/deploy/ministack/
providers.py): each is created by a small stack, read back through its service API, updated,
read again, deleted and checked gone.

The table of create-only properties the providers replace on is checked against the
resource schemas cfn-lint ships (no emulator needed for that one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import apply_stack, delete_stack, failure_reasons, stack_outputs

from generator.deploy.ministack import providers

E2E = pytest.mark.e2e
AZS = ("us-east-1a", "us-east-1b")


def test_create_only_table_is_cfn_lint_schemas():
    from cfnlint.data import schemas

    base = Path(schemas.__file__).parent
    index = json.loads((base / "providers" / "us-east-1.json").read_text())
    for rtype, props in providers.CREATE_ONLY.items():
        schema = json.loads((base / "resources" / f"{index[rtype]}.json").read_text())
        expected = sorted(p.split("/")[2] for p in schema["createOnlyProperties"])
        assert sorted(props) == expected, rtype


def _net(subnets: int = 1) -> dict:
    res = {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}}}
    for i in range(subnets):
        res[f"Subnet{i}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": f"10.9.{i}.0/24", "AvailabilityZone": AZS[i]},
        }
    return res


def _sg(name: str = "Sg") -> dict:
    return {
        name: {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "provider test",
                "VpcId": {"Ref": "Vpc"},
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.9.0.0/24"}],
            },
        }
    }


def _out(**refs) -> dict:
    return {k: {"Value": v} for k, v in refs.items()}


def _rules(ec2, group_id: str) -> dict[str, dict]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    return {r["SecurityGroupRuleId"]: r for r in rules}


@E2E
@pytest.mark.parametrize("egress", [False, True], ids=["ingress", "egress"])
def test_security_group_rule(aws, egress):
    cfn, ec2 = aws("cloudformation"), aws("ec2")
    kind = "Egress" if egress else "Ingress"
    peer = "DestinationSecurityGroupId" if egress else "SourceSecurityGroupId"
    stack = f"prov-sg-{kind.lower()}"

    def rule(port, description, peer_group=False):
        props = {
            "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "Description": description,
        }
        if peer_group:
            props[peer] = {"Fn::GetAtt": ["Peer", "GroupId"]}
        else:
            props["CidrIp"] = "10.20.0.0/16"
        return {
            **_net(),
            **_sg(),
            **_sg("Peer"),
            "Rule": {"Type": f"AWS::EC2::SecurityGroup{kind}", "Properties": props},
        }

    outputs = _out(
        RuleId={"Ref": "Rule"}, GroupId={"Fn::GetAtt": ["Sg", "GroupId"]}, AttId={"Fn::GetAtt": ["Rule", "Id"]}
    )
    assert apply_stack(cfn, stack, (rule(443, "first")), outputs) == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    out = stack_outputs(cfn, stack)
    assert out["RuleId"].startswith("sgr-") and out["AttId"] == out["RuleId"]
    found = _rules(ec2, out["GroupId"])[out["RuleId"]]
    assert (found["IsEgress"], found["FromPort"], found["CidrIpv4"], found["Description"]) == (
        egress,
        443,
        "10.20.0.0/16",
        "first",
    )
    # the group's own view (IpPermissions / IpPermissionsEgress) holds it too
    group = ec2.describe_security_groups(GroupIds=[out["GroupId"]])["SecurityGroups"][0]
    perms = group["IpPermissionsEgress" if egress else "IpPermissions"]
    assert any(p.get("FromPort") == 443 for p in perms)

    # Description is updated in place; the rule keeps its id
    assert apply_stack(cfn, stack, (rule(443, "second")), outputs) == "UPDATE_COMPLETE"
    assert _rules(ec2, out["GroupId"])[out["RuleId"]]["Description"] == "second"
    # a create-only property (the port, then the peer) replaces the rule
    assert apply_stack(cfn, stack, (rule(8443, "second")), outputs) == "UPDATE_COMPLETE"
    new_id = stack_outputs(cfn, stack)["RuleId"]
    rules = _rules(ec2, out["GroupId"])
    assert new_id != out["RuleId"] and out["RuleId"] not in rules
    assert rules[new_id]["FromPort"] == 8443
    assert apply_stack(cfn, stack, (rule(8443, "second", peer_group=True)), outputs) == "UPDATE_COMPLETE"
    peer_rule = _rules(ec2, out["GroupId"])[stack_outputs(cfn, stack)["RuleId"]]
    assert peer_rule["ReferencedGroupInfo"]["GroupId"].startswith("sg-")

    assert delete_stack(cfn, stack) is None
    assert out["GroupId"] not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert not [r for r in ec2.describe_security_group_rules()["SecurityGroupRules"] if r["GroupId"] == out["GroupId"]]


def _eip_nat(tag: str) -> dict:
    return {
        **_net(),
        "Eip": {
            "Type": "AWS::EC2::EIP",
            "Properties": {"Domain": "vpc", "Tags": [{"Key": "Name", "Value": f"eip-{tag}"}]},
        },
        "Nat": {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {
                "AllocationId": {"Fn::GetAtt": ["Eip", "AllocationId"]},
                "SubnetId": {"Ref": "Subnet0"},
                "Tags": [{"Key": "Name", "Value": f"nat-{tag}"}],
            },
        },
    }


@E2E
def test_eip_and_nat_gateway(aws):
    cfn, ec2 = aws("cloudformation"), aws("ec2")
    outputs = _out(
        Ip={"Ref": "Eip"},
        Alloc={"Fn::GetAtt": ["Eip", "AllocationId"]},
        AttIp={"Fn::GetAtt": ["Eip", "PublicIp"]},
        Nat={"Ref": "Nat"},
        AttNat={"Fn::GetAtt": ["Nat", "NatGatewayId"]},
    )
    assert apply_stack(cfn, "prov-nat", _eip_nat("a"), outputs) == "CREATE_COMPLETE", failure_reasons(cfn, "prov-nat")
    out = stack_outputs(cfn, "prov-nat")
    assert out["AttIp"] == out["Ip"] and out["AttNat"] == out["Nat"]
    address = ec2.describe_addresses(AllocationIds=[out["Alloc"]])["Addresses"][0]
    assert address["PublicIp"] == out["Ip"] and address.get("AssociationId")
    nat = ec2.describe_nat_gateways(NatGatewayIds=[out["Nat"]])["NatGateways"][0]
    assert nat["State"] == "available" and nat["SubnetId"].startswith("subnet-")

    assert apply_stack(cfn, "prov-nat", _eip_nat("b"), outputs) == "UPDATE_COMPLETE"
    tags = {t["Key"]: t["Value"] for t in ec2.describe_addresses(AllocationIds=[out["Alloc"]])["Addresses"][0]["Tags"]}
    assert tags["Name"] == "eip-b"
    nat = ec2.describe_nat_gateways(NatGatewayIds=[out["Nat"]])["NatGateways"][0]
    assert {t["Key"]: t["Value"] for t in nat["Tags"]}["Name"] == "nat-b"
    assert stack_outputs(cfn, "prov-nat")["Nat"] == out["Nat"]  # tags do not replace

    assert delete_stack(cfn, "prov-nat") is None
    assert (
        ec2.describe_nat_gateways(NatGatewayIds=[out["Nat"]])["NatGateways"][0]["State"] == "deleted"
    )  # as on AWS, a deleted NAT gateway stays listed as deleted
    assert not [a for a in ec2.describe_addresses()["Addresses"] if a["AllocationId"] == out["Alloc"]]


@E2E
def test_nat_gateway_needs_an_existing_eip(aws):
    cfn = aws("cloudformation")
    resources = _eip_nat("x")
    del resources["Eip"]
    resources["Nat"]["Properties"]["AllocationId"] = "eipalloc-00000000000000000"
    assert apply_stack(cfn, "prov-nat-bad", resources) == "ROLLBACK_COMPLETE"
    assert any("InvalidAllocationID.NotFound" in r for r in failure_reasons(cfn, "prov-nat-bad"))
    assert delete_stack(cfn, "prov-nat-bad") is None


@E2E
def test_flow_log(aws):
    cfn, ec2 = aws("cloudformation"), aws("ec2")

    def template(tag):
        return {
            **_net(),
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            }
                        ],
                    }
                },
            },
            "Flow": {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "ResourceId": {"Ref": "Vpc"},
                    "ResourceType": "VPC",
                    "TrafficType": tag,
                    "LogGroupName": {"Ref": "Logs"},
                    "DeliverLogsPermissionArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Tags": [{"Key": "Name", "Value": tag}],
                },
            },
        }

    outputs = _out(Id={"Ref": "Flow"}, AttId={"Fn::GetAtt": ["Flow", "Id"]}, Vpc={"Ref": "Vpc"})
    assert apply_stack(cfn, "prov-flow", template("ALL"), outputs) == "CREATE_COMPLETE", failure_reasons(
        cfn, "prov-flow"
    )
    out = stack_outputs(cfn, "prov-flow")
    assert out["Id"].startswith("fl-") and out["AttId"] == out["Id"]
    flow = ec2.describe_flow_logs(FlowLogIds=[out["Id"]])["FlowLogs"][0]
    assert (flow["ResourceId"], flow["TrafficType"]) == (out["Vpc"], "ALL")
    # TrafficType is create-only: the flow log is replaced
    assert apply_stack(cfn, "prov-flow", template("REJECT"), outputs) == "UPDATE_COMPLETE"
    new_id = stack_outputs(cfn, "prov-flow")["Id"]
    assert new_id != out["Id"]
    assert [
        f["TrafficType"]
        for f in ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [out["Vpc"]]}])["FlowLogs"]
    ] == ["REJECT"]
    assert delete_stack(cfn, "prov-flow") is None
    assert not ec2.describe_flow_logs(FlowLogIds=[new_id])["FlowLogs"]


def _proxy(timeout: int, max_percent: int) -> dict:
    return {
        **_net(2),
        **_sg(),
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"SecretString": '{"username": "app", "password": "provider-test-1"}'},
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "rds.amazonaws.com"}}
                    ],
                }
            },
        },
        "SubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "x", "SubnetIds": [{"Ref": "Subnet0"}, {"Ref": "Subnet1"}]},
        },
        "Db": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Delete",
            "Properties": {
                "Engine": "aurora-mysql",
                "MasterUsername": "app",
                "MasterUserPassword": "provider-test-1",
                "DBSubnetGroupName": {"Ref": "SubnetGroup"},
            },
        },
        "Proxy": {
            "Type": "AWS::RDS::DBProxy",
            "Properties": {
                "DBProxyName": "prov-proxy",
                "EngineFamily": "MYSQL",
                "RequireTLS": True,
                "IdleClientTimeout": timeout,
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "Auth": [{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": {"Ref": "Secret"}}],
                "VpcSubnetIds": [{"Ref": "Subnet0"}, {"Ref": "Subnet1"}],
                "VpcSecurityGroupIds": [{"Fn::GetAtt": ["Sg", "GroupId"]}],
            },
        },
        "Targets": {
            "Type": "AWS::RDS::DBProxyTargetGroup",
            "Properties": {
                "DBProxyName": {"Ref": "Proxy"},
                "TargetGroupName": "default",
                "DBClusterIdentifiers": [{"Ref": "Db"}],
                "ConnectionPoolConfigurationInfo": {
                    "MaxConnectionsPercent": max_percent,
                    "MaxIdleConnectionsPercent": 50,
                },
            },
        },
    }


@E2E
def test_db_proxy_and_target_group(aws):
    cfn, rds = aws("cloudformation"), aws("rds")
    outputs = _out(
        Name={"Ref": "Proxy"},
        Arn={"Fn::GetAtt": ["Proxy", "DBProxyArn"]},
        Endpoint={"Fn::GetAtt": ["Proxy", "Endpoint"]},
        VpcId={"Fn::GetAtt": ["Proxy", "VpcId"]},
        Vpc={"Ref": "Vpc"},
        Tg={"Ref": "Targets"},
        Db={"Ref": "Db"},
    )
    assert apply_stack(cfn, "prov-proxy", _proxy(1800, 90), outputs) == "CREATE_COMPLETE", failure_reasons(
        cfn, "prov-proxy"
    )
    out = stack_outputs(cfn, "prov-proxy")
    proxy = rds.describe_db_proxies(DBProxyName="prov-proxy")["DBProxies"][0]
    assert out["Name"] == "prov-proxy" and out["Arn"] == proxy["DBProxyArn"]
    assert out["Endpoint"] == proxy["Endpoint"] and out["VpcId"] == out["Vpc"]
    assert proxy["IdleClientTimeout"] == 1800 and proxy["RequireTLS"] is True
    group = rds.describe_db_proxy_target_groups(DBProxyName="prov-proxy")["TargetGroups"][0]
    assert out["Tg"] == group["TargetGroupArn"]
    assert group["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 90
    targets = rds.describe_db_proxy_targets(DBProxyName="prov-proxy")["Targets"]
    assert [t["RdsResourceId"] for t in targets] == [out["Db"]]

    assert apply_stack(cfn, "prov-proxy", _proxy(900, 80), outputs) == "UPDATE_COMPLETE"
    assert rds.describe_db_proxies(DBProxyName="prov-proxy")["DBProxies"][0]["IdleClientTimeout"] == 900
    assert (
        rds.describe_db_proxy_target_groups(DBProxyName="prov-proxy")["TargetGroups"][0]["ConnectionPoolConfig"][
            "MaxConnectionsPercent"
        ]
        == 80
    )

    assert delete_stack(cfn, "prov-proxy") is None
    with pytest.raises(rds.exceptions.DBProxyNotFoundFault):
        rds.describe_db_proxies(DBProxyName="prov-proxy")


def _service(cluster_props: dict | None = None, scaling: tuple[int, float] | None = None) -> dict:
    res = {
        **_net(),
        **_sg(),
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": cluster_props or {}},
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": "256",
                "Memory": "512",
                "ContainerDefinitions": [{"Name": "app", "Image": "public.ecr.aws/nginx:1"}],
            },
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "TaskDefinition": {"Ref": "Task"},
                "DesiredCount": 0,
                "LaunchType": "FARGATE",
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": [{"Ref": "Subnet0"}],
                        "SecurityGroups": [{"Fn::GetAtt": ["Sg", "GroupId"]}],
                    }
                },
            },
        },
    }
    if scaling:
        res["Target"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "MinCapacity": 1,
                "MaxCapacity": scaling[0],
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": {"Fn::Sub": "service/${Cluster}/${Service.Name}"},
            },
        }
        res["Policy"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": "cpu",
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": "Target"},
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": scaling[1],
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                },
            },
        }
    return res


@E2E
def test_cluster_capacity_provider_associations(aws):
    cfn, ecs = aws("cloudformation"), aws("ecs")

    def template(spot_weight):
        res = _service()
        res["Assoc"] = {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                "DefaultCapacityProviderStrategy": [
                    {"CapacityProvider": "FARGATE", "Weight": 1, "Base": 1},
                    {"CapacityProvider": "FARGATE_SPOT", "Weight": spot_weight},
                ],
            },
        }
        return res

    outputs = _out(Cluster={"Ref": "Cluster"}, Assoc={"Ref": "Assoc"})
    assert apply_stack(cfn, "prov-ccpa", template(1), outputs) == "CREATE_COMPLETE", failure_reasons(cfn, "prov-ccpa")
    out = stack_outputs(cfn, "prov-ccpa")
    assert out["Assoc"] == out["Cluster"]
    cluster = ecs.describe_clusters(clusters=[out["Cluster"]])["clusters"][0]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert [s["weight"] for s in cluster["defaultCapacityProviderStrategy"]] == [1, 1]
    assert apply_stack(cfn, "prov-ccpa", template(3), outputs) == "UPDATE_COMPLETE"
    cluster = ecs.describe_clusters(clusters=[out["Cluster"]])["clusters"][0]
    assert [s["weight"] for s in cluster["defaultCapacityProviderStrategy"]] == [1, 3]
    res = template(3)
    del res["Assoc"]
    assert (
        apply_stack(cfn, "prov-ccpa", res, outputs={"Cluster": {"Value": {"Ref": "Cluster"}}}) == "UPDATE_COMPLETE"
    )  # the association alone is removed
    cluster = ecs.describe_clusters(clusters=[out["Cluster"]])["clusters"][0]
    assert not cluster["capacityProviders"] and not cluster["defaultCapacityProviderStrategy"]
    assert delete_stack(cfn, "prov-ccpa") is None


@E2E
def test_scalable_target_and_scaling_policy(aws):
    cfn, scaling = aws("cloudformation"), aws("application-autoscaling")
    outputs = _out(
        Target={"Ref": "Target"},
        TargetId={"Fn::GetAtt": ["Target", "Id"]},
        Policy={"Ref": "Policy"},
        PolicyArn={"Fn::GetAtt": ["Policy", "Arn"]},
    )
    assert apply_stack(cfn, "prov-scale", _service(scaling=(4, 70.0)), outputs) == "CREATE_COMPLETE", failure_reasons(
        cfn, "prov-scale"
    )
    out = stack_outputs(cfn, "prov-scale")
    resource_id, dimension, namespace = out["Target"].split("|")
    assert (dimension, namespace) == ("ecs:service:DesiredCount", "ecs")
    assert out["TargetId"] == out["Target"] and out["PolicyArn"] == out["Policy"]
    target = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policy = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"][0]
    assert policy["PolicyARN"] == out["Policy"] and policy["PolicyName"] == "cpu"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0

    assert apply_stack(cfn, "prov-scale", _service(scaling=(6, 50.0)), outputs) == "UPDATE_COMPLETE"
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"][0][
            "MaxCapacity"
        ]
        == 6
    )
    policy = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"][0]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 50.0
    assert policy["PolicyARN"] == out["Policy"]  # updated in place

    assert delete_stack(cfn, "prov-scale") is None
    # This stack's target and policy are gone (other tests share the emulator and scale their own services).
    assert not scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"]
    assert not scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"]


@E2E
def test_scalable_target_needs_an_existing_service(aws):
    cfn = aws("cloudformation")
    res = {
        "Target": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "MinCapacity": 1,
                "MaxCapacity": 2,
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": "service/nope/nope",
            },
        }
    }
    assert apply_stack(cfn, "prov-scale-bad", res) == "ROLLBACK_COMPLETE"
    assert any("ECS service doesn't exist: service/nope/nope" in r for r in failure_reasons(cfn, "prov-scale-bad"))
    assert delete_stack(cfn, "prov-scale-bad") is None
