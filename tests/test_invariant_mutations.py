"""Every invariant can fail: a valid template set, one specific break, and the
checker reports it. A checker without a test here counts as not done."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from generator import invariants as inv
from generator.cfn import Finding, TemplateSet
from tests.test_parameter_defaults import TERRAFORM_V1_0_8

Templates = dict[str, dict[str, Any]]


@pytest.fixture()
def t(mcp_templates: Templates) -> Templates:
    return copy.deepcopy(mcp_templates)


def res(t: Templates, f: str, lid: str) -> dict[str, Any]:
    return t[f]["Resources"][lid]["Properties"]


def container(t: Templates, svc: str) -> dict[str, Any]:
    return res(t, "services.yaml", f"{svc}TaskDefinition")["ContainerDefinitions"][0]


def assert_catches(check: Callable[[TemplateSet], list[Finding]], t: Templates, needle: str) -> None:
    found = check(TemplateSet(t))
    assert any(needle in v.problem for v in found), found


def test_baseline_is_clean(mcp_templates: Templates, mcp_spec: Any) -> None:
    found = inv.check_all(mcp_templates, mcp_spec)
    assert found == {}


def test_baseline_has_no_world_open_port_but_80_and_443(mcp_templates: Templates) -> None:
    assert inv.world_ingress(TemplateSet(mcp_templates)) == []


def test_1_non_fargate_size(t: Templates) -> None:
    res(t, "services.yaml", "AuthTaskDefinition")["Memory"] = "3000"
    assert_catches(inv.fargate_task_definitions, t, "cpu 1024 / memory 3000 is not a valid Fargate size")


def test_1_network_mode(t: Templates) -> None:
    res(t, "services.yaml", "AuthTaskDefinition")["NetworkMode"] = "bridge"
    assert_catches(inv.fargate_task_definitions, t, "NetworkMode is bridge")


def test_2_missing_stream_prefix(t: Templates) -> None:
    del container(t, "Auth")["LogConfiguration"]["Options"]["awslogs-stream-prefix"]
    assert_catches(inv.awslogs_logging, t, "awslogs option awslogs-stream-prefix is missing")


def test_2_log_group_not_in_set(t: Templates) -> None:
    container(t, "Auth")["LogConfiguration"]["Options"]["awslogs-group"] = "/somewhere/else"
    assert_catches(inv.awslogs_logging, t, "is not a log group of this set")


def test_3_deleted_health_check(t: Templates) -> None:
    del container(t, "Mcpgw")["HealthCheck"]
    assert_catches(inv.container_health_checks, t, "essential container has no health check")


def test_3_grace_below_start_period(t: Templates) -> None:
    res(t, "services.yaml", "RegistryService")["HealthCheckGracePeriodSeconds"] = 10
    assert_catches(inv.container_health_checks, t, "HealthCheckGracePeriodSeconds 10 is below the start period 60")


def test_4_target_group_without_matcher(t: Templates) -> None:
    del res(t, "alb.yaml", "AuthTargetGroup")["Matcher"]
    assert_catches(inv.target_group_health_checks, t, "AuthTargetGroup: health check lacks Matcher")


def test_4_port_mismatch(t: Templates) -> None:
    res(t, "alb.yaml", "GradioTargetGroup")["Port"] = 7861
    assert_catches(
        inv.target_group_health_checks, t, "registers container port 7860 in GradioTargetGroup whose port is 7861"
    )


def test_5_uid_zero(t: Templates) -> None:
    res(t, "efs.yaml", "ServersAccessPoint")["PosixUser"]["Uid"] = "0"
    assert_catches(inv.efs_access_points, t, "PosixUser 0:1000 is root")


def test_5_permissions(t: Templates) -> None:
    res(t, "efs.yaml", "LogsAccessPoint")["RootDirectory"]["CreationInfo"]["Permissions"] = "777"
    assert_catches(inv.efs_access_points, t, "permissions 777 != 755")


def test_6_domain_pattern(t: Templates) -> None:
    res(t, "dns.yaml", "MainAliasRecord")["Name"] = {"Fn::Sub": "registry.${BaseDomain}"}
    assert_catches(inv.domain_names, t, "does not follow {service}.{region}.{base_domain}")


def _exec_stmts(t: Templates, svc: str) -> list[dict[str, Any]]:
    return res(t, "iam.yaml", f"{svc}ExecutionRole")["Policies"][0]["PolicyDocument"]["Statement"]


def test_7_action_star(t: Templates) -> None:
    _exec_stmts(t, "Auth")[0]["Action"] = ["*"]
    assert_catches(inv.iam_least_privilege, t, "allows *")


def test_7_service_wildcard_on_star(t: Templates) -> None:
    _exec_stmts(t, "Auth").append({"Sid": "Bad", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]})
    assert_catches(inv.iam_least_privilege, t, "allows ['s3:GetObject'] on Resource '*'")


def test_7_secret_not_covered(t: Templates) -> None:
    stmts = _exec_stmts(t, "Mcpgw")
    stmts[:] = [s for s in stmts if s.get("Sid") != "SecretsRead"]
    assert_catches(inv.iam_least_privilege, t, "execution role McpgwExecutionRole cannot read")


def test_7_secret_granted_but_unused(t: Templates) -> None:
    read = next(s for s in _exec_stmts(t, "Mcpgw") if s.get("Sid") == "SecretsRead")
    read["Resource"].append({"Ref": "SecretKeySecretArn"})
    t["iam.yaml"]["Parameters"].setdefault("SecretKeySecretArn", {"Type": "String"})
    assert_catches(inv.iam_least_privilege, t, "which the task does not use")


def test_8_drop_noecho(t: Templates) -> None:
    del t["main.yaml"]["Parameters"]["KeycloakAdminPassword"]["NoEcho"]
    assert_catches(inv.noecho_secrets, t, "parameter KeycloakAdminPassword looks secret but is not NoEcho")


def test_8_default_on_secret(t: Templates) -> None:
    t["main.yaml"]["Parameters"]["KeycloakAdminPassword"]["Default"] = "changeme"
    assert_catches(inv.noecho_secrets, t, "secret parameter KeycloakAdminPassword has a Default")


def test_8_output_leak(t: Templates) -> None:
    t["main.yaml"]["Outputs"]["Leak"] = {"Value": {"Fn::Sub": "pw=${KeycloakAdminPassword}"}}
    assert_catches(inv.noecho_secrets, t, "output Leak leaks NoEcho parameter KeycloakAdminPassword")


def test_9_remove_retention(t: Templates) -> None:
    del res(t, "services.yaml", "AuthLogGroup")["RetentionInDays"]
    assert_catches(inv.log_groups, t, "AuthLogGroup: no RetentionInDays")


def test_9_retention_differs_from_spec(t: Templates, mcp_spec: Any) -> None:
    res(t, "services-database.yaml", "KeycloakLogGroup")["RetentionInDays"] = 30
    found = inv.log_groups(TemplateSet(t), mcp_spec)
    assert any("retention 30 != spec 7" in v.problem for v in found), found


def test_10_world_on_task_sg(t: Templates) -> None:
    res(t, "security-groups.yaml", "RegistryServiceSecurityGroup")["SecurityGroupIngress"] = [
        {"IpProtocol": "tcp", "FromPort": 7860, "ToPort": 7860, "CidrIp": "0.0.0.0/0", "Description": "oops"}
    ]
    assert_catches(
        inv.security_group_ingress, t, "task security group RegistryServiceSecurityGroup admits CIDR 0.0.0.0/0"
    )


def test_10_world_on_database(t: Templates) -> None:
    res(t, "security-groups.yaml", "DatabaseSecurityGroup")["SecurityGroupIngress"] = [
        {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "CidrIp": "0.0.0.0/0", "Description": "oops"}
    ]
    assert_catches(inv.security_group_ingress, t, "DatabaseSecurityGroup admits 0.0.0.0/0 on port 3306")


def test_10_port_nobody_listens_on(t: Templates) -> None:
    rule = res(t, "security-groups.yaml", "RegistryServiceToAuthService8888Ingress")
    rule["FromPort"] = rule["ToPort"] = 9999
    assert_catches(inv.security_group_ingress, t, "AuthServiceSecurityGroup admits port 9999")


def test_11_default_differs_from_terraform(t: Templates) -> None:
    t["main.yaml"]["Parameters"]["DatabaseMaxAcu"]["Default"] = "4"
    found = inv.parameter_defaults(TemplateSet(t), {cfn: d for _, cfn, d in TERRAFORM_V1_0_8})
    assert [f.problem for f in found] == ["parameter DatabaseMaxAcu defaults to '4', not '2'"]


def test_12_getatt_of_missing_output(t: Templates) -> None:
    t["main.yaml"]["Resources"]["EfsStack"]["Properties"]["Parameters"]["FileSystemSecurityGroupId"] = {
        "Fn::GetAtt": ["SecurityGroupsStack", "Outputs.NoSuchOutput"]
    }
    assert_catches(inv.references_resolve, t, "GetAtt SecurityGroupsStack.Outputs.NoSuchOutput names no output")


def test_12_unfed_and_extra_child_parameters(t: Templates) -> None:
    params = t["main.yaml"]["Resources"]["EcrStack"]["Properties"]["Parameters"]
    del params["KmsKeyArn"]
    params["Bogus"] = "x"
    found = inv.references_resolve(TemplateSet(t))
    assert any("child parameter KmsKeyArn is not fed" in v.problem for v in found), found
    assert any("feeds Bogus, which the child does not declare" in v.problem for v in found), found


def test_12_dangling_ref_and_depends_on(t: Templates) -> None:
    t["network.yaml"]["Resources"]["Vpc"]["DependsOn"] = ["Ghost"]
    res(t, "network.yaml", "Vpc")["CidrBlock"] = {"Ref": "Nope"}
    found = inv.references_resolve(TemplateSet(t))
    assert any("DependsOn unknown Ghost" in v.problem for v in found) and any(
        "references unknown Nope" in v.problem for v in found
    )


def test_13_database_delete_policy(t: Templates) -> None:
    t["database.yaml"]["Resources"]["DatabaseCluster"]["DeletionPolicy"] = "Delete"
    assert_catches(inv.stateful_policies, t, "AWS::RDS::DBCluster has DeletionPolicy Delete")


def test_13_missing_update_replace_policy(t: Templates) -> None:
    del t["efs.yaml"]["Resources"]["FileSystem"]["UpdateReplacePolicy"]
    assert_catches(inv.stateful_policies, t, "AWS::EFS::FileSystem has no UpdateReplacePolicy")


def test_13_database_instance_needs_both_policies(t: Templates) -> None:
    """The merged stateful table (generator.cfn.facts) holds DB instances to I3011's rule too."""
    del t["database.yaml"]["Resources"]["DatabaseInstance"]["UpdateReplacePolicy"]
    assert_catches(inv.stateful_policies, t, "AWS::RDS::DBInstance has no UpdateReplacePolicy")


