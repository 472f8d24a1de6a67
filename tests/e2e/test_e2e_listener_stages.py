"""Stage one -> stage two on the emulator: setting BaseDomain on a deployed platform updates
its listeners in place.

ELB allows one listener per (load balancer, port) and CloudFormation creates a new resource
before it deletes the one it supersedes, so a template that swaps one listener resource for
another on the same port fails the update with DuplicateListener (aws/aws-cdk#13901).  The
emulator enforces that rule (generator/deploy/ministack/strictness.py, rule 7; the first
test shows both sides of it), and the platform test deploys bff-agentcore without a domain,
then with BaseDomain and HostedZoneId set, as a user moves from stage one to stage two.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import (
    ROOT,
    apply_stack,
    delete_stack,
    failure_reasons,
    push_images,
    read_params,
    stack_status,
    write_params,
)

from generator.deploy._aws import load_template

pytestmark = pytest.mark.e2e

DUPLICATE = "A listener already exists on this port for this load balancer"


def _lb() -> dict:
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "A": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.1.0/24", "AvailabilityZone": "us-east-1a"},
        },
        "B": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.2.0/24", "AvailabilityZone": "us-east-1b"},
        },
        "Lb": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {"Subnets": [{"Ref": "A"}, {"Ref": "B"}]},
        },
        "Tg": {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {"Port": 80, "Protocol": "HTTP", "TargetType": "ip", "VpcId": {"Ref": "Vpc"}},
        },
    }


FORWARD = [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]
REDIRECT = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]


def _listener(actions: list) -> dict:
    return {
        "Type": "AWS::ElasticLoadBalancingV2::Listener",
        "Properties": {"LoadBalancerArn": {"Ref": "Lb"}, "Port": 80, "Protocol": "HTTP", "DefaultActions": actions},
    }


@pytest.mark.parametrize("swap", [True, False], ids=["new-resource-same-port", "same-resource"])
def test_a_second_listener_on_a_port_fails_with_duplicate_listener(aws, swap):
    """Strictness rule 7: replacing listener Http by a new resource on port 80 fails the update
    (the stack rolls back to the old listener); changing Http itself updates it in place."""
    cfn, elb = aws("cloudformation"), aws("elbv2")
    stack = f"strict-listener-{'swap' if swap else 'inplace'}"
    assert apply_stack(cfn, stack, {**_lb(), "Http": _listener(FORWARD)}) == "CREATE_COMPLETE", failure_reasons(
        cfn, stack
    )
    second = {"HttpRedirect": _listener(REDIRECT)} if swap else {"Http": _listener(REDIRECT)}
    status = apply_stack(cfn, stack, {**_lb(), **second})
    lb = next(
        r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        if r["LogicalResourceId"] == "Lb"
    )
    listeners = elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]
    assert len(listeners) == 1, listeners
    if swap:
        assert status == "UPDATE_ROLLBACK_COMPLETE"
        assert any(DUPLICATE in r for r in failure_reasons(cfn, stack)), failure_reasons(cfn, stack)
        assert listeners[0]["DefaultActions"][0]["Type"] == "forward"
    else:
        assert status == "UPDATE_COMPLETE", failure_reasons(cfn, stack)
        assert listeners[0]["DefaultActions"][0]["Type"] == "redirect"
    assert delete_stack(cfn, stack) is None


def test_two_listeners_on_one_port_fail_to_create(aws):
    cfn = aws("cloudformation")
    stack = "strict-listener-twice"
    res = {**_lb(), "One": _listener(FORWARD), "Two": {**_listener(REDIRECT), "DependsOn": "One"}}
    assert apply_stack(cfn, stack, res) == "ROLLBACK_COMPLETE"
    assert any(DUPLICATE in r for r in failure_reasons(cfn, stack)), failure_reasons(cfn, stack)
    assert delete_stack(cfn, stack) is None


PLATFORM = "bff-agentcore"
DOMAIN = "stage-two.example.com"
# Another template set of the platform to deploy instead of templates/bff-agentcore/ (for
# showing that a set with two listener resources on one port fails this test).
TEMPLATE_DIR = os.environ.get("STACKGEN_E2E_STAGES_TEMPLATES", "")


def _secrets() -> dict[str, str]:
    params = load_template(ROOT / "templates" / PLATFORM / "main.yaml").get("Parameters") or {}
    return {
        f"STACKGEN_PARAM_{name}": f"e2e-{name}-Value-0123456789abcdef"
        for name, spec in params.items()
        if str(spec.get("NoEcho", "")).lower() == "true"
    }


def _listeners_by_port(aws, cfn, stack: str) -> dict[int, dict]:
    elb = aws("elbv2")
    lbs = [
        r["PhysicalResourceId"]
        for r in _all_resources(cfn, stack)
        if r["ResourceType"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    ]
    assert len(lbs) == 1, lbs
    listeners = elb.describe_listeners(LoadBalancerArn=lbs[0])["Listeners"]
    ports = [x["Port"] for x in listeners]
    assert len(ports) == len(set(ports)), listeners
    return {x["Port"]: x for x in listeners}


def _all_resources(cfn, stack: str) -> list[dict]:
    out = []
    for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
        out.append(r)
        if r["ResourceType"] == "AWS::CloudFormation::Stack" and r.get("PhysicalResourceId"):
            out.extend(_all_resources(cfn, r["PhysicalResourceId"]))
    return out


def test_setting_base_domain_updates_the_listeners_in_place(scripts, aws, tmp_path):
    """bff-agentcore in dev: stage one (BaseDomain empty) serves plain HTTP on 80; stage two
    (BaseDomain and HostedZoneId set) keeps the same port-80 listener, now a redirect, and
    adds HTTPS on 443; the update completes (no DuplicateListener)."""
    cfn, r53 = aws("cloudformation"), aws("route53")
    stack = f"{PLATFORM}-stages"  # not the platform tests' {PLATFORM}-dev
    where = (
        "--platform",
        PLATFORM,
        "--env",
        "dev",
        "--stack-name",
        stack,
        *(("--template-dir", TEMPLATE_DIR) if TEMPLATE_DIR else ()),
    )
    assert stack_status(cfn, stack) is None, f"{stack} exists: another test left it behind"
    params = read_params(ROOT / "parameters" / PLATFORM / "dev.json")
    assert params["BaseDomain"] == ""
    run = scripts.deploy(*where, env=_secrets())
    try:
        assert run.code == 0, run
        assert stack_status(cfn, stack) == "CREATE_COMPLETE"
        before = _listeners_by_port(aws, cfn, stack)
        assert set(before) == {80}
        assert before[80]["Protocol"] == "HTTP" and before[80]["DefaultActions"][0]["Type"] == "forward"

        # The first deploy kept the services at 0 until their images are pushed (deploy.sh
        # refuses a second deploy without them): push them, as the printed hint says.
        push_images(aws, stack, Path(TEMPLATE_DIR) if TEMPLATE_DIR else ROOT / "templates" / PLATFORM)
        zone = r53.create_hosted_zone(Name=DOMAIN, CallerReference="stage-two")["HostedZone"]["Id"]
        stage_two = write_params(
            tmp_path / "dev.json", {**params, "BaseDomain": DOMAIN, "HostedZoneId": zone.rsplit("/", 1)[-1]}
        )
        run = scripts.deploy(*where, "--params-file", str(stage_two), "--yes", env=_secrets())
        assert run.code == 0, run
        assert stack_status(cfn, stack) == "UPDATE_COMPLETE", failure_reasons(cfn, stack)
        after = _listeners_by_port(aws, cfn, stack)
        assert set(after) == {80, 443}
        assert after[80]["ListenerArn"] == before[80]["ListenerArn"]  # the same listener, updated
        assert after[80]["DefaultActions"][0]["Type"] == "redirect"
        assert after[443]["Protocol"] == "HTTPS"
    finally:
        run = scripts.delete(
            "--platform", PLATFORM, "--env", "dev", "--stack-name", stack, "--yes", "--purge-artifacts"
        )
    assert run.code == 0, run
    assert stack_status(cfn, stack) is None
