"""AWS rules the emulator launcher enforces where ministack is lenient
(generator/deploy/ministack/strictness.py, and the duplicate-rule check of providers.py):
for each, the case AWS refuses and the case it accepts."""

from __future__ import annotations

import pytest
from e2e_support import apply_stack, delete_stack, failure_reasons, stack_outputs, stack_status

pytestmark = pytest.mark.e2e

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}],
}

# One named resource per type: (logical id, its resources), retained on delete.
NAMED = {
    "log-group": {
        "Res": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "Properties": {"LogGroupName": "/strict/log-group"},
        }
    },
    "ecr": {
        "Res": {
            "Type": "AWS::ECR::Repository",
            "DeletionPolicy": "Retain",
            "Properties": {"RepositoryName": "strict/repo"},
        }
    },
    "secret": {
        "Res": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "Properties": {"Name": "strict/secret", "SecretString": "s"},
        }
    },
    "ssm": {
        "Res": {
            "Type": "AWS::SSM::Parameter",
            "DeletionPolicy": "Retain",
            "Properties": {"Name": "/strict/param", "Type": "String", "Value": "v"},
        }
    },
    "s3": {
        "Res": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "Properties": {"BucketName": "strict-bucket-000000000000"},
        }
    },
    "ecs-cluster": {
        "Res": {
            "Type": "AWS::ECS::Cluster",
            "DeletionPolicy": "Retain",
            "Properties": {"ClusterName": "strict-cluster"},
        }
    },
    "iam-role": {
        "Res": {
            "Type": "AWS::IAM::Role",
            "DeletionPolicy": "Retain",
            "Properties": {"RoleName": "strict-role", "AssumeRolePolicyDocument": ROLE_POLICY},
        }
    },
    "kms-alias": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "Res": {
            "Type": "AWS::KMS::Alias",
            "DeletionPolicy": "Retain",
            "Properties": {"AliasName": "alias/strict", "TargetKeyId": {"Ref": "Key"}},
        },
    },
}


@pytest.mark.parametrize("kind", sorted(NAMED))
def test_create_over_a_retained_name_fails_with_already_exists(aws, kind):
    """create -> delete (the resource is retained) -> create again: AlreadyExists, as on AWS;
    a second stack with another name for the resource passes."""
    cfn = aws("cloudformation")
    stack = f"strict-{kind}"
    assert apply_stack(cfn, stack, NAMED[kind]) == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    assert delete_stack(cfn, stack) is None
    assert apply_stack(cfn, stack, NAMED[kind]) == "ROLLBACK_COMPLETE"
    reasons = " ".join(failure_reasons(cfn, stack))
    # S3: ministack refuses it in CloudFormation's pre-deployment validation, whose event
    # text points at DescribeEvents; every other type fails its create.
    expected = "validation failed with 1 error" if kind == "s3" else "already exists"
    assert expected in reasons.lower(), reasons
    assert delete_stack(cfn, stack) is None
    renamed = {
        k: {
            **v,
            "Properties": {
                p: (
                    f"{x}-2"
                    if p
                    in ("LogGroupName", "RepositoryName", "Name", "BucketName", "ClusterName", "RoleName", "AliasName")
                    else x
                )
                for p, x in v["Properties"].items()
            },
        }
        for k, v in NAMED[kind].items()
    }
    assert apply_stack(cfn, stack, renamed) == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    assert delete_stack(cfn, stack) is None


def test_named_ecs_service_twice_fails(aws):
    cfn = aws("cloudformation")
    cluster = {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {"ContainerDefinitions": [{"Name": "app", "Image": "nginx", "Memory": 64}]},
        },
    }

    def service(name):
        return {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "ServiceName": name,
                "Cluster": {"Ref": "Cluster"},
                "DesiredCount": 0,
                "TaskDefinition": {"Ref": "Task"},
            },
        }

    assert apply_stack(cfn, "strict-svc", {**cluster, "A": service("a"), "B": service("b")}) == "CREATE_COMPLETE"
    assert (
        apply_stack(cfn, "strict-svc", {**cluster, "A": service("a"), "B": service("b"), "C": service("a")})
        == "UPDATE_ROLLBACK_COMPLETE"
    )
    assert delete_stack(cfn, "strict-svc") is None


