"""Static reachability preflight (generator.preflight): one test per failure class.

Each test breaks a template set in one specific way and asserts the exact message.
The NAT platform is the MCP platform as generated.  The endpoints-only platform is
the MCP platform converted in memory (no NAT, interface endpoints, S3 prefix-list
egress, images in ECR): ``endpoint_mode`` below, until the generator's vpc-endpoints
mode gives a platform of its own.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from generator import preflight, render
from generator.preflight import ERROR, WARNING, Finding
from generator.spec import load_spec
from tests.helpers import PLATFORMS, ROOT

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "ssmmessages", "kms")
Templates = dict[str, dict[str, Any]]


# --------------------------------------------------------------------------- fixtures


def res(t: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t.get("Resources", {}).items() if v["Type"] == type_}


def endpoint_service(r: dict[str, Any]) -> str:
    name = r["Properties"]["ServiceName"]
    text = name["Fn::Sub"] if isinstance(name, dict) else name
    return text.split("}.", 1)[1] if "}." in text else text.split(".", 3)[3]


def endpoint_mode(templates: Templates) -> Templates:
    """The MCP templates without NAT: interface endpoints for what tasks use, task SG
    egress 443 to the S3 prefix list instead of 0.0.0.0/0, images mirrored to ECR."""
    t = copy.deepcopy(templates)
    net = t["network.yaml"]
    rs = net["Resources"]
    for lid, r in list(rs.items()):
        if r["Type"] in ("AWS::EC2::NatGateway", "AWS::EC2::EIP") or (
            r["Type"] == "AWS::EC2::Route" and "NatGatewayId" in r["Properties"]
        ):
            del rs[lid]
    interface = {
        lid: r
        for lid, r in res(net, "AWS::EC2::VPCEndpoint").items()
        if r["Properties"].get("VpcEndpointType") == "Interface"
    }
    model = next(iter(interface.values()))
    have = {endpoint_service(r) for r in interface.values()}
    for svc in ENDPOINTS:
        if svc not in have:
            e = copy.deepcopy(model)
            e["Properties"]["ServiceName"] = {"Fn::Sub": "com.amazonaws.${AWS::Region}." + svc}
            rs["".join(p.capitalize() for p in svc.split(".")) + "Endpoint"] = e
    for lid, r in res(t["security-groups.yaml"], "AWS::EC2::SecurityGroup").items():
        if not lid.endswith("ServiceSecurityGroup"):
            continue
        eg = r["Properties"]["SecurityGroupEgress"]
        eg[:] = [x for x in eg if not (x.get("CidrIp") == "0.0.0.0/0" and x.get("FromPort") == 443)]
        if not any("DestinationPrefixListId" in x for x in eg):
            eg.append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "DestinationPrefixListId": "pl-63a5400a",
                    "Description": "HTTPS to S3 (ECR image layers) through the gateway endpoint",
                }
            )
    for p in t["main.yaml"]["Parameters"].values():
        m = re.match(r"Container image URI of ([a-z0-9-]+)", p.get("Description", ""))
        if m:
            p["Default"] = f"{ECR}/mcp-gateway/{m.group(1)}:v1"
    return t


@pytest.fixture(scope="module")
def endpoints_base(mcp_templates: Templates) -> Templates:
    return endpoint_mode(mcp_templates)


@pytest.fixture
def nat(mcp_templates: Templates) -> Templates:
    return copy.deepcopy(mcp_templates)


@pytest.fixture
def endpoints(endpoints_base: Templates) -> Templates:
    return copy.deepcopy(endpoints_base)


def messages(templates: Templates, service: str | None = None, severity: str = ERROR) -> list[str]:
    return [
        f.problem
        for f in preflight.run(templates)
        if f.severity == severity and (service is None or f.where == service)
    ]


def errors(templates: Templates) -> list[Finding]:
    return [f for f in preflight.run(templates) if f.severity == ERROR]


def role_of(templates: Templates, role: str) -> dict[str, Any]:
    """A role, in whichever service group's IAM stack holds it (generator.placement)."""
    return next(
        t["Resources"][role] for f, t in sorted(templates.items()) if f.startswith("iam") and role in t["Resources"]
    )


def statement(templates: Templates, role: str, sid: str) -> dict[str, Any]:
    doc = role_of(templates, role)["Properties"]["Policies"][0]["PolicyDocument"]
    return next(s for s in doc["Statement"] if s.get("Sid") == sid)


# --------------------------------------------------------------------------- good platforms


def test_mcp_platform_with_nat_passes(nat: Templates) -> None:
    assert preflight.run(nat) == []


