"""Spec validation: bad specs fail with one line naming the file and the field,
exit code 2, and nothing written."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import awsfacts, cli, parent, physical_names, synth
from generator.spec import SpecError, json_schema, load_spec, looks_secret, parse_spec
from generator.spec.base import NAME_PARAMETER
from generator.spec.schedule import check_expression
from tests.helpers import PLATFORMS, ROOT

BASE = yaml.safe_load((ROOT / "platforms" / "mcp-gateway.yaml").read_text())


def mutate(path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path (list indexes as numbers) in a copy of the MCP spec; DELETE removes it."""
    data = copy.deepcopy(BASE)
    data = {k: v for k, v in data.items() if not k.startswith("x-")}
    parts = path.split(".")
    node: Any = data
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    key: Any = int(last) if isinstance(node, list) else last
    if value == "DELETE":
        del node[key]
    else:
        node[key] = value
    return data


BAD = [
    ("services.2.ports.0.port", 70000, "services[2].ports[0].port: Input should be less than or equal to 65535"),
    ("services.2.ports.0.port", 0, "services[2].ports[0].port: Input should be greater than or equal to 1"),
    ("services.0.cpu", 300, "services[0]: cpu 300 / memory 2048 is not a valid Fargate size"),
    ("services.0.memory", 1000, "services[0]: cpu 1024 / memory 1000 is not a valid Fargate size"),
    ("services.1.name", "Auth_Server", "services[1].name: String should match pattern"),
    ("services.1.name", "registry", "duplicate name 'registry'"),
    ("services.0.cluster", "nope", "services[0].cluster: unknown cluster 'nope'"),
    ("services.0.volumes.0.access_point", "nope", "services[0].volumes: unknown EFS access point 'nope'"),
    ("services.0.secrets.SECRET_KEY", {"secret": "nope"}, "services[0].secrets.SECRET_KEY: unknown secret 'nope'"),
    (
        "services.0.secrets.SECRET_KEY",
        {"secret": "secret-key", "ssm": "keycloak-admin"},
        "exactly one of secret / ssm / database is required",
    ),
    ("services.0.health_check", "DELETE", "services[0].health_check: Field required"),
    ("services.0.allow_from.0.service", "ghost", "services[0].allow_from: unknown service 'ghost'"),
    ("services.0.environment.KEYCLOAK_URL", "${lb:nope:url}", "unknown load balancer 'nope'"),
    ("services.0.environment.SECRETISH", "${KeycloakAdminPassword}", "is a secret; pass it through secrets"),
    ("services.0.user", "root", "user: must not be root"),
    ("services.1.user", "DELETE", "user: set a non-root user, or give root_user_reason"),
    ("services.0.writable_root_reason", "DELETE", "writable_root_reason: required"),
    ("services.1.scratch_paths", ["/tmp", "/tmp"], "scratch_paths: paths must be unique"),
    ("services.0.scaling.min", 9, "min must not exceed max"),
    ("services.0.target_groups.0.container_port", 1234, "container_port 1234 is not in ports"),
    ("efs.access_points.0.uid", 0, "efs.access_points[0].uid: Input should be greater than or equal to 1"),
    ("efs.access_points.0.permissions", "999", "efs.access_points[0].permissions: String should match pattern"),
    ("network.vpc_cidr", "10.0.0.0/33", "network.vpc_cidr: not a valid IPv4 network CIDR"),
    ("network.tiers.1.offset", 0, "overlaps tier private"),
    ("network.egress", "teleport", "network.egress: Input should be"),
    ("network.egress", "public-ip", "public_ip_reason: required when egress is 'public-ip'"),
    ("database.backup_retention_days", 1, "database.backup_retention_days: Input should be greater than or equal to 7"),
    ("database.min_acu", 5, "min_acu must not exceed max_acu"),
    ("ingress_cidrs", ["300.0.0.0/8"], "'300.0.0.0/8' is not a valid CIDR"),
    ("parameters.1.no_echo", False, "a secret-looking parameter must set no_echo: true"),
    ("parameters.0.default", None, None),  # a plain parameter may lack a default: valid
    ("repositories.0.immutable_tags", False, "mutable_tags_reason: required"),
    ("load_balancers.0.listeners.0.target_group", "nope", "load_balancers[main].listeners[80]: unknown target group"),
    ("clusters.0.default_strategy.0.provider", "FARGATE_SPOT", None),
    ("unknown_field", 1, "unknown_field: Extra inputs are not permitted"),
    (
        "load_balancers.1.dns_record",
        "DELETE",
        "load_balancers[keycloak].dns_record: required on a platform with a domain",
    ),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_bad_spec_names_file_and_field(path: str, value: Any, expected: str | None) -> None:
    data = mutate(path, value)
    if expected is None:
        parse_spec(data, "platforms/x.yaml")
        return
    with pytest.raises(SpecError) as err:
        parse_spec(data, "platforms/x.yaml")
    lines = err.value.lines
    assert all(line.startswith("platforms/x.yaml: ") for line in lines), lines
    assert any(expected in line for line in lines), lines


def test_at_least_fifteen_kinds_of_bad_input() -> None:
    assert len({e for _, _, e in BAD if e}) >= 15


def test_cli_bad_spec_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate("services.2.ports.0.port", 70000)))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "synth", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{bad}: services[2].ports[0].port: Input should be less than or equal to 65535"
    ]
    assert not out.exists()


