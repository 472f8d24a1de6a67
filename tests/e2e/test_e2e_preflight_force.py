"""deploy.sh refuses a platform that fails the reachability preflight, unless --force
gives a reason (issue 6, part 6); after a deploy it prints the diagnose command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from e2e_support import ROOT, Scripts, stack_status

pytestmark = pytest.mark.e2e
SECRET = {"STACKGEN_PARAM_SmbPassword": "e2e-SmbPassword-Value-0123456789abcdef"}


@pytest.fixture()
def broken_root(tmp_path: Path) -> Path:
    """A project root whose only platform pulls a Docker Hub image with no NAT: the
    scheduled-file-writer with its ECR image swapped for a public one."""
    root = tmp_path / "repo"
    (root / "platforms").mkdir(parents=True)
    for name in ("deploy.sh", "delete.sh"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("generator", ".venv", ".tools"):
        (root / name).symlink_to(ROOT / name)
    spec = yaml.safe_load((ROOT / "platforms" / "scheduled-file-writer.yaml").read_text())
    spec["name"] = "pulls-public"
    spec["services"][0]["image"] = {"default": "docker.io/library/busybox:1.36"}
    (root / "platforms" / "pulls-public.yaml").write_text(yaml.safe_dump(spec))
    shutil.copytree(ROOT / "parameters" / "scheduled-file-writer", root / "parameters" / "pulls-public")
    # its committed templates, as `make templates` writes them (deploy.sh deploys those)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "synth",
            str(root / "platforms" / "pulls-public.yaml"),
            "--out",
            str(root / "templates" / "pulls-public"),
            "--quiet",
        ],
        check=True,
        cwd=ROOT,
    )
    return root


def _scripts(root: Path, endpoint: str) -> Scripts:
    class Local(Scripts):
        def run(self, script: str, *args: str, **kw):  # noqa: ANN202
            import e2e_support

            old = e2e_support.ROOT
            e2e_support.ROOT = root
            try:
                return super().run(script, *args, **kw)
            finally:
                e2e_support.ROOT = old

    return Local(endpoint)


def test_failing_preflight_blocks_then_force_deploys(broken_root: Path, endpoint: str, aws) -> None:
    scripts = _scripts(broken_root, endpoint)
    run = scripts.deploy("--platform", "pulls-public", "--env", "dev", env=SECRET)
    assert run.code == 1, run
    assert "no route to docker.io" in run.out
    assert "preflight failed for platforms/pulls-public.yaml" in run.out
    cfn = aws("cloudformation")
    assert stack_status(cfn, "pulls-public-dev") is None

    run = scripts.deploy(
        "--platform", "pulls-public", "--env", "dev", "--force", "image mirrored to ECR next sprint", env=SECRET
    )
    assert run.code == 0, run
    assert "deploying despite a failed preflight (--force): image mirrored to ECR next sprint" in run.out
    assert (
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing .venv/bin/stackgen diagnose "
        "--stack pulls-public-dev --region us-east-1 --endpoint-url http://127.0.0.1:" in run.out
    )
    tags = {t["Key"]: t["Value"] for t in cfn.describe_stacks(StackName="pulls-public-dev")["Stacks"][0]["Tags"]}
    assert tags.get("stackgen:preflight-override") == "image mirrored to ECR next sprint"
    assert scripts.delete("--platform", "pulls-public", "--env", "dev", "--yes").code == 0