def test_14_unencrypted_log_group(t: Templates) -> None:
    del res(t, "network.yaml", "FlowLogGroup")["KmsKeyId"]
    assert_catches(inv.encrypted_with_cmk, t, "FlowLogGroup: AWS::Logs::LogGroup is not encrypted")


def test_14_exception_still_needs_encryption(t: Templates) -> None:
    del res(t, "alb.yaml", "AccessLogBucket")["BucketEncryption"]
    assert_catches(inv.encrypted_with_cmk, t, "AccessLogBucket: AWS::S3::Bucket is not encrypted")


def test_14_foreign_key(t: Templates) -> None:
    res(t, "efs.yaml", "FileSystem")["KmsKeyId"] = "arn:aws:kms:us-east-1:111122223333:key/other"
    assert_catches(inv.encrypted_with_cmk, t, "uses key efs.yaml:arn:aws:kms")


def test_15_public_ip(t: Templates) -> None:
    res(t, "services.yaml", "AuthService")["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] = "ENABLED"
    assert_catches(inv.private_services, t, "AssignPublicIp is ENABLED")


def test_15_public_subnets(t: Templates) -> None:
    res(t, "services.yaml", "AuthService")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] = {
        "Ref": "PublicSubnetIds"
    }
    t["services.yaml"]["Parameters"]["PublicSubnetIds"] = {"Type": "CommaDelimitedList"}
    t["main.yaml"]["Resources"]["ServicesStack"]["Properties"]["Parameters"]["PublicSubnetIds"] = {
        "Fn::GetAtt": ["NetworkStack", "Outputs.PublicSubnetIds"]
    }
    assert_catches(inv.private_services, t, "runs in public subnet PublicSubnetAz1")


