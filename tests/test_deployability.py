"""The deployability check: conditions (presence and load-balancer association), the
spec-field mapping, synthesis running the check, and the committed platforms.

Each presence fixture under tests/fixtures/deployability/presence/ is a hand-written
template set whose main.yaml names, in Metadata.deployability-test, the rule and the
finding it must produce ('none' for the passing twin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import deployability, render, synth
from generator.cfn import ERROR, WARNING, Finding, load_dir
from generator.deployability import fields, presence
from generator.deployability.base import Inputs
from generator.spec import SpecError, load_spec
from tests.helpers import PLATFORMS, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "deployability"
PRESENCE = sorted((FIXTURES / "presence").iterdir())


def expectation(path: Path) -> tuple[dict[str, dict[str, Any]], str, str]:
    templates = load_dir(path)
    meta = templates["main.yaml"]["Metadata"]["deployability-test"]
    return templates, meta["rule"], meta["expect"]


@pytest.mark.parametrize("case", PRESENCE, ids=lambda p: p.name)
def test_presence_fixture(case: Path) -> None:
    templates, rule, expect = expectation(case)
    found = [f for f in deployability.check(templates) if f.rule == rule]
    if expect == "none":
        assert found == []
    else:
        assert any(f.problem.startswith(expect) for f in found), [f.problem for f in found]
        assert all("(AWS: " in f.problem and "https://docs.aws.amazon.com/" in f.problem for f in found)
        assert all(f.severity == ERROR for f in found)


def test_every_kind_of_reference_has_a_failing_and_a_passing_fixture() -> None:
    kinds = {p.name: expectation(p)[1:] for p in PRESENCE}
    failing = {name for name, (_, expect) in kinds.items() if expect != "none"}
    assert {
        "ref-conditional",
        "getatt-across-stacks",
        "sub-variable",
        "depends-on",
        "stack-condition",
        "listener-default-action",
        "ecs-https-only",
        "output-if",
    } <= failing
    assert {"ref-guarded", "ecs-https-degrades", "ecs-listener-rule"} <= set(kinds) - failing


def _mcp() -> dict[str, dict[str, Any]]:
    return load_dir(ROOT / "templates" / "mcp-gateway")


def test_mcp_gateway_with_a_target_group_reached_only_by_https_is_caught() -> None:
    """The committed mcp-gateway templates with the listener that serves gradio in both stages
    (HTTPS with a domain, plain HTTP without) made to exist only with a domain, as an https-mode
    listener does: the gradio target group is then reached by no listener without a domain."""
    t = _mcp()
    alb = t["alb.yaml"]["Resources"]
    both_stages = [
        lid
        for lid, r in list(alb.items())
        if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"
        and "Condition" not in r
        and isinstance(r["Properties"]["DefaultActions"], list)
        and r["Properties"]["DefaultActions"][0].get("TargetGroupArn") == {"Ref": "GradioTargetGroup"}
    ]
    assert both_stages, "the mcp-gateway templates no longer have a listener for gradio in both stages"
    for lid in both_stages:
        alb[lid]["Condition"] = "HasDomain"
    found = [f for f in presence.check(Inputs(t)) if f.rule == "load-balancer-association"]
    assert [f.resource for f in found] == ["RegistryService"]
    assert "target group alb.yaml:GradioTargetGroup" in found[0].problem
    assert "when BaseDomain is ''" in found[0].problem
    assert "does not have an associated load balancer" in found[0].problem


def test_a_reference_made_conditional_in_the_committed_templates_is_caught() -> None:
    t = _mcp()
    t["alb.yaml"]["Resources"]["AuthTargetGroup"]["Condition"] = "HasDomain"
    found = {(f.where, f.resource) for f in presence.check(Inputs(t)) if f.rule == "presence"}
    # the listeners that forward to it, the service attached to it (across stacks), and the
    # parent's stacks that take its outputs
    assert {("alb.yaml", "MainListener8888"), ("services.yaml", "AuthService"), ("main.yaml", "ServicesStack")} <= found


# ---- the spec-field mapping -----------------------------------------------------------------


def _finding(where: str, lid: str, path: str = "", severity: str = ERROR) -> Finding:
    return Finding("p", where, severity=severity, rule="r", source="deployability", resource=lid, path=path)


@pytest.mark.parametrize(
    ("where", "lid", "path", "field"),
    [
        ("alb.yaml", "MainListener7860", "", "load_balancers[main].listeners[7860]"),
        ("alb.yaml", "MainListener7860NoDomain", "", "load_balancers[main].listeners[7860]"),
        ("alb.yaml", "GradioTargetGroup", "", "services[registry].target_groups[gradio]"),
        ("alb.yaml", "KeycloakTargetGroup", "", "services[keycloak].target_groups[keycloak]"),
        ("alb.yaml", "KeycloakLoadBalancer", "", "load_balancers[keycloak]"),
        ("security-groups.yaml", "MainLoadBalancerSecurityGroup", "port 8888", "load_balancers[main].listeners[8888]"),
        ("security-groups.yaml", "AuthServiceSecurityGroup", "", "services[auth]"),
        ("iam.yaml", "RegistryTaskRole", "", "services[registry].task_permissions"),
        (
            "services.yaml",
            "McpgwTaskDefinition",
            "ContainerDefinitions[mcpgw-server].Environment[PORT].Value",
            "services[mcpgw].environment.PORT",
        ),
        ("services.yaml", "KeycloakService", "", "services[keycloak]"),
        ("ecs-cluster.yaml", "MainCluster", "", "clusters[main]"),
        ("ecr.yaml", "KeycloakRepository", "", "repositories[keycloak]"),
        ("secrets.yaml", "AdminPasswordSecret", "", "secrets[admin-password]"),
        ("efs.yaml", "ServersAccessPoint", "", "efs.access_points[servers]"),
        ("database.yaml", "DatabaseProxy", "", "database"),
        ("network.yaml", "NatGatewayAz1", "", "network"),
        ("services.yaml", "", "", "services"),
        ("main.yaml", "", "", "services"),
        # Split stacks are named by the stack they split.
        ("services-database.yaml", "", "", "services"),
        ("security-groups-database.yaml", "", "", "services"),
        ("alb-2.yaml", "", "", "load_balancers"),
        ("alb-database.yaml", "", "", "load_balancers"),
        ("main-services-2.yaml", "", "", "services"),
        ("network.yaml", "", "", "network.yaml"),
        ("", "", "", "(templates)"),
    ],
)
def test_a_finding_is_named_by_the_spec_field_it_comes_from(where: str, lid: str, path: str, field: str) -> None:
    spec = load_spec(ROOT / "platforms" / "mcp-gateway.yaml")
    assert fields.spec_field(spec, _finding(where, lid, path)) == field


def test_spec_lines_split_errors_from_warnings() -> None:
    spec = load_spec(ROOT / "platforms" / "mcp-gateway.yaml")
    errors, warnings = fields.spec_lines(
        [
            _finding("alb.yaml", "MainListener443"),
            _finding("services.yaml", "", severity=WARNING),
            _finding("alb.yaml", "MainListener443"),
        ],
        spec,
        "platforms/m.yaml",
    )
    assert errors == ["platforms/m.yaml: load_balancers[main].listeners[443]: p"]
    assert warnings == ["WARNING: platforms/m.yaml: services: p"]


# ---- synthesis runs the check -----------------------------------------------------------------

WEB = ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml"


def _spec_file(tmp_path: Path, edit: Any, name: str = "web.yaml") -> Path:
    data = yaml.safe_load(WEB.read_text())
    edit(data)
    folder = tmp_path / "platforms"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_an_error_finding_is_a_spec_error_naming_file_field_and_aws_rule(tmp_path: Path) -> None:
    def leading_zero(d: dict[str, Any]) -> None:
        d["services"][0]["environment"] = {"PORT": "08080"}

    path = _spec_file(tmp_path, leading_zero)
    with pytest.raises(SpecError) as err:
        synth.synthesize_checked(path)
    assert [line.split(": ", 2)[:2] for line in err.value.lines] == [[str(path), "services[web].environment.PORT"]]
    for command in ("validate", "synth"):
        out = tmp_path / "out"
        proc = _cli(command, str(path), *(["--out", str(out)] if command == "synth" else []))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"{path}: services[web].environment.PORT: ")
        assert "'08080'" in proc.stderr and "(AWS: " in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()


def test_a_spec_parameter_default_is_named_by_the_parameter(tmp_path: Path) -> None:
    def rate(d: dict[str, Any]) -> None:
        d["parameters"] = [{"name": "SampleRate", "description": "sampling rate", "default": "1e5"}]
        d["services"][0]["environment"] = {"SAMPLE_RATE": "${SampleRate}"}

    path = _spec_file(tmp_path, rate)
    with pytest.raises(SpecError) as err:
        synth.synthesize_checked(path)
    assert [line.split(": ", 2)[1] for line in err.value.lines] == ["parameters[SampleRate]"]
    assert "main.yaml:Parameters.SampleRate.Default is the string '1e5'" in err.value.lines[0]


def test_per_environment_parameters_files_beside_the_spec_are_read(tmp_path: Path) -> None:
    """parameters/<spec name>/<env>.json: a value there is checked like the default."""

    def app_port(d: dict[str, Any]) -> None:
        d["ingress_sources"] = [{"name": "AdminCidrBlocks", "description": "admins", "cidrs": ["10.0.0.0/8"]}]
        d["load_balancers"][0]["listeners"].append(
            {"port": 8080, "mode": "auto", "target_group": "web", "sources": "AdminCidrBlocks"}
        )

    path = _spec_file(tmp_path, app_port)
    assert synth.synthesize_checked(path)  # the default is a private range
    params = tmp_path / "parameters" / "web"
    params.mkdir(parents=True)
    (params / "dev.json").write_text('["Environment=dev", "AdminCidrBlocks=0.0.0.0/0"]')
    assert synth.parameter_files(str(path)) == {
        "parameters/web/dev.json": {"Environment": "dev", "AdminCidrBlocks": "0.0.0.0/0"}
    }
    with pytest.raises(SpecError) as err:
        synth.synthesize_checked(path)
    assert len(err.value.lines) == 1
    line = err.value.lines[0]
    assert line.startswith(f"{path}: load_balancers[web].listeners[8080]: ")
    assert "admits 0.0.0.0/0 on tcp/8080 under parameters/web/dev.json (AWS: " in line


def test_warnings_print_and_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warning (a template within the warning share of S3's 1 MB, here with the share
    lowered so the small web spec reaches it) is printed by validate, which still exits 0."""
    from generator import cli
    from generator.deployability import template_limits

    monkeypatch.setattr(template_limits, "WARNING_SHARE", 0.001)  # 1,000 bytes
    path = _spec_file(tmp_path, lambda d: None)
    result = synth.synthesize_checked(path)
    size = len(result.aws_files["services.yaml"].encode())  # type: ignore[index]
    assert any(w.startswith(f"WARNING: {path}: services: services.yaml is {size:,} bytes") for w in result.warnings)
    assert cli.main(["validate", str(path)]) == 0
    assert "WARNING: " in capsys.readouterr().err


def test_the_synthesis_is_what_synth_writes() -> None:
    ok = synth.synthesize_checked(WEB)
    assert ok.templates == render.synthesize(ok.spec)
    assert ok.aws_files == render.render(ok.spec)


# ---- the committed platforms ------------------------------------------------------------------


@pytest.mark.parametrize("platform", [p.stem for p in PLATFORMS])
def test_committed_platforms_pass_every_rule(platform: str) -> None:
    source = f"platforms/{platform}.yaml"
    spec = load_spec(ROOT / source)
    templates = render.synthesize(spec)
    files = render.render(spec)
    findings = deployability.check(templates, spec, rendered=files, parameter_sets=synth.parameter_files(source))
    assert [f.problem for f in findings if f.severity == ERROR] == []
