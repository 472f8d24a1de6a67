"""The deployability rules about values: strings YAML readers change, KMS on the data path,
and world-open ingress through parameters.  Each rule: a template set that passes and one
that fails, asserting the message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from generator import render
from generator.cfn import ERROR, load_dir
from generator.deployability import data_paths, ingress, roundtrip
from generator.deployability.base import Inputs
from generator.reach.datapaths import STORES
from generator.spec import load_spec
from tests.helpers import ROOT

Templates = dict[str, dict[str, Any]]


def task(env_value: Any) -> Templates:
    return {
        "main.yaml": {
            "Resources": {
                "WebTaskDefinition": {
                    "Type": "AWS::ECS::TaskDefinition",
                    "Properties": {
                        "ContainerDefinitions": [
                            {"Name": "web", "Image": "nginx", "Environment": [{"Name": "PORT", "Value": env_value}]}
                        ]
                    },
                }
            }
        }
    }


# ---- values that survive every YAML round trip -------------------------------------------------


@pytest.mark.parametrize("value", ["08000", "054676820928", "1e3", "0o17"])
def test_a_string_cloudformation_reads_as_a_number_is_refused(value: str) -> None:
    found = roundtrip.check(Inputs(task(value)))
    assert [(f.rule, f.resource, f.path, f.severity) for f in found] == [
        ("yaml-roundtrip", "WebTaskDefinition", "Properties.ContainerDefinitions[web].Environment[PORT].Value", ERROR)
    ]
    assert found[0].problem.startswith(
        f"main.yaml:WebTaskDefinition.Properties.ContainerDefinitions[web].Environment[PORT].Value is the string "
        f"{value!r}, which CloudFormation would read as a number; no YAML form of it survives aws cloudformation "
        "package"
    )
    assert "(AWS: YAML 1.2" in found[0].problem


@pytest.mark.parametrize("value", ["8000", "0123", "true", "arn:aws:iam::054676820928:root", 8000])
def test_a_value_that_survives_passes(value: Any) -> None:
    assert roundtrip.check(Inputs(task(value))) == []


def test_keys_and_other_sections_are_read_too() -> None:
    t = {"main.yaml": {"Mappings": {"ElbLogDelivery": {"eu-central-1": {"Account": "054676820928"}}}, "Resources": {}}}
    found = roundtrip.check(Inputs(t))
    assert [f.problem.split(" is the string")[0] for f in found] == [
        "main.yaml:Mappings.ElbLogDelivery.eu-central-1.Account"
    ]


def test_committed_templates_hold_no_such_value() -> None:
    for platform in ("mcp-gateway", "bff-agentcore", "scheduled-file-writer"):
        assert roundtrip.check(Inputs(load_dir(ROOT / "templates" / platform))) == []


# ---- KMS on the data path ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bff() -> Templates:
    return render.synthesize(load_spec(ROOT / "platforms" / "bff-agentcore.yaml"))


def _statements(t: Templates, role: str) -> list[dict[str, Any]]:
    # bff's services use the database: their roles are in the group database's IAM stack.
    return t["iam-database.yaml"]["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _drop_kms(t: Templates, role: str) -> Templates:
    t = copy.deepcopy(t)
    stmts = _statements(t, role)
    stmts[:] = [s for s in stmts if not any(str(a).startswith("kms:") for a in s["Action"])]
    return t


def test_a_writer_without_the_key_is_caught(bff: Templates) -> None:
    found = data_paths.check(Inputs(_drop_kms(bff, "AgentcoreTaskRole")))
    assert [(f.rule, f.resource) for f in found] == [("kms-data-path", "AgentcoreTaskRole")] * 2
    get, put = sorted(found, key=lambda f: "PutObject" in f.problem)
    assert put.problem.startswith(
        "iam-database.yaml:AgentcoreTaskRole (the task role of service agentcore) allows s3:PutObject on bucket "
        "storage.yaml:AgentDataBucket, which is encrypted with arn:aws:kms:<region>:<account>:key/<PlatformKey>, but "
        "not kms:Decrypt, kms:GenerateDataKey on that key: the call is denied at run time (AWS: s3:PutObject on a "
        "store encrypted with a customer managed key needs kms:Decrypt, kms:GenerateDataKey on the key, "
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"
    )
    assert "allows s3:GetObject" in get.problem and "but not kms:Decrypt on that key" in get.problem


def test_only_the_missing_action_is_named(bff: Templates) -> None:
    t = _drop_kms(bff, "AgentcoreTaskRole")
    _statements(t, "AgentcoreTaskRole").append(
        {"Sid": "Read", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [{"Ref": "KmsKeyArn"}]}
    )
    found = data_paths.check(Inputs(t))
    assert len(found) == 1 and "allows s3:PutObject" in found[0].problem
    assert "but not kms:GenerateDataKey on that key" in found[0].problem


def test_a_role_with_the_key_passes_and_one_without_the_store_is_not_a_path(bff: Templates) -> None:
    assert data_paths.check(Inputs(bff)) == []
    t = _drop_kms(bff, "AgentcoreTaskRole")
    stmts = _statements(t, "AgentcoreTaskRole")
    stmts[:] = [s for s in stmts if not str(s.get("Sid", "")).startswith("AgentData")]
    assert data_paths.check(Inputs(t)) == []


def test_a_bucket_without_a_customer_key_needs_nothing(bff: Templates) -> None:
    t = _drop_kms(bff, "AgentcoreTaskRole")
    enc = t["storage.yaml"]["Resources"]["AgentDataBucket"]["Properties"]["BucketEncryption"]
    enc["ServerSideEncryptionConfiguration"] = [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert data_paths.check(Inputs(t)) == []


def test_every_store_row_names_its_source() -> None:
    for rtype, store in STORES.items():
        assert store.sources and all(s.startswith("https://docs.aws.amazon.com/") for s in store.sources), rtype
        assert all(a.startswith("kms:") for acts in store.actions.values() for a in acts), rtype
    assert STORES["AWS::S3::Bucket"].actions["s3:GetObject"] == ("kms:Decrypt",)
    assert "kms:GenerateDataKey" in STORES["AWS::S3::Bucket"].actions["s3:PutObject"]


# ---- world-open ingress through parameters ---------------------------------------------------------


def ingress_set(port: int, default: str, *, ipv6: bool = False) -> Templates:
    """A parent feeding its CIDR list parameter, joined, to a child security group that
    takes the first item: the shape of IngressCidrBlocks."""
    key = "CidrIpv6" if ipv6 else "CidrIp"
    return {
        "main.yaml": {
            "Parameters": {"IngressCidrBlocks": {"Type": "CommaDelimitedList", "Default": default}},
            "Resources": {
                "SecurityGroupsStack": {
                    "Type": "AWS::CloudFormation::Stack",
                    "Properties": {
                        "TemplateURL": "./security-groups.yaml",
                        "Parameters": {"IngressCidrBlocks": {"Fn::Join": [",", {"Ref": "IngressCidrBlocks"}]}},
                    },
                }
            },
        },
        "security-groups.yaml": {
            "Parameters": {"IngressCidrBlocks": {"Type": "CommaDelimitedList"}},
            "Resources": {
                "WebLoadBalancerSecurityGroup": {
                    "Type": "AWS::EC2::SecurityGroup",
                    "Properties": {
                        "GroupDescription": "lb",
                        "SecurityGroupIngress": [
                            {
                                "IpProtocol": "tcp",
                                "FromPort": port,
                                "ToPort": port,
                                key: {"Fn::Select": [0, {"Ref": "IngressCidrBlocks"}]},
                            }
                        ],
                    },
                }
            },
        },
    }


@pytest.mark.parametrize(
    ("port", "default", "ipv6", "opens"),
    [
        (8080, "0.0.0.0/0", False, "0.0.0.0/0 on tcp/8080"),
        (8080, "10.0.0.0/8,0.0.0.0/0", False, None),  # only the first item is selected
        (22, "::/0", True, "::/0 on tcp/22"),
        (443, "0.0.0.0/0", False, None),
        (80, "0.0.0.0/0", False, None),
        (8080, "203.0.113.0/24", False, None),
    ],
)
def test_a_parameter_default_is_evaluated_across_the_boundary(
    port: int, default: str, ipv6: bool, opens: str | None
) -> None:
    found = ingress.check(Inputs(ingress_set(port, default, ipv6=ipv6)))
    if opens is None:
        assert found == []
    else:
        assert [f.problem.split(" (AWS: ")[0] for f in found] == [
            f"security-groups.yaml:WebLoadBalancerSecurityGroup admits {opens} under the parameter defaults"
        ]
        assert "Security Hub EC2.18" in found[0].problem and found[0].path == f"port {port}"


def test_a_parameters_file_value_is_evaluated_too() -> None:
    t = ingress_set(8080, "10.0.0.0/8")
    assert ingress.check(Inputs(t)) == []
    found = ingress.check(
        Inputs(
            t,
            parameter_sets={
                "parameters/web/prod.json": {"IngressCidrBlocks": "0.0.0.0/0"},
                "parameters/web/dev.json": {"IngressCidrBlocks": "10.1.0.0/16"},
            },
        )
    )
    assert [f.problem.split(" (AWS: ")[0] for f in found] == [
        "security-groups.yaml:WebLoadBalancerSecurityGroup admits 0.0.0.0/0 on tcp/8080 under parameters/web/prod.json"
    ]


def test_all_traffic_and_port_ranges_are_not_authorized() -> None:
    t = ingress_set(80, "0.0.0.0/0")
    rule = t["security-groups.yaml"]["Resources"]["WebLoadBalancerSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    rule[0].update({"FromPort": 80, "ToPort": 443})
    assert "0.0.0.0/0 on tcp/80-443" in ingress.check(Inputs(t))[0].problem
    rule[0].update({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1})
    assert "0.0.0.0/0 on all traffic" in ingress.check(Inputs(t))[0].problem


def test_a_separate_ingress_resource_and_a_literal_are_read() -> None:
    t = ingress_set(443, "0.0.0.0/0")
    t["security-groups.yaml"]["Resources"]["Admin"] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {
            "GroupId": {"Fn::GetAtt": ["WebLoadBalancerSecurityGroup", "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": 9090,
            "ToPort": 9090,
            "CidrIp": "0.0.0.0/0",
        },
    }
    found = ingress.check(Inputs(t))
    assert len(found) == 1 and "0.0.0.0/0 on tcp/9090" in found[0].problem


# ---- the grant is judged in the context of the KMS call the store makes ---------------------------

EXEC_ONLY = {"StringLike": {"kms:EncryptionContext:aws:ssm:TargetId": {"Fn::Sub": "ecs:main_*"}}}


def _bucket_key_grant(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": "AgentDataKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": [{"Ref": "KmsKeyArn"}],
        "Condition": condition,
    }


def _via_s3(bucket_arn: Any) -> dict[str, Any]:
    return {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}},
        "ArnLike": {"kms:EncryptionContext:aws:s3:arn": bucket_arn},
    }


def test_an_ecs_exec_key_grant_does_not_serve_a_data_path(bff: Templates) -> None:
    """The session-key grant, conditioned on ECS Exec's encryption context, was what let the
    agentcore role write its bucket: granted by accident. Judged in S3's context, it does not."""
    t = _drop_kms(bff, "AgentcoreTaskRole")
    stmts = _statements(t, "AgentcoreTaskRole")
    stmts.append({**_bucket_key_grant(EXEC_ONLY), "Sid": "EcsExecSessionKey"})
    found = data_paths.check(Inputs(t))
    assert len(found) == 2 and all("but not kms:" in f.problem for f in found)
    stmts.append(_bucket_key_grant(_via_s3([{"Ref": "AgentDataBucketArn"}, {"Fn::Sub": "${AgentDataBucketArn}/*"}])))
    assert data_paths.check(Inputs(t)) == []


