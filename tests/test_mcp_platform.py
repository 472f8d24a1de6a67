"""Structural assertions on the generated MCP Gateway platform (seeds/003 tasks 2-19,
values from the upstream Terraform v1.0.8)."""

from __future__ import annotations

from typing import Any

from tests.helpers import grouped, props, resources

STACK_FILES = {
    "main.yaml",
    "network.yaml",
    "security-groups.yaml",
    "efs.yaml",
    "secrets.yaml",
    "iam.yaml",
    "database.yaml",
    "ecr.yaml",
    "ecs-cluster.yaml",
    "alb.yaml",
    "certificates.yaml",
    "dns.yaml",
    "services.yaml",
    "autoscaling.yaml",
    "monitoring.yaml",
    # keycloak uses the database: its group's stacks (generator.placement)
    "security-groups-database.yaml",
    "iam-database.yaml",
    "services-database.yaml",
    "autoscaling-database.yaml",
    "monitoring-database.yaml",
}
SERVICES = [
    "registry",
    "auth",
    "keycloak",
    "currenttime",
    "mcpgw",
    "realserverfaketools",
    "flight-booking-agent",
    "travel-assistant-agent",
]


def test_every_stack_exists(mcp_templates: dict) -> None:
    assert STACK_FILES <= set(mcp_templates)
    stacks = resources(mcp_templates["main.yaml"], "AWS::CloudFormation::Stack")
    assert {v["Properties"]["TemplateURL"] for v in stacks.values()} == STACK_FILES - {"main.yaml"}


def test_network(mcp_spec: Any, mcp_templates: dict) -> None:
    t = mcp_templates["network.yaml"]
    assert [str(c) for c in mcp_spec.network.tier_cidrs(mcp_spec.network.tier("private"))] == [
        "10.0.0.0/20",
        "10.0.16.0/20",
        "10.0.32.0/20",
    ]
    assert [str(c) for c in mcp_spec.network.tier_cidrs(mcp_spec.network.tier("public"))] == [
        "10.0.48.0/24",
        "10.0.49.0/24",
        "10.0.50.0/24",
    ]
    vpc = props(resources(t, "AWS::EC2::VPC")["Vpc"])
    assert vpc["EnableDnsSupport"] is True and vpc["EnableDnsHostnames"] is True
    subnets = resources(t, "AWS::EC2::Subnet")
    assert len(subnets) == 6
    idx = sorted(props(s)["CidrBlock"]["Fn::Select"][0] for s in subnets.values())
    assert idx == [0, 1, 2, 48, 49, 50]
    assert len(resources(t, "AWS::EC2::NatGateway")) == 3
    assert len(resources(t, "AWS::EC2::EIP")) == 3
    routes = [props(r) for r in resources(t, "AWS::EC2::Route").values() if "NatGatewayId" in props(r)]
    assert len({r["NatGatewayId"]["Ref"] for r in routes}) == 3
    endpoints = {props(e)["ServiceName"]["Fn::Sub"]: props(e) for e in resources(t, "AWS::EC2::VPCEndpoint").values()}
    assert endpoints["com.amazonaws.${AWS::Region}.s3"]["VpcEndpointType"] == "Gateway"
    assert len(endpoints["com.amazonaws.${AWS::Region}.s3"]["RouteTableIds"]) == 3
    assert endpoints["com.amazonaws.${AWS::Region}.sts"]["PrivateDnsEnabled"] is True
    assert resources(t, "AWS::EC2::FlowLog")
    assert "KmsKeyId" in props(resources(t, "AWS::Logs::LogGroup")["FlowLogGroup"])
    assert {"VpcId", "PrivateSubnetIds", "PublicSubnetIds", "PrivateRouteTableIds"} <= set(t["Outputs"])


