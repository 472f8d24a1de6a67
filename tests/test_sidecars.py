"""Sidecars (issue 12): more than one container per task. The example's task definition, the
execution role's permissions for the sidecars' images and secrets, the preflight and the
invariant over every task's containers (each break it catches), and the default placement of a
service whose sidecar uses the database. Each spec refusal has its bad-spec fixture
(tests/fixtures/bad_specs/160-176, run by tests/test_spec_validation.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator import invariants as inv
from generator import placement, render
from generator.cfn import TemplateSet
from generator.reach.verdicts import check
from generator.spec import SpecError, parse_spec
from tests.helpers import ROOT, props

EXAMPLE = ROOT / "examples" / "sidecars.yaml"
Templates = dict[str, dict[str, Any]]


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built() -> Templates:
    return render.synthesize(parse_spec(example(), str(EXAMPLE)))


@pytest.fixture()
def t(built: Templates) -> Templates:
    return copy.deepcopy(built)


def containers(t: Templates, svc: str = "Web", file: str = "services.yaml") -> list[dict[str, Any]]:
    return props(t[file]["Resources"][f"{svc}TaskDefinition"])["ContainerDefinitions"]


def by_name(t: Templates) -> dict[str, dict[str, Any]]:
    return {c["Name"]: c for c in containers(t)}


def test_the_task_holds_the_service_container_then_its_sidecars(built: Templates) -> None:
    cs = by_name(built)
    assert list(cs) == ["app", "config", "exporter", "agent"]
    assert [cs[n]["Essential"] for n in cs] == [True, False, True, False]
    # Each in the service's log group, under its own stream prefix.
    groups = {str(c["LogConfiguration"]["Options"]["awslogs-group"]) for c in cs.values()}
    assert len(groups) == 1
    assert [c["LogConfiguration"]["Options"]["awslogs-stream-prefix"] for c in cs.values()] == list(cs)
    # Start order, as the spec declares it.
    assert cs["app"]["DependsOn"] == [{"ContainerName": "config", "Condition": "SUCCESS"}]
    assert cs["exporter"]["DependsOn"] == [{"ContainerName": "app", "Condition": "HEALTHY"}]
    assert "DependsOn" not in cs["config"]
    # The service's container keeps the task's memory less the sidecars' (1024 - 32 - 64 - 64).
    assert cs["app"]["Memory"] == 864
    assert [cs[n]["Memory"] for n in ("config", "exporter", "agent")] == [32, 64, 64]
    assert [cs[n]["Cpu"] for n in ("config", "exporter", "agent")] == [0, 64, 64]
    assert [m["ContainerPort"] for m in cs["exporter"]["PortMappings"]] == [9100]
    assert cs["exporter"]["HealthCheck"]["Command"][0] == "CMD-SHELL"
    assert cs["agent"]["Secrets"] == [{"Name": "AGENT_TOKEN", "ValueFrom": {"Ref": "AgentTokenSecretArn"}}]
    assert all(c["Privileged"] is False for c in cs.values())


def test_the_execution_role_reads_a_sidecars_secret(built: Templates) -> None:
    doc = props(built["iam.yaml"]["Resources"]["WebExecutionRole"])["Policies"][0]["PolicyDocument"]
    reads = next(s for s in doc["Statement"] if s["Sid"] == "SecretsRead")
    assert reads["Resource"] == [{"Ref": "AgentTokenSecretArn"}]
    assert "AgentTokenSecretArn" in built["iam.yaml"]["Parameters"]


def test_a_private_ecr_sidecar_image_is_pulled_from_its_repository_only() -> None:
    data = example()
    data["services"][0]["image"] = {"default": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/web:1"}
    data["services"][0]["sidecars"][2]["image"] = {
        "default": "444455556666.dkr.ecr.us-east-1.amazonaws.com/team/agent:2.1"
    }
    t = render.synthesize(parse_spec(data))
    doc = props(t["iam.yaml"]["Resources"]["WebExecutionRole"])["Policies"][0]["PolicyDocument"]
    pull = next(s for s in doc["Statement"] if s["Sid"] == "EcrPull")
    assert {"Fn::Sub": "arn:${AWS::Partition}:ecr:us-east-1:444455556666:repository/team/agent"} in pull["Resource"]
    assert by_name(t)["agent"]["Image"] == "444455556666.dkr.ecr.us-east-1.amazonaws.com/team/agent:2.1"


def test_a_target_group_may_register_a_sidecars_port() -> None:
    """A proxy in front of the service's container: the load balancer names the sidecar."""
    data = example()
    svc = data["services"][0]
    svc["target_groups"][0]["container_port"] = 9100
    t = render.synthesize(parse_spec(data))
    lbs = props(t["services.yaml"]["Resources"]["WebService"])["LoadBalancers"]
    assert lbs == [{"ContainerName": "exporter", "ContainerPort": 9100, "TargetGroupArn": {"Ref": "WebTargetGroupArn"}}]
    assert inv.service_ports_mapped(TemplateSet(t)) == []


