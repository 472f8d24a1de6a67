"""cfn-lint (with the project's .cfnlintrc) reports nothing on every committed platform, and
`python -m generator templates` (make templates) runs synth, lint and the preflight in one
process, re-running only what a change can affect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import bench, cli, make_templates
from generator.cfn.load import load_dir
from generator.lint import lint_paths
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
    bad.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n"
        "    Properties:\n      VisibilityTimeout: not-a-number\n"
    )
    assert lint_paths([bad])


@pytest.fixture
def in_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STACKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STACKGEN_NO_CACHE", raising=False)
    return tmp_path


@pytest.mark.slow
def test_templates_reruns_only_what_a_change_affects(in_root: Path, capsys: pytest.CaptureFixture) -> None:
    spec = in_root / "scheduled-file-writer.yaml"
    shutil.copy(ROOT / "platforms" / spec.name, spec)
    out = in_root / "out"
    argv = ["templates", str(spec), "--out", str(out), "--jobs", "1"]

    assert cli.main(argv) == 0
    cold = capsys.readouterr().out
    assert f"wrote 9 templates to {out}/" in cold
    assert "(9 linted, 0 unchanged), 0 findings" in cold and "preflight passed" in cold
    committed = ROOT / "templates" / "scheduled-file-writer"
    assert {p.name: p.read_text() for p in out.glob("*.yaml")} == {
        p.name: p.read_text() for p in committed.glob("*.yaml")
    }

    assert cli.main(argv) == 0
    noop = capsys.readouterr().out
    assert "unchanged: 9 templates" in noop and "(0 linted, 9 unchanged)" in noop
    assert "preflight: unchanged templates (cached)" in noop

    # A generated file edited by hand is not "as written": synth runs again.
    (out / "ecr.yaml").write_text((out / "ecr.yaml").read_text() + "# edited\n")
    assert cli.main(argv) == 0
    assert "wrote 9 templates" in capsys.readouterr().out

    # One service changes (an environment variable): synth runs, only the template whose
    # bytes changed is linted, its parent's cross-template rules run again, and the
    # preflight checks the new set.
    bench.one_service_change(spec, spec)
    assert cli.main(argv) == 0
    edit = capsys.readouterr().out
    assert "wrote 9 templates" in edit
    assert "(1 linted, 1 re-checked against changed children, 7 unchanged), 0 findings" in edit
    assert "preflight: unchanged" not in edit and "preflight passed" in edit

    # --no-cache runs every step.
    assert cli.main([*argv, "--no-cache"]) == 0
    forced = capsys.readouterr().out
    assert "wrote 9 templates" in forced and "(9 linted, 0 unchanged)" in forced
    assert "preflight: unchanged" not in forced


def test_a_changed_parameters_file_reruns_synthesis(in_root: Path, capsys: pytest.CaptureFixture) -> None:
    """Synthesis checks the values of parameters/<spec>/<env>.json, so the synth cache is keyed on them."""
    import yaml

    data = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())
    data["ingress_sources"] = [{"name": "AdminCidrBlocks", "description": "admins", "cidrs": ["10.0.0.0/8"]}]
    data["load_balancers"][0]["listeners"].append(
        {"port": 8080, "mode": "auto", "target_group": "web", "sources": "AdminCidrBlocks"}
    )
    spec = in_root / "platforms" / "web.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    params = in_root / "parameters" / "web"
    params.mkdir(parents=True)
    (params / "dev.json").write_text('["Environment=dev"]')
    out = in_root / "out"
    argv = ["templates", str(spec), "--out", str(out), "--jobs", "1"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0
    assert "unchanged: " in capsys.readouterr().out
    (params / "dev.json").write_text('["Environment=dev", "AdminCidrBlocks=0.0.0.0/0"]')
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "admits 0.0.0.0/0 on tcp/8080 under parameters/web/dev.json" in capsys.readouterr().err


def test_templates_reports_a_bad_spec_in_one_line(in_root: Path, capsys: pytest.CaptureFixture) -> None:
    spec = in_root / "bad.yaml"
    spec.write_text("name: Bad Name\n")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["templates", str(spec), "--out", str(in_root / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}: ") and "Traceback" not in err
    assert not (in_root / "out").exists()


def test_preflight_findings_are_replayed_not_hidden(in_root: Path, capsys: pytest.CaptureFixture) -> None:
    out = in_root / "t"
    shutil.copytree(ROOT / "templates" / "scheduled-file-writer", out)
    network = out / "network.yaml"
    # The task's subnets lose their ECR API endpoint: the task cannot pull its image.
    network.write_text(network.read_text().replace(".ecr.api", ".ecr.apiX"))
    files = {p.name: p.read_bytes() for p in sorted(out.glob("*.yaml"))}
    assert make_templates.preflight_cached(out, files, use=True) == make_templates.EXIT_FINDINGS
    first = capsys.readouterr().out
    assert "error: " in first and "preflight FAILED" in first
    assert make_templates.preflight_cached(out, files, use=True) == make_templates.EXIT_FINDINGS
    again = capsys.readouterr().out
    assert again.replace("preflight: unchanged templates (cached)\n", "") == first


@pytest.mark.parametrize("spec_path", PLATFORMS, ids=[p.stem for p in PLATFORMS])
def test_the_one_process_preflight_reads_what_check_reads(spec_path: Path) -> None:
    out = ROOT / "templates" / spec_path.stem
    files = {p.name: p.read_bytes() for p in sorted(out.glob("*.yaml"))}
    assert make_templates.read_set(out, files) == load_dir(out)


def test_run_jobs_forks_workers_only_from_the_main_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """make templates waits for the lint daemon in a thread; a fallback or a re-run there must
    lint in process, never fork beside the running main thread."""
    import multiprocessing
    import threading

    from generator import lint

    forks: list[str] = []

    def get_context(kind: str) -> None:
        forks.append(kind)
        raise ZeroDivisionError(kind)

    monkeypatch.setattr(multiprocessing, "get_context", get_context)

    class Fake:
        def lint_file(self, path: str, part: str = lint.ALL) -> list[lint.Match]:
            return [lint.Match(path, 1, 1, "E0000", part)]

    jobs = [(str(tmp_path / n), lint.ALL) for n in ("a.yaml", "b.yaml")]
    for path, _ in jobs:
        Path(path).write_text("Resources: {}\n")
    out: list[dict] = []
    thread = threading.Thread(target=lambda: out.append(lint.run_jobs(Fake(), jobs, 2)))  # type: ignore[arg-type]
    thread.start()
    thread.join()
    assert forks == [] and sorted(out[0]) == jobs
    with pytest.raises(ZeroDivisionError):  # the main thread does fork (here: into the fake)
        lint.run_jobs(Fake(), jobs, 2)  # type: ignore[arg-type]
    assert forks == ["fork"]


def test_the_lint_workers_and_server_run_with_the_lint_gc_thresholds(tmp_path: Path) -> None:
    """The forked lint workers (and the Server that forks them) collect garbage at
    LINT_GC_THRESHOLD; this process keeps its own thresholds."""
    import gc

    from generator import lint

    class Thresholds:
        def lint_file(self, path: str, part: str = lint.ALL) -> list[lint.Match]:
            return [lint.Match(path, *gc.get_threshold(), part)]  # type: ignore[arg-type]

    jobs = [(str(tmp_path / n), lint.ALL) for n in ("a.yaml", "b.yaml")]
    for path, _ in jobs:
        Path(path).write_text("Resources: {}\n")
    mine = gc.get_threshold()
    assert mine != lint.LINT_GC_THRESHOLD
    found = lint.run_jobs(Thresholds(), jobs, 2)  # type: ignore[arg-type]
    assert {(m.line, m.column, m.rule) for ms in found.values() for m in ms} == {lint.LINT_GC_THRESHOLD}
    assert gc.get_threshold() == mine


def test_a_batch_in_process_lints_at_the_lint_thresholds_and_gives_the_process_its_own_back() -> None:
    """``lint.run_jobs`` in this process (one core) raises the cyclic GC's thresholds for the
    batch (``lint.lint_gc``) and restores the process's own after it, also when a template
    fails; on another thread than the main one it leaves them alone."""
    import gc

    from generator import lint

    seen: list[tuple[int, ...]] = []

    class Recording:
        def lint_file(self, path: str, part: str = lint.ALL) -> list[lint.Match]:
            seen.append(gc.get_threshold())
            if path == "broken":
                raise RuntimeError(path)
            return []

    own = gc.get_threshold()
    mine = (701, 11, 9)
    gc.set_threshold(*mine)
    try:
        found = lint.run_jobs(Recording(), [("a.yaml", lint.ALL), ("b.yaml", lint.ALL)], 1)  # type: ignore[arg-type]
        assert found == {("a.yaml", lint.ALL): [], ("b.yaml", lint.ALL): []}
        assert seen == [lint.LINT_GC_THRESHOLD] * 2
        assert gc.get_threshold() == mine
        with pytest.raises(RuntimeError):
            lint.run_jobs(Recording(), [("broken", lint.ALL), ("c.yaml", lint.ALL)], 1)  # type: ignore[arg-type]
        assert gc.get_threshold() == mine
        # another thread's batch leaves the interpreter's thresholds alone
        import threading

        seen.clear()
        other = threading.Thread(target=lint.run_jobs, args=(Recording(), [("d.yaml", lint.ALL)], 1))
        other.start()
        other.join()
        assert seen == [mine] and gc.get_threshold() == mine
    finally:
        gc.set_threshold(*own)