def test_endpoints_only_platform_passes(endpoints: Templates) -> None:
    assert preflight.run(endpoints) == []
    # ... and it really is NAT-free: no NAT gateway, no default route from a private route table.
    assert not res(endpoints["network.yaml"], "AWS::EC2::NatGateway")


def test_the_proof_names_the_path_of_each_need(endpoints: Templates, nat: Templates) -> None:
    pf = preflight.Preflight(endpoints)
    pf.run()
    assert pf.proofs["service registry"] == [
        "ecr.api, ecr.dkr, logs, secretsmanager, ssmmessages (ECS Exec), kms (ECS Exec session key) via interface "
        "endpoints with private DNS (security group EndpointSecurityGroup)",
        "s3 (image layers) via S3 gateway endpoint S3GatewayEndpoint",
    ]
    pf = preflight.Preflight(nat)
    pf.run()
    assert pf.proofs["service keycloak"] == [
        "s3 (image layers) via S3 gateway endpoint S3GatewayEndpoint",
        "ecr.api, ecr.dkr, logs, secretsmanager, ssm, ssmmessages (ECS Exec), kms (ECS Exec session key) via "
        "NAT gateway NatGatewayAz1, NAT gateway NatGatewayAz2, NAT gateway NatGatewayAz3",
    ]
    assert pf.task_count == 8


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_every_platform_passes(spec_path: Path) -> None:
    assert errors(render.synthesize(load_spec(spec_path))) == []


WRITER = ROOT / "platforms" / "scheduled-file-writer.yaml"
needs_writer = pytest.mark.skipif(not WRITER.exists(), reason="no scheduled-file-writer platform yet")


@pytest.fixture(scope="module")
def writer_base() -> Templates:
    return render.synthesize(load_spec(WRITER))


@pytest.fixture
def writer(writer_base: Templates) -> Templates:
    return copy.deepcopy(writer_base)


def schedule_label(t: Templates) -> str:
    [lid] = res(t["services.yaml"], "AWS::Scheduler::Schedule")
    return f"schedule {lid}"


@needs_writer
def test_writer_platform_is_endpoints_only_and_passes(writer: Templates) -> None:
    assert not res(writer["network.yaml"], "AWS::EC2::NatGateway")
    pf = preflight.Preflight(writer)
    assert pf.run() == []
    assert pf.task_count == 1
    assert pf.proofs[schedule_label(writer)][-1] == "s3 (image layers) via S3 gateway endpoint S3GatewayEndpoint"


