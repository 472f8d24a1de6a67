"""The CDK anchor of `make bench`: an AWS CDK app equivalent to an 8-service stackgen
platform, in the shape of shared/reference/performance-and-limits.md section 1.

One stack: a VPC over 3 AZs with a NAT gateway each, a Route 53 zone, a DNS-validated ACM
certificate, 4 secrets, Aurora PostgreSQL Serverless v2 (writer + reader), encrypted EFS,
an ECS cluster and a shared ALB (HTTP -> HTTPS redirect, HTTPS listener). Per service
(ANCHOR_SERVICES, default 8): an ECR repository, an EFS access point, a Fargate task
definition (EFS volume, log group, secrets), a Fargate service, a host-header listener
rule and target group, CPU target-tracking auto scaling and an alias A record.

The availability zones come from cdk.json's context, so synth makes no lookups and needs
no credentials. `make bench-anchor` installs this with the pinned aws-cdk-lib and CDK CLI
into .tools/cdk/; nothing here is deployed.
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

SERVICES = int(os.environ.get("ANCHOR_SERVICES", "8"))
DOMAIN = "anchor.example.com"


class Platform(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", max_azs=3, nat_gateways=3)
        zone = route53.PublicHostedZone(self, "Zone", zone_name=DOMAIN)
        cert = acm.Certificate(self, "Certificate", domain_name=f"*.{DOMAIN}",
                               validation=acm.CertificateValidation.from_dns(zone))
        secrets = [secretsmanager.Secret(self, f"Secret{i}") for i in range(4)]
        db = rds.DatabaseCluster(
            self, "Database", vpc=vpc,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.of("17.9", "17")),
            writer=rds.ClusterInstance.serverless_v2("writer"),
            readers=[rds.ClusterInstance.serverless_v2("reader", scale_with_writer=True)],
            serverless_v2_min_capacity=0.5, serverless_v2_max_capacity=2)
        fs = efs.FileSystem(self, "Efs", vpc=vpc, encrypted=True)
        cluster = ecs.Cluster(self, "Cluster", vpc=vpc)
        alb = elbv2.ApplicationLoadBalancer(self, "Alb", vpc=vpc, internet_facing=True)
        alb.add_redirect()
        https = alb.add_listener("Https", port=443, certificates=[cert],
                                 default_action=elbv2.ListenerAction.fixed_response(404))
        for i in range(SERVICES):
            name = f"svc{i}"
            repo = ecr.Repository(self, f"Repo{i}")
            ap = fs.add_access_point(f"AccessPoint{i}", path=f"/{name}",
                                     create_acl=efs.Acl(owner_uid="1000", owner_gid="1000", permissions="755"),
                                     posix_user=efs.PosixUser(uid="1000", gid="1000"))
            task = ecs.FargateTaskDefinition(self, f"Task{i}", cpu=256, memory_limit_mib=512, volumes=[ecs.Volume(
                name="data", efs_volume_configuration=ecs.EfsVolumeConfiguration(
                    file_system_id=fs.file_system_id, transit_encryption="ENABLED",
                    authorization_config=ecs.AuthorizationConfig(access_point_id=ap.access_point_id, iam="ENABLED")))])
            container = task.add_container(
                "app", image=ecs.ContainerImage.from_ecr_repository(repo, "latest"),
                logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_retention=logs.RetentionDays.ONE_MONTH),
                secrets={"DB_PASSWORD": ecs.Secret.from_secrets_manager(db.secret, "password"),
                         "API_KEY": ecs.Secret.from_secrets_manager(secrets[i % len(secrets)])},
                port_mappings=[ecs.PortMapping(container_port=8080)])
            container.add_mount_points(ecs.MountPoint(container_path="/data", source_volume="data", read_only=False))
            service = ecs.FargateService(self, f"Service{i}", cluster=cluster, task_definition=task, desired_count=2,
                                         min_healthy_percent=100)
            fs.connections.allow_default_port_from(service)
            db.connections.allow_default_port_from(service)
            https.add_targets(f"Target{i}", port=8080, targets=[service], priority=i + 1,
                              conditions=[elbv2.ListenerCondition.host_headers([f"{name}.{DOMAIN}"])],
                              health_check=elbv2.HealthCheck(path="/health"))
            scaling = service.auto_scale_task_count(min_capacity=2, max_capacity=4)
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=70)
            route53.ARecord(self, f"Record{i}", zone=zone, record_name=name,
                            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(alb)))


app = cdk.App()
Platform(app, "StackgenAnchor", env=cdk.Environment(account="123456789012", region="us-east-1"))
app.synth()
