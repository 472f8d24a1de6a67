"""The acceptance run (generator/acceptance/) without AWS: the verdict, the JUnit XML report and
its shape, the summary, the run's order on fake API answers (the emulator's not-applicable
checks, a bug mid-run, --keep-stack), the cost, the command line's usage errors and the make
target. The checks themselves: tests/test_acceptance_checks.py; the run against the emulator:
tests/e2e/test_e2e_acceptance.py."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.acceptance import __main__ as cli
from generator.acceptance import costs, report, run, scripts
from generator.acceptance.report import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, Check, Report
from generator.acceptance.scripts import Run
from generator.cost import estimate, load_prices, usage_from
from generator.spec import load_spec
from tests.acceptance_fakes import PARENT, Fake, fake_aws, world
from tests.helpers import ROOT

# --------------------------------------------------------------------------- JUnit shape

# The common JUnit XML shape (the Ant/Jenkins schema most CI readers accept): which children
# and attributes each element may have, and which attributes it must have.
SHAPE = {
    "testsuites": ({"testsuite"}, {"name", "tests", "failures", "errors", "skipped", "time", "disabled"}, set()),
    "testsuite": (
        {"properties", "testcase", "system-out", "system-err"},
        {
            "name",
            "tests",
            "failures",
            "errors",
            "skipped",
            "time",
            "timestamp",
            "hostname",
            "id",
            "package",
            "disabled",
        },
        {"name", "tests"},
    ),
    "properties": ({"property"}, set(), set()),
    "property": (set(), {"name", "value"}, {"name", "value"}),
    "testcase": (
        {"failure", "error", "skipped", "system-out", "system-err"},
        {"name", "classname", "time", "assertions", "status"},
        {"name", "classname"},
    ),
    "failure": (set(), {"message", "type"}, {"message"}),
    "error": (set(), {"message", "type"}, {"message"}),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
NUMERIC = {"tests", "failures", "errors", "skipped", "disabled", "assertions"}


def assert_junit_shape(root: ET.Element) -> None:
    """Raise AssertionError when ``root`` is not the common JUnit XML shape."""
    assert root.tag in ("testsuites", "testsuite"), root.tag
    for el in root.iter():
        assert el.tag in SHAPE, f"unexpected element <{el.tag}>"
        children, allowed, required = SHAPE[el.tag]
        for child in el:
            assert child.tag in children, f"<{child.tag}> inside <{el.tag}>"
        assert set(el.attrib) <= allowed, f"<{el.tag}> attributes {set(el.attrib) - allowed}"
        assert required <= set(el.attrib), f"<{el.tag}> lacks {required - set(el.attrib)}"
        for name in NUMERIC & set(el.attrib):
            assert el.attrib[name].isdigit(), f"<{el.tag} {name}={el.attrib[name]!r}>"
        if "time" in el.attrib:
            float(el.attrib["time"])
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        cases = suite.findall("testcase")
        outcome = [[c for c in case if c.tag in ("failure", "error", "skipped")] for case in cases]
        assert all(len(o) <= 1 for o in outcome), "a testcase with more than one outcome"
        assert int(suite.get("tests", "")) == len(cases)
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if suite.get(attr) is not None:
                assert int(suite.get(attr, "")) == sum(1 for o in outcome if o and o[0].tag == tag), attr


def sample_report() -> Report:
    r = Report("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566", True, seconds=12.5)
    r.add(
        Check("deploy", "", PASSED, "web-dev CREATE_COMPLETE", "deploy log\x1b[0m with a control character", 8.0),
        Check("service steady", "ServicesStack/Web", NOT_APPLICABLE, "the emulator runs no containers"),
        Check("diagnose", "", FAILED, "1 finding(s): no route", "FAIL [route] no route", 1.0),
        Check("survivors", "", NOT_RUN, "nothing was deployed"),
    )
    return r


def test_junit_report_has_the_common_shape(tmp_path: Path):
    path = tmp_path / "reports" / "acceptance-web-dev.xml"
    report.write_junit(sample_report(), path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written atomically, nothing else left
    root = ET.parse(path).getroot()
    assert_junit_shape(root)
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["deploy"].find("failure") is None and cases["deploy"].find("skipped") is None
    assert cases["diagnose"].find("failure").get("message").startswith("1 finding(s)")
    assert (
        cases["service steady: ServicesStack/Web"].find("skipped").get("message")
        == "not applicable: the emulator runs no containers"
    )
    assert cases["survivors"].find("skipped").get("message") == "not run: nothing was deployed"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["emulated"] == "true" and props["platform"] == "web"


@pytest.mark.parametrize(
    "broken",
    [
        '<testsuite name="s" tests="1"><testcase name="a" classname="c"><failure message="x"/><skipped/>'
        "</testcase></testsuite>",  # two outcomes
        '<testsuite name="s" tests="1"><testcase classname="c"/></testsuite>',  # no name
        '<testsuite name="s" tests="2"><testcase name="a" classname="c"/></testsuite>',  # wrong count
        '<testsuite name="s" tests="1" failures="0"><testcase name="a" classname="c"><failure message="x"/>'
        "</testcase></testsuite>",  # failures miscounted
        '<testsuite name="s" tests="1"><testcase name="a" classname="c"><passed/></testcase></testsuite>',
        '<report><testcase name="a" classname="c"/></report>',
    ],
)
def test_the_shape_check_catches_broken_reports(broken: str):
    with pytest.raises(AssertionError):
        assert_junit_shape(ET.fromstring(broken))


def test_a_failed_check_fails_the_run():
    checks = [Check("deploy", "", PASSED), Check("delete", "", PASSED)]
    assert report.exit_code(checks) == 0
    checks.append(Check("probe", "x", FAILED, "answered 503"))
    assert report.verdict(checks) == FAILED and report.exit_code(checks) == 1


def test_not_applicable_never_counts_as_passed():
    r = Report("web", "dev", "web-dev", "us-east-1")
    r.add(Check("probe", "a", NOT_APPLICABLE, "emulator"), Check("health path", "b", NOT_APPLICABLE, "emulator"))
    assert r.counts()[PASSED] == 0 and r.counts()[NOT_APPLICABLE] == 2
    assert report.exit_code(r.checks) == 0  # nothing failed
    text = report.summary(r)
    assert "0 passed, 2 not applicable (not counted as passed)" in text and "PASS " not in text
    root = ET.fromstring(report.junit_xml(r))
    assert all(c.find("skipped") is not None for c in root.iter("testcase"))


@pytest.mark.parametrize("status", [FAILED, NOT_APPLICABLE, NOT_RUN])
def test_a_check_that_did_not_pass_needs_a_reason(status: str):
    with pytest.raises(ValueError, match="without a reason"):
        Check("probe", "x", status, "  ")


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown check status"):
        Check("probe", "x", "skipped", "why")


def test_summary_is_one_screen_with_each_reason_once():
    r = sample_report()
    r.add(*(Check("probe", f"Lb{i} HTTP:80", NOT_APPLICABLE, "the emulator runs no containers") for i in range(3)))
    text = report.summary(r, ["Cost: ..."])
    lines = text.splitlines()
    assert len(lines) < 25 and all(len(line) <= 110 for line in lines)
    assert text.count("the emulator runs no containers") == 1  # a shared reason is a numbered note
    assert "  [1] the emulator runs no containers" in text
    assert lines[1].startswith("  PASS  deploy") and "FAIL  diagnose" in text and "N/A   probe: Lb0" in text
    assert "Result: FAILED: 1 failed, 1 passed, 4 not applicable" in text and lines[-1] == "Cost: ..."


# --------------------------------------------------------------------------- the run


def test_on_the_emulator_traffic_checks_are_never_passed(monkeypatch: pytest.MonkeyPatch):
    """Even when the emulator claims the service runs its desired count, steady, healthy and the
    probes are not applicable; created and attached are really checked."""
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    opts = run.Options("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566")
    assert opts.emulated
    checks = run._checks_after_deploy(opts, fake_aws(world()), say=lambda _: None)
    by = {c.group: c.status for c in checks}
    assert by == {
        "service created": PASSED,
        "target group attached": PASSED,
        "service steady": NOT_APPLICABLE,
        "target group healthy": NOT_APPLICABLE,
        "probe": NOT_APPLICABLE,
        "health path": NOT_APPLICABLE,
        "image pulls": NOT_APPLICABLE,
        "diagnose": PASSED,
    }


def test_on_aws_the_same_checks_are_answered(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    monkeypatch.setattr(run.probes, "run", lambda deployed, acm, window: [Check("probe", "Lb HTTP:80", PASSED)])
    opts = run.Options("web", "dev", "web-dev", "us-east-1", None, wait_timeout=0)
    assert not opts.emulated and not run.Options("w", "dev", "w", "us-east-1", "https://cfn.example").emulated
    clients = {**world(), "acm": Fake(), "cloudwatch": Fake()}
    checks = run._checks_after_deploy(opts, fake_aws(clients), say=lambda _: None)
    assert {c.group: c.status for c in checks}["service steady"] == PASSED
    # The fake stack has no monitoring stack: nothing measures its image pulls (tests/test_image_pulls.py
    # runs the check on real pull metrics).
    assert {c.group: c.status for c in checks}["image pulls"] == FAILED
    assert NOT_APPLICABLE not in {c.status for c in checks}


def test_deploy_and_survivor_verdicts():
    opts = run.Options("web", "dev", "web-dev", "us-east-1")
    ok = Run([], 0, "web-dev: CREATE_COMPLETE", 3.0)
    assert run.deploy_check(opts, ok, "CREATE_COMPLETE").status == PASSED
    failed = Run(
        [],
        1,
        "Root cause (first failure, in nested stack X):\n  X/Y (T): CREATE_FAILED: boom\n"
        "deploy.sh: error: deploy failed",
        3.0,
    )
    check = run.deploy_check(opts, failed, "ROLLBACK_COMPLETE")
    assert check.status == FAILED and "X/Y (T): CREATE_FAILED: boom" in check.message
    before = Run([], 0, "What survives deleting web-dev:", 1.0)
    listed = [{"type": "AWS::Logs::LogGroup"}, {"type": "AWS::Logs::LogGroup"}, {"type": "AWS::KMS::Key"}]
    good = Run([], 0, "Survivors now:\n  - A (AWS::Logs::LogGroup /a): retained, still exists", 1.0)
    assert run.survivors_check(before, good, listed).message.endswith("2 AWS::Logs::LogGroup, 1 AWS::KMS::Key")
    gone = Run([], 0, "  - A (AWS::Logs::LogGroup /a): GONE: it was deleted although its DeletionPolicy is Retain", 1)
    assert run.survivors_check(before, gone, listed).status == FAILED
    stuck = Run([], 1, "DELETE_FAILED:\n  - B (AWS::S3::Bucket): bucket not empty", 1.0)
    assert run.survivors_check(before, stuck, listed).status == FAILED


def test_run_cost_is_the_cost_commands_estimate():
    c = costs.run_cost(Path("platforms/scheduled-file-writer.yaml"), "dev", "us-east-1", ROOT)
    prices = load_prices("us-east-1")
    e = estimate(load_spec(ROOT / "platforms/scheduled-file-writer.yaml"), prices, "dev", None, usage_from(prices))
    assert (c.monthly_low, c.monthly_high) == e.total
    printed = subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "generator",
            "cost",
            "platforms/scheduled-file-writer.yaml",
            "--env",
            "dev",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{c.monthly_low:,.2f}" in next(line for line in printed.splitlines() if line.startswith("TOTAL"))
    assert c.for_run(1800) == pytest.approx((c.hourly / 2, c.hourly))
    assert c.for_run(3700)[1] == pytest.approx(2 * c.hourly)
    other = costs.run_cost(Path("platforms/scheduled-file-writer.yaml"), "dev", "eu-west-3", ROOT)
    assert "no price file for eu-west-3" in other.prices


# --------------------------------------------------------------------------- command line


def usage(capsys: pytest.CaptureFixture, *argv: str) -> str:
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_usage_errors_name_the_file_and_field(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("STACKGEN_PARAM_SmbPassword", raising=False)
    report_file = tmp_path / "r.xml"
    common = ["--report", str(report_file), "--endpoint-url", "http://127.0.0.1:9"]
    assert "platforms/nope.yaml: no such platform" in usage(capsys, "--platform", "nope", "--env", "dev", *common)
    assert "--env: unknown environment 'qa'" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "qa", *common
    )
    err = usage(capsys, "--platform", "platforms/scheduled-file-writer.yaml", "--env", "dev", *common)
    assert (
        "templates/scheduled-file-writer/main.yaml: NoEcho parameter(s) SmbPassword: set "
        "STACKGEN_PARAM_SmbPassword" in err
    )
    monkeypatch.setenv("STACKGEN_PARAM_SmbPassword", "x")
    assert "nope.json: parameters file not found" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "dev", "--params-file", "nope.json", *common
    )
    monkeypatch.setattr(cli, "describe", lambda cfn, stack: {"StackStatus": "CREATE_COMPLETE"})
    monkeypatch.setattr(cli, "process_environment", lambda opts: {})
    assert "stack scheduled-file-writer-dev already exists" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "dev", *common
    )
    assert not report_file.exists()  # nothing half-written


def test_the_command_line_options_reach_the_run(monkeypatch: pytest.MonkeyPatch):
    """Each flag lands in its own field (``--keep-stack`` once landed in ``pull_wait``, the field
    after ``--probe-window``, positionally: the stack was deleted and the pull wait was 0 s)."""
    monkeypatch.setenv("STACKGEN_PARAM_SmbPassword", "x")
    common = ["--platform", "scheduled-file-writer", "--env", "dev", "--endpoint-url", "http://127.0.0.1:9"]
    opts = cli.options(cli.parser().parse_args([*common, "--keep-stack", "--interval", "0.2"]))
    assert (opts.keep_stack, opts.pull_wait, opts.interval, opts.probe_window) == (True, 180.0, 0.2, 60.0)
    opts = cli.options(cli.parser().parse_args(common))
    assert (opts.keep_stack, opts.pull_wait, opts.interval) == (False, 180.0, None)


def test_interval_is_passed_to_deploy_sh_and_delete_sh(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``--interval`` reaches both scripts' event polling as they accept it; without it neither
    gets one (their defaults hold); a negative one is a usage error."""
    calls: list[list[str]] = []

    def fake_run(argv: list[str], env: dict[str, str], echo: Any = None) -> Run:
        calls.append(argv)
        return Run(argv, 0, "", 0.0)

    monkeypatch.setattr(scripts, "run", fake_run)
    for interval, want in ((0.2, ["--interval", "0.2"]), (2.0, ["--interval", "2"]), (None, [])):
        calls.clear()
        s = scripts.Scripts("web", "dev", "web-dev", "us-east-1", None, {}, interval=interval)
        s.deploy()
        s.delete()
        for argv in calls:
            got = argv[argv.index("--interval") : argv.index("--interval") + 2] if "--interval" in argv else []
            assert got == want, argv
    assert [Path(a[0]).name for a in calls] == ["deploy.sh", "delete.sh"]
    monkeypatch.setenv("STACKGEN_PARAM_SmbPassword", "x")
    err = usage(capsys, "--platform", "scheduled-file-writer", "--env", "dev", "--interval", "-1")
    assert "--interval: must not be negative" in err