@needs_writer
def test_writer_without_the_s3_endpoint(writer: Templates) -> None:
    [gw] = [
        lid
        for lid, r in res(writer["network.yaml"], "AWS::EC2::VPCEndpoint").items()
        if r["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
    ]
    del writer["network.yaml"]["Resources"][gw]
    assert messages(writer) == [
        f"{schedule_label(writer)}: no route to s3 (image layers): private subnets have no NAT and no "
        "com.amazonaws.<region>.s3 gateway endpoint on their route tables"
    ]


@needs_writer
def test_writer_without_the_endpoint_sg_rule(writer: Templates) -> None:
    rs = writer["security-groups.yaml"]["Resources"]
    [lid] = [
        lid
        for lid, r in res(writer["security-groups.yaml"], "AWS::EC2::SecurityGroupIngress").items()
        if r["Properties"]["GroupId"] == {"Ref": "EndpointSecurityGroupId"}
    ]
    task_sg = rs[lid]["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
    del rs[lid]
    assert messages(writer) == [
        f"{schedule_label(writer)}: endpoint security group EndpointSecurityGroup does not admit tcp/443 from task "
        f"security group {task_sg} (ecr.api, ecr.dkr, logs, secretsmanager, ssm)"
    ]


@needs_writer
def test_writer_without_batch_get_image(writer: Templates) -> None:
    [role] = [lid for lid in res(writer["iam.yaml"], "AWS::IAM::Role") if lid.endswith("ExecutionRole")]
    statement(writer, role, "EcrPull")["Action"].remove("ecr:BatchGetImage")
    assert messages(writer) == [
        f"{schedule_label(writer)}: execution role {role} does not allow ecr:BatchGetImage on "
        "arn:aws:ecr:<region>:<account>:repository/scheduled-file-writer-dev-5eed0000/writer, needed for the image pull"
    ]


# --------------------------------------------------------------------------- the four required failure classes


def test_removing_the_s3_endpoint(endpoints: Templates) -> None:
    del endpoints["network.yaml"]["Resources"]["S3GatewayEndpoint"]
    assert messages(endpoints, "registry") == [
        "service registry: no route to s3 (image layers): private subnets have no NAT and no "
        "com.amazonaws.<region>.s3 gateway endpoint on their route tables"
    ]
    assert len(errors(endpoints)) == 8  # every task pulls from ECR


def test_dropping_the_endpoint_sg_rule(endpoints: Templates) -> None:
    rs = endpoints["security-groups.yaml"]["Resources"]
    [rule] = [
        lid
        for lid, r in res(endpoints["security-groups.yaml"], "AWS::EC2::SecurityGroupIngress").items()
        if r["Properties"]["GroupId"] == {"Ref": "EndpointSecurityGroupId"}
        and r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0] == "RegistryServiceSecurityGroup"
    ]
    del rs[rule]
    assert messages(endpoints) == [
        "service registry: endpoint security group EndpointSecurityGroup does not admit tcp/443 from task security "
        "group RegistryServiceSecurityGroup (ecr.api, ecr.dkr, logs, secretsmanager)"
    ]
    assert messages(endpoints, severity=WARNING) == [
        "service registry: endpoint security group EndpointSecurityGroup does not admit tcp/443 from task security "
        "group RegistryServiceSecurityGroup (ssmmessages (ECS Exec), kms (ECS Exec session key))"
    ]


def test_removing_a_nat_route(nat: Templates) -> None:
    del nat["network.yaml"]["Resources"]["PrivateDefaultRouteAz2"]
    assert messages(nat, "registry") == [
        "service registry: no route to docker.io (image mcpgateway/registry:latest), logs, secretsmanager from "
        "subnet PrivateSubnetAz2: route table PrivateRouteTableAz2 has no 0.0.0.0/0 route to a NAT gateway, and the "
        "VPC has no endpoint for logs, secretsmanager (docker.io has no VPC endpoint: mirror the image to ECR or "
        "route through a NAT)"
    ]
    assert messages(nat, "keycloak") == [
        "service keycloak: no route to ecr.api, ecr.dkr, logs, secretsmanager, ssm from subnet PrivateSubnetAz2: "
        "route table PrivateRouteTableAz2 has no 0.0.0.0/0 route to a NAT gateway, and the VPC has no endpoint for "
        "any of them"
    ]
    assert {f.where for f in errors(nat)} == {
        "auth",
        "currenttime",
        "flight-booking-agent",
        "keycloak",
        "mcpgw",
        "realserverfaketools",
        "registry",
        "travel-assistant-agent",
    }


def test_dropping_ecr_batch_get_image(nat: Templates) -> None:
    statement(nat, "KeycloakExecutionRole", "EcrPull")["Action"].remove("ecr:BatchGetImage")
    assert messages(nat) == [
        "service keycloak: execution role KeycloakExecutionRole does not allow ecr:BatchGetImage on "
        "arn:aws:ecr:<region>:<account>:repository/mcp-gateway-dev-5eed0000/keycloak, needed for the image pull"
    ]


# --------------------------------------------------------------------------- more routes


def test_the_issue_example_message(endpoints: Templates) -> None:
    del endpoints["network.yaml"]["Resources"]["EcrDkrEndpoint"]
    assert messages(endpoints, "registry") == [
        "service registry: no route to ecr.dkr: private subnets have no NAT and no com.amazonaws.<region>.ecr.dkr "
        "endpoint"
    ]


def test_no_nat_at_all_and_public_images(nat: Templates) -> None:
    for i in (1, 2, 3):
        del nat["network.yaml"]["Resources"][f"PrivateDefaultRouteAz{i}"]
    assert messages(nat, "registry") == [
        "service registry: no route to docker.io (image mcpgateway/registry:latest), logs, secretsmanager: private "
        "subnets have no NAT and no VPC endpoints for logs, secretsmanager (docker.io has no VPC endpoint: mirror "
        "the image to ECR or route through a NAT)"
    ]


def test_public_images_cannot_use_endpoints(endpoints: Templates) -> None:
    endpoints["main.yaml"]["Parameters"]["RegistryImageUri"]["Default"] = "ghcr.io/acme/registry:1"
    assert messages(endpoints) == [
        "service registry: no route to ghcr.io (image ghcr.io/acme/registry:1): private subnets have no NAT "
        "(ghcr.io has no VPC endpoint: mirror the image to ECR or route through a NAT)"
    ]


def test_nat_in_a_subnet_without_internet_route(nat: Templates) -> None:
    del nat["network.yaml"]["Resources"]["PublicDefaultRoute"]
    found = messages(nat, "keycloak")
    assert found[1] == (
        "service keycloak: no route to ecr.api, ecr.dkr, logs, secretsmanager, ssm from subnet PrivateSubnetAz2: "
        "route table PrivateRouteTableAz2 sends 0.0.0.0/0 to NAT gateway NatGatewayAz2, but the NAT's subnet "
        "PublicSubnetAz2 has no 0.0.0.0/0 route to an internet gateway"
    )
    assert len(found) == 3


def test_route_to_a_missing_nat_gateway(nat: Templates) -> None:
    del nat["network.yaml"]["Resources"]["NatGatewayAz3"]
    assert messages(nat, "keycloak") == [
        "service keycloak: no route to ecr.api, ecr.dkr, logs, secretsmanager, ssm from subnet PrivateSubnetAz3: "
        "route table PrivateRouteTableAz3 sends 0.0.0.0/0 to a NAT gateway that is not in the template set "
        "(network.yaml:NatGatewayAz3)"
    ]


def test_private_nat_gateway_has_no_internet(nat: Templates) -> None:
    nat["network.yaml"]["Resources"]["NatGatewayAz1"]["Properties"]["ConnectivityType"] = "private"
    assert messages(nat, "keycloak") == [
        "service keycloak: no route to ecr.api, ecr.dkr, logs, secretsmanager, ssm from subnet PrivateSubnetAz1: "
        "route table PrivateRouteTableAz1 sends 0.0.0.0/0 to NAT gateway NatGatewayAz1, which is a private NAT "
        "gateway (no internet access)"
    ]


def test_subnet_without_route_table_association(nat: Templates) -> None:
    del nat["network.yaml"]["Resources"]["PrivateSubnetAz1RouteTableAssociation"]
    assert messages(nat, "keycloak") == [
        "service keycloak: no route to ecr.api, ecr.dkr, s3 (image layers), logs, secretsmanager, ssm from subnet "
        "PrivateSubnetAz1: the subnet has no route table association (the VPC main route table has only the local "
        "route), and the VPC has no endpoint for any of them"
    ]


def public_ip_mode(t: Templates, assign: str) -> Templates:
    for i in (1, 2, 3):
        del t["network.yaml"]["Resources"][f"PrivateDefaultRouteAz{i}"]
    for stack in ("ServicesStack", "ServicesDatabaseStack"):  # keycloak uses the database: its group's stack
        t["main.yaml"]["Resources"][stack]["Properties"]["Parameters"]["PrivateSubnetIds"] = {
            "Fn::GetAtt": ["NetworkStack", "Outputs.PublicSubnetIds"]
        }
    for f in ("services.yaml", "services-database.yaml"):
        for r in res(t[f], "AWS::ECS::Service").values():
            r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] = assign
    return t


