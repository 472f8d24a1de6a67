"""checkov over several template sets whose files share names (two platforms, each with its
own alb.yaml): every skipped and failed check is counted once, under the right file.

Run over several directories (``-d a -d b``), checkov 3.3 reported a's skipped checks twice and
b's not at all, and its SARIF writer then failed (the gate exited "checkov exited 2"), so one
gate run over several platforms could not pass and could not be trusted to name the file of a
finding.  The gate names each template (``-f``) and writes the SARIF itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.gate.conftest import CLEAN, ROOT
from tests.gate.test_gate_validate_sh import summary

VALIDATE = ROOT / "validate.sh"
SKIP = (
    "    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_149\n"
    "            comment: a placeholder secret only this test reads\n"
)


def test_same_named_templates_in_two_platforms(tmp_path: Path, checkov: Path, gate_env: dict[str, str]) -> None:
    first, second = tmp_path / "one" / "demo", tmp_path / "two" / "demo"
    shutil.copytree(CLEAN / "demo", first)
    shutil.copytree(CLEAN / "demo", second)
    # the second platform: one more reasoned skip (app.yaml) and one failure (its alb.yaml's
    # access-log bucket loses its reasoned skip)
    app = second / "app.yaml"
    app.write_text(
        app.read_text().replace(
            "  AppSecret:\n    Type: AWS::SecretsManager::Secret\n",
            "  AppSecret:\n    Type: AWS::SecretsManager::Secret\n" + SKIP,
        )
    )
    alb = second / "alb.yaml"
    text = alb.read_text()
    start = text.index("      checkov:\n")
    end = text.index("      stackgen:\n", start)
    alb.write_text(text[:start] + text[end:])
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [str(VALIDATE), "--no-remote", "--tools", "checkov", "--reports", str(reports), str(first), str(second)],
        capture_output=True,
        text=True,
        env=gate_env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert "checkov exited" not in out, out
    templates, _, failed, suppressed = summary(proc.stdout)["checkov"]
    assert (templates, failed, suppressed) == (8, 1, 2), out
    fails = [line for line in proc.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert len(fails) == 1 and "CKV_AWS_18" in fails[0] and "two/demo/alb.yaml" in fails[0], fails
    assert proc.returncode == 1
    sarif = json.loads((reports / "checkov.sarif").read_text())["runs"][0]
    assert sarif["tool"]["driver"]["name"] == "checkov"
    where = sorted(
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].split("/", 1)[-1])
        for r in sarif["results"]
    )
    assert [(rule, uri.split(str(tmp_path.name) + "/")[-1]) for rule, uri in where] == [
        ("CKV_AWS_149", "two/demo/app.yaml"),
        ("CKV_AWS_18", "one/demo/alb.yaml"),
        ("CKV_AWS_18", "two/demo/alb.yaml"),
    ], where