@pytest.mark.parametrize("text", ["a: [", "- just\n- a list\n"])
def test_unparseable_spec(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "validate", str(bad)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}: ")


def test_missing_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "synth", "platforms/none.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert "platforms/none.yaml: cannot read" in proc.stderr


def test_secret_word_detection() -> None:
    assert looks_secret("KeycloakAdminPassword")
    assert looks_secret("EmbeddingsApiKey")
    assert looks_secret("ClientSecret")
    assert not looks_secret("KeycloakAdmin")
    assert not looks_secret("KeycloakLogLevel")


def test_json_schema_describes_the_model() -> None:
    schema = json_schema()
    assert schema["title"] == "stackgen platform spec"
    assert {"name", "services", "clusters"} <= set(schema["required"])
    assert "Service" in schema["$defs"]


# --------------------------------------------------------------------------- validate = synth

BAD_SPECS = sorted((ROOT / "tests" / "fixtures" / "bad_specs").glob("*.yaml"))
GOOD_SPECS = [*PLATFORMS, *sorted((ROOT / "tests" / "fixtures" / "good_specs").glob("*.yaml"))]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``python -m generator ARGV`` in process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expected_fragment(path: Path) -> str:
    m = re.search(rb"^# expect: (.*)$", path.read_bytes(), re.M)
    assert m, f"{path.name}: no '# expect:' header"
    return m.group(1).decode()