def test_sizing_per_environment_gives_the_service_container_its_share_in_each() -> None:
    data = example()
    svc = data["services"][0]
    del svc["cpu"], svc["memory"]
    svc["sizing"] = {e: {"cpu": 512, "memory": m} for e, m in (("dev", 1024), ("test", 1024), ("prod", 2048))}
    t = render.synthesize(parse_spec(data))
    sizing = t["services.yaml"]["Mappings"]["Sizing"]
    assert sizing["dev"]["WebContainerMemory"] == "864" and sizing["prod"]["WebContainerMemory"] == "1888"
    assert by_name(t)["app"]["Memory"] == {"Fn::FindInMap": ["Sizing", {"Ref": "Environment"}, "WebContainerMemory"]}
    assert inv.task_containers(TemplateSet(t)) == []
    sizing["prod"]["WebContainerMemory"] = "2000"  # 2000 + 160 > 2048 in prod only
    found = inv.task_containers(TemplateSet(t))
    assert any("exceeds the task's 2048 in environment prod" in f.problem for f in found), found


def test_a_sidecar_that_reads_the_database_puts_its_service_in_group_database() -> None:
    data = example()
    data["database"] = {"engine": "aurora-postgresql", "engine_version": "16.9", "database_name": "app"}
    data["services"][0]["sidecars"][2]["secrets"]["DB_PASSWORD"] = {"database": "password"}
    spec = parse_spec(data)
    assert spec.services[0].uses_database
    assert placement.mapping(spec) == {"web": "database"}
    t = render.synthesize(spec)
    doc = props(t["iam-database.yaml"]["Resources"]["WebExecutionRole"])["Policies"][0]["PolicyDocument"]
    reads = next(s for s in doc["Statement"] if s["Sid"] == "SecretsRead")
    assert {"Ref": "DatabaseCredentialsSecretArn"} in reads["Resource"]


def test_a_writable_sidecar_root_is_an_exemption_of_that_container_only() -> None:
    data = example()
    agent = data["services"][0]["sidecars"][2]
    agent["readonly_root_filesystem"] = False
    agent["writable_root_reason"] = "the agent buffers unsent reports under /var/lib/agent"
    t = render.synthesize(parse_spec(data))
    meta = t["services.yaml"]["Resources"]["WebTaskDefinition"]["Metadata"]["stackgen"]
    assert meta["writable_root"] == [
        {"container": "agent", "reason": "the agent buffers unsent reports under /var/lib/agent"}
    ]


# --------------------------------------------------------------------------- the preflight


def test_the_preflight_passes_the_example_and_catches_a_sidecar_secret_it_cannot_read(t: Templates) -> None:
    findings, _ = check(t)
    assert [f.problem for f in findings if f.severity == "error"] == []
    doc = props(t["iam.yaml"]["Resources"]["WebExecutionRole"])["Policies"][0]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "SecretsRead"]
    findings, _ = check(t)
    errors = [f.problem for f in findings if f.severity == "error"]
    assert any(
        "AgentTokenSecretArn" in e or "agent-token" in e or "secretsmanager:GetSecretValue" in e for e in errors
    ), errors


