"""Quotas at generation: each figure of the one table (generator/deployability/quotas.py)
has a template set just inside it that passes and one just over it that fails, with
the message naming the count and the quota's source page."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from generator import invariants as inv
from generator import synth
from generator.cfn import ERROR, WARNING, TemplateSet
from generator.deployability import quotas, service_limits, template_limits
from generator.deployability.base import Inputs
from generator.deployability.quotas import QUOTAS, Quota

Templates = dict[str, dict[str, Any]]
GENERATOR = Path(__file__).resolve().parents[1] / "generator"


def problems(t: Templates, rendered: dict[str, str] | None = None) -> list[tuple[str, str]]:
    inp = Inputs(t, rendered or {})
    return [(f.severity, f.problem) for f in template_limits.check(inp) + service_limits.check(inp)]


def only(found: list[tuple[str, str]], needle: str, severity: str = ERROR) -> None:
    hits = [p for s, p in found if needle in p and s == severity]
    assert hits, found
    assert all("(AWS: " in p for _, p in found)


# ---- the table ------------------------------------------------------------------------------


def test_every_quota_has_a_value_an_adjustable_flag_and_an_aws_page() -> None:
    for name, q in QUOTAS.items():
        assert isinstance(q, Quota) and q.value > 0, name
        assert q.source.startswith("https://docs.aws.amazon.com/"), name
        assert f"{q.value:,}" in q.cite() and ("not adjustable" in q.cite()) == (not q.adjustable)
    assert {
        "resources",
        "parameters",
        "outputs",
        "mappings",
        "template_bytes_s3",
        "template_bytes_inline",
        "dynamic_references",
        "hierarchy_resources",
        "listeners_per_alb",
        "target_groups_per_alb",
        "rules_per_alb",
        "certificates_per_alb",
        "target_groups_per_service",
        "inbound_rules_per_sg",
        "outbound_rules_per_sg",
        "sgs_per_network_interface",
        "rules_per_network_interface",
        "interface_endpoints_per_vpc",
    } <= set(QUOTAS)


def test_no_other_module_writes_a_quota() -> None:
    """The numbers live in the table only: the invariants, synthesis and awsfacts read it."""
    figures = re.compile(r"\b(500|51_?200|1_?000_?000|2_?500)\b")
    for path in [
        GENERATOR / "invariants" / "structure.py",
        GENERATOR / "synth.py",
        GENERATOR / "awsfacts.py",
        *sorted((GENERATOR / "deployability").glob("*.py")),
    ]:
        if path.name == "quotas.py":
            continue
        assert not figures.search(path.read_text()), path


def test_the_invariant_and_the_check_share_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    t = {"main.yaml": {"Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(4)}}}
    assert inv.quotas(TemplateSet(t)) == [] and problems(t) == []
    monkeypatch.setitem(QUOTAS, "resources", dataclasses.replace(QUOTAS["resources"], value=3))
    assert [v.problem for v in inv.quotas(TemplateSet(t))] == ["main.yaml: 4 resources > 3"]
    only(problems(t), "main.yaml has 4 resources")


def test_troposphere_guards_are_the_table() -> None:
    """synth maps troposphere's guard to a spec error only after checking it is the table's figure."""
    import troposphere

    for kind, attr in (
        ("parameters", "MAX_PARAMETERS"),
        ("outputs", "MAX_OUTPUTS"),
        ("resources", "MAX_RESOURCES"),
        ("mappings", "MAX_MAPPINGS"),
    ):
        assert getattr(troposphere, attr) == QUOTAS[kind].value
    assert synth.QUOTAS is QUOTAS


# ---- per template -----------------------------------------------------------------------------


def _section(n: int, make: Any) -> dict[str, Any]:
    return {f"X{i}": make(i) for i in range(n)}


@pytest.mark.parametrize(
    ("section", "name", "make"),
    [
        ("Resources", "resources", lambda i: {"Type": "AWS::SNS::Topic"}),
        ("Parameters", "parameters", lambda i: {"Type": "String", "Default": "x"}),
        ("Outputs", "outputs", lambda i: {"Value": "x"}),
        ("Mappings", "mappings", lambda i: {"k": {"v": "x"}}),
    ],
)
def test_template_counts(section: str, name: str, make: Any) -> None:
    limit = QUOTAS[name].value
    assert problems({"main.yaml": {section: _section(limit, make)}}) == []
    only(problems({"main.yaml": {section: _section(limit + 1, make)}}), f"main.yaml has {limit + 1} {section.lower()}")


def test_dynamic_references() -> None:
    def t(n: int) -> Templates:
        return {
            "main.yaml": {
                "Resources": {
                    f"P{i}": {
                        "Type": "AWS::SSM::Parameter",
                        "Properties": {"Type": "String", "Value": f"{{{{resolve:secretsmanager:s{i}}}}}"},
                    }
                    for i in range(n)
                }
            }
        }

    assert problems(t(60)) == []
    only(problems(t(61)), "main.yaml holds 61 dynamic references")


def test_resources_per_operation_across_the_hierarchy() -> None:
    def t(per_child: int) -> Templates:
        out: Templates = {
            "main.yaml": {
                "Resources": {
                    f"C{c}Stack": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": f"./c{c}.yaml"}}
                    for c in range(5)
                }
            }
        }
        for c in range(5):
            out[f"c{c}.yaml"] = {"Resources": _section(per_child, lambda i: {"Type": "AWS::SNS::Topic"})}
        return out

    assert problems(t(499)) == []  # 5 + 5 x 499 = 2,500
    only(problems(t(500)), "the stack and its nested stacks hold 2,505 resources")


@pytest.mark.parametrize(
    ("size", "severity", "needle"),
    [
        # over the inline TemplateBody limit is fine: deploy.sh and validate.sh both go through S3
        (51_201, None, ""),
        (900_000, None, ""),
        (900_001, WARNING, "main.yaml is 900,001 bytes, 99,999 under the limit of a template in S3"),
        (1_000_001, ERROR, "main.yaml is 1,000,001 bytes, more than a template may be even from S3"),
    ],
)
def test_template_body_size(size: int, severity: str | None, needle: str) -> None:
    found = problems({"main.yaml": {"Resources": {}}}, {"main.yaml": "#" * size})
    if severity is None:
        assert found == []
    else:
        only(found, needle, severity)


# ---- load balancers -----------------------------------------------------------------------------


def alb(
    listeners: dict[str, Any], extra: dict[str, Any] | None = None, conditions: dict[str, Any] | None = None
) -> Templates:
    res: dict[str, Any] = {"Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}}}
    res.update(listeners)
    res.update(extra or {})
    main: dict[str, Any] = {"Parameters": {"BaseDomain": {"Type": "String", "Default": ""}}, "Resources": res}
    if conditions:
        main["Conditions"] = conditions
    return {"main.yaml": main}


def listener(port: int, tg: str | None = None, condition: str | None = None) -> dict[str, Any]:
    action = (
        {"Type": "forward", "TargetGroupArn": {"Ref": tg}}
        if tg
        else {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    )
    r = {
        "Type": "AWS::ElasticLoadBalancingV2::Listener",
        "Properties": {"LoadBalancerArn": {"Ref": "Lb"}, "Port": port, "Protocol": "HTTP", "DefaultActions": [action]},
    }
    if condition:
        r["Condition"] = condition
    return r


def tg() -> dict[str, Any]:
    return {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 80, "Protocol": "HTTP"}}


def test_listeners_per_alb() -> None:
    assert problems(alb({f"L{p}": listener(p) for p in range(1000, 1050)})) == []
    only(problems(alb({f"L{p}": listener(p) for p in range(1000, 1051)})), "main.yaml:Lb has listeners: 51")


def test_listeners_that_never_coexist_are_not_added_up() -> None:
    conds = {
        "HasDomain": {"Fn::Not": [{"Fn::Equals": [{"Ref": "BaseDomain"}, ""]}]},
        "NoDomain": {"Fn::Equals": [{"Ref": "BaseDomain"}, ""]},
    }
    ls = {f"L{p}": listener(p, condition="HasDomain") for p in range(1000, 1040)}
    ls.update({f"N{p}": listener(p, condition="NoDomain") for p in range(1000, 1040)})
    assert problems(alb(ls, conditions=conds)) == []
    ls.update({f"A{p}": listener(p) for p in range(2000, 2011)})
    only(problems(alb(ls, conditions=conds)), "main.yaml:Lb has listeners: 51 when BaseDomain")


def rules(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(n):
        out[f"Tg{i}"] = tg()
        out[f"Rule{i}"] = {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": {"Ref": "L80"},
                "Priority": i + 1,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/{i}/*"]}}],
                "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": f"Tg{i}"}}],
            },
        }
    return out


def test_rules_and_target_groups_per_alb() -> None:
    assert problems(alb({"L80": listener(80)}, rules(100))) == []
    found = problems(alb({"L80": listener(80)}, rules(101)))
    only(found, "main.yaml:Lb has listener rules (besides the default rules): 101")
    only(found, "main.yaml:Lb forwards to target groups: 101")


def test_certificates_per_alb() -> None:
    def certs(n: int) -> dict[str, Any]:
        return {
            "Extra": {
                "Type": "AWS::ElasticLoadBalancingV2::ListenerCertificate",
                "Properties": {
                    "ListenerArn": {"Ref": "L443"},
                    "Certificates": [
                        {"CertificateArn": f"arn:aws:acm:us-east-1:111111111111:certificate/{i}"} for i in range(n)
                    ],
                },
            }
        }

    assert problems(alb({"L443": listener(443)}, certs(25))) == []
    only(
        problems(alb({"L443": listener(443)}, certs(26))),
        "main.yaml:Lb has certificates besides the listeners' default ones: 26",
    )


def test_a_target_group_serves_one_load_balancer() -> None:
    t = alb(
        {"L80": listener(80, "Web")},
        {
            "Web": tg(),
            "Lb2": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}},
            "L2": {
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "LoadBalancerArn": {"Ref": "Lb2"},
                    "Port": 80,
                    "Protocol": "HTTP",
                    "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Web"}}],
                },
            },
        },
    )
    only(problems(t), "main.yaml:Web is forwarded to by the listeners of load balancers Lb, Lb2: 2")
    del t["main.yaml"]["Resources"]["L2"]
    assert problems(t) == []


def test_target_groups_per_forward_action() -> None:
    def fw(n: int) -> Templates:
        extra = {f"Tg{i}": tg() for i in range(n)}
        lst = listener(80)
        lst["Properties"]["DefaultActions"] = [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": {"Ref": f"Tg{i}"}, "Weight": 1} for i in range(n)]
                },
            }
        ]
        return alb({"L80": lst}, extra)

    assert problems(fw(5)) == []
    only(problems(fw(6)), "main.yaml:L80 forwards in one action to target groups: 6")


def test_target_groups_per_ecs_service() -> None:
    def svc(n: int) -> Templates:
        extra = {f"Tg{i}": tg() for i in range(n)}
        extra["Svc"] = {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "LoadBalancers": [
                    {"ContainerName": "c", "ContainerPort": 80 + i, "TargetGroupArn": {"Ref": f"Tg{i}"}}
                    for i in range(n)
                ]
            },
        }
        return alb({"L80": listener(80)}, extra)

    assert problems(svc(5)) == []
    only(problems(svc(6)), "main.yaml:Svc is attached to target groups: 6")


# ---- security groups --------------------------------------------------------------------------


def sg(ingress: Any = None, egress: Any = None) -> dict[str, Any]:  # a rule list, or an Fn::If of two
    props: dict[str, Any] = {"GroupDescription": "g", "VpcId": "vpc-1"}
    if ingress is not None:
        props["SecurityGroupIngress"] = ingress
    if egress is not None:
        props["SecurityGroupEgress"] = egress
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": props}


def cidr_rules(cidrs: int, ports: list[int], key: str = "CidrIp") -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": p,
            "ToPort": p,
            key: f"10.{i}.0.0/16" if key == "CidrIp" else f"2001:db8:{i:x}::/48",
        }
        for i in range(cidrs)
        for p in ports
    ]


def test_twenty_cidrs_on_four_ports_are_eighty_inbound_rules() -> None:
    """The issue's case: 20 ingress CIDRs x 4 listener ports on one ALB security group."""
    assert problems({"main.yaml": {"Resources": {"Sg": sg(cidr_rules(15, [80, 443, 7860, 8888]))}}}) == []
    only(
        problems({"main.yaml": {"Resources": {"Sg": sg(cidr_rules(20, [80, 443, 7860, 8888]))}}}),
        "main.yaml:Sg has inbound rules: 80",
    )


