"""Snapshot tests: the committed templates/<platform>/ are the golden files.

A generator change that alters output fails here with a unified diff; after
reviewing it, `make snapshots` rewrites every platform's templates."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from generator import render
from generator.spec import load_spec
from tests.helpers import PLATFORMS, ROOT


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_templates_match_snapshot(spec_path: Path, request: pytest.FixtureRequest) -> None:
    files = render.render(load_spec(spec_path))
    out = ROOT / "templates" / spec_path.stem
    if request.config.getoption("--update-snapshots"):
        render.write(files, out)
        return
    committed = {p.name for p in out.glob("*.yaml")}
    assert committed == set(files), f"run `make snapshots`: files differ {committed ^ set(files)}"
    for name, text in sorted(files.items()):
        old = (out / name).read_text(encoding="utf-8")
        if old != text:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(True), text.splitlines(True), f"committed/{name}", f"generated/{name}", n=2
                )
            )
            pytest.fail(f"{out.relative_to(ROOT)}/{name} is stale (review, then `make snapshots`):\n{diff[:4000]}")


def test_snapshot_check_detects_a_change(tmp_path: Path) -> None:
    spec = load_spec(PLATFORMS[0])
    files = render.render(spec)
    render.write(files, tmp_path)
    (tmp_path / "main.yaml").write_text(files["main.yaml"].replace("Default: dev", "Default: prod"))
    assert (tmp_path / "main.yaml").read_text() != render.render(spec)["main.yaml"]
