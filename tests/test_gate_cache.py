"""validate.sh's per-tool cache (generator/gatecache.py): an unchanged tool answers from the
cache with the same report; a changed template re-runs every tool on it, a changed
allow-list only the tools that read it, and a failure is replayed, never hidden. Uses the
two in-process tools (cfn-lint, reasons); checkov and cfn-guard are keyed the same way."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

CLEAN = ROOT / "tests" / "gate" / "fixtures" / "clean"


def validate(tmp: Path, *args: str, tools: str = "cfn-lint,reasons") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "STACKGEN_CACHE_DIR": str(tmp / "cache"),
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
    }
    return subprocess.run(
        [
            str(ROOT / "validate.sh"),
            "--no-remote",
            "--tools",
            tools,
            "--reports",
            str(tmp / "reports"),
            *args,
            "--",
            str(tmp / "t"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def rows(out: str) -> dict[str, tuple[str, ...]]:
    """tool -> (templates, passed, failed, suppressed) of the summary table (seconds left out)."""
    table = out.split("== summary ==", 1)[1]
    return {
        m.group(1): m.groups()[1:5]
        for m in re.finditer(r"^(\S+)\s+\|\s+(\d+) \|\s+(\d+) \|\s+(\d+(?: \+error)?) \|\s+(\d+) \|", table, re.M)
    }


def cached(out: str) -> list[str]:
    m = re.search(r"\(unchanged, from \.cache/gate: ([^;]+);", out)
    return sorted(m.group(1).split(", ")) if m else []


@pytest.mark.slow
def test_the_gate_reruns_only_the_tools_a_change_affects(tmp_path: Path) -> None:
    shutil.copytree(CLEAN, tmp_path / "t")

    first = validate(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert cached(first.stdout) == [] and set(rows(first.stdout)) == {"cfn-lint", "reasons"}
    sarif = (tmp_path / "reports" / "cfn-lint.sarif").read_text()

    again = validate(tmp_path)
    assert again.returncode == 0
    assert cached(again.stdout) == ["cfn-lint", "reasons"]
    assert rows(again.stdout) == rows(first.stdout)
    assert sections(again.stdout) == sections(first.stdout)
    assert (tmp_path / "reports" / "cfn-lint.sarif").read_text() == sarif
    assert json.loads((tmp_path / "reports" / "gate-summary.json").read_text())["ok"] is True

    # --no-cache runs the tool again.
    assert cached(validate(tmp_path, "--no-cache", tools="reasons").stdout) == []

    # A suppression loses its reason: the tools run again on the changed template, and the
    # failure is replayed from the cache on the next run, not hidden.
    main = tmp_path / "t" / "demo" / "main.yaml"
    text = main.read_text()
    unreasoned = re.sub(r"      stackgen:\n        suppressions:\n          W3002: .*\n", "", text, count=1)
    assert unreasoned != text
    main.write_text(unreasoned)
    broken = validate(tmp_path, tools="reasons")
    assert broken.returncode == 1 and cached(broken.stdout) == []
    assert re.search(r"FAIL  W3002 .*no reason given", broken.stdout)
    replayed = validate(tmp_path, tools="reasons")
    assert replayed.returncode == 1 and cached(replayed.stdout) == ["reasons"]
    assert re.search(r"FAIL  W3002 .*no reason given", replayed.stdout)
    assert "security gate: FAIL" in replayed.stdout


def sections(out: str) -> str:
    """The per-tool report sections (between the first line and the summary)."""
    return out.split("== summary ==")[0].split("\n", 1)[1]


def test_each_tools_key_follows_its_own_inputs(tmp_path: Path) -> None:
    from generator import gatecache

    files = {name: tmp_path / name for name in ("allowlist.yaml", "checkov.yaml", "cfnlintrc", "rules.guard")}
    for f in files.values():
        f.write_text("{}\n")
    args = gatecache.parser().parse_args(
        [
            str(CLEAN),
            "--allowlist",
            str(files["allowlist.yaml"]),
            "--checkov-config",
            str(files["checkov.yaml"]),
            "--cfnlintrc",
            str(files["cfnlintrc"]),
            "--rules",
            str(files["rules.guard"]),
        ]
    )
    expected = {
        "allowlist.yaml": ["cfn-guard", "reasons"],
        "checkov.yaml": ["checkov"],
        "cfnlintrc": ["cfn-lint"],
        "rules.guard": ["cfn-guard"],
    }
    for name, tools in expected.items():
        before = gatecache.tool_inputs(args)
        files[name].write_text(files[name].read_text() + "# changed\n")
        after = gatecache.tool_inputs(args)
        assert [t for t in before if before[t] != after[t]] == tools, name


def test_the_cache_scans_what_the_gate_scans() -> None:
    from generator import gatecache
    from generator.gate.templates import discover

    for targets in ([str(CLEAN)], [str(ROOT / "templates")], [str(ROOT / "tests" / "gate" / "fixtures")]):
        assert set(discover(targets)) <= set(gatecache.candidates(targets))
