"""cfn-lint (with the project's .cfnlintrc) reports nothing on every committed platform."""

from __future__ import annotations

import pytest

from generator.cli import lint_paths
from tests.helpers import PLATFORMS, ROOT


@pytest.mark.slow
@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_cfn_lint_clean(spec_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # .cfnlintrc and its rules directory are read from the repo root
    paths = sorted((ROOT / "templates" / spec_path.stem).glob("*.yaml"))
    assert paths
    assert lint_paths(paths) == []


@pytest.mark.slow
def test_lint_catches_a_broken_template(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n"
                   "    Properties:\n      VisibilityTimeout: not-a-number\n")
    assert lint_paths([bad])
