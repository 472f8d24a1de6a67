"""Fake AWS answers for the acceptance tests: boto3 client stand-ins describing one deployed
stack (a service behind a load balancer listener, in a nested stack), and a fake clock."""

from __future__ import annotations

from typing import Any


class Fake:
    """A boto3 client stand-in: the methods given, and paginators over them (one page)."""

    def __init__(self, **methods: Any):
        self.methods = methods

    def __getattr__(self, name: str) -> Any:
        try:
            return self.methods[name]
        except KeyError:
            raise AttributeError(name) from None

    def get_paginator(self, name: str) -> Any:
        fn = self.methods[name]

        class Pages:
            def paginate(self, **kw: Any) -> list[Any]:
                return [fn(**kw)]

        return Pages()


PARENT = "arn:aws:cloudformation:us-east-1:1:stack/web-dev/1"
NESTED = "arn:aws:cloudformation:us-east-1:1:stack/web-dev-ServicesStack/2"
SERVICE = "arn:aws:ecs:us-east-1:1:service/web-dev-main/web"
LB = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"
TG = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/80"
SERVICES_TEMPLATE = """
Parameters: {Count: {Type: Number}}
Resources:
  WebService: {Type: AWS::ECS::Service, Properties: {DesiredCount: !Ref Count}}
"""


def world(
    running: int = 2,
    rollout: str = "COMPLETED",
    health: tuple[str, ...] = ("healthy", "healthy"),
    desired: int = 2,
    lb_dns: str = "web-1.us-east-1.elb.amazonaws.com",
    port: int = 80,
    default_action: dict | None = None,
    protocol: str = "HTTP",
    url: str = "",
    certificates: tuple[str, ...] = (),
) -> dict[str, Fake]:
    """A deployed stack: one service behind one load balancer listener, in a nested stack."""
    live = {
        "serviceArn": SERVICE,
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": 0,
        "loadBalancers": [{"targetGroupArn": TG}],
        "deployments": [{"status": "PRIMARY", "rolloutState": rollout}],
        "events": [{"message": "(service web) has started 1 tasks"}],
    }
    resources = {
        PARENT: [
            {
                "LogicalResourceId": "ServicesStack",
                "ResourceType": "AWS::CloudFormation::Stack",
                "PhysicalResourceId": NESTED,
            },
            {
                "LogicalResourceId": "Lb",
                "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "PhysicalResourceId": LB,
            },
            {
                "LogicalResourceId": "WebTargetGroup",
                "ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "PhysicalResourceId": TG,
            },
        ],
        NESTED: [
            {"LogicalResourceId": "WebService", "ResourceType": "AWS::ECS::Service", "PhysicalResourceId": SERVICE}
        ],
    }
    stacks = {
        "web-dev": {
            "StackId": PARENT,
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "Url", "OutputValue": url or f"http://{lb_dns}"}],
        },
        NESTED: {"StackId": NESTED, "Parameters": [{"ParameterKey": "Count", "ParameterValue": "2"}]},
    }
    stacks[PARENT] = stacks["web-dev"]  # describe-stacks takes a name or an ID
    return {
        "cloudformation": Fake(
            describe_stacks=lambda StackName: {"Stacks": [stacks[StackName]]},
            list_stack_resources=lambda StackName: {"StackResourceSummaries": resources[StackName]},
            get_template=lambda StackName, TemplateStage: {"TemplateBody": SERVICES_TEMPLATE},
        ),
        "ecs": Fake(describe_services=lambda cluster, services: {"services": [live]}),
        "elbv2": Fake(
            describe_load_balancers=lambda LoadBalancerArns: {
                "LoadBalancers": [
                    {"LoadBalancerArn": LB, "DNSName": lb_dns, "Scheme": "internet-facing", "Type": "application"}
                ]
            },
            describe_listeners=lambda LoadBalancerArn: {
                "Listeners": [
                    {
                        "ListenerArn": LISTENER,
                        "Port": port,
                        "Protocol": protocol,
                        "Certificates": [{"CertificateArn": c} for c in certificates],
                        "DefaultActions": [default_action or {"Type": "forward", "TargetGroupArn": TG}],
                    }
                ]
            },
            describe_rules=lambda ListenerArn: {"Rules": [{"Priority": "default", "IsDefault": True}]},
            describe_target_groups=lambda TargetGroupArns: {
                "TargetGroups": [
                    {
                        "TargetGroupArn": TG,
                        "HealthCheckProtocol": "HTTP",
                        "HealthCheckPath": "/health",
                        "Matcher": {"HttpCode": "200"},
                    }
                ]
            },
            describe_target_health=lambda TargetGroupArn: {
                "TargetHealthDescriptions": [
                    {
                        "TargetHealth": {
                            "State": s,
                            **(
                                {
                                    "Reason": "Target.ResponseCodeMismatch",
                                    "Description": "Health checks failed with these codes: [404]",
                                }
                                if s == "unhealthy"
                                else {}
                            ),
                        }
                    }
                    for s in health
                ]
            },
        ),
        "application-autoscaling": Fake(
            describe_scalable_targets=lambda **kw: {
                "ScalableTargets": [{"ResourceId": "service/web-dev-main/web", "MinCapacity": 2, "MaxCapacity": 4}]
            }
        ),
    }


def fake_aws(clients: dict[str, Fake]):
    return lambda service: clients[service]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
