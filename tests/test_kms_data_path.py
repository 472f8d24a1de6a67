"""KMS on the data path (issue 11, item 4).

A task role that reads or writes an encrypted store of the platform gets exactly the KMS
actions that generator.kms_actions derives from its permission, through that store's
service and for that store only; ECS Exec's grant on the same key is kms:Decrypt for
session targets of the service's own cluster and covers no data path.

The IAM evaluation below is deliberately small: Allow statements, Action globs, and the
StringEquals / StringLike / ArnLike condition operators the generator uses, with
CloudFormation values resolved symbolically (``Ref X`` -> ``<X>``).
"""

from __future__ import annotations

import copy
import fnmatch
import re
from typing import Any

import pytest
import yaml

from generator import kms_actions, render
from generator.spec import SpecError, load_spec, parse_spec
from tests.helpers import PLATFORMS, ROOT, grouped, props, resources

REGION = "us-east-1"


def value(node: Any) -> Any:
    """A CloudFormation value with Ref/Fn::Sub resolved symbolically."""
    if isinstance(node, list):
        return [value(x) for x in node]
    if isinstance(node, dict) and "Ref" in node:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and "Fn::Sub" in node:
        text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "AWS::Region":
                return REGION
            return str(value(variables[name])) if name in variables else f"<{name}>"

        return re.sub(r"\$\{([^}]+)\}", sub, text)
    return node


def _matches(op: str, pattern: str, actual: str) -> bool:
    if op == "StringEquals":
        return pattern == actual
    if op in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, pattern)
    raise AssertionError(f"operator {op} is not modelled by this test")