# --------------------------------------------------------------------------- invariant 25


def catches(t: Templates, needle: str) -> None:
    found = inv.task_containers(TemplateSet(t))
    assert any(needle in f.problem for f in found), found


def test_25_baseline_is_clean(built: Templates) -> None:
    assert inv.check_all(built, parse_spec(example())) == {}


def test_25_duplicate_container_name(t: Templates) -> None:
    containers(t)[3]["Name"] = "app"
    catches(t, "are not unique")


def test_25_no_essential_container(t: Templates) -> None:
    for c in containers(t):
        c["Essential"] = False
    catches(t, "no essential container")


def test_25_depends_on_a_container_not_in_the_task(t: Templates) -> None:
    by_name(t)["agent"]["DependsOn"] = [{"ContainerName": "db", "Condition": "START"}]
    catches(t, "DependsOn db, not another container of the task")


def test_25_depends_on_itself(t: Templates) -> None:
    by_name(t)["agent"]["DependsOn"] = [{"ContainerName": "agent", "Condition": "START"}]
    catches(t, "DependsOn agent, not another container of the task")


def test_25_complete_on_an_essential_container(t: Templates) -> None:
    by_name(t)["app"]["DependsOn"] = [{"ContainerName": "exporter", "Condition": "COMPLETE"}]
    catches(t, "DependsOn exporter COMPLETE, but exporter is essential")


def test_25_healthy_on_a_container_without_health_check(t: Templates) -> None:
    by_name(t)["app"]["DependsOn"] = [{"ContainerName": "agent", "Condition": "HEALTHY"}]
    catches(t, "DependsOn agent HEALTHY, but agent has no health check")


def test_25_cycle(t: Templates) -> None:
    by_name(t)["config"]["DependsOn"] = [{"ContainerName": "agent", "Condition": "START"}]
    by_name(t)["app"]["DependsOn"] = [{"ContainerName": "agent", "Condition": "START"}]
    by_name(t)["agent"]["DependsOn"] = [{"ContainerName": "config", "Condition": "START"}]
    catches(t, "DependsOn form a cycle")


def test_25_port_used_twice(t: Templates) -> None:
    by_name(t)["exporter"]["PortMappings"][0]["ContainerPort"] = 8080
    catches(t, "are not unique across the task")


def test_25_privileged(t: Templates) -> None:
    by_name(t)["agent"]["Privileged"] = True
    catches(t, "agent: privileged container")


def test_25_memory_over_the_task(t: Templates) -> None:
    by_name(t)["app"]["Memory"] = 1000
    catches(t, "the containers' Memory 1160 exceeds the task's 1024")


def test_25_cpu_over_the_task(t: Templates) -> None:
    by_name(t)["exporter"]["Cpu"] = 500
    catches(t, "the containers' Cpu 564 exceeds the task's 512")


# --------------------------------------------------------------------------- spec


def test_an_essential_sidecar_without_health_check_is_refused_and_a_non_essential_one_is_not() -> None:
    data = example()
    data["services"][0]["sidecars"][2]["essential"] = True
    with pytest.raises(SpecError, match=r"sidecars\[2\]: health_check: required on an essential sidecar"):
        parse_spec(data)
    data["services"][0]["sidecars"][2]["health_check"] = {"command": "kill -0 1 || exit 1"}
    assert parse_spec(data).services[0].sidecars[2].essential


def test_the_service_container_may_wait_for_a_healthy_sidecar() -> None:
    data = example()
    data["services"][0]["depends_on"] = [{"container": "config", "condition": "SUCCESS"}]
    data["services"][0]["sidecars"][1]["depends_on"] = []
    data["services"][0]["depends_on"].append({"container": "exporter", "condition": "HEALTHY"})
    t = render.synthesize(parse_spec(data))
    assert by_name(t)["app"]["DependsOn"][1] == {"ContainerName": "exporter", "Condition": "HEALTHY"}
    assert inv.task_containers(TemplateSet(t)) == []
