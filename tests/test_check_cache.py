"""`stackgen check --templates DIR` answers from .cache/check only when nothing it reads
changed: the template bytes, the options, the generator's source. A changed template, an
option or --no-cache checks again; a usage error is never stored."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from generator import cli
from generator.reach import verdicts
from tests.helpers import ROOT

SCHEDULED = ROOT / "templates" / "scheduled-file-writer"


@pytest.fixture
def checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[int]]:
    """A copy of a committed template set, a private cache, and a counter of real checks."""
    monkeypatch.setenv("STACKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STACKGEN_NO_CACHE", raising=False)
    out = tmp_path / "t"
    shutil.copytree(SCHEDULED, out)
    calls: list[int] = []
    real = verdicts.check

    def counting(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr("generator.preflight.check", counting)
    return out, calls


def test_an_unchanged_set_is_answered_from_the_cache(
    checked: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, calls = checked
    assert cli.main(["check", "--templates", str(out)]) == 0
    first = capsys.readouterr().out
    assert cli.main(["check", "--templates", str(out)]) == 0
    assert capsys.readouterr().out == first
    assert "preflight passed" in first
    assert len(calls) == 1


def test_a_changed_template_an_option_or_no_cache_checks_again(
    checked: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, calls = checked
    assert cli.main(["check", "--templates", str(out)]) == 0
    assert cli.main(["check", "--templates", str(out), "--json"]) == 0
    assert len(calls) == 2
    assert cli.main(["check", "--templates", str(out), "--no-cache"]) == 0
    assert len(calls) == 3
    # break the set: the logs endpoint becomes an SQS endpoint, so no task can ship its logs
    net = out / "network.yaml"
    text = net.read_text()
    assert "${AWS::Region}.logs" in text
    net.write_text(text.replace("${AWS::Region}.logs", "${AWS::Region}.sqs"))
    capsys.readouterr()
    rc = cli.main(["check", "--templates", str(out)])
    assert len(calls) == 4
    assert rc == 1, capsys.readouterr().out


def test_a_usage_error_is_not_stored(checked: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]) -> None:
    out, calls = checked
    (out / "main.yaml").write_text("Resources: [\n")
    assert cli.main(["check", "--templates", str(out)]) == 2
    assert cli.main(["check", "--templates", str(out)]) == 2
    assert "stackgen check:" in capsys.readouterr().err
    assert calls == []
    store = Path(os.environ["STACKGEN_CACHE_DIR"]) / "check"
    assert not store.exists() or not any(store.iterdir())