def test_help(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "STACKGEN_PARAM_<Name>" in out and "Exit status: 0 no check failed" in out


def test_make_acceptance_runs_the_module():
    out = subprocess.run(
        [
            "make",
            "-n",
            "acceptance",
            "PLATFORM=platforms/scheduled-file-writer.yaml",
            "ENV=test",
            "ENDPOINT_URL=http://127.0.0.1:4599",
            "ACCEPTANCE_ARGS=--keep-stack",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    command = out.replace("\\\n", " ")
    assert "-m generator.acceptance --platform scheduled-file-writer --env test" in command
    assert "--endpoint-url http://127.0.0.1:4599" in command and "--keep-stack" in command


class FakeScripts:
    """deploy.sh / delete.sh / survivors stand-ins that record what ran."""

    calls: list[str] = []
    deploy_code = 0

    def __init__(self, *args: Any, **kw: Any) -> None:
        FakeScripts.calls = []

    def deploy(self) -> Run:
        self.calls.append("deploy")
        return Run([], self.deploy_code, "deploy.sh: error: bad input" if self.deploy_code else "ok", 1.0)

    def delete(self) -> Run:
        self.calls.append("delete")
        return Run([], 0, "Deleted.", 1.0)

    def mark(self) -> str:
        return "0"

    def survivors_before(self, save: Path) -> tuple[Run, list[dict]]:
        return Run([], 0, "What survives deleting web-dev:", 0.1), []

    def survivors_after(self, stack_id: str, load: Path, since: str) -> Run:
        return Run([], 0, "", 0.1)


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch):
    """run.run with fake scripts and a stack that exists until deleted."""
    state = {"deleted": False}
    monkeypatch.setattr(run, "Scripts", FakeScripts)
    monkeypatch.setattr(
        run,
        "describe",
        lambda cfn, stack: None if state["deleted"] else {"StackId": PARENT, "StackStatus": "CREATE_COMPLETE"},
    )
    original_delete = FakeScripts.delete

    def delete(self: FakeScripts) -> Run:
        state["deleted"] = True
        return original_delete(self)

    monkeypatch.setattr(FakeScripts, "delete", delete)
    monkeypatch.setattr(run, "client", lambda service, **kw: world()[service] if service in world() else Fake())
    return run.Options("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566")


def test_a_bug_mid_run_is_reported_and_the_stack_still_deleted(fake_run: run.Options, monkeypatch: pytest.MonkeyPatch):
    def broken(aws: Any, stack: str) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(run, "discover", broken)
    outcome = run.run(fake_run, {}, say=lambda _: None)
    assert FakeScripts.calls == ["deploy", "delete"]
    assert outcome.bug == "KeyError: 'boom'"
    bug = next(c for c in outcome.report.checks if c.group == "internal error")
    assert bug.status == FAILED and "Traceback" in bug.output
    assert {c.group: c.status for c in outcome.report.checks}["delete"] == PASSED


def test_deploy_refusing_its_input_creates_and_deletes_nothing(fake_run: run.Options):
    FakeScripts.deploy_code = 2
    try:
        with pytest.raises(run.DeployRefused, match="bad input"):
            run.run(fake_run, {}, say=lambda _: None)
    finally:
        FakeScripts.deploy_code = 0
    assert FakeScripts.calls == ["deploy"]


def test_keep_stack_leaves_it_and_says_how_to_delete(fake_run: run.Options, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    fake_run.keep_stack = True
    outcome = run.run(fake_run, {}, say=lambda _: None)
    assert FakeScripts.calls == ["deploy"]
    delete = next(c for c in outcome.report.checks if c.group == "delete")
    assert delete.status == NOT_RUN and "./delete.sh --platform web --env dev --stack-name web-dev" in delete.message


def test_an_internal_error_is_one_line_exit_1(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    def broken(args: Any) -> int:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(cli, "accept", broken)
    assert cli.main(["--platform", "web", "--env", "dev"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error (a bug in stackgen" in err and "RuntimeError" in err


def test_noecho_parameters_of_every_root_stack_are_required(tmp_path: Path) -> None:
    """A platform split into several root stacks (generator.roots): a NoEcho parameter of a
    service-set root needs its STACKGEN_PARAM_ as much as main.yaml's do (deploy.sh deploys
    each root with the same parameters file); one fed from an earlier root's output does not.
    The check read main.yaml alone."""
    from generator.acceptance.__main__ import missing_secrets

    main = {
        "Metadata": {"stackgen": {"roots": ["main.yaml", "main-services-2.yaml"]}},
        "Parameters": {"DbPassword": {"Type": "String", "NoEcho": True}, "Env": {"Type": "String"}},
        "Resources": {},
    }
    second = {
        "Metadata": {"stackgen": {"root": {"from_outputs": {"ClusterKey": "main.yaml"}}}},
        "Parameters": {
            "ApiToken": {"Type": "String", "NoEcho": "true"},
            "ClusterKey": {"Type": "String", "NoEcho": True},
        },
        "Resources": {},
    }
    (tmp_path / "main.yaml").write_text(yaml.safe_dump(main))
    (tmp_path / "main-services-2.yaml").write_text(yaml.safe_dump(second))
    assert missing_secrets(tmp_path / "main.yaml", {}) == ["ApiToken", "DbPassword"]
    assert missing_secrets(tmp_path / "main.yaml", {"STACKGEN_PARAM_ApiToken": "x"}) == ["DbPassword"]