@pytest.mark.parametrize(
    ("condition", "serves"),
    [
        (_via_s3({"Ref": "AgentDataBucketArn"}), True),  # a Bucket Key: the context is the bucket's ARN
        (_via_s3("arn:aws:s3:::another-bucket"), False),
        ({"StringEquals": {"kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}}}, False),
        ({"StringEqualsIfExists": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}, False),
        ({"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, True),  # a key the check does not model: not decided here
        ({"StringEquals": {"aws:PrincipalTag/team": "data"}}, True),
    ],
)
def test_conditions_on_the_key_grant(bff: Templates, condition: dict[str, Any], serves: bool) -> None:
    t = _drop_kms(bff, "AgentcoreTaskRole")
    _statements(t, "AgentcoreTaskRole").append(_bucket_key_grant(condition))
    assert (data_paths.check(Inputs(t)) == []) is serves


def test_without_a_bucket_key_the_context_is_the_object() -> None:
    from generator.reach.datapaths import STORES as stores

    s3 = stores["AWS::S3::Bucket"]
    enc: dict[str, Any] = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}
            ]
        }
    }
    assert s3.context(enc, "arn:aws:s3:::b") == {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b/object"}
    enc["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["BucketKeyEnabled"] = True
    assert s3.context(enc, "arn:aws:s3:::b") == {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b"}