def test_15_no_circuit_breaker(t: Templates) -> None:
    res(t, "services.yaml", "AuthService")["DeploymentConfiguration"]["DeploymentCircuitBreaker"]["Rollback"] = False
    assert_catches(inv.private_services, t, "no deployment circuit breaker with rollback")


def test_16_non_alphanumeric_id(t: Templates) -> None:
    t["ecr.yaml"]["Resources"]["Keycloak-Repo"] = t["ecr.yaml"]["Resources"].pop("KeycloakRepository")
    assert_catches(inv.logical_ids, t, "id 'Keycloak-Repo' is not alphanumeric")


def test_16_unstable_ids(t: Templates, mcp_templates: Templates) -> None:
    t["ecr.yaml"]["Resources"]["Repository0"] = t["ecr.yaml"]["Resources"].pop("KeycloakRepository")
    assert inv.stable_ids(TemplateSet(mcp_templates), TemplateSet(t))


def test_17_too_many_resources(t: Templates) -> None:
    for i in range(500):
        t["monitoring.yaml"]["Resources"][f"Extra{i}"] = {"Type": "AWS::SNS::Topic"}
    assert_catches(inv.quotas, t, "monitoring.yaml: 5")


def test_17_dynamic_references(t: Templates) -> None:
    t["secrets.yaml"]["Outputs"]["X"] = {"Value": "{{resolve:ssm:/x}}" * 61}
    assert_catches(inv.quotas, t, "61 dynamic references > 60")