def test_public_ip_mode_passes(nat: Templates) -> None:
    t = public_ip_mode(nat, "ENABLED")
    assert errors(t) == []
    pf = preflight.Preflight(t)
    pf.run()
    assert pf.proofs["service registry"] == [
        "docker.io (image mcpgateway/registry:latest), logs, secretsmanager, ssmmessages (ECS Exec), kms (ECS Exec "
        "session key) via internet gateway InternetGateway"
    ]


def test_internet_gateway_without_public_ip(nat: Templates) -> None:
    t = public_ip_mode(nat, "DISABLED")
    assert messages(t, "registry") == [
        "service registry: no route to docker.io (image mcpgateway/registry:latest), logs, secretsmanager: route "
        "table PublicRouteTable sends 0.0.0.0/0 to internet gateway InternetGateway but AssignPublicIp is DISABLED; "
        "enable AssignPublicIp (public-ip mode) or route through a NAT or VPC endpoints (docker.io has no VPC "
        "endpoint: mirror the image to ECR or route through a NAT)"
    ]


def test_endpoint_without_private_dns_is_bypassed(endpoints: Templates) -> None:
    endpoints["network.yaml"]["Resources"]["LogsEndpoint"]["Properties"]["PrivateDnsEnabled"] = False
    assert messages(endpoints, "registry") == [
        "service registry: no route to logs: private subnets have no NAT and no com.amazonaws.<region>.logs endpoint"
    ]
    assert messages(endpoints, "", WARNING) == [
        "endpoint LogsEndpoint: com.amazonaws.<region>.logs has PrivateDnsEnabled false; tasks resolve the public "
        "name and do not use it"
    ]


def test_endpoint_whose_condition_is_false_does_not_count(endpoints: Templates) -> None:
    net = endpoints["network.yaml"]
    net.setdefault("Conditions", {})["Never"] = {"Fn::Equals": ["a", "b"]}
    net["Resources"]["EcrApiEndpoint"]["Condition"] = "Never"
    assert messages(endpoints, "registry") == [
        "service registry: no route to ecr.api: private subnets have no NAT and no com.amazonaws.<region>.ecr.api "
        "endpoint"
    ]