def test_ipv4_and_ipv6_count_apart_and_a_group_peer_counts_in_both() -> None:
    both = cidr_rules(40, [443]) + cidr_rules(40, [443], "CidrIpv6")
    assert problems({"main.yaml": {"Resources": {"Sg": sg(both)}}}) == []
    peers = cidr_rules(30, [443]) + [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "SourceSecurityGroupId": f"sg-{i:08x}"} for i in range(31)
    ]
    only(problems({"main.yaml": {"Resources": {"Sg": sg(peers)}}}), "main.yaml:Sg has inbound rules: 61")


def test_separate_rule_resources_count_with_the_inline_ones() -> None:
    def t(separate: int) -> Templates:
        res = {"Sg": sg(cidr_rules(30, [443]))}
        res.update(
            {
                f"In{i}": {
                    "Type": "AWS::EC2::SecurityGroupIngress",
                    "Properties": {
                        "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]},
                        "IpProtocol": "tcp",
                        "FromPort": 9000 + i,
                        "ToPort": 9000 + i,
                        "CidrIp": "10.0.0.0/8",
                    },
                }
                for i in range(separate)
            }
        )
        return {"main.yaml": {"Resources": res}}

    assert problems(t(30)) == []
    only(problems(t(31)), "main.yaml:Sg has inbound rules: 61")