def _rules(t: dict) -> list[tuple[str, dict]]:
    out = []
    for lid, r in resources(t).items():
        if r["Type"] == "AWS::EC2::SecurityGroup":
            out += [
                (lid, x) for x in props(r).get("SecurityGroupIngress", []) + props(r).get("SecurityGroupEgress", [])
            ]
        elif r["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            out.append((lid, props(r)))
    return out


def _group(node: dict) -> str:
    """The security group a GroupId names: a GetAtt of this stack's, or a <Group>Id parameter
    (another stack's, in another service group's template)."""
    return node["Fn::GetAtt"][0] if "Fn::GetAtt" in node else node["Ref"].removesuffix("Id")


def _ingress(t: dict, target: str) -> set[tuple[str, int]]:
    got = set()
    for r in resources(t, "AWS::EC2::SecurityGroupIngress").values():
        p = props(r)
        if _group(p["GroupId"]) == target:
            got.add((_group(p["SourceSecurityGroupId"]), p["FromPort"]))
    return got


def test_security_groups(mcp_templates: dict) -> None:
    t = grouped(mcp_templates, "security-groups")
    assert all(r.get("Description") for _, r in _rules(t)), "every rule has a description"
    for lid, r in resources(t, "AWS::EC2::SecurityGroup").items():
        if lid.endswith("ServiceSecurityGroup"):
            assert "SecurityGroupIngress" not in props(r), f"{lid} admits a CIDR"
    alb = "MainLoadBalancerSecurityGroup"
    assert _ingress(t, "RegistryServiceSecurityGroup") == {(alb, 80), (alb, 7860), ("McpgwServiceSecurityGroup", 7860)}
    assert _ingress(t, "AuthServiceSecurityGroup") == {(alb, 8888), ("RegistryServiceSecurityGroup", 8888)}
    for svc, port in (
        ("Currenttime", 8000),
        ("Mcpgw", 8003),
        ("Realserverfaketools", 8002),
        ("FlightBookingAgent", 9000),
        ("TravelAssistantAgent", 9000),
    ):
        assert _ingress(t, f"{svc}ServiceSecurityGroup") == {("RegistryServiceSecurityGroup", port)}
    # keycloak (group database, a later group) takes its load balancer's traffic through the
    # group's targets security group, which its task carries (one ALB egress rule per group)
    assert _ingress(t, "KeycloakServiceSecurityGroup") == set()
    assert _ingress(t, "DatabaseKeycloakTargetsSecurityGroup") == {("KeycloakLoadBalancerSecurityGroup", 8080)}
    assert _ingress(t, "DatabaseSecurityGroup") == {("DatabaseProxySecurityGroup", 3306)}
    # keycloak (group database) reaches the proxy through its group's client security group.
    assert _ingress(t, "DatabaseProxySecurityGroup") == {("DatabaseDatabaseClientsSecurityGroup", 3306)}
    keycloak = props(mcp_templates["services-database.yaml"]["Resources"]["KeycloakService"])
    sgs = keycloak["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert {"Ref": "DatabaseDatabaseClientsSecurityGroupId"} in sgs
    assert {"Ref": "DatabaseKeycloakTargetsSecurityGroupId"} in sgs
    assert _ingress(t, "FileSystemSecurityGroup") == {
        (f"{s}ServiceSecurityGroup", 2049) for s in ("Registry", "Auth", "Mcpgw")
    }
    main_alb = props(resources(t)[alb])["SecurityGroupIngress"]
    assert sorted(r["FromPort"] for r in main_alb) == [80, 443, 7860, 8888]
    endpoint = [
        props(r)
        for r in resources(t, "AWS::EC2::SecurityGroupIngress").values()
        if props(r)["GroupId"] == {"Ref": "EndpointSecurityGroupId"}
    ]
    assert len(endpoint) == len(SERVICES) and all(r["FromPort"] == 443 for r in endpoint)


def test_efs(mcp_templates: dict) -> None:
    t = mcp_templates["efs.yaml"]
    fs = resources(t, "AWS::EFS::FileSystem")["FileSystem"]
    assert props(fs)["Encrypted"] is True and props(fs)["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert fs["DeletionPolicy"] == fs["UpdateReplacePolicy"] == "Retain"
    assert len(resources(t, "AWS::EFS::MountTarget")) == 3
    aps = {props(a)["RootDirectory"]["Path"]: props(a) for a in resources(t, "AWS::EFS::AccessPoint").values()}
    assert set(aps) == {"/servers", "/models", "/logs", "/agents", "/auth_config", "/mcpgw_data"}
    for ap in aps.values():
        assert ap["PosixUser"] == {"Uid": "1000", "Gid": "1000"}
        assert ap["RootDirectory"]["CreationInfo"] == {"OwnerUid": "1000", "OwnerGid": "1000", "Permissions": "755"}


def test_secrets(mcp_templates: dict) -> None:
    t = mcp_templates["secrets.yaml"]
    key = props(resources(t, "AWS::KMS::Key")["PlatformKey"])
    assert key["EnableKeyRotation"] is True
    assert resources(t, "AWS::KMS::Alias")
    secrets = resources(t, "AWS::SecretsManager::Secret")
    assert len(secrets) == 7
    for lid, s in secrets.items():
        p = props(s)
        assert p["KmsKeyId"] == {"Ref": "PlatformKey"}, lid
        assert "GenerateSecretString" in p or p["SecretString"] == {"Ref": "KeycloakAdminPassword"}, lid
    assert t["Parameters"]["KeycloakAdminPassword"]["NoEcho"] is True
    assert resources(t, "AWS::SSM::Parameter")


def test_iam(mcp_templates: dict) -> None:
    t = grouped(mcp_templates, "iam")
    roles = resources(t, "AWS::IAM::Role")
    for s in ("Registry", "Auth", "Keycloak"):
        assert f"{s}ExecutionRole" in roles and f"{s}TaskRole" in roles
    assert "DatabaseProxyRole" in roles
    for lid, r in roles.items():
        for pol in props(r).get("Policies", []):
            for st in pol["PolicyDocument"]["Statement"]:
                if "*" in st["Resource"]:
                    assert all(
                        a in ("ecr:GetAuthorizationToken",) or a.startswith("ssmmessages:") for a in st["Action"]
                    ), (lid, st)


def test_database(mcp_templates: dict) -> None:
    t = mcp_templates["database.yaml"]
    pg = props(resources(t, "AWS::RDS::DBClusterParameterGroup")["DatabaseClusterParameterGroup"])
    assert pg["Family"] == "aurora-mysql8.0"
    assert pg["Parameters"] == {
        "character_set_server": "utf8mb4",
        "collation_server": "utf8mb4_unicode_ci",
        "require_secure_transport": "ON",
    }
    cluster = resources(t, "AWS::RDS::DBCluster")["DatabaseCluster"]
    c = props(cluster)
    assert c["EngineVersion"] == "8.0.mysql_aurora.3.08.2"
    assert c["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": {"Ref": "DatabaseMinAcu"},
        "MaxCapacity": {"Ref": "DatabaseMaxAcu"},
    }
    assert c["BackupRetentionPeriod"] == 7 and c["StorageEncrypted"] is True
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert props(resources(t, "AWS::RDS::DBInstance")["DatabaseInstance"])["DBInstanceClass"] == "db.serverless"
    assert props(resources(t, "AWS::RDS::DBProxy")["DatabaseProxy"])["RequireTLS"] is True
    assert resources(t, "AWS::RDS::DBProxyTargetGroup")


def test_ecr(mcp_templates: dict) -> None:
    import json

    repo = props(resources(mcp_templates["ecr.yaml"], "AWS::ECR::Repository")["KeycloakRepository"])
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules[0]["selection"]["tagPrefixList"] == ["sha-"] and rules[0]["selection"]["countNumber"] == 10
    assert rules[1]["selection"]["countNumber"] == 7
    assert repo["RepositoryPolicyText"]["Statement"][0]["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}


def test_ecs_cluster(mcp_templates: dict) -> None:
    t = mcp_templates["ecs-cluster.yaml"]
    clusters = resources(t, "AWS::ECS::Cluster")
    assert set(clusters) == {"MainCluster", "KeycloakCluster"}
    for c in clusters.values():
        p = props(c)
        assert p["CapacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
        assert p["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]
        assert p["Configuration"]["ExecuteCommandConfiguration"]["Logging"] == "OVERRIDE"
    ns = props(resources(t, "AWS::ServiceDiscovery::PrivateDnsNamespace")["Namespace"])
    assert ns["Name"] == "mcp-gateway-v2.local"


def test_alb(mcp_templates: dict) -> None:
    t = mcp_templates["alb.yaml"]
    assert len(resources(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")) == 2
    for lb in resources(t, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
        attrs = {a["Key"]: a["Value"] for a in props(lb)["LoadBalancerAttributes"]}
        assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    tgs = {lid: props(r) for lid, r in resources(t, "AWS::ElasticLoadBalancingV2::TargetGroup").items()}
    assert (tgs["RegistryTargetGroup"]["Port"], tgs["RegistryTargetGroup"]["HealthCheckPort"]) == (80, "7860")
    assert tgs["AuthTargetGroup"]["Port"] == 8888 and tgs["GradioTargetGroup"]["Port"] == 7860
    assert tgs["KeycloakTargetGroup"]["Port"] == 8080 and tgs["KeycloakTargetGroup"]["Matcher"] == {
        "HttpCode": "200-399"
    }
    for tg in tgs.values():
        assert tg["HealthCheckIntervalSeconds"] == 30 and tg["HealthCheckTimeoutSeconds"] == 5
        assert tg["HealthCheckPath"] and tg["Matcher"]
    listeners = {lid: (r, props(r)) for lid, r in resources(t, "AWS::ElasticLoadBalancingV2::Listener").items()}
    # One listener per (load balancer, port): setting BaseDomain updates it in place (no DuplicateListener).
    assert set(listeners) == {
        "MainListener80",
        "MainListener443",
        "MainListener8888",
        "MainListener7860",
        "KeycloakListener80",
        "KeycloakListener443",
    }
    policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    for lid, (r, p) in listeners.items():
        if lid.endswith("443"):  # https: only with a domain
            assert r["Condition"] == "HasDomain" and p["Protocol"] == "HTTPS" and p["SslPolicy"] == policy
            assert p["DefaultActions"][0]["TargetGroupArn"] and p["Certificates"]
        elif lid.endswith("80"):  # redirect: forwards plain HTTP in stage one, redirects in stage two
            assert "Condition" not in r and p["Protocol"] == "HTTP"
            cond, redirect, forward = p["DefaultActions"]["Fn::If"]
            assert cond == "HasDomain" and forward[0]["Type"] == "forward"
            assert redirect == [
                {"RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}, "Type": "redirect"}
            ]
            assert r["Metadata"]["stackgen"]["guard_allowlist"]["alb_http_to_https_redirection_check"]
        else:  # auto: HTTPS with a domain, plain HTTP before
            assert "Condition" not in r
            assert p["Protocol"] == {"Fn::If": ["HasDomain", "HTTPS", "HTTP"]}
            assert p["SslPolicy"] == {"Fn::If": ["HasDomain", policy, {"Ref": "AWS::NoValue"}]}
            assert p["Certificates"]["Fn::If"][0] == "HasDomain"
            assert p["Certificates"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
            assert {s["id"] for s in r["Metadata"]["checkov"]["skip"]} == {"CKV_AWS_2", "CKV_AWS_103"}


def test_domain_stacks_are_conditional(mcp_templates: dict) -> None:
    main = mcp_templates["main.yaml"]
    assert main["Conditions"]["HasDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BaseDomain"}, ""]}]}
    assert main["Resources"]["DnsStack"]["Condition"] == "HasDomain"
    rule = main["Rules"]["DomainNeedsHostedZone"]
    assert rule["RuleCondition"] == main["Conditions"]["HasDomain"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "HostedZoneId"}, ""]}]}
    assert main["Resources"]["CertificatesStack"]["Condition"] == "HasDomain"
    names = [props(r)["Name"] for r in resources(mcp_templates["dns.yaml"], "AWS::Route53::RecordSet").values()]
    assert {"Fn::Sub": "registry.${AWS::Region}.${BaseDomain}"} in names
    assert {"Fn::Sub": "kc.${AWS::Region}.${BaseDomain}"} in names
    cert = mcp_templates["alb.yaml"]["Resources"]["MainListener443"]["Properties"]["Certificates"]
    assert cert == [{"CertificateArn": {"Ref": "MainCertificateArn"}}]
    fed = main["Resources"]["AlbStack"]["Properties"]["Parameters"]["MainCertificateArn"]
    assert fed["Fn::If"][0] == "HasDomain" and fed["Fn::If"][2] == ""


def test_services(mcp_templates: dict) -> None:
    t = grouped(mcp_templates, "services")
    svcs = resources(t, "AWS::ECS::Service")
    assert {props(s)["ServiceName"] for s in svcs.values()} == set(SERVICES)
    groups = {
        props(g)["LogGroupName"]["Fn::Sub"].rsplit("/", 1)[1]: props(g)["RetentionInDays"]
        for g in resources(t, "AWS::Logs::LogGroup").values()
    }
    assert groups.pop("keycloak") == 7 and set(groups.values()) == {30}
    for s in svcs.values():
        p = props(s)
        assert p["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
        assert p["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    for td in resources(t, "AWS::ECS::TaskDefinition").values():
        p = props(td)
        assert p["RequiresCompatibilities"] == ["FARGATE"] and p["NetworkMode"] == "awsvpc"
        for v in p.get("Volumes", []):
            if "EFSVolumeConfiguration" in v:
                assert v["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
            else:  # task-storage scratch space for a read-only root filesystem
                assert v["Name"].startswith("scratch")
        for c in p["ContainerDefinitions"]:
            assert c["ReadonlyRootFilesystem"] is True or c["Name"] in ("registry", "keycloak")
    reg = props(t["Resources"]["RegistryTaskDefinition"])["ContainerDefinitions"][0]
    assert [m["ContainerPort"] for m in reg["PortMappings"]] == [80, 443, 7860]
    assert (
        props(t["Resources"]["FlightBookingAgentTaskDefinition"])["ContainerDefinitions"][0]["PortMappings"][0][
            "ContainerPort"
        ]
        == 9000
    )
    assert (
        props(t["Resources"]["TravelAssistantAgentTaskDefinition"])["ContainerDefinitions"][0]["PortMappings"][0][
            "ContainerPort"
        ]
        == 9000
    )


def test_autoscaling(mcp_templates: dict) -> None:
    t = grouped(mcp_templates, "autoscaling")
    targets = {lid: props(r) for lid, r in resources(t, "AWS::ApplicationAutoScaling::ScalableTarget").items()}
    assert len(targets) == 8
    # Keycloak's image comes from the platform's own repository: 1..4 once it is pushed, 0..0 before.
    assert (targets["KeycloakScalableTarget"]["MinCapacity"], targets["KeycloakScalableTarget"]["MaxCapacity"]) == (
        {"Fn::If": ["KeycloakImageIsReady", 1, 0]},
        {"Fn::If": ["KeycloakImageIsReady", 4, 0]},
    )
    assert (targets["RegistryScalableTarget"]["MinCapacity"], targets["RegistryScalableTarget"]["MaxCapacity"]) == (
        2,
        4,
    )
    pol = {
        lid: props(r)["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        for lid, r in resources(t, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
    }
    assert pol["RegistryCpuScalingPolicy"] == 70.0 and pol["RegistryMemoryScalingPolicy"] == 80.0
    assert "CurrenttimeMemoryScalingPolicy" not in pol and pol["CurrenttimeCpuScalingPolicy"] == 70.0


def test_parent_outputs(mcp_templates: dict) -> None:
    outs = mcp_templates["main.yaml"]["Outputs"]
    for o in (
        "MainLoadBalancerUrl",
        "KeycloakLoadBalancerUrl",
        "MainClusterArn",
        "KeycloakClusterName",
        "RegistryServiceArn",
        "DatabaseEndpoint",
        "FileSystemId",
        "VpcId",
        "KeycloakRepositoryUri",
    ):
        assert o in outs, o


def test_alb_access_log_delivery_principal(mcp_templates: dict) -> None:
    """Older regions (us-east-1 among them) deliver ALB logs as a per-region ELB account;
    regions opened since August 2022 use the log-delivery service principal."""
    t = mcp_templates["alb.yaml"]
    assert t["Mappings"]["ElbLogDelivery"]["us-east-1"] == {"Principal": "arn:aws:iam::127311923021:root"}
    # a leading-zero account stays text: the whole ARN, never a bare digit string
    assert t["Mappings"]["ElbLogDelivery"]["eu-central-1"] == {"Principal": "arn:aws:iam::054676820928:root"}
    policy = props(t["Resources"]["AccessLogBucketPolicy"])["PolicyDocument"]["Statement"][0]
    cond, aws, service = policy["Principal"]["Fn::If"]
    assert cond == "ElbLogAccountRegion"
    assert aws["AWS"] == {"Fn::FindInMap": ["ElbLogDelivery", {"Ref": "AWS::Region"}, "Principal"]}
    assert service == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    regions = str(t["Conditions"]["ElbLogAccountRegion"])
    assert "us-east-1" in regions and "eu-west-1" in regions
    for lb in ("MainLoadBalancer", "KeycloakLoadBalancer"):
        assert t["Resources"][lb]["DependsOn"] == ["AccessLogBucketPolicy"]