def allows(role: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> list[str]:
    """Sids of the role's statements that allow ``action`` on ``resource`` in ``context``."""
    sids = []
    for pol in props(role).get("Policies", []):
        for s in pol["PolicyDocument"]["Statement"]:
            if s["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in s["Action"]):
                continue
            if not any(fnmatch.fnmatchcase(resource, str(value(r))) for r in s["Resource"]):
                continue
            ok = True
            for op, tests in s.get("Condition", {}).items():
                for key, want in tests.items():
                    wants = value(want) if isinstance(want, list) else [value(want)]
                    if key not in context or not any(_matches(op, w, context[key]) for w in wants):
                        ok = False
            if ok:
                sids.append(s.get("Sid", "?"))
    return sids


KEY = "<KmsKeyArn>"


def s3_context(bucket_arn: str, obj: str | None = None) -> dict[str, str]:
    return {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": bucket_arn if obj is None else f"{bucket_arn}/{obj}",
    }


@pytest.fixture(scope="module")
def bff() -> dict[str, dict[str, Any]]:
    return render.synthesize(load_spec(ROOT / "platforms" / "bff-agentcore.yaml"))


# ---------------------------------------------------------------- the table


def test_every_store_names_its_aws_sources() -> None:
    for kind, store in kms_actions.STORES.items():
        assert store.sources and all(s.startswith("https://docs.aws.amazon.com/") for s in store.sources), kind
        assert (store.via is None) == (store.context_key is None) == (not store.actions), kind
    assert all(s.startswith("https://") for s in kms_actions.EXEC_SOURCES)


@pytest.mark.parametrize(
    ("store", "actions", "needed"),
    [
        ("bucket", ["s3:GetObject"], ("kms:Decrypt",)),
        ("bucket", ["s3:PutObject"], ("kms:Decrypt", "kms:GenerateDataKey")),  # multipart is s3:PutObject too
        ("bucket", ["s3:Get*"], ("kms:Decrypt",)),
        ("bucket", ["s3:*Object"], ("kms:Decrypt", "kms:GenerateDataKey")),
        ("bucket", ["S3:getobject"], ("kms:Decrypt",)),  # IAM action names are case-insensitive
        ("bucket", ["s3:ListBucket", "s3:DeleteObject"], ()),
        ("secret", ["secretsmanager:GetSecretValue"], ("kms:Decrypt",)),
        ("secret", ["secretsmanager:PutSecretValue"], ("kms:Decrypt", "kms:GenerateDataKey")),
        ("secret", ["secretsmanager:DescribeSecret"], ()),
        ("ssm", ["ssm:GetParameter"], ()),  # the spec's SSM parameters are plain String parameters
        ("log_group", ["logs:PutLogEvents"], ()),  # CloudWatch Logs uses the key as its own principal
    ],
)
def test_kms_actions_derived_from_the_permission(store: str, actions: list[str], needed: tuple[str, ...]) -> None:
    assert kms_actions.kms_actions(store, actions) == needed


# ---------------------------------------------------------------- the seed platforms


def test_agentcore_may_write_and_read_its_bucket(bff: dict) -> None:
    """seeds/004: agentcore gets and puts agent-data objects; the bucket is SSE-KMS with the
    platform key, so without these the first PutObject is denied at run time."""
    role = bff["iam-database.yaml"]["Resources"]["AgentcoreTaskRole"]
    bucket = "<AgentDataBucketArn>"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allows(role, action, KEY, s3_context(bucket)) == ["AgentDataObjectsBucketKey"], action
        assert allows(role, action, KEY, s3_context(bucket, "reports/a.json")) == ["AgentDataObjectsBucketKey"]
    stmt = next(
        s
        for p in props(role)["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s["Sid"] == "AgentDataObjectsBucketKey"
    )
    assert stmt["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"] and stmt["Resource"] == [{"Ref": "KmsKeyArn"}]


def test_the_key_is_granted_for_that_bucket_through_s3_only(bff: dict) -> None:
    role = bff["iam-database.yaml"]["Resources"]["AgentcoreTaskRole"]
    assert allows(role, "kms:GenerateDataKey", KEY, s3_context("<OtherBucketArn>")) == []
    direct = {"kms:EncryptionContext:aws:s3:arn": "<AgentDataBucketArn>"}  # a direct KMS call, not via S3
    assert allows(role, "kms:Decrypt", KEY, direct) == []
    assert allows(role, "kms:Encrypt", KEY, s3_context("<AgentDataBucketArn>")) == []


def test_ecs_exec_covers_no_data_path(bff: dict) -> None:
    """The BFF reads no bucket: before issue 11 its EcsExecSessionKey statement (Decrypt and
    GenerateDataKey on the key, no condition) let it use the key for any data path."""
    role = bff["iam-database.yaml"]["Resources"]["BffTaskRole"]
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allows(role, action, KEY, s3_context("<AgentDataBucketArn>")) == [], action
    secrets = {
        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": "<DatabaseCredentialsSecretArn>",
    }
    assert allows(role, "kms:Decrypt", KEY, secrets) == []


def test_ecs_exec_sessions_into_the_own_cluster_still_decrypt(bff: dict) -> None:
    role = bff["iam-database.yaml"]["Resources"]["BffTaskRole"]
    own = {
        "kms:EncryptionContext:aws:ssm:TargetId": "ecs:<MainClusterName>_0123abcd_4567ef",
        "kms:EncryptionContext:aws:ssm:SessionId": "ecs-execute-command-0123",
    }
    assert allows(role, "kms:Decrypt", KEY, own) == ["EcsExecSessionKey"]
    other = {**own, "kms:EncryptionContext:aws:ssm:TargetId": "ecs:other-cluster_0123abcd_4567ef"}
    assert allows(role, "kms:Decrypt", KEY, other) == []
    assert allows(role, "kms:GenerateDataKey", KEY, own) == []  # the caller of execute-command generates


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_generate_data_key_only_where_a_permission_writes(path: Any) -> None:
    """Across the committed platforms, kms:GenerateDataKey appears only in statements derived
    from a task permission, never in an execution role or the ECS Exec grant."""
    t = grouped(render.synthesize(load_spec(path)), "iam")
    for lid, role in resources(t, "AWS::IAM::Role").items():
        for pol in props(role).get("Policies", []):
            for s in pol["PolicyDocument"]["Statement"]:
                if "kms:GenerateDataKey" in s["Action"]:
                    assert lid.endswith("TaskRole") and s["Sid"].endswith(("BucketKey", "SecretKey")), (lid, s)


# ---------------------------------------------------------------- spec: secrets a task reads


WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())


def with_permissions(perms: list[dict[str, Any]], **platform: Any) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    data.update(platform)
    data["services"][0]["task_permissions"] = perms
    return data


API_KEY = {"name": "api-key", "description": "third-party API key", "generate": {"length": 32}}


def test_a_task_that_reads_a_secret_gets_decrypt_for_that_secret_through_secrets_manager() -> None:
    data = with_permissions(
        [{"sid": "ApiKey", "actions": ["secretsmanager:GetSecretValue"], "resources": ["${secret:api-key}"]}],
        secrets=[API_KEY],
    )
    t = render.synthesize(parse_spec(data, "spec.yaml"))["iam.yaml"]
    role = t["Resources"]["WebTaskRole"]
    ctx = {
        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": "<ApiKeySecretArn>",
    }
    assert allows(role, "secretsmanager:GetSecretValue", "<ApiKeySecretArn>", {}) == ["ApiKey"]
    assert allows(role, "kms:Decrypt", KEY, ctx) == ["ApiKeySecretKey"]
    assert allows(role, "kms:GenerateDataKey", KEY, ctx) == []
    assert "ApiKeySecretArn" in t["Parameters"]


def test_listing_a_bucket_needs_no_key() -> None:
    data = with_permissions(
        [{"sid": "List", "actions": ["s3:ListBucket"], "resources": ["${bucket:data}"]}], buckets=["data"]
    )
    role = render.synthesize(parse_spec(data, "spec.yaml"))["iam.yaml"]["Resources"]["WebTaskRole"]
    sids = {s["Sid"] for p in props(role)["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert "ListBucketKey" not in sids and "List" in sids


@pytest.mark.parametrize(
    ("perms", "message"),
    [
        (
            [{"sid": "Read", "actions": ["secretsmanager:GetSecretValue"], "resources": ["${secret:nope}"]}],
            "services[0].task_permissions[Read]: unknown placeholder ${secret:nope}",
        ),
        (
            [
                {"sid": "Data", "actions": ["s3:GetObject"], "resources": ["${bucket:data}/*"]},
                {"sid": "Data", "actions": ["s3:PutObject"], "resources": ["${bucket:data}/*"]},
            ],
            "services[0].task_permissions (sid): duplicate name 'Data'",
        ),
        (
            [
                {"sid": "Data", "actions": ["s3:GetObject"], "resources": ["${bucket:data}/*"]},
                {"sid": "DataBucketKey", "actions": ["s3:ListBucket"], "resources": ["${bucket:data}"]},
            ],
            "services[0].task_permissions[DataBucketKey]: the sid is the one stackgen gives the KMS statement",
        ),
    ],
)
def test_permission_sids_and_placeholders(perms: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(with_permissions(perms, buckets=["data"], secrets=[API_KEY]), "spec.yaml")
    assert message in exc.value.lines[0]


def test_the_generator_and_the_read_side_share_one_table() -> None:
    """What the generator grants and what the preflight/deployability check demand are one
    table (generator.cfn.facts.KMS_DATA_PATHS), not two copies that can drift."""
    from generator.cfn.facts import KMS_DATA_PATHS
    from generator.reach.datapaths import STORES as read_side

    for kind, type_ in kms_actions.KIND_TYPES.items():
        assert kms_actions.STORES[kind] is KMS_DATA_PATHS[type_]
    assert set(read_side) == set(KMS_DATA_PATHS)
    assert all(read_side[t].facts is KMS_DATA_PATHS[t] for t in read_side)