def test_outbound_rules_and_the_default_egress_rule() -> None:
    def t(separate: int, inline: list[dict[str, Any]] | None) -> Templates:
        res = {"Sg": sg(egress=inline)}
        res.update(
            {
                f"Out{i}": {
                    "Type": "AWS::EC2::SecurityGroupEgress",
                    "Properties": {
                        "GroupId": {"Ref": "Sg"},
                        "IpProtocol": "tcp",
                        "FromPort": 9000 + i,
                        "ToPort": 9000 + i,
                        "CidrIp": "10.0.0.0/8",
                    },
                }
                for i in range(separate)
            }
        )
        return {"main.yaml": {"Resources": res}}

    assert problems(t(59, None)) == []  # EC2's default all-traffic rule + 59
    only(problems(t(60, None)), "main.yaml:Sg has outbound rules: 61")
    assert problems(t(59, cidr_rules(1, [443]))) == []  # an inline rule replaces the default one
    only(
        problems({"main.yaml": {"Resources": {"Sg": sg(egress=cidr_rules(61, [443]))}}}),
        "main.yaml:Sg has outbound rules: 61",
    )


def test_rules_in_environments_that_never_coexist_are_not_added_up() -> None:
    conds = {"IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}}
    per_env = {"Fn::If": ["IsProd", cidr_rules(40, [443]), cidr_rules(50, [443])]}
    t: dict[str, Any] = {
        "main.yaml": {
            "Parameters": {"Environment": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}},
            "Conditions": conds,
            "Resources": {"Sg": sg(egress=per_env)},
        }
    }
    assert problems(t) == []
    t["main.yaml"]["Resources"]["Sg"]["Properties"]["SecurityGroupEgress"]["Fn::If"][1] = cidr_rules(61, [443])
    only(problems(t), "main.yaml:Sg has outbound rules: 61 when Environment is 'prod'")


