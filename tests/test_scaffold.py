"""`stackgen init` and `stackgen params`: the scaffold works end to end, every parameters-file
problem is detected, nothing is overwritten or half-written, secrets never reach a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator import __version__, render, scaffold
from generator.deploy import params as deploy_params
from generator.spec import load_spec, parse_spec
from tests.helpers import ROOT


def stackgen(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_version_is_the_package_version() -> None:
    proc = stackgen("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"stackgen {__version__}\n"


@pytest.mark.parametrize("command", ["init", "params"])
def test_help(command: str) -> None:
    proc = stackgen(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: stackgen {command}")


# --------------------------------------------------------------------------- init


@pytest.mark.slow
def test_init_validate_synth_lint_check_params(tmp_path: Path) -> None:
    """The scaffold as a new user runs it: every later step passes on what init wrote."""
    proc = stackgen("init", "hello", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    spec = tmp_path / "platforms" / "hello.yaml"
    assert spec.read_text().splitlines()[0] == "# yaml-language-server: $schema=../schema/platform.schema.json"
    assert sorted(p.name for p in (tmp_path / "parameters" / "hello").iterdir()) == [
        "dev.json",
        "prod.json",
        "test.json",
    ]
    assert "make deploy-local PLATFORM=platforms/hello.yaml" in proc.stdout

    assert stackgen("validate", "platforms/hello.yaml", cwd=tmp_path).returncode == 0
    proc = stackgen("synth", "platforms/hello.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warning (e.g. public-ip egress)
    out = tmp_path / "templates" / "hello"
    lint = stackgen("lint", str(out))  # from the repository root: .cfnlintrc and the project rules
    assert lint.returncode == 0, lint.stdout
    assert ", 0 findings" in lint.stdout
    check = stackgen("check", "--templates", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 errors, 0 warnings" in check.stdout
    proc = stackgen("params", "platforms/hello.yaml", "--check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # deploy.sh's own validation accepts every file against the synthesized parent
    main = yaml.safe_load((out / "main.yaml").read_text())
    for env in ("dev", "test", "prod"):
        values = deploy_params.read_params_file(tmp_path / "parameters" / "hello" / f"{env}.json")
        assert values == {"Environment": env}
        assert deploy_params.resolve(main, values, env={}).problems == []


def test_init_spec_is_commented_and_named() -> None:
    text = scaffold.spec_text("acme")
    data = yaml.safe_load(text)
    assert data["name"] == "acme"
    assert parse_spec(data).services[0].target_groups  # one public web service behind the ALB
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#") or " # " in line]
    assert len(comments) >= 15


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert stackgen("init", "hello", cwd=tmp_path).returncode == 0
    spec = tmp_path / "platforms" / "hello.yaml"
    spec.write_text("mine\n")
    proc = stackgen("init", "hello", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("platforms/hello.yaml: exists")
    assert spec.read_text() == "mine\n"
    assert stackgen("init", "hello", "--force", cwd=tmp_path).returncode == 0
    assert spec.read_text() == scaffold.spec_text("hello")


def test_init_writes_nothing_when_one_file_exists(tmp_path: Path) -> None:
    prod = tmp_path / "parameters" / "hello" / "prod.json"
    prod.parent.mkdir(parents=True)
    prod.write_text('["Environment=prod", "AlarmEmail=ops@example.com"]\n')
    with pytest.raises(scaffold.UsageError, match=r"parameters/hello/prod.json: exists"):
        scaffold.init("hello", tmp_path)
    assert not (tmp_path / "platforms").exists()
    assert sorted(p.name for p in prod.parent.iterdir()) == ["prod.json"]
    assert "ops@example.com" in prod.read_text()


@pytest.mark.parametrize("name", ["Hello", "hello_world", "../x", "x-", "1abc", "a" * 40])
def test_init_rejects_a_bad_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(scaffold.UsageError) as exc:
        scaffold.init(name, tmp_path)
    assert str(exc.value).startswith(f"stackgen init: NAME {name!r}: ")
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_init_bad_name_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = stackgen("init", "a" * 40, cwd=tmp_path)  # a slug, but too long for the Name parameter
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"stackgen init: NAME {'a' * 40!r}: ")
    assert "Name parameter, which allows at most 32 characters" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- params

# The scaffold plus deploy-time parameters of every kind the checks distinguish.
EXTRA = {
    "parameters": [
        {"name": "ReportPrefix", "description": "S3 key prefix of the reports (required)"},
        {"name": "WorkerCount", "type": "Number", "default": "2", "description": "Workers per task"},
        {"name": "LogLevel", "default": "INFO", "allowed_values": ["DEBUG", "INFO"], "description": "Log level"},
        {"name": "AdminPassword", "no_echo": True, "description": "Admin password of the web service"},
    ],
    "secrets": [{"name": "admin", "description": "Admin password", "from_parameter": "AdminPassword"}],
}
SERVICE_ENV = {"REPORT_PREFIX": "${ReportPrefix}", "WORKERS": "${WorkerCount}", "LOG_LEVEL": "${LogLevel}"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = yaml.safe_load(scaffold.spec_text("acme"))
    data.update(EXTRA)
    data["services"][0]["environment"] = SERVICE_ENV
    data["services"][0]["secrets"] = {"ADMIN_PASSWORD": {"secret": "admin"}}
    (tmp_path / "platforms").mkdir()
    (tmp_path / "platforms" / "acme.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    folder = tmp_path / "parameters" / "acme"
    folder.mkdir(parents=True)
    for env in ("dev", "test", "prod"):
        (folder / f"{env}.json").write_text(scaffold.render_file({"Environment": env, "ReportPrefix": "reports/"}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


SPEC = "platforms/acme.yaml"
DEV = "parameters/acme/dev.json"


def set_dev(entries: list[str]) -> None:
    Path(DEV).write_text(json.dumps(entries))


def test_params_check_passes_on_good_files(project: Path) -> None:
    report = scaffold.params(SPEC, check=True)
    assert report.problems == []


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["Environment=dev", "ReportPrefix=r/", "Foo=1"], f"{DEV}: Foo: unknown parameter"),
        (
            ["Environment=dev", "ReportPrefix=r/", "loglevel=INFO"],
            f"{DEV}: loglevel: unknown parameter (did you mean LogLevel?)",
        ),
        (["Environment=dev"], f"{DEV}: ReportPrefix: missing (required: the template has no Default)"),
        (["ReportPrefix=r/"], f"{DEV}: Environment: missing (without it the stack deploys as 'dev')"),
        (["Environment=prod", "ReportPrefix=r/"], f"{DEV}: Environment: 'prod' in the file of environment 'dev'"),
        (["Environment=dev", "ReportPrefix=r/", "WorkerCount=two"], f"{DEV}: WorkerCount: 'two' is not a number"),
        (
            ["Environment=dev", "ReportPrefix=r/", "LogLevel=TRACE"],
            f"{DEV}: LogLevel: 'TRACE' is not one of the AllowedValues [DEBUG, INFO]",
        ),
        (
            ["Environment=dev", "ReportPrefix=r/", "Name=Acme_1"],
            f"{DEV}: Name: 'Acme_1' does not match AllowedPattern ^[a-z][a-z0-9-]{{0,30}}[a-z0-9]$",
        ),
        (
            ["Environment=dev", "ReportPrefix=r/", "AdminPassword=x"],
            f"{DEV}: AdminPassword: NoEcho (secret) parameter in a file; remove it and set "
            "STACKGEN_PARAM_AdminPassword when deploying",
        ),
    ],
)
def test_params_check_detects_each_problem(project: Path, entries: list[str], problem: str) -> None:
    set_dev(entries)
    before = Path(DEV).read_bytes()
    assert scaffold.params(SPEC, check=True).problems == [problem]
    assert Path(DEV).read_bytes() == before  # --check writes nothing


def test_params_check_exits_1_listing_problems_one_a_line(project: Path) -> None:
    set_dev(["Environment=dev", "ReportPrefix=r/", "Foo=1", "WorkerCount=two"])
    before = Path(DEV).read_bytes()
    proc = stackgen("params", SPEC, "--check", cwd=project)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"{DEV}: Foo: unknown parameter", f"{DEV}: WorkerCount: 'two' is not a number"]
    assert Path(DEV).read_bytes() == before


def test_params_check_reports_files_that_are_missing_malformed_or_stray(project: Path) -> None:
    Path("parameters/acme/test.json").unlink()
    Path(DEV).write_text('{"Parameters": {}}')
    Path("parameters/acme/staging.json").write_text("[]")
    problems = scaffold.params(SPEC, check=True).problems
    assert problems[0].startswith(f"{DEV}: expected a JSON list")
    assert problems[1] == "parameters/acme/test.json: missing (run: .venv/bin/stackgen params platforms/acme.yaml)"
    assert problems[2].startswith("parameters/acme/staging.json: staging is not an environment of")
    assert len(problems) == 3
    assert not Path("parameters/acme/test.json").exists()


def test_params_check_of_one_environment(project: Path) -> None:
    set_dev(["Foo=1"])
    assert scaffold.params(SPEC, check=True, env="prod").problems == []
    with pytest.raises(scaffold.UsageError, match="--env staging: not an environment"):
        scaffold.params(SPEC, check=True, env="staging")


def test_params_regenerates_keeping_values_and_never_writing_secrets(project: Path) -> None:
    set_dev(["ReportPrefix=r/", "LogLevel=DEBUG", "Retired=1", "AdminPassword=hunter2"])
    Path("parameters/acme/prod.json").unlink()
    proc = stackgen("params", SPEC, cwd=project)
    # prod.json is new and has no ReportPrefix: the one problem left to fix by hand
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "parameters/acme/prod.json: ReportPrefix: missing (required: the template has no Default)"
    ]
    assert json.loads(Path(DEV).read_text()) == ["Environment=dev", "ReportPrefix=r/", "LogLevel=DEBUG"]
    assert json.loads(Path("parameters/acme/prod.json").read_text()) == ["Environment=prod"]
    assert f"{DEV}: Retired: removed (not a parameter of the template)" in proc.stdout
    assert "secret AdminPassword (NoEcho): never written to a file" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "unchanged parameters/acme/test.json" in proc.stdout
    for path in Path("parameters/acme").glob("*.json"):
        assert "AdminPassword" not in path.read_text()


def test_regenerated_files_pass_deploy_validation(project: Path) -> None:
    """What params writes is what deploy.sh accepts, secrets coming from the environment."""
    assert scaffold.params(SPEC).problems == []
    main = render_parent(project / SPEC)
    for env in ("dev", "test", "prod"):
        values = deploy_params.read_params_file(Path(f"parameters/acme/{env}.json"))
        result = deploy_params.resolve(main, values, env={"STACKGEN_PARAM_AdminPassword": "a-long-value"})
        assert result.problems == []
        assert result.secrets == {"AdminPassword": "a-long-value"}


def test_params_of_a_bad_spec_is_a_usage_error(project: Path) -> None:
    Path(SPEC).write_text("name: Acme\n")
    proc = stackgen("params", SPEC, cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{SPEC}: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("platform", [p.stem for p in sorted((ROOT / "platforms").glob("*.yaml"))])
def test_committed_parameters_files_check_clean_and_regenerate_unchanged(platform: str, tmp_path: Path) -> None:
    spec = str(ROOT / "platforms" / f"{platform}.yaml")
    assert scaffold.params(spec, check=True, directory=str(ROOT / "parameters" / platform)).problems == []
    copy = tmp_path / platform
    copy.mkdir()
    for f in (ROOT / "parameters" / platform).glob("*.json"):
        (copy / f.name).write_bytes(f.read_bytes())
    report = scaffold.params(spec, directory=str(copy))
    assert report.problems == []
    assert not [line for line in report.lines if line.startswith("wrote")]


def render_parent(spec_path: Path) -> dict:
    return render.synthesize(load_spec(spec_path))["main.yaml"]


def test_s3_prefix_list_is_deploy_filled_not_required_in_a_file(tmp_path: Path) -> None:
    """S3PrefixListId differs per region: deploy.sh looks it up (generator.deploy.filled), so a
    parameters file need not hold it; --check does not report it, params names who fills it,
    and a file that pins it keeps its value. Any other required parameter is still reported."""
    spec = str(ROOT / "platforms" / "scheduled-file-writer.yaml")
    parameters = scaffold.parent_parameters(load_spec(spec))
    assert "Default" not in parameters["S3PrefixListId"]  # required by the template, filled at deploy
    folder = tmp_path / "p"
    folder.mkdir()
    for env in ("dev", "test", "prod"):
        (folder / f"{env}.json").write_text(scaffold.render_file({"Environment": env}))
    assert scaffold.params(spec, check=True, directory=str(folder)).problems == []
    report = scaffold.params(spec, directory=str(folder))
    assert any(line.startswith("S3PrefixListId: filled in by deploy.sh") for line in report.lines), report.lines
    assert all("S3PrefixListId" not in f.read_text() for f in folder.glob("*.json"))
    (folder / "dev.json").write_text(scaffold.render_file({"Environment": "dev", "S3PrefixListId": "pl-0123abcd"}))
    report = scaffold.params(spec, directory=str(folder), env="dev")
    assert "S3PrefixListId=pl-0123abcd" in (folder / "dev.json").read_text()
    assert not [line for line in report.lines if line.startswith("S3PrefixListId: filled")]
    # the table is what makes the difference: without it the parameter is missing
    values = {"Environment": "dev"}
    problems = scaffold.check_values(parameters, "dev", values, "f.json")
    assert problems == []
    problems = scaffold.check_values({**parameters, "Other": {"Type": "String"}}, "dev", values, "f.json")
    assert problems == ["f.json: Other: missing (required: the template has no Default)"]


def test_committed_parameters_files_leave_the_prefix_list_to_deploy() -> None:
    for path in sorted((ROOT / "parameters").glob("*/*.json")):
        assert "S3PrefixListId" not in deploy_params.read_params_file(path), path