def test_vpc_without_dns_hostnames(endpoints: Templates) -> None:
    endpoints["network.yaml"]["Resources"]["Vpc"]["Properties"]["EnableDnsHostnames"] = False
    assert messages(endpoints, "") == [
        "vpc Vpc: EnableDnsHostnames must be true for the private DNS names of interface endpoints; tasks would "
        "resolve the public service names and time out"
    ]


def test_environment_dependent_routes_are_checked_per_environment(nat: Templates, capsys) -> None:
    net = nat["network.yaml"]
    net.setdefault("Conditions", {})["IsProd"] = {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    for i in (1, 2, 3):
        net["Resources"][f"PrivateDefaultRouteAz{i}"]["Condition"] = "IsProd"
    assert preflight.environments(nat) == ["dev", "test", "prod"]
    assert messages(nat, "keycloak") == [
        "environment dev, test: service keycloak: no route to ecr.api, ecr.dkr, logs, secretsmanager, ssm: private "
        "subnets have no NAT and no VPC endpoints for them"
    ]
    assert preflight.check(nat, ["prod"])[0] == []


def test_policy_left_out_with_novalue_is_the_default_full_access(endpoints: Templates) -> None:
    net = endpoints["network.yaml"]
    net.setdefault("Conditions", {})["IsProd"] = {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    narrow = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::my-bucket/*"}
        ]
    }
    net["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"] = {
        "Fn::If": ["IsProd", narrow, {"Ref": "AWS::NoValue"}]
    }
    assert messages(endpoints, "registry") == [
        "environment prod: service registry: the policy of S3 gateway endpoint S3GatewayEndpoint does not allow "
        "s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/* (image layers)"
    ]


# --------------------------------------------------------------------------- security groups


def test_task_egress_to_the_endpoint_sg_missing(endpoints: Templates) -> None:
    rs = endpoints["security-groups.yaml"]["Resources"]
    del rs["AuthServiceToEndpointsEgress"]
    assert messages(endpoints) == [
        "service auth: task security group AuthServiceSecurityGroup has no egress rule allowing tcp/443 to endpoint "
        "security group EndpointSecurityGroup (ecr.api, ecr.dkr, logs, secretsmanager)"
    ]


def test_task_egress_to_the_s3_prefix_list_missing(endpoints: Templates) -> None:
    eg = endpoints["security-groups.yaml"]["Resources"]["AuthServiceSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    eg[:] = [x for x in eg if "DestinationPrefixListId" not in x]
    assert messages(endpoints) == [
        "service auth: task security group AuthServiceSecurityGroup has no egress rule allowing tcp/443 to the S3 "
        "prefix list (image layers through the S3 gateway endpoint S3GatewayEndpoint)"
    ]


def test_task_egress_to_the_internet_missing(nat: Templates) -> None:
    eg = nat["security-groups.yaml"]["Resources"]["AuthServiceSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    eg[:] = [x for x in eg if not (x.get("CidrIp") == "0.0.0.0/0" and x.get("FromPort") == 443)]
    assert messages(nat) == [
        "service auth: task security group AuthServiceSecurityGroup has no egress rule allowing tcp/443 to 0.0.0.0/0 "
        "(docker.io (image mcpgateway/auth-server:latest), logs, secretsmanager through the NAT gateway)"
    ]


def test_security_group_without_egress_property_allows_all(nat: Templates) -> None:
    """EC2 adds allow-all egress when the template gives no SecurityGroupEgress."""
    del nat["security-groups.yaml"]["Resources"]["AuthServiceSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert errors(nat) == []


def test_endpoint_sg_admitting_the_vpc_cidr_is_enough(endpoints: Templates) -> None:
    rs = endpoints["security-groups.yaml"]["Resources"]
    del rs["RegistryServiceToEndpointsIngress"]
    endpoints["network.yaml"]["Resources"]["EndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"] = [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": {"Ref": "VpcCidr"}}
    ]
    assert errors(endpoints) == []
    # ... but a CIDR that misses the task subnets is not.
    endpoints["network.yaml"]["Resources"]["EndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"][0][
        "CidrIp"
    ] = "10.0.48.0/24"
    assert len(messages(endpoints, "registry")) == 1


# --------------------------------------------------------------------------- IAM and endpoint policies


def test_secret_read_missing(nat: Templates) -> None:
    s = statement(nat, "McpgwExecutionRole", "SecretsRead")
    s["Resource"] = [r for r in s["Resource"] if r != {"Ref": "AdminPasswordSecretArn"}] or ["arn:aws:s3:::nothing"]
    assert messages(nat) == [
        "service mcpgw: execution role McpgwExecutionRole does not allow secretsmanager:GetSecretValue on "
        "arn:aws:secretsmanager:<region>:<account>:secret:AdminPasswordSecret-??????, needed for secret "
        "REGISTRY_PASSWORD"
    ]


def test_kms_decrypt_for_customer_key_secrets(nat: Templates) -> None:
    doc = nat["iam.yaml"]["Resources"]["McpgwExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "KmsDecrypt"]
    assert messages(nat) == [
        "service mcpgw: execution role McpgwExecutionRole does not allow kms:Decrypt on "
        "arn:aws:kms:<region>:<account>:key/<PlatformKey>, needed for secret REGISTRY_PASSWORD (encrypted with a "
        "customer managed key)"
    ]


def test_logs_permission_on_another_group_is_not_enough(nat: Templates) -> None:
    s = statement(nat, "AuthExecutionRole", "LogsWrite")
    s["Resource"] = [{"Fn::Sub": s["Resource"][0]["Fn::Sub"].replace("auth-server", "other")}]
    assert messages(nat) == [
        "service auth: execution role AuthExecutionRole does not allow logs:CreateLogStream, logs:PutLogEvents on "
        "arn:aws:logs:<region>:<account>:log-group:/ecs/mcp-gateway-dev-5eed0000/auth-server, needed for the awslogs "
        "log "
        "driver"
    ]


def test_deny_statement_wins(nat: Templates) -> None:
    doc = role_of(nat, "KeycloakExecutionRole")["Properties"]["Policies"][0]["PolicyDocument"]
    doc["Statement"].append({"Effect": "Deny", "Action": "ecr:*", "Resource": "*"})
    assert messages(nat) == [
        "service keycloak: execution role KeycloakExecutionRole does not allow ecr:GetAuthorizationToken on *, "
        "needed for the image pull",
        "service keycloak: execution role KeycloakExecutionRole does not allow ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer on arn:aws:ecr:<region>:<account>:repository/mcp-gateway-dev-5eed0000/keycloak, "
        "needed "
        "for the image pull",
    ]


def test_managed_execution_policy_is_understood(nat: Templates) -> None:
    role = role_of(nat, "KeycloakExecutionRole")["Properties"]
    doc = role["Policies"][0]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") not in ("EcrAuthToken", "EcrPull", "LogsWrite")]
    role["ManagedPolicyArns"] = [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
    ]
    assert errors(nat) == []
    role["ManagedPolicyArns"] = ["arn:aws:iam::123456789012:policy/custom-pull"]
    assert messages(nat)[0] == (
        "service keycloak: execution role KeycloakExecutionRole does not allow ecr:GetAuthorizationToken on *, "
        "needed for the image pull (managed policies not evaluated: custom-pull)"
    )


def test_s3_endpoint_policy_must_allow_the_layer_bucket(endpoints: Templates) -> None:
    ep = endpoints["network.yaml"]["Resources"]["S3GatewayEndpoint"]["Properties"]
    ep["PolicyDocument"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"},
            }
        ],
    }
    assert errors(endpoints) == []
    ep["PolicyDocument"]["Statement"][0]["Resource"] = "arn:aws:s3:::my-bucket/*"
    assert messages(endpoints, "registry") == [
        "service registry: the policy of S3 gateway endpoint S3GatewayEndpoint does not allow s3:GetObject on "
        "arn:aws:s3:::prod-<region>-starport-layer-bucket/* (image layers)"
    ]


def test_interface_endpoint_policy(endpoints: Templates) -> None:
    ep = endpoints["network.yaml"]["Resources"]["EcrApiEndpoint"]["Properties"]
    ep["PolicyDocument"] = {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:DescribeImages", "Resource": "*"}]
    }
    assert messages(endpoints, "registry") == [
        "service registry: the policy of interface endpoint EcrApiEndpoint does not allow ecr:GetAuthorizationToken "
        "on * (the image pull)"
    ]


# --------------------------------------------------------------------------- scheduled tasks and CLI


def add_schedules(t: Templates) -> None:
    rs = t["services.yaml"]["Resources"]
    net = {
        "Subnets": {"Ref": "PrivateSubnetIds"},
        "SecurityGroups": [{"Ref": "RegistryServiceSecurityGroupId"}],
        "AssignPublicIp": "DISABLED",
    }
    rs["NightlyRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": "nightly-export",
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "Targets": [
                {
                    "Id": "t",
                    "Arn": "arn:aws:ecs:::cluster/x",
                    "RoleArn": "arn:aws:iam::1:role/r",
                    "EcsParameters": {
                        "TaskDefinitionArn": {"Ref": "RegistryTaskDefinition"},
                        "NetworkConfiguration": {"AwsVpcConfiguration": net},
                    },
                }
            ],
        },
    }
    rs["HourlySchedule"] = {
        "Type": "AWS::Scheduler::Schedule",
        "Properties": {
            "Name": "hourly-writer",
            "ScheduleExpression": "rate(1 hour)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": "arn:aws:ecs:::cluster/x",
                "RoleArn": "arn:aws:iam::1:role/r",
                "EcsParameters": {
                    "TaskDefinitionArn": {"Ref": "RegistryTaskDefinition"},
                    "NetworkConfiguration": {"AwsvpcConfiguration": net},
                },
            },
        },
    }


def test_scheduled_tasks_are_checked(endpoints: Templates) -> None:
    add_schedules(endpoints)
    assert errors(endpoints) == []
    del endpoints["network.yaml"]["Resources"]["EcrDkrEndpoint"]
    found = [m for m in messages(endpoints) if "registry" in m or "nightly" in m or "hourly" in m]
    assert found == [
        "service registry: no route to ecr.dkr: private subnets have no NAT and no com.amazonaws.<region>.ecr.dkr "
        "endpoint",
        "scheduled task nightly-export: no route to ecr.dkr: private subnets have no NAT and no "
        "com.amazonaws.<region>.ecr.dkr endpoint",
        "schedule hourly-writer: no route to ecr.dkr: private subnets have no NAT and no "
        "com.amazonaws.<region>.ecr.dkr endpoint",
    ]


def write(templates: Templates, d: Path) -> Path:
    for name, t in templates.items():
        (d / name).write_text(render.to_yaml(t), encoding="utf-8")
    return d


def test_cli_templates_dir(endpoints: Templates, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(endpoints, tmp_path)
    assert preflight.main(["--templates", str(d)]) == 0
    assert capsys.readouterr().out.strip() == f"preflight passed: {d}/: 8 tasks, 0 errors, 0 warnings"
    (d / "network.yaml").write_text(
        (d / "network.yaml")
        .read_text()
        .replace("com.amazonaws.${AWS::Region}.ecr.dkr", "com.amazonaws.${AWS::Region}.ecr-dkr-typo")
    )
    assert preflight.main(["--templates", str(d)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (  # tasks in template-file order: keycloak's group database file first
        "error: service keycloak: no route to ecr.dkr: private subnets have no NAT and no "
        "com.amazonaws.<region>.ecr.dkr endpoint"
    )
    assert (
        "error: service auth: no route to ecr.dkr: private subnets have no NAT and no "
        "com.amazonaws.<region>.ecr.dkr endpoint"
    ) in out
    assert out[-1] == f"preflight FAILED: {d}/: 8 tasks, 8 errors, 0 warnings"


def test_cli_spec_and_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert preflight.main([str(ROOT / "platforms" / "mcp-gateway.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("mcp-gateway.yaml: 8 tasks, 0 errors, 0 warnings")
    assert preflight.main([]) == 2
    assert preflight.main([str(ROOT / "platforms" / "mcp-gateway.yaml"), "--templates", str(tmp_path)]) == 2
    assert preflight.main(["--templates", str(tmp_path / "missing")]) == 2
    assert preflight.main([str(ROOT / "platforms" / "mcp-gateway.yaml"), "--env", "staging"]) == 2
    assert preflight.main([str(ROOT / "platforms" / "mcp-gateway.yaml"), "--env", "prod"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: 1\n")
    assert preflight.main([str(bad)]) == 2
    with pytest.raises(SystemExit) as exc:
        preflight.main(["--help"])
    assert exc.value.code == 0
    assert "Exit 0: passes; 1: findings" in capsys.readouterr().out.replace("\n", " ")


def test_cli_refuses_a_template_with_a_duplicate_key(
    endpoints: Templates, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loader rejects what YAML would silently resolve to the last value (a bug fix of
    the kernel: the old loader kept the second ``ServiceName`` and checked a different set)."""
    d = write(endpoints, tmp_path)
    text = (d / "network.yaml").read_text()
    (d / "network.yaml").write_text(text.replace("Resources:\n", "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n", 1))
    assert preflight.main(["--templates", str(d)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"network\.yaml: line \d+: duplicate key 'Vpc' \(first on line \d+\)", err), err


# --------------------------------------------------------------------------- data paths


def test_a_data_path_needs_the_kms_actions_of_its_store() -> None:
    """A task role that writes a KMS-encrypted bucket but may not use the key: the task
    starts, the write is denied. The preflight proves data paths, not only the start."""
    t = render.synthesize(load_spec(ROOT / "platforms" / "bff-agentcore.yaml"))
    _findings, pf = preflight.check(t)
    assert [p for p in pf.proofs["service agentcore"] if "data path" in p] == [
        "the data path s3:GetObject on bucket AgentDataBucket, which is encrypted with PlatformKey: task role "
        "AgentcoreTaskRole allows kms:Decrypt on arn:aws:kms:<region>:<account>:key/<PlatformKey>",
        "the data path s3:PutObject on bucket AgentDataBucket, which is encrypted with PlatformKey: task role "
        "AgentcoreTaskRole allows kms:Decrypt, kms:GenerateDataKey on arn:aws:kms:<region>:<account>:key/<PlatformKey>",
    ]
    doc = role_of(t, "AgentcoreTaskRole")["Properties"]["Policies"][0]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if "kms:GenerateDataKey" not in s["Action"]]
    assert messages(t) == [
        "service agentcore: task role AgentcoreTaskRole does not allow kms:Decrypt on "
        "arn:aws:kms:<region>:<account>:key/<PlatformKey>, needed for the data path s3:GetObject on bucket "
        "AgentDataBucket, which is encrypted with PlatformKey",
        "service agentcore: task role AgentcoreTaskRole does not allow kms:Decrypt, kms:GenerateDataKey on "
        "arn:aws:kms:<region>:<account>:key/<PlatformKey>, needed for the data path s3:PutObject on bucket "
        "AgentDataBucket, which is encrypted with PlatformKey",
    ]


def test_the_nth_subnet_of_a_cidr_is_the_listed_one() -> None:
    """``Select [i, Fn::Cidr [block, count, bits]]`` is evaluated without listing every
    subnet of the block: the same network as the list's entry, and None (not an exception,
    not a negative index from the end) where the list has none."""
    import ipaddress

    from generator.reach.network import nth_subnet

    for block in ("10.0.0.0/16", "10.20.0.0/20", "192.168.4.0/24", "172.16.0.0/12"):
        base = ipaddress.IPv4Network(block)
        for prefix in range(base.prefixlen, min(base.prefixlen + 9, 33)):
            listed = list(base.subnets(new_prefix=prefix))
            for idx in {0, min(1, len(listed) - 1), len(listed) // 2, len(listed) - 1}:
                assert nth_subnet(base, prefix, idx) == listed[idx], (block, prefix, idx)
            assert nth_subnet(base, prefix, len(listed)) is None
    base = ipaddress.IPv4Network("10.0.0.0/16")
    assert nth_subnet(base, 15, 0) is None  # a cut wider than the block (subnets() raises)
    assert nth_subnet(base, 24, -1) is None
    assert nth_subnet(base, 33, 0) is None


@pytest.mark.parametrize(
    ("count", "bits", "index", "why"),
    [
        (13, 17, 0, "Fn::Cidr [10.0.0.0/16, 13, 17] asks for blocks of 17 host bits; a /16 has 16"),
        (300, 4, 0, "Fn::Cidr [10.0.0.0/16, 300, 4] asks for 300 blocks; Fn::Cidr makes 1 to 256"),
        (0, 8, 0, "Fn::Cidr [10.0.0.0/16, 0, 8] asks for 0 blocks; Fn::Cidr makes 1 to 256"),
        (5, 14, 0, "Fn::Cidr [10.0.0.0/16, 5, 14] asks for 5 /18 blocks; a /16 holds 4"),
        (4, 8, 4, "Fn::Select 4 of Fn::Cidr [10.0.0.0/16, 4, 8], which makes 4 blocks (indexes 0 to 3)"),
    ],
)
def test_a_subnet_cidr_cloudformation_cannot_cut_is_an_error(
    nat: Templates, count: int, bits: int, index: int, why: str
) -> None:
    """A hand-edited ``Fn::Select [i, Fn::Cidr [block, count, bits]]`` that CloudFormation
    cannot evaluate fails the stack; the preflight (which reads the subnet's CIDR as unknown
    and would otherwise pass it) names the subnet and the reason. The same cut inside the
    block's room passes."""
    subnets = res(nat["network.yaml"], "AWS::EC2::Subnet")
    lid = sorted(subnets)[0]
    cidr = subnets[lid]["Properties"]["CidrBlock"]
    assert "Fn::Cidr" in cidr["Fn::Select"][1], cidr  # (the form this test breaks)
    cidr["Fn::Select"][0] = index
    cidr["Fn::Select"][1]["Fn::Cidr"][1:] = [count, bits]
    assert [(f.problem, f.rule) for f in errors(nat)] == [
        (f"network.yaml: subnet {lid}: CidrBlock {why}: CloudFormation cannot create it", "cidr")
    ]
    cidr["Fn::Select"][:1] = [0]
    cidr["Fn::Select"][1]["Fn::Cidr"][1:] = [16, 12]  # 16 /20s: a /16's whole room
    assert not [f for f in errors(nat) if f.rule == "cidr"]
