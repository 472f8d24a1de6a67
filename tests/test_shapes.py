"""The spec shapes of issue 12 item 1, each from spec to template: a worker with no ports,
declared parameters inside task-permission resources, a bucket's name in a container's
environment, allowed_pattern on parameters, per-environment desired counts and scaling ranges.
Each refusal has its bad-spec fixture (tests/fixtures/bad_specs/70-85); here are what the
templates hold and the checks that catch a break of them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import invariants as inv
from generator import render
from generator.cfn import TemplateSet
from generator.deploy import params as deploy_params
from generator.spec import SpecError, load_spec, parse_spec
from tests.helpers import ROOT, props, resources

Templates = dict[str, dict[str, Any]]
WORKER = ROOT / "examples" / "queue-worker.yaml"
UPLOADS = ROOT / "examples" / "uploads.yaml"


def spec_data(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def worker() -> Templates:
    return render.synthesize(load_spec(WORKER))


@pytest.fixture(scope="module")
def uploads() -> Templates:
    return render.synthesize(load_spec(UPLOADS))


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "x.yaml")
    return str(exc.value)


# --------------------------------------------------------------------------- a worker with no ports


def test_worker_has_a_service_and_scaling_but_no_ports_ingress_or_discovery(worker: Templates) -> None:
    svc = props(worker["services.yaml"]["Resources"]["ConsumerService"])
    td = props(worker["services.yaml"]["Resources"]["ConsumerTaskDefinition"])
    assert td["ContainerDefinitions"][0]["PortMappings"] == []
    assert "LoadBalancers" not in svc and "ServiceRegistries" not in svc
    assert "ServiceConnectConfiguration" not in svc  # no namespace in this platform
    assert resources(worker["services.yaml"], "AWS::ServiceDiscovery::Service") == {}
    assert "ConsumerScalableTarget" in worker["autoscaling.yaml"]["Resources"]
    sg = worker["security-groups.yaml"]["Resources"]
    assert "SecurityGroupIngress" not in props(sg["ConsumerServiceSecurityGroup"])
    into_worker = [
        lid
        for lid, r in resources(worker["security-groups.yaml"], "AWS::EC2::SecurityGroupIngress").items()
        if props(r)["GroupId"] == {"Fn::GetAtt": ["ConsumerServiceSecurityGroup", "GroupId"]}
    ]
    assert into_worker == []
    assert inv.check_all(worker, load_spec(WORKER)) == {}
    assert load_spec(WORKER).services[0].is_worker and not load_spec(UPLOADS).services[0].is_worker


def test_worker_in_a_service_connect_cluster_is_a_client_only() -> None:
    """A worker beside a Service Connect service may call it by its alias: the worker's
    configuration turns Service Connect on as a client and publishes no name."""
    data = spec_data(WORKER)
    data["namespace"] = "jobs.local"
    data["services"].append(
        {
            "name": "api",
            "image": {"default": "public.ecr.aws/nginx/nginx:1.27"},
            "cpu": 256,
            "memory": 512,
            "ports": [{"name": "http", "port": 8080}],
            "health_check": {"command": "true"},
            "user": "1000:1000",
            "writable_root_reason": "nginx writes its pid file under /var/run",
            "discovery": {"name": "api", "port": "http"},
            "allow_from": [{"service": "consumer", "ports": [8080]}],
        }
    )
    t = render.synthesize(parse_spec(data, "x.yaml"))
    sc = props(t["services.yaml"]["Resources"]["ConsumerService"])["ServiceConnectConfiguration"]
    assert sc["Enabled"] is True and "Services" not in sc
    assert inv.check_all(t) == {}


def test_service_ports_mapped_catches_a_worker_behind_a_load_balancer(worker: Templates) -> None:
    t = copy.deepcopy(worker)
    props(t["services.yaml"]["Resources"]["ConsumerService"])["LoadBalancers"] = [
        {"ContainerName": "consumer", "ContainerPort": 8080, "TargetGroupArn": "arn:aws:x"}
    ]
    found = inv.service_ports_mapped(TemplateSet(t))
    assert any(
        "load balancer attachment to consumer:8080, a port ConsumerTaskDefinition does not map" in f.problem
        for f in found
    ), found


def test_service_ports_mapped_catches_a_worker_publishing_service_connect(worker: Templates) -> None:
    t = copy.deepcopy(worker)
    props(t["services.yaml"]["Resources"]["ConsumerService"])["ServiceConnectConfiguration"] = {
        "Enabled": True,
        "Services": [{"PortName": "http", "DiscoveryName": "consumer"}],
    }
    found = inv.service_ports_mapped(TemplateSet(t))
    assert any("Service Connect publishes port http" in f.problem for f in found), found


def test_service_ports_mapped_catches_an_unmapped_port_and_container(mcp_templates: Templates) -> None:
    t = copy.deepcopy(mcp_templates)
    lbs = props(t["services.yaml"]["Resources"]["RegistryService"])["LoadBalancers"]
    lbs[0]["ContainerPort"] = 9999
    lbs.append({**lbs[0], "ContainerName": "nobody", "ContainerPort": 7860})
    problems = [f.problem for f in inv.service_ports_mapped(TemplateSet(t))]
    assert any("a port RegistryTaskDefinition does not map" in p and ":9999" in p for p in problems), problems
    assert any("names container nobody" in p for p in problems), problems


def test_ingress_into_a_worker_is_caught(worker: Templates) -> None:
    """The existing Property 10 check covers the worker: its tasks listen on no port."""
    t = copy.deepcopy(worker)
    t["security-groups.yaml"]["Resources"]["IntoWorkerIngress"] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {
            "GroupId": {"Fn::GetAtt": ["ConsumerServiceSecurityGroup", "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": 8080,
            "ToPort": 8080,
            "Description": "oops",
            "SourceSecurityGroupId": {"Fn::GetAtt": ["ConsumerServiceSecurityGroup", "GroupId"]},
        },
    }
    found = inv.security_group_ingress(TemplateSet(t))
    assert any(
        "ConsumerServiceSecurityGroup admits port 8080, but its targets listen on []" in f.problem for f in found
    ), found


def test_a_worker_that_another_service_reaches_is_refused() -> None:
    """A worker may have no ports, but one that is reached must declare them."""
    data = spec_data(WORKER)
    data["services"][0]["allow_from"] = [{"service": "consumer", "ports": [1]}]
    assert "allow_from: a service with no ports (a worker) cannot be reached" in refusal(data)


# --------------------------------------------------------------------------- parameters in task permissions


def test_permission_parameter_is_fed_to_the_iam_stack(worker: Templates) -> None:
    iam = worker["iam.yaml"]
    assert iam["Parameters"]["OrderQueueArn"]["Type"] == "String"
    stmts = props(iam["Resources"]["ConsumerTaskRole"])["Policies"][0]["PolicyDocument"]["Statement"]
    consume = next(s for s in stmts if s["Sid"] == "ConsumeOrders")
    assert consume["Resource"] == [{"Fn::Sub": "${OrderQueueArn}"}]
    stack = props(worker["main.yaml"]["Resources"]["IamStack"])
    assert stack["Parameters"]["OrderQueueArn"] == {"Ref": "OrderQueueArn"}


def test_permission_names_parameter_inside_an_arn_and_builtins() -> None:
    data = spec_data(WORKER)
    data["parameters"] = [p for p in data["parameters"] if p["name"] != "OrderQueueArn"]
    data["parameters"].append({"name": "OrderQueueName", "description": "queue", "default": "orders"})
    data["services"][0]["task_permissions"][0]["resources"] = [
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Name}-${Environment}-${OrderQueueName}"
    ]
    t = render.synthesize(parse_spec(data, "x.yaml"))
    assert t["iam.yaml"]["Parameters"]["OrderQueueName"]["Type"] == "String"
    assert "OrderQueueName" in props(t["main.yaml"]["Resources"]["IamStack"])["Parameters"]


def test_undeclared_name_in_a_permission_is_still_unknown() -> None:
    data = spec_data(WORKER)
    data["services"][0]["task_permissions"][0]["resources"] = ["${OrderQueue}"]
    assert "services[0].task_permissions[ConsumeOrders]: unknown placeholder ${OrderQueue}" in refusal(data)


# --------------------------------------------------------------------------- a bucket's name in the environment


def test_bucket_name_in_environment_comes_from_the_storage_stack(uploads: Templates) -> None:
    svc = uploads["services.yaml"]
    env = props(svc["Resources"]["WebTaskDefinition"])["ContainerDefinitions"][0]["Environment"]
    assert {"Name": "UPLOAD_BUCKET", "Value": {"Fn::Sub": "${UploadsBucketName}"}} in env
    assert "UploadsBucketName" in svc["Parameters"]
    fed = props(uploads["main.yaml"]["Resources"]["ServicesStack"])["Parameters"]["UploadsBucketName"]
    assert fed == {"Fn::GetAtt": ["StorageStack", "Outputs.UploadsBucketName"]}


# --------------------------------------------------------------------------- allowed_pattern


def test_allowed_pattern_and_constraint_description_reach_the_parent(worker: Templates) -> None:
    p = worker["main.yaml"]["Parameters"]["OrderQueueArn"]
    spec = load_spec(WORKER).parameters[0]
    assert p["AllowedPattern"] == spec.allowed_pattern
    assert p["ConstraintDescription"] == spec.constraint_description
    assert "Default" not in p


def test_parameters_file_check_reads_the_allowed_pattern(worker: Templates) -> None:
    """deploy/params.py (deploy.sh, `stackgen params --check`) refuses a value the pattern refuses."""
    good = {
        "OrderQueueArn": "arn:aws:sqs:eu-west-1:123456789012:orders",
        "OrderQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
    }
    assert deploy_params.resolve(worker["main.yaml"], good, env={}).problems == []
    bad = {**good, "OrderQueueArn": "*"}
    problems = deploy_params.resolve(worker["main.yaml"], bad, env={}).problems
    assert any(p.startswith("OrderQueueArn: '*' does not match AllowedPattern") for p in problems), problems


def test_allowed_pattern_is_a_full_match() -> None:
    """CloudFormation matches the whole value: a default matching only a prefix is refused."""
    data = spec_data(WORKER)
    data["parameters"][0]["default"] = "arn:aws:sqs:eu-west-1:123456789012:orders and more"
    assert "does not match allowed_pattern" in refusal(data)


# --------------------------------------------------------------------------- per-environment counts


def test_per_environment_counts_are_mappings_by_environment(uploads: Templates) -> None:
    svc = uploads["services.yaml"]
    assert svc["Mappings"]["DesiredCount"] == {"dev": {"Web": "1"}, "test": {"Web": "2"}, "prod": {"Web": "3"}}
    assert props(svc["Resources"]["WebService"])["DesiredCount"] == {
        "Fn::FindInMap": ["DesiredCount", {"Ref": "Environment"}, "Web"]
    }
    scale = uploads["autoscaling.yaml"]
    assert scale["Mappings"]["Capacity"] == {
        "dev": {"WebMin": "1", "WebMax": "2"},
        "test": {"WebMin": "2", "WebMax": "4"},
        "prod": {"WebMin": "3", "WebMax": "12"},
    }
    target = props(scale["Resources"]["WebScalableTarget"])
    assert target["MinCapacity"] == {"Fn::FindInMap": ["Capacity", {"Ref": "Environment"}, "WebMin"]}
    assert target["MaxCapacity"] == {"Fn::FindInMap": ["Capacity", {"Ref": "Environment"}, "WebMax"]}
    assert props(uploads["main.yaml"]["Resources"]["AutoscalingStack"])["Parameters"]["Environment"] == {
        "Ref": "Environment"
    }


def test_desired_count_defaults_to_the_environments_scaling_minimum() -> None:
    data = spec_data(UPLOADS)
    svc = data["services"][0]
    del svc["desired_count"], svc["desired_count_by_environment"]
    s = parse_spec(data, "x.yaml").services[0]
    assert [s.desired_in(e) for e in ("dev", "test", "prod")] == [1, 2, 3]
    t = render.synthesize(parse_spec(data, "x.yaml"))
    assert t["services.yaml"]["Mappings"]["DesiredCount"] == {
        "dev": {"Web": "1"},
        "test": {"Web": "2"},
        "prod": {"Web": "3"},
    }


def test_without_overrides_counts_stay_literal() -> None:
    data = spec_data(UPLOADS)
    svc = data["services"][0]
    del svc["desired_count_by_environment"], svc["scaling_by_environment"]
    t = render.synthesize(parse_spec(data, "x.yaml"))
    assert "Mappings" not in t["services.yaml"] and "Mappings" not in t["autoscaling.yaml"]
    assert props(t["services.yaml"]["Resources"]["WebService"])["DesiredCount"] == 2
    assert "Environment" not in t["autoscaling.yaml"].get("Parameters", {})


def test_a_scheduled_task_has_no_per_environment_counts() -> None:
    data = spec_data(ROOT / "platforms" / "scheduled-file-writer.yaml")
    data["services"][0]["desired_count_by_environment"] = {"prod": 2}
    assert "desired_count_by_environment: a scheduled task" in refusal(data)


def test_parameter_resources_bounded_catches_a_parameter_that_admits_star(worker: Templates) -> None:
    assert inv.parameter_resources_bounded(TemplateSet(worker)) == []
    t = copy.deepcopy(worker)
    del t["main.yaml"]["Parameters"]["OrderQueueArn"]["AllowedPattern"]
    found = inv.parameter_resources_bounded(TemplateSet(t))
    assert any(
        "iam.yaml:ConsumerTaskRole: statement ConsumeOrders has parameter OrderQueueArn alone as a Resource"
        in f.problem
        for f in found
    ), found
    t["main.yaml"]["Parameters"]["OrderQueueArn"]["AllowedPattern"] = "^arn:.*|\\*$"
    assert inv.parameter_resources_bounded(TemplateSet(t)) != []
    t["main.yaml"]["Parameters"]["OrderQueueArn"]["AllowedValues"] = ["arn:aws:sqs:us-east-1:123456789012:a"]
    assert inv.parameter_resources_bounded(TemplateSet(t)) == []


def test_desired_within_scaling_reads_the_mappings_per_environment(uploads: Templates) -> None:
    assert inv.desired_within_scaling(TemplateSet(uploads)) == []
    t = copy.deepcopy(uploads)
    t["services.yaml"]["Mappings"]["DesiredCount"]["prod"]["Web"] = "20"
    t["autoscaling.yaml"]["Mappings"]["Capacity"]["dev"]["WebMax"] = "0"
    problems = [f.problem for f in inv.desired_within_scaling(TemplateSet(t))]
    assert (
        "services.yaml:WebService: DesiredCount 20 is outside WebScalableTarget's 3..12 in environment prod" in problems
    ), problems
    assert (
        "services.yaml:WebService: DesiredCount 1 is outside WebScalableTarget's 1..0 in environment dev" in problems
    ), problems
    assert len(problems) == 2


def test_desired_within_scaling_catches_a_literal_count(mcp_templates: Templates) -> None:
    t = copy.deepcopy(mcp_templates)
    props(t["services.yaml"]["Resources"]["RegistryService"])["DesiredCount"] = 9
    problems = [f.problem for f in inv.desired_within_scaling(TemplateSet(t))]
    assert (
        "services.yaml:RegistryService: DesiredCount 9 is outside RegistryScalableTarget's 2..4 in environment prod"
        in problems
    ), problems


def test_running_tasks_alarm_follows_the_per_environment_count(uploads: Templates) -> None:
    """The too-few-running-tasks alarm compares with each environment's count, not the lowest."""
    spec = load_spec(UPLOADS)
    s = next(x for x in spec.services if x.desired_count_by_environment)
    mon = uploads["monitoring.yaml"]
    alarm = props(resources(mon, "AWS::CloudWatch::Alarm")[f"{s.name.capitalize()}RunningTasksLowAlarm"])
    assert alarm["Threshold"] == {"Fn::FindInMap": ["DesiredCount", {"Ref": "Environment"}, s.name.capitalize()]}
    assert {env: int(v[s.name.capitalize()]) for env, v in mon["Mappings"]["DesiredCount"].items()} == {
        env: s.desired_in(env) for env in spec.environments
    }


def test_an_environment_without_tasks_keeps_the_alarm_of_the_others() -> None:
    """desired 0 in dev and 3 in prod: prod still has its alarm (threshold 0 never fires in dev)."""
    data = spec_data(UPLOADS)
    svc = next(x for x in data["services"] if x.get("desired_count_by_environment"))
    svc["desired_count_by_environment"] = {"dev": 0, "prod": 3}
    svc.pop("scaling_by_environment", None)
    svc.pop("scaling", None)
    svc["desired_count"] = 0
    spec = parse_spec(data, "x.yaml")
    mon = render.synthesize(spec)["monitoring.yaml"]
    lid = f"{svc['name'].capitalize()}RunningTasksLowAlarm"
    assert lid in resources(mon, "AWS::CloudWatch::Alarm")
    assert mon["Mappings"]["DesiredCount"]["prod"][svc["name"].capitalize()] == "3"
