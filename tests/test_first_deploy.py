"""Images that cannot exist yet: a service whose image comes from an ECR repository the
same platform creates cannot be required to start on the first deploy (the repository is
empty, the circuit breaker fails the service, the stack rolls back).

The rule, on the templates: every ECS service (or scheduled task) whose container image
is read from a repository output of the platform's own ECR stack runs no task until the
parent parameter ``<Service>ImageReady`` is "true" (DesiredCount 0, schedule disabled),
its scalable target cannot raise it (capacity 0..0), and the parent's
``Metadata.stackgen.images`` tells deploy.sh which parameter, repository output and tag
parameter belong to it. The parameter defaults to "true", so a plain update of a running
platform never scales it to zero."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator import naming, parent
from generator.cfn.load import load_dir
from generator.spec import load_spec, parse_spec
from tests.helpers import PLATFORMS, ROOT, props, resources

Templates = dict[str, dict[str, Any]]


def _stacks(ts: Templates) -> dict[str, tuple[str, dict[str, Any]]]:
    """file -> (stack logical id, parameters the parent feeds it)."""
    return {
        r["Properties"]["TemplateURL"]: (lid, r["Properties"].get("Parameters", {}))
        for lid, r in ts["main.yaml"]["Resources"].items()
        if r["Type"] == "AWS::CloudFormation::Stack"
    }


def _from_platform_repository(ts: Templates, file: str, image: Any) -> bool:
    """Whether a container image reads a repository URI that the platform's ECR stack outputs."""
    stacks = _stacks(ts)
    ecr = [
        lid
        for f, (lid, _) in stacks.items()
        if any(r["Type"] == "AWS::ECR::Repository" for r in ts[f].get("Resources", {}).values())
    ]
    fed = stacks[file][1]
    refs = [
        v["Ref"]
        for v in (
            image["Fn::Sub"][1].values()
            if isinstance(image, dict) and "Fn::Sub" in image and isinstance(image["Fn::Sub"], list)
            else [image]
        )
        if isinstance(v, dict) and "Ref" in v
    ]
    return any(fed.get(r, {}).get("Fn::GetAtt", [None])[0] in ecr for r in refs)


def _ready_parameter(ts: Templates, file: str, cond: str) -> str | None:
    """The parent parameter a child condition tests for "true", or None."""
    expr = ts[file].get("Conditions", {}).get(cond)
    if not (isinstance(expr, dict) and "Fn::Equals" in expr and expr["Fn::Equals"][1] == "true"):
        return None
    child_param = expr["Fn::Equals"][0].get("Ref")
    fed = _stacks(ts)[file][1].get(child_param)
    if not (isinstance(fed, dict) and set(fed) == {"Ref"}):
        return None
    p = ts["main.yaml"]["Parameters"].get(fed["Ref"], {})
    return fed["Ref"] if p.get("AllowedValues") == ["true", "false"] and p.get("Default") == "true" else None


def _gated(value: Any, ts: Templates, file: str, off: Any) -> str | None:
    """The ready parameter when value is Fn::If [a ready condition, x, off], else None."""
    if not (isinstance(value, dict) and "Fn::If" in value and value["Fn::If"][2] == off):
        return None
    return _ready_parameter(ts, file, value["Fn::If"][0])


def first_deploy_problems(ts: Templates) -> list[str]:
    """One line per service that would have to start from an image its own stack has not got yet."""
    problems = []
    images = {i["service"]: i for i in ts["main.yaml"].get("Metadata", {}).get("stackgen", {}).get("images", [])}
    for file, t in sorted(ts.items()):
        tds = resources(t, "AWS::ECS::TaskDefinition")
        runners: list[tuple[str, Any, str, int | str]] = [
            (lid, props(r).get("TaskDefinition", {}).get("Ref"), "DesiredCount", 0)
            for lid, r in resources(t, "AWS::ECS::Service").items()
        ]
        runners += [
            (lid, props(r)["Target"]["EcsParameters"]["TaskDefinitionArn"].get("Ref"), "State", "DISABLED")
            for lid, r in resources(t, "AWS::Scheduler::Schedule").items()
        ]
        for lid, td, prop, off in runners:
            image = props(tds[td])["ContainerDefinitions"][0]["Image"]
            if not _from_platform_repository(ts, file, image):
                continue
            value = props(t["Resources"][lid]).get(prop)
            ready = _gated(value, ts, file, off)
            if ready is None:
                problems.append(f"{file}: {lid}: {prop} does not wait for its image ({value!r})")
                continue
            entry = next((i for i in images.values() if i["parameter"] == ready), None)
            if entry is None:
                problems.append(f"main.yaml: Metadata.stackgen.images does not list {ready}")
            elif (
                entry["repository_output"] not in ts["main.yaml"].get("Outputs", {})
                or entry["tag_parameter"] not in ts["main.yaml"]["Parameters"]
            ):
                problems.append(f"main.yaml: Metadata.stackgen.images: {ready}: no such output or tag parameter")
    by_lid = {lid: f for f, (lid, _) in _stacks(ts).items()}
    for file, t in sorted(ts.items()):
        for lid, r in resources(t, "AWS::ApplicationAutoScaling::ScalableTarget").items():
            # ResourceId service/${Cluster}/${Service}: Service is fed by the services stack's output.
            service_param = props(r)["ResourceId"]["Fn::Sub"][1]["Service"]["Ref"]
            stack, output = _stacks(ts)[file][1][service_param]["Fn::GetAtt"]
            producer = by_lid[stack]
            service = ts[producer]["Outputs"][output.removeprefix("Outputs.")]["Value"]["Fn::GetAtt"][0]
            if not _gated(props(ts[producer]["Resources"][service]).get("DesiredCount"), ts, producer, 0):
                continue
            if not (_gated(props(r)["MinCapacity"], ts, file, 0) and _gated(props(r)["MaxCapacity"], ts, file, 0)):
                problems.append(f"{file}: {lid}: scaling would start the service before its image exists")
    return problems