def test_at_least_thirty_bad_spec_fixtures_each_with_its_own_message() -> None:
    assert len(BAD_SPECS) >= 30
    fragments = [expected_fragment(p) for p in BAD_SPECS]
    assert len(set(fragments)) == len(fragments)


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda p: p.stem)
def test_bad_spec_validate_and_synth_agree(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both commands exit 2 with the same single line naming the file and the field, and
    synth writes nothing."""
    monkeypatch.chdir(ROOT)
    spec = str(path.relative_to(ROOT))
    out = tmp_path / "out"
    validated = run_cli(capsys, "validate", spec)
    synthesized = run_cli(capsys, "synth", spec, "--out", str(out))
    assert validated[0] == synthesized[0] == 2, (validated, synthesized)
    assert validated[2] == synthesized[2]
    lines = validated[2].splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{spec}: "), lines
    assert expected_fragment(path) in lines[0]
    assert "Traceback" not in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("path", GOOD_SPECS, ids=lambda p: p.stem)
def test_good_spec_validate_and_synth_agree(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    spec = str(path.relative_to(ROOT))
    code, out, err = run_cli(capsys, "validate", spec)
    assert (code, out, err) == (0, f"{spec}: valid\n", "")
    code, _, err = run_cli(capsys, "synth", spec, "--out", str(tmp_path), "--quiet")
    assert (code, err) == (0, "")
    assert (tmp_path / "main.yaml").exists()


def test_the_issue_cases_were_exit_1_and_are_now_spec_errors() -> None:
    """The three cases issue 10 found (validate said valid, synth failed with exit 1) have fixtures."""
    names = {p.stem.split("-", 1)[1] for p in BAD_SPECS}
    assert {"unused-parameter", "log-retention-not-allowed", "too-many-services"} <= names


def test_yaml_merge_keys_are_not_duplicate_keys(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text()
    text = text.replace(
        "services:\n  - name: web\n", "x-sizes: &size {cpu: 256}\nservices:\n  - name: web\n    <<: *size\n"
    )
    text = text.replace("    cpu: 256\n    memory: 512\n", "    memory: 512\n")
    spec = tmp_path / "merge.yaml"
    spec.write_text(text)
    assert load_spec(spec).services[0].cpu == 256


def test_duplicate_key_inside_an_anchor_is_named_once(tmp_path: Path) -> None:
    spec = tmp_path / "anchor.yaml"
    spec.write_text("x-defaults: &d\n  cpu: 1\n  cpu: 2\nname: x\n")
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.lines == [f"{spec}: x-defaults.cpu: duplicate key (lines 2 and 3); YAML keeps only the last"]


# --------------------------------------------------------------------------- facts behind the checks


def test_log_retention_values_are_cloudwatchs_from_cfn_lint() -> None:
    enum = awsfacts.property_schema("AWS::Logs::LogGroup", "RetentionInDays")["enum"]
    assert awsfacts.log_retention_days() == tuple(sorted(enum))
    assert 30 in enum and 365 in enum and 10 not in enum
    with pytest.raises(SpecError, match=r"log_retention_days: Input should be 1, 3, 5"):
        parse_spec(mutate("services.0.log_retention_days", 10), "platforms/x.yaml")


def test_spec_name_limit_is_the_name_parameters_allowed_pattern() -> None:
    spec = parse_spec(mutate("name", "a" * 32), "platforms/x.yaml")
    assert parent.root_parameters(spec)["Name"].properties["AllowedPattern"] == NAME_PARAMETER
    with pytest.raises(SpecError, match=r"name: 'a{33}' is the default of the Name parameter"):
        parse_spec(mutate("name", "a" * 33), "platforms/x.yaml")


VALID_SCHEDULES = [
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(7 days)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 10 ? * 6L 2022-2023)",
    "cron(0 12 L * ? *)",
    "cron(0 8 15W * ? *)",
    "cron(0 * * * ? *)",
    "cron(30 2 ? JAN,JUL SUN *)",
]
INVALID_SCHEDULES = {
    "rate(0 hours)": "positive",
    "rate(1 week)": "rate(VALUE UNIT)",
    "rate(five minutes)": "rate(VALUE UNIT)",
    "cron(0 10 * * *)": "6 fields",
    "cron(60 * * * ? *)": "minutes field '60'",
    "cron(0 10 * * * *)": "exactly one",
    "cron(0 10 ? * ? *)": "exactly one",
    "cron(0 10 32 * ? *)": "day-of-month field '32'",
    "cron(0 10 ? 13 MON *)": "month field '13'",
    "cron(0 10 ? * FUNDAY *)": "day-of-week field",
    "cron(0 10 ? * 8 *)": "day-of-week field '8'",
    "cron(0 10 * * ? 1969)": "year field '1969'",
    "cron(? 10 * * ? *)": "only allowed in day-of-month or day-of-week",
    "cron(0 10 ? * 2#6 *)": "1-5",
    "at(2030-01-01T00:00:00)": "must be rate",
    "hourly": "must be rate",
}


@pytest.mark.parametrize("expr", VALID_SCHEDULES)
def test_valid_schedule_expressions(expr: str) -> None:
    assert check_expression(expr) is None


@pytest.mark.parametrize(("expr", "fragment"), INVALID_SCHEDULES.items())
def test_invalid_schedule_expressions(expr: str, fragment: str) -> None:
    err = check_expression(expr)
    assert err is not None and fragment in err, err


# --------------------------------------------------------------------------- physical names


def _named_properties(templates: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(file, logical id, property) of every Fn::Sub of ${Name} with a length or pattern limit."""
    out = []
    for file, t in templates.items():
        for lid, res in t.get("Resources", {}).items():
            for prop, value in (res.get("Properties") or {}).items():
                if (
                    isinstance(value, dict)
                    and "${Name}" in str(value.get("Fn::Sub", ""))
                    and any(awsfacts.name_limits(res["Type"], prop)[:2])
                ):
                    out.append((file, lid, prop))
    return out


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_physical_name_check_sees_every_name_the_templates_set(path: Path) -> None:
    """Make the Name default absurdly long: every name built from it must be reported."""
    result = synth.synthesize_checked(path)
    named = _named_properties(result.templates)
    assert named, "the templates set physical names from ${Name}"
    spec = result.spec.model_copy(update={"name": "n" * 9000})
    problems = physical_names.check(spec, str(path), result.templates)
    # One problem per distinct name: two properties setting the same name (the pull alarms'
    # shared metric namespace) are one name.
    names = {
        (
            result.templates[f]["Resources"][lid]["Type"],
            prop,
            json.dumps(result.templates[f]["Resources"][lid]["Properties"][prop], sort_keys=True),
        )
        for f, lid, prop in named
    }
    assert len(problems) == len(names), (problems, named)
    assert all(line.startswith(f"{path}: name: the AWS::") for line in problems)


def test_physical_name_check_catches_a_broken_template() -> None:
    spec = parse_spec(mutate("name", "mcp"), "platforms/x.yaml")
    broken: dict[str, Any] = {
        "main.yaml": {"Resources": {}},
        "x.yaml": {
            "Resources": {
                "G": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": {"Fn::Sub": "/ecs/${Name} has spaces"}},
                }
            }
        },
    }
    assert physical_names.check(spec, "platforms/x.yaml", broken) == [
        "platforms/x.yaml: name: the AWS::Logs::LogGroup LogGroupName '/ecs/mcp has spaces' (Name 'mcp') does not "
        r"match ^[.\-_/#A-Za-z0-9]{1,512}\Z (cfn-lint schema of AWS::Logs::LogGroup LogGroupName)"
    ]