def test_18_weak_tls_policy(t: Templates) -> None:
    res(t, "alb.yaml", "MainListener443")["SslPolicy"] = "ELBSecurityPolicy-2016-08"
    assert_catches(inv.listener_tls, t, "policy ELBSecurityPolicy-2016-08 is not in the TLS 1.2+ allow-list")


def test_18_ext_policy_is_not_allowed(t: Templates) -> None:
    """The one TLS allow-list (generator.cfn.facts, mirrored by guard/stackgen.guard) has no Ext policies."""
    res(t, "alb.yaml", "MainListener443")["SslPolicy"] = "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"
    assert_catches(inv.listener_tls, t, "policy ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06 is not in the TLS 1.2+")


def test_18_http_without_redirect(t: Templates) -> None:
    lst = res(t, "alb.yaml", "KeycloakListener80")
    lst["DefaultActions"] = [{"Type": "forward", "TargetGroupArn": {"Ref": "KeycloakTargetGroup"}}]
    assert_catches(inv.listener_tls, t, "HTTP listener on port 80 does not redirect to HTTPS")


def test_19_efs_rule_removed(t: Templates) -> None:
    del t["security-groups.yaml"]["Resources"]["AuthServiceToFileSystem2049Egress"]
    assert_catches(inv.data_reachability, t, "AuthService: mounts EFS but no security group rule")


def test_19_database_rule_removed(t: Templates) -> None:
    del t["security-groups-database.yaml"]["Resources"]["DatabaseDatabaseClientsToDatabaseProxy3306Ingress"]
    assert_catches(inv.data_reachability, t, "KeycloakService: reads the database secret but cannot reach")


def _feeding(t: Templates, port: int) -> str:
    """The parent parameter whose default feeds the CIDR of the main load balancer's ingress
    rule on ``port`` (through the child parameter and the parent's Join)."""
    rules = res(t, "security-groups.yaml", "MainLoadBalancerSecurityGroup")["SecurityGroupIngress"]
    cidr = next(r["CidrIp"] for r in rules if r["FromPort"] == port)
    child = cidr["Fn::Select"][1]["Ref"]
    fed = TemplateSet(t).fed("security-groups.yaml", child)
    return str((fed["Fn::Join"][1] if "Fn::Join" in fed else fed)["Ref"])


def _private_defaults(t: Templates) -> None:
    for p in t["main.yaml"]["Parameters"].values():
        if p.get("Type") == "CommaDelimitedList" and "0.0.0.0/0" in str(p.get("Default", "")):
            p["Default"] = "10.0.0.0/8"


def test_21_world_through_a_parameter_default(t: Templates) -> None:
    _private_defaults(t)
    assert inv.world_ingress(TemplateSet(t)) == []
    t["main.yaml"]["Parameters"][_feeding(t, 7860)]["Default"] = "0.0.0.0/0"
    assert_catches(
        inv.world_ingress, t, "MainLoadBalancerSecurityGroup: admits 0.0.0.0/0 on tcp/7860 under the parameter defaults"
    )


def test_21_world_through_a_parameters_file(t: Templates) -> None:
    _private_defaults(t)
    found = inv.world_ingress(TemplateSet(t), {"parameters/mcp-gateway/prod.json": {_feeding(t, 8888): "0.0.0.0/0"}})
    assert (
        "security-groups.yaml:MainLoadBalancerSecurityGroup: admits 0.0.0.0/0 on tcp/8888 under "
        "parameters/mcp-gateway/prod.json" in [v.problem for v in found]
    )
    assert all("parameters/mcp-gateway/prod.json" in v.problem for v in found)


def test_21_world_literal_on_an_admin_port(t: Templates) -> None:
    _private_defaults(t)
    rules = res(t, "security-groups.yaml", "KeycloakLoadBalancerSecurityGroup")["SecurityGroupIngress"]
    rules.append({"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "CidrIpv6": "::/0"})
    assert_catches(inv.world_ingress, t, "KeycloakLoadBalancerSecurityGroup: admits ::/0 on tcp/9000")


@pytest.mark.slow
def test_20_cfn_lint_catches_a_break(t: Templates, tmp_path: Any) -> None:
    from generator.lint import lint_paths
    from generator.render import to_yaml

    res(t, "services.yaml", "AuthTaskDefinition")["Cpu"] = "3"
    for name, tmpl in t.items():
        (tmp_path / name).write_text(to_yaml(tmpl))
    assert any("services.yaml" in f for f in lint_paths(sorted(tmp_path.glob("*.yaml"))))