@pytest.fixture(scope="module", params=[p.stem for p in PLATFORMS])
def committed(request: pytest.FixtureRequest) -> tuple[str, Templates]:
    return request.param, load_dir(ROOT / "templates" / request.param)


def test_committed_platforms_wait_for_their_images(committed: tuple[str, Templates]) -> None:
    assert first_deploy_problems(committed[1]) == []


def test_a_service_that_must_start_at_once_is_caught(committed: tuple[str, Templates]) -> None:
    """Today's templates before this change: DesiredCount a plain number."""
    stem, ts = committed
    broken = copy.deepcopy(ts)
    changed = []
    for file in sorted(f for f in broken if f.startswith("services")):  # every service group's
        for lid, r in resources(broken[file], "AWS::ECS::Service").items():
            value = props(r)["DesiredCount"]
            if isinstance(value, dict):
                props(r)["DesiredCount"] = value["Fn::If"][1]
                changed.append(lid)
        for lid, r in resources(broken[file], "AWS::Scheduler::Schedule").items():
            if isinstance(props(r)["State"], dict):
                props(r)["State"] = "ENABLED"
                changed.append(lid)
    assert changed, f"{stem}: no service waits for an image"
    assert [p.split(": ")[1] for p in first_deploy_problems(broken)] == sorted(changed)


def test_missing_metadata_is_caught(committed: tuple[str, Templates]) -> None:
    _, ts = committed
    broken = copy.deepcopy(ts)
    del broken["main.yaml"]["Metadata"]
    assert first_deploy_problems(broken) and all(
        "Metadata.stackgen.images does not list" in p for p in first_deploy_problems(broken)
    )


def test_scaling_that_would_start_the_service_is_caught(mcp_templates: Templates) -> None:
    broken = copy.deepcopy(mcp_templates)
    target = props(broken["autoscaling-database.yaml"]["Resources"]["KeycloakScalableTarget"])
    target["MinCapacity"] = 1
    assert first_deploy_problems(broken) == [
        "autoscaling-database.yaml: KeycloakScalableTarget: scaling would start the service before its image exists"
    ]


def test_the_default_keeps_a_running_platform_running(mcp_templates: Templates) -> None:
    """A plain `aws cloudformation deploy` (no parameter given) keeps the service running."""
    p = mcp_templates["main.yaml"]["Parameters"]["KeycloakImageReady"]
    assert (p["Default"], p["AllowedValues"], p["Type"]) == ("true", ["true", "false"], "String")


def test_no_running_tasks_alarm_before_the_image(mcp_templates: Templates) -> None:
    alarm = mcp_templates["monitoring-database.yaml"]["Resources"]["KeycloakRunningTasksLowAlarm"]
    assert alarm["Condition"] == "KeycloakImageIsReady"
    assert "Condition" not in mcp_templates["monitoring.yaml"]["Resources"]["RegistryRunningTasksLowAlarm"]


def test_metadata_names_what_deploy_sh_needs(platform_templates: tuple[str, Templates]) -> None:
    stem, ts = platform_templates
    spec = load_spec(ROOT / "platforms" / f"{stem}.yaml")
    meta = ts["main.yaml"]["Metadata"]["stackgen"]
    assert meta["images"] == [
        {
            "service": s.name,
            "kind": "service" if s.is_service else "scheduled-task",
            "parameter": naming.image_ready_param(s.name),
            "repository": s.image.repository,
            "repository_output": naming.repo_output(s.image.repository, "Uri"),
            "tag_parameter": naming.image_tag_param(s.name),
        }
        for s in spec.services
        if s.image.repository
    ]
    assert meta["images"], f"{stem}: no service from a platform repository"
    for image in meta["images"]:
        assert image["parameter"] in ts["main.yaml"]["Parameters"]
        assert image["tag_parameter"] in ts["main.yaml"]["Parameters"]
        assert image["repository_output"] in ts["main.yaml"]["Outputs"]
    assert meta["retain_on_delete"] == dict.fromkeys(spec.environments, True)


def test_services_with_uri_images_get_no_ready_parameter(mcp_templates: Templates) -> None:
    params = mcp_templates["main.yaml"]["Parameters"]
    assert [p for p in params if p.endswith("ImageReady")] == ["KeycloakImageReady"]
    assert props(mcp_templates["services.yaml"]["Resources"]["RegistryService"])["DesiredCount"] == 2


def test_metadata_without_repository_services() -> None:
    data = yaml.safe_load((ROOT / "platforms" / "mcp-gateway.yaml").read_text())
    next(s for s in data["services"] if s["name"] == "keycloak")["image"] = {
        "default": "quay.io/keycloak/keycloak:23.0"
    }
    spec = parse_spec(data, "platforms/x.yaml")
    assert parent.metadata(spec)["stackgen"]["images"] == []  # type: ignore[index]  # metadata() is a JSON object
    assert not [p for p in parent.root_parameters(spec) if p.endswith("ImageReady")]
