"""deploy.sh packages with the project's own AWS CLI in a helper (generator/deploy/artifacts.py
package: awscli's packager in-process): on the emulator it writes the bytes `aws cloudformation
package` writes and uploads the same keys, so a stack packaged either way sees no change."""

from __future__ import annotations

import subprocess
import sys

import pytest
from e2e_support import FIXTURES, ROOT, safe_env

pytestmark = pytest.mark.e2e


def _env(endpoint: str) -> dict[str, str]:
    # as deploy.sh's setup_aws exports them (the CLI v1 packager ignores --endpoint-url)
    return {**safe_env(), "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint}


@pytest.mark.parametrize("root", [FIXTURES / "nested" / "main.yaml", ROOT / "templates" / "mcp-gateway" / "main.yaml"])
def test_the_helper_packages_as_the_cli_does(endpoint, aws, tmp_path, root):
    bucket = "package-compare"
    aws("s3").create_bucket(Bucket=bucket)
    where = ["--region", "us-east-1", "--endpoint-url", endpoint]
    cli = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "aws"), *where, "cloudformation", "package", "--template-file", str(root)]
        + ["--s3-bucket", bucket, "--s3-prefix", "cli", "--output-template-file", str(tmp_path / "cli.yaml")],
        env=_env(endpoint),
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    helper = subprocess.run(
        [sys.executable, "-m", "generator.deploy.artifacts", "package", "--template-file", str(root)]
        + ["--bucket", bucket, "--prefix", "helper", "--output-template-file", str(tmp_path / "helper.yaml"), *where],
        cwd=ROOT,
        env=_env(endpoint),
        capture_output=True,
        text=True,
        check=False,
    )
    assert helper.returncode == 0, helper.stderr
    packaged = (tmp_path / "helper.yaml").read_text()
    assert f"/{bucket}/helper/" in packaged and "TemplateURL: network.yaml" not in packaged
    assert packaged.replace(f"/{bucket}/helper/", f"/{bucket}/cli/") == (tmp_path / "cli.yaml").read_text()
    keys = {
        prefix: sorted(
            o["Key"].split("/", 1)[1]
            for o in aws("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
        )
        for prefix in ("cli", "helper")
    }
    assert keys["cli"] and keys["cli"] == keys["helper"], keys