@pytest.mark.parametrize("protected", [True, False], ids=["protected", "unprotected"])
def test_database_deletion_protection(aws, protected):
    cfn, rds = aws("cloudformation"), aws("rds")
    stack = f"strict-db-{protected}".lower()
    res = {
        "Db": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Delete",
            "Properties": {
                "Engine": "aurora-postgresql",
                "MasterUsername": "app",
                "MasterUserPassword": "strict-test-1",
                "DeletionProtection": protected,
            },
        }
    }
    assert apply_stack(cfn, stack, res, {"Db": {"Value": {"Ref": "Db"}}}) == "CREATE_COMPLETE"
    db = stack_outputs(cfn, stack)["Db"]
    if not protected:
        assert delete_stack(cfn, stack) is None
        assert db not in {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
        return
    assert delete_stack(cfn, stack) == "DELETE_FAILED"
    assert any("Cannot delete protected Cluster" in r for r in failure_reasons(cfn, stack))
    assert db in {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
    # turning protection off (as a user would) lets the delete through
    res["Db"]["Properties"]["DeletionProtection"] = False
    rds.modify_db_cluster(DBClusterIdentifier=db, DeletionProtection=False)
    assert delete_stack(cfn, stack) is None


def _lb(protected: bool) -> dict:
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.8.0.0/16"}},
        "A": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.1.0/24", "AvailabilityZone": "us-east-1a"},
        },
        "B": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.2.0/24", "AvailabilityZone": "us-east-1b"},
        },
        "Lb": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Subnets": [{"Ref": "A"}, {"Ref": "B"}],
                "LoadBalancerAttributes": [{"Key": "deletion_protection.enabled", "Value": str(protected).lower()}],
            },
        },
    }


@pytest.mark.parametrize("protected", [True, False], ids=["protected", "unprotected"])
def test_load_balancer_deletion_protection(aws, protected):
    cfn, elb = aws("cloudformation"), aws("elbv2")
    stack = f"strict-lb-{protected}".lower()
    assert apply_stack(cfn, stack, _lb(protected), {"Lb": {"Value": {"Ref": "Lb"}}}) == "CREATE_COMPLETE"
    lb = stack_outputs(cfn, stack)["Lb"]
    if not protected:
        assert delete_stack(cfn, stack) is None
        return
    assert delete_stack(cfn, stack) == "DELETE_FAILED"
    assert any("deletion protection is enabled" in r for r in failure_reasons(cfn, stack))
    assert elb.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    assert delete_stack(cfn, stack) is None


@pytest.mark.parametrize("policy", ["Snapshot", "Delete"])
def test_replaced_database_leaves_a_snapshot_only_when_asked(aws, policy):
    cfn, rds = aws("cloudformation"), aws("rds")
    stack = f"strict-replace-{policy}".lower()

    def res(name):
        return {
            "Db": {
                "Type": "AWS::RDS::DBCluster",
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": policy,
                "Properties": {
                    "Engine": "aurora-postgresql",
                    "MasterUsername": "app",
                    "MasterUserPassword": "strict-test-1",
                    "DatabaseName": name,
                },
            }
        }

    outputs = {"Db": {"Value": {"Ref": "Db"}}}
    assert apply_stack(cfn, stack, res("one"), outputs) == "CREATE_COMPLETE"
    old = stack_outputs(cfn, stack)["Db"]
    assert apply_stack(cfn, stack, res("two"), outputs) == "UPDATE_COMPLETE"  # replaces
    assert stack_outputs(cfn, stack)["Db"] != old
    snapshots = {s["DBClusterIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]}
    assert (old in snapshots) == (policy == "Snapshot")
    assert delete_stack(cfn, stack) is None


def test_container_secrets_reach_the_task_definition(aws):
    cfn, ecs = aws("cloudformation"), aws("ecs")
    res = {
        "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "x"}},
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": "256",
                "Memory": "512",
                "ContainerDefinitions": [
                    {
                        "Name": "app",
                        "Image": "nginx",
                        "Secrets": [{"Name": "DB_PASSWORD", "ValueFrom": {"Ref": "Secret"}}],
                        "Environment": [{"Name": "MODE", "Value": "x"}],
                        "HealthCheck": {"Command": ["CMD", "true"], "Interval": 30},
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {"awslogs-group": "g", "awslogs-stream-prefix": "app"},
                        },
                        "DockerLabels": {"Team": "platform"},
                    }
                ],
            },
        },
    }
    outputs = {"Task": {"Value": {"Ref": "Task"}}, "Secret": {"Value": {"Ref": "Secret"}}}
    assert apply_stack(cfn, "strict-secrets", res, outputs) == "CREATE_COMPLETE"
    out = stack_outputs(cfn, "strict-secrets")
    container = ecs.describe_task_definition(taskDefinition=out["Task"])["taskDefinition"]["containerDefinitions"][0]
    assert container["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": out["Secret"]}]
    assert container["environment"] == [{"name": "MODE", "value": "x"}]
    assert container["healthCheck"]["command"] == ["CMD", "true"]
    # user-defined keys keep their case
    assert container["logConfiguration"]["options"]["awslogs-stream-prefix"] == "app"
    assert container["dockerLabels"] == {"Team": "platform"}
    assert delete_stack(cfn, "strict-secrets") is None


