"""The StackSets options and output that need no AWS: a user's mistakes (one line, exit 2,
before any AWS call, from the module and from deploy.sh/delete.sh), the per-instance status
stream of an operation and its bound (a scripted client: moto's operations end at once), and
the key of a packaged TemplateURL. The AWS side is in tests/test_stacksets.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.deploy import stackset_inputs as inputs
from generator.deploy import stacksets
from generator.deploy.stackset_status import watch_operation

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
BUCKET = f"stackgen-artifacts-{ACCOUNT}-us-east-1"
NAME = "demo-dev"


class ScriptedCfn:
    """An operation's answers over successive polls (moto's operations end at once)."""

    def __init__(self, polls: list[tuple[str, list[dict[str, Any]]]]) -> None:
        self.polls = polls
        self.index = -1

    def describe_stack_set_operation(self, **_: Any) -> dict[str, Any]:
        self.index = min(self.index + 1, len(self.polls) - 1)
        return {"StackSetOperation": {"Status": self.polls[self.index][0]}}

    def list_stack_set_operation_results(self, **_: Any) -> dict[str, Any]:
        return {"Summaries": self.polls[self.index][1]}


def result(region: str, status: str, reason: str = "") -> dict[str, str]:
    return {"Account": ACCOUNT, "Region": region, "Status": status, "StatusReason": reason}


def test_per_instance_status_is_streamed_until_the_operation_ends(capsys: pytest.CaptureFixture[str]) -> None:
    cfn = ScriptedCfn(
        [
            ("RUNNING", [result("us-east-1", "RUNNING"), result("eu-west-1", "PENDING")]),
            ("RUNNING", [result("us-east-1", "RUNNING"), result("eu-west-1", "PENDING")]),
            ("RUNNING", [result("us-east-1", "SUCCEEDED"), result("eu-west-1", "RUNNING")]),
            (
                "FAILED",
                [result("us-east-1", "SUCCEEDED"), result("eu-west-1", "FAILED", "ResourceLogicalId:AppStack, ...")],
            ),
        ]
    )
    sleeps: list[float] = []
    assert not watch_operation(cfn, NAME, "op-1", 2.0, 60.0, {}, clock=lambda: 0.0, sleep=sleeps.append)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # one line per change, not per poll
    assert lines == [
        f"  {ACCOUNT}  eu-west-1       PENDING",
        f"  {ACCOUNT}  us-east-1       RUNNING",
        f"  {ACCOUNT}  eu-west-1       RUNNING",
        f"  {ACCOUNT}  us-east-1       SUCCEEDED",
        f"  {ACCOUNT}  eu-west-1       FAILED: ResourceLogicalId:AppStack, ...",
    ]
    assert err == "operation op-1 FAILED (1 instance(s) failed)\n"
    assert sleeps == [2.0, 2.0, 2.0]


def test_the_wait_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    cfn = ScriptedCfn([("RUNNING", [result("us-east-1", "RUNNING")])])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert not watch_operation(cfn, NAME, "op-2", 30.0, 90.0, {}, clock=lambda: now[0], sleep=sleep)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "operation op-2 of stack set demo-dev is still RUNNING after 90 s; it goes on in CloudFormation" in err
    assert "describe-stack-set-operation --stack-set-name demo-dev --operation-id op-2" in err


# --- a user's mistakes: one line, exit 2, nothing created ------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["check"],
            "--stack-set needs --regions r1[,r2...] (the regions of the stack instances)",
        ),
        (
            ["check", "--regions", "us-east-1", "--accounts", ACCOUNT, "--organizational-units", "ou-abcd-12345678"],
            "--accounts and --organizational-units exclude each other "
            "(accounts: self-managed permissions; organizational units: service-managed)",
        ),
        (
            ["check", "--regions", "us-east-1,mars-north-1"],
            "--regions: unknown region mars-north-1 (cfn-lint's region list has no such region)",
        ),
        (
            ["check", "--regions", "us-east-1", "--failure-tolerance", "ten"],
            "invalid --failure-tolerance: ten (expected N or N%, e.g. 1 or 25%)",
        ),
        (
            ["check", "--regions", "us-east-1", "--max-concurrent", "0"],
            "invalid --max-concurrent: 0 (must be at least 1)",
        ),
        (
            ["check", "--regions", "us-east-1", "--failure-tolerance", "0", "--max-concurrent", "3"],
            "--max-concurrent 3 is more than one above --failure-tolerance 0: CloudFormation refuses that in strict "
            "mode (raise --failure-tolerance, or --concurrency-mode soft)",
        ),
        (
            ["check", "--regions", "us-east-1", "--organizational-units", "ou-abcd-12345678"],
            "--permission-model service-managed needs --execution-role-template FILE: the default execution role of "
            "service-managed stack sets cannot provision nested stacks (docs/deploy.md, StackSets)",
        ),
        (
            ["check", "--regions", "us-east-1", "--accounts", "12345"],
            "--accounts: 12345 is not a 12-digit AWS account ID",
        ),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stacksets.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"stackgen: error: {message}\n"


@pytest.mark.parametrize(
    ("script", "extra", "message"),
    [
        ("deploy.sh", ["--stack-set"], "--stack-set needs --regions"),
        (
            "deploy.sh",
            ["--stack-set", "--regions", "us-east-1", "--accounts", ACCOUNT, "--organizational-units", "r-abcd"],
            "--accounts and --organizational-units exclude each other",
        ),
        ("deploy.sh", ["--regions", "us-east-1"], "--regions goes with --stack-set"),
        (
            "delete.sh",
            ["--stack-set", "--accounts", ACCOUNT, "--organizational-units", "r-abcd", "--yes"],
            "exclude each other",
        ),
    ],
)
def test_the_scripts_refuse_a_mistake_before_calling_aws(script: str, extra: list[str], message: str) -> None:
    # The endpoint is a closed port: a mistake is reported before it is ever asked.
    result = subprocess.run(
        [
            str(ROOT / script),
            "--platform",
            "scheduled-file-writer",
            "--env",
            "dev",
            "--endpoint-url",
            "http://127.0.0.1:9",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "cannot be reached" not in result.stderr


def test_help_describes_the_stack_set_options() -> None:
    for script in ("deploy.sh", "delete.sh"):
        text = subprocess.run([str(ROOT / script), "--help"], capture_output=True, text=True, check=True).stdout
        assert "--stack-set" in text and "--regions" in text


@pytest.mark.parametrize(
    "url",
    [
        # awscli 1.x `package` (s3uploader.to_path_style_s3_url) on a versioned bucket
        f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{NAME}/0123abcd.template?versionId=3HL4kqtJlcpXroDTDmJ",
        f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{NAME}/0123abcd.template",
        f"http://127.0.0.1:4566/{BUCKET}/{NAME}/0123abcd.template?versionId=1",
        f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{NAME}/0123abcd.template",
    ],
)
def test_the_key_of_a_packaged_template_url(url: str) -> None:
    assert inputs.s3_key(url, BUCKET) == f"{NAME}/0123abcd.template"


def test_a_template_url_outside_the_bucket_is_refused() -> None:
    with pytest.raises(inputs.InputError, match="is not in the artifact bucket"):
        inputs.s3_key(f"https://s3.us-east-1.amazonaws.com/other-bucket/{NAME}/x.template", BUCKET)