def test_security_groups_per_interface_and_their_rules_together() -> None:
    def t(groups: int, rules_each: int) -> Templates:
        res: dict[str, Any] = {f"Sg{i}": sg(cidr_rules(rules_each, [443])) for i in range(groups)}
        res["Svc"] = {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": ["subnet-1"],
                        "SecurityGroups": [{"Ref": f"Sg{i}"} for i in range(groups)],
                    }
                }
            },
        }
        return {"main.yaml": {"Resources": res}}

    assert problems(t(5, 60)) == []
    only(problems(t(6, 1)), "main.yaml:Svc puts on its network interfaces security groups: 6")
    only(problems(t(5, 201)), "main.yaml:Svc has, in its security groups together, inbound rules: 1005")


def test_interface_endpoints_per_vpc() -> None:
    def t(n: int) -> Templates:
        res: dict[str, Any] = {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}}
        res.update(
            {
                f"Ep{i}": {
                    "Type": "AWS::EC2::VPCEndpoint",
                    "Properties": {
                        "VpcId": {"Ref": "Vpc"},
                        "VpcEndpointType": "Interface",
                        "ServiceName": f"com.amazonaws.us-east-1.svc{i}",
                    },
                }
                for i in range(n)
            }
        )
        res["S3"] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "ServiceName": "com.amazonaws.us-east-1.s3"},
        }  # a gateway endpoint: not counted
        return {"main.yaml": {"Resources": res}}

    assert problems(t(50)) == []
    only(problems(t(51)), "main.yaml:Vpc has interface endpoints: 51")


def test_warning_share_is_cfn_lints() -> None:
    from cfnlint.helpers import LIMITS

    assert quotas.WARNING_SHARE == LIMITS["threshold"]
    assert QUOTAS["template_bytes_s3"].value == LIMITS["template"]["body"]
