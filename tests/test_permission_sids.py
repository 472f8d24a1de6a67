"""A task permission's sid is never one stackgen writes itself in the same policy (issue 11).

IAM requires unique Sids within a policy, and a task permission's statement sits in the task
role's policy beside the ECS Exec statements stackgen writes. The list the spec refuses is
generator.policies.TASK_ROLE_SIDS; these tests prove it is exactly the set of sids the generator
writes in task roles (read from rendered iam stacks, not copied by hand). The execution role's
sids (EcrPull, SsmRead, ...) live in another role's policy, where a task permission never goes:
bff-agentcore's task permission SsmRead is legal IAM and stays accepted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator import policies, render
from generator.spec import SpecError, load_spec, parse_spec
from tests.helpers import PLATFORMS, ROOT, grouped, props, resources

WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())
KMS_SUFFIXES = ("BucketKey", "SecretKey")  # the derived KMS statements of a task permission


def task_role_sids(templates: dict[str, dict[str, Any]]) -> set[str]:
    iam = grouped(templates, "iam")
    return {
        s["Sid"]
        for lid, role in resources(iam, "AWS::IAM::Role").items()
        if lid.endswith("TaskRole")
        for pol in props(role).get("Policies", [])
        for s in pol["PolicyDocument"]["Statement"]
    }


def spec_sids(spec: Any) -> set[str]:
    own = {p.sid for s in spec.services for p in s.task_permissions}
    return own | {sid + suffix for sid in own for suffix in KMS_SUFFIXES}


def test_the_generators_sids_are_exactly_what_the_task_roles_hold() -> None:
    """Every sid in the task roles of the committed platforms is the spec's or in TASK_ROLE_SIDS,
    and every entry of TASK_ROLE_SIDS is written by some platform: the constant is the real list."""
    written: set[str] = set()
    for path in PLATFORMS:
        spec = load_spec(path)
        written |= task_role_sids(render.synthesize(spec)) - spec_sids(spec)
    assert written == policies.TASK_ROLE_SIDS


def with_permission(sid: str) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    data["services"][0]["task_permissions"] = [
        {"sid": sid, "actions": ["logs:PutLogEvents"], "resources": ["${log_group}:log-stream:*"]}
    ]
    return data


@pytest.mark.parametrize("sid", sorted(policies.TASK_ROLE_SIDS))
def test_a_task_permission_with_a_generated_sid_is_refused(sid: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(with_permission(sid), "spec.yaml")
    assert exc.value.lines == [
        f"spec.yaml: services[0].task_permissions[0].sid: {sid!r} is the id of a "
        "statement stackgen writes in the task role itself (IAM requires unique Sids in "
        "a policy); choose another"
    ]


def test_the_refused_sid_would_clash_in_the_task_role() -> None:
    """Why: without the refusal the task role's policy would hold two statements with one sid."""
    data = with_permission("Own")
    task = render.synthesize(parse_spec(data, "spec.yaml"))["iam.yaml"]["Resources"]["WebTaskRole"]
    statement_sids = [s["Sid"] for p in props(task)["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert policies.SID_EXEC_LOGS in statement_sids and "Own" in statement_sids
    assert len(statement_sids) == len(set(statement_sids))


@pytest.mark.parametrize("sid", ["WriteOwnLogs", policies.SID_SSM_READ])
def test_another_sid_passes(sid: str) -> None:
    """A sid of the execution role is not in the task role's policy: no clash, accepted."""
    templates = render.synthesize(parse_spec(with_permission(sid), "spec.yaml"))
    assert sid in task_role_sids(templates)
