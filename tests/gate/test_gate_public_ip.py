"""Control Tower ECS.PR.9 (no public IP on an ECS service) is never allow-listable, and one
resource-level exemption, written by the generator for a public-ip platform, accepts it:
``Metadata.stackgen.public_ip: {reason: <network.public_ip_reason>}`` on the service.
Nothing else switches that rule off, and the exemption switches off nothing else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from generator.gate.guard_runner import evaluate
from generator.gate.model import ToolResult
from generator.gate.suppressions import audit_template, exemption_reason, load_allowlists
from generator.gate.templates import load
from tests.gate.conftest import CT_RULES

RULE = "ecs_service_assign_public_ip_disabled_check"
REASON = "short-lived demo platform without a NAT or endpoint budget"
SERVICE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Service:
    Type: AWS::ECS::Service
{metadata}    Properties:
      Cluster: c
      TaskDefinition: t
      LaunchType: FARGATE
      NetworkConfiguration:
        AwsvpcConfiguration:
          Subnets: [subnet-1]
          SecurityGroups: [sg-1]
          AssignPublicIp: ENABLED
"""


def meta(stackgen: str) -> str:
    return f"    Metadata:\n      stackgen:\n{stackgen}"


def public_ip(reason: str = REASON) -> str:
    return meta(f"        public_ip: {{reason: {json.dumps(reason)}}}\n")


def guard(tmp_path: Path, cfn_guard: Path, metadata: str, allow: str = "{}\n") -> list:
    """The CT.ECS.PR.9 findings of cfn-guard on the service, after the gate's suppressions."""
    path = tmp_path / "services.yaml"
    path.write_text(SERVICE.format(metadata=metadata))
    proc = subprocess.run(
        [
            str(cfn_guard),
            "validate",
            "-o",
            "json",
            "-S",
            "none",
            "--structured",
            "-r",
            str(CT_RULES / "ecs"),
            "-d",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 19), proc.stderr
    reports = json.loads(proc.stdout)
    for report in reports:
        report["name"] = str(path)
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text(allow)
    result = ToolResult("cfn-guard")
    evaluate(reports, {str(path): load(path)}, load_allowlists([allowlist]), result)
    return [f for f in result.findings if f.rule == RULE]


def test_a_public_ip_service_fails_without_the_exemption(tmp_path, cfn_guard):
    [finding] = guard(tmp_path, cfn_guard, "")
    assert finding.suppressed is None


def test_the_exemption_with_the_specs_reason_suppresses_it(tmp_path, cfn_guard):
    [finding] = guard(tmp_path, cfn_guard, public_ip())
    assert finding.suppressed == REASON


@pytest.mark.parametrize(
    "metadata",
    [
        public_ip("TODO"),
        public_ip("n/a"),
        public_ip("too short"),
        meta("        public_ip: {}\n"),
        meta('        public_ip: "' + REASON + '"\n'),
        # the general allow-list forms do not reach a never-allow-listable rule
        meta(f"        guard_allowlist: {{{RULE}: {json.dumps(REASON)}}}\n"),
    ],
    ids=["todo", "n/a", "short", "no-reason", "not-a-mapping", "guard-allowlist"],
)
def test_nothing_else_suppresses_it(tmp_path, cfn_guard, metadata):
    [finding] = guard(tmp_path, cfn_guard, metadata)
    assert finding.suppressed is None


def test_an_allowlist_file_cannot_suppress_it(tmp_path, cfn_guard):
    [finding] = guard(tmp_path, cfn_guard, "", allow=f"{RULE}@Service: {json.dumps(REASON)}\n")
    assert finding.suppressed is None
    assert "can never be allow-listed" in load_allowlists([tmp_path / "allowlist.yaml"]).problems[0]


def test_the_exemption_reaches_no_other_rule(tmp_path, cfn_guard):
    """The exemption answers ECS.PR.9 only: for any other rule, never-allow-listable or not, the
    service's public_ip entry gives no reason."""
    path = tmp_path / "services.yaml"
    path.write_text(SERVICE.format(metadata=public_ip()))
    template = load(path)
    assert exemption_reason(template.resources["Service"], RULE) == REASON
    for other in (
        "ecs_task_definition_nonroot_user_check",
        "ecs_containers_nonprivileged_check",
        "cloudwatch_log_group_encrypted_check",
        "vpc_sg_open_only_to_authorized_ports_check",
    ):
        assert exemption_reason(template.resources["Service"], other) is None


def audit(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return audit_template(load(path))


def test_the_audit_lists_the_exemption_as_a_suppression(tmp_path):
    good, bad = audit(tmp_path, SERVICE.format(metadata=public_ip()))
    assert bad == []
    assert [(s.kind, s.logical_id, s.reason) for s in good] == [("public_ip", "Service", REASON)]


@pytest.mark.parametrize(
    "metadata, problem",
    [
        (public_ip("TODO"), "public_ip: "),
        (meta("        public_ip: {}\n"), "must be {reason: <reason>}"),
        (meta('        public_ip: {reason: "' + REASON + '", rules: [x]}\n'), "must be {reason: <reason>}"),
    ],
    ids=["placeholder", "empty", "extra-key"],
)
def test_the_audit_refuses_a_bad_exemption(tmp_path, metadata, problem):
    _, bad = audit(tmp_path, SERVICE.format(metadata=metadata))
    assert len(bad) == 1 and problem in bad[0].problem, bad


def test_the_audit_refuses_the_exemption_on_another_resource_type(tmp_path):
    text = (
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n'
        + public_ip()
        + "    Properties: {GroupDescription: d}\n"
    )
    _, bad = audit(tmp_path, text)
    assert len(bad) == 1 and "only AWS::ECS::Service and AWS::Scheduler::Schedule take it" in bad[0].problem
