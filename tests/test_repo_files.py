"""Repository files: LICENSE, CHANGELOG.md, the one version, the CI workflow and the
pre-commit hooks, each checked by its own tool's schema and shown to catch a break."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from generator import __version__
from tests.helpers import ROOT

BIN = Path(sys.executable).parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, check=False, env=env)


# --------------------------------------------------------------------------- license, version, changelog


def test_license_is_the_mit_license_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} stackgen contributors$", text, re.M)
    assert "Permission is hereby granted, free of charge" in text
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_the_version_lives_in_one_place() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "generator.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    again = re.compile(rf"(?<![\d.]){re.escape(__version__)}(?![\d.])")
    home = ROOT / "generator" / "__init__.py"
    others = [ROOT / "pyproject.toml", *(p for p in (ROOT / "generator").rglob("*.py") if p != home)]
    assert not [p for p in others if again.search(p.read_text())], "the version is written twice"


def changelog_sections() -> list[str]:
    return re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_changelog_keeps_a_changelog_with_an_entry_for_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    sections = changelog_sections()
    assert sections[0] == "[Unreleased]"
    released = sections[1:]
    for heading in released:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading), heading
    assert released[0].startswith(f"[{__version__}] - "), "the newest entry is the current version"
    versions = [tuple(map(int, re.match(r"\[([\d.]+)\]", h).group(1).split("."))) for h in released]
    assert versions == sorted(versions, reverse=True)
    kinds = set(re.findall(r"^### (.+)$", text, re.M))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


# --------------------------------------------------------------------------- CI workflow


# Both schemas ship inside check-jsonschema: no network is needed. One schema a run (a
# second --builtin-schema replaces the first).
WORKFLOW_SCHEMAS = ("vendor.github-workflows", "custom.github-workflows-require-timeout")


def check_workflow(path: Path) -> int:
    """The worst exit status of check-jsonschema over the workflow schemas."""
    return max(
        run(BIN / "check-jsonschema", "--builtin-schema", schema, path).returncode for schema in WORKFLOW_SCHEMAS
    )


@pytest.mark.parametrize("schema", WORKFLOW_SCHEMAS)
def test_workflow_is_valid_by_the_github_workflow_schema(schema: str) -> None:
    proc = run(BIN / "check-jsonschema", "--builtin-schema", schema, WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    runs-on: ubuntu-24.04\n", ""),  # a job without a runner
        ("  pull_request:\n", "  pull-request:\n"),  # no such event
        ("    timeout-minutes: 90\n", ""),  # a job without a time limit
    ],
)
def test_workflow_schema_check_catches_a_broken_workflow(tmp_path: Path, old: str, new: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace(old, new))
    assert check_workflow(broken) == 1


def gate_sarif_names() -> set[str]:
    """The SARIF files the security gate writes into reports/ (generator/gate/cli.py)."""
    return set(re.findall(r'sarif\("([\w.-]+\.sarif)"\)', (ROOT / "generator" / "gate" / "cli.py").read_text()))


def test_workflow_runs_ci_and_uploads_every_gate_sarif() -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["ci"]["steps"]
    runs = [s for s in steps if s.get("run") == "bash .ci/run"]
    assert len(runs) == 1 and runs[0]["working-directory"] == "stackgen"
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    files = {Path(s["with"]["sarif_file"]).name for s in uploads}
    assert files == gate_sarif_names() == {"cfn-lint.sarif", "checkov.sarif", "cfn-guard.sarif"}
    assert all(s["with"]["sarif_file"].startswith("stackgen/reports/") for s in uploads)
    assert all(s["if"].startswith("always()") for s in uploads)
    assert len({s["with"]["category"] for s in uploads}) == len(uploads)
    assert "validate" in (ROOT / ".ci" / "run").read_text()  # .ci/run runs the gate that writes them


# --------------------------------------------------------------------------- pre-commit


def test_pre_commit_config_is_valid_by_pre_commit() -> None:
    proc = run(BIN / "pre-commit", "validate-config", PRE_COMMIT_CONFIG)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pre_commit_validation_catches_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text(PRE_COMMIT_CONFIG.read_text().replace("        entry: .venv/bin/cfn-lint\n", ""))
    proc = run(BIN / "pre-commit", "validate-config", broken)
    assert proc.returncode == 1
    assert "entry" in proc.stdout + proc.stderr


def test_pre_commit_hooks_run_pinned_venv_tools() -> None:
    hooks = [h for r in yaml.safe_load(PRE_COMMIT_CONFIG.read_text())["repos"] for h in r["hooks"]]
    assert {h["id"] for h in hooks} >= {"ruff-check", "ruff-format", "templates-fresh", "schema-fresh", "cfn-lint"}
    pins = {re.split(r"[\[=]", d)[0] for d in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    for hook in hooks:
        assert hook["language"] == "system"  # nothing to download
        tools = re.findall(r"\.venv/bin/([\w-]+)", hook["entry"])
        assert tools, hook["id"]
        for tool in tools:
            assert (BIN / tool).exists(), f"{hook['id']}: .venv/bin/{tool} is not installed by make venv"
            assert tool in pins | set(PYPROJECT["project"]["scripts"]), f"{hook['id']}: {tool} is not pinned"


@pytest.fixture
def hook_repo(tmp_path: Path) -> Path:
    """A git repository with this config, one platform and its templates, and our .venv."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in (".pre-commit-config.yaml", ".cfnlintrc"):
        shutil.copy(ROOT / name, repo / name)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    (repo / "cfnlint_rules").symlink_to(ROOT / "cfnlint_rules")
    (repo / "platforms").mkdir()
    shutil.copy(ROOT / "platforms" / "scheduled-file-writer.yaml", repo / "platforms")
    shutil.copytree(ROOT / "templates" / "scheduled-file-writer", repo / "templates" / "scheduled-file-writer")
    (repo / "tool.py").write_text("import os\n\n\ndef f():\n    return 1\n")  # unused import (F401)
    run("git", "init", "-q", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    return repo


def hook(repo: Path, hook_id: str, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")}
    selection = ["--files", *files] if files else ["--all-files"]
    return run(BIN / "pre-commit", "run", hook_id, *selection, cwd=repo, env=env)


@pytest.mark.slow
def test_pre_commit_hooks_catch_what_they_check(hook_repo: Path) -> None:
    proc = hook(hook_repo, "ruff-check", "tool.py")
    assert proc.returncode == 1 and "F401" in proc.stdout, proc.stdout

    assert hook(hook_repo, "templates-fresh").returncode == 0
    child = hook_repo / "templates" / "scheduled-file-writer" / "network.yaml"
    child.write_text(child.read_text() + "# edited by hand\n")
    run("git", "add", "-A", cwd=hook_repo)
    proc = hook(hook_repo, "templates-fresh")
    assert proc.returncode == 1
    assert "templates/ is stale" in proc.stdout

    bad = hook_repo / "templates" / "scheduled-file-writer" / "broken.yaml"
    bad.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      Nonsense: 1\n")
    run("git", "add", "-A", cwd=hook_repo)
    proc = hook(hook_repo, "cfn-lint", "templates/scheduled-file-writer/broken.yaml")
    assert proc.returncode != 0
    assert "E3002" in proc.stdout, proc.stdout


# --------------------------------------------------------------------------- the README's commands


def readme_sections() -> str:
    """The README's setup part (up to "Writing a spec") and its Commands table."""
    text = (ROOT / "README.md").read_text()
    setup = text[: text.index("## Writing a spec")]
    commands = text[text.index("## Commands") : text.index("## How it is built")]
    return setup + commands


def test_readme_commands_use_the_venv_console_script() -> None:
    text = readme_sections()
    assert "python -m generator" not in text
    assert re.search(r"(?<![/\w])stackgen (synth|lint|validate|init|params)", text) is None, (
        "a bare `stackgen` is 'command not found' in a fresh shell"
    )


def test_readme_stackgen_commands_exist() -> None:
    subcommands = set(re.findall(r"\.venv/bin/stackgen ([a-z]+)", readme_sections()))
    assert {"init", "params", "synth", "validate"} <= subcommands
    for sub in sorted(subcommands):
        proc = run(BIN / "stackgen", sub, "--help")
        assert proc.returncode == 0, f"stackgen {sub}: {proc.stderr}"


def test_readme_make_targets_exist() -> None:
    targets = set(re.findall(r"\bmake ([a-z][a-z-]*)", readme_sections()))
    assert {"templates", "test", "deploy-local", "snapshots"} <= targets
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    defined = {m for f in makefiles for m in re.findall(r"^([a-z][a-z-]*)::?(?!=)", f.read_text(), re.M)}
    assert targets <= defined, targets - defined


def test_console_script_runs_in_a_fresh_shell() -> None:
    """No activated virtualenv, no PYTHONPATH, another working directory: it still runs."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    proc = run(ROOT / ".venv" / "bin" / "stackgen", "--version", cwd=Path("/"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"stackgen {__version__}\n"