def _service_behind(listener: bool) -> dict:
    res = {
        **_lb(False),
        "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "x", "VpcId": {"Ref": "Vpc"}}},
        "Tg": {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {"Port": 80, "Protocol": "HTTP", "TargetType": "ip", "VpcId": {"Ref": "Vpc"}},
        },
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": "256",
                "Memory": "512",
                "ContainerDefinitions": [{"Name": "app", "Image": "nginx", "PortMappings": [{"ContainerPort": 80}]}],
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
                    "AwsvpcConfiguration": {"Subnets": [{"Ref": "A"}], "SecurityGroups": [{"Ref": "Sg"}]}
                },
                "LoadBalancers": [{"ContainerName": "app", "ContainerPort": 80, "TargetGroupArn": {"Ref": "Tg"}}],
            },
        },
    }
    if listener:
        res["Listener"] = {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "Lb"},
                "Port": 80,
                "Protocol": "HTTP",
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}],
            },
        }
        res["Service"]["DependsOn"] = "Listener"
    return res


@pytest.mark.parametrize("listener", [True, False], ids=["with-listener", "no-listener"])
def test_service_needs_a_listener_on_its_target_group(aws, listener):
    cfn = aws("cloudformation")
    stack = f"strict-tg-{listener}".lower()
    status = apply_stack(cfn, stack, _service_behind(listener))
    if listener:
        assert status == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    else:
        assert status == "ROLLBACK_COMPLETE"
        assert any("does not have an associated load balancer" in r for r in failure_reasons(cfn, stack))
    assert delete_stack(cfn, stack) is None


@pytest.mark.parametrize("duplicate", [True, False], ids=["duplicate", "distinct"])
def test_duplicate_security_group_rule_fails(aws, duplicate):
    """Two SecurityGroupIngress resources declaring the same rule: the second fails with
    InvalidPermission.Duplicate on AWS; ministack's authorize call is idempotent."""
    cfn = aws("cloudformation")
    stack = f"strict-dup-{duplicate}".lower()

    def rule(cidr):
        return {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "CidrIp": cidr,
            },
        }

    res = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.7.0.0/16"}},
        "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "x", "VpcId": {"Ref": "Vpc"}}},
        "One": rule("10.1.0.0/16"),
        "Two": {**rule("10.1.0.0/16" if duplicate else "10.2.0.0/16"), "DependsOn": "One"},
    }
    status = apply_stack(cfn, stack, res)
    if duplicate:
        assert status == "ROLLBACK_COMPLETE"
        assert any("InvalidPermission.Duplicate" in r for r in failure_reasons(cfn, stack))
    else:
        assert status == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    assert delete_stack(cfn, stack) is None
    assert stack_status(cfn, stack) is None


def test_ref_of_a_secret_is_its_arn(aws):
    """CloudFormation documents Ref of AWS::SecretsManager::Secret as the secret's ARN;
    ministack returned its name."""
    cfn, sm = aws("cloudformation"), aws("secretsmanager")

    def res(description):
        return {
            "Secret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "strict/ref-secret", "Description": description, "SecretString": "s"},
            }
        }

    outputs = {"Ref": {"Value": {"Ref": "Secret"}}, "Arn": {"Value": {"Fn::GetAtt": ["Secret", "Id"]}}}
    assert apply_stack(cfn, "strict-secret-ref", res("one"), outputs) == "CREATE_COMPLETE"
    out = stack_outputs(cfn, "strict-secret-ref")
    assert out["Ref"].startswith("arn:aws:secretsmanager:us-east-1:") and ":secret:strict/ref-secret-" in out["Ref"]
    assert out["Ref"] == out["Arn"] == sm.describe_secret(SecretId=out["Ref"])["ARN"]
    assert apply_stack(cfn, "strict-secret-ref", res("two"), outputs) == "UPDATE_COMPLETE"
    assert stack_outputs(cfn, "strict-secret-ref")["Ref"] == out["Ref"]  # updated in place
    assert sm.describe_secret(SecretId=out["Ref"])["Description"] == "two"
    assert delete_stack(cfn, "strict-secret-ref") is None
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="strict/ref-secret")
