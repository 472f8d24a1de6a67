"""Fixtures for the security-gate tests (tests/gate/).

The scanners are installed by `make test` (test-prereqs -> mk/gate.mk). A test
that needs one skips, with the reason, only when its binary is absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.cfn import load_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RULE_FIXTURES = FIXTURES / "rules"
CLEAN = FIXTURES / "clean"
CFN_GUARD = ROOT / ".tools/cfn-guard/bin/cfn-guard"
CT_RULES = ROOT / ".tools/cfn-guard/ct-rules"
CHECKOV = ROOT / ".tools/checkov/bin/checkov"


def load_yaml(path: Path) -> Any:
    return load_file(path)


def expectation(path: Path) -> tuple[str, set[str]]:
    """(rule, expected failing logical ids) declared in a rule fixture's Metadata.gate-test."""
    meta = load_yaml(path)["Metadata"]["gate-test"]
    return meta["rule"], set(meta["fails"])


@pytest.fixture(scope="session")
def cfn_guard() -> Path:
    if not (CFN_GUARD.exists() and CT_RULES.is_dir()):
        pytest.skip(f"cfn-guard not installed at {CFN_GUARD} (run `make gate-tools`)")
    return CFN_GUARD


@pytest.fixture(scope="session")
def checkov() -> Path:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV} (run `make gate-tools`)")
    return CHECKOV


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the gate from the repository root (its defaults are relative to it)."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def clean_copy(tmp_path: Path) -> Path:
    """A writable copy of the clean fixture platform, for mutation tests."""
    dest = tmp_path / "templates"
    shutil.copytree(CLEAN, dest)
    return dest


@pytest.fixture
def gate_env() -> dict[str, str]:
    """Environment for validate.sh: no AWS credentials, nothing reaches the network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    env["AWS_CONFIG_FILE"] = "/nonexistent"
    return env
