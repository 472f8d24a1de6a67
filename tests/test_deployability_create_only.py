"""The one create-only lookup (generator.awsfacts.create_only_properties): read from the
resource schemas cfn-lint ships, and the readers that used their own copy read it."""

from __future__ import annotations

import importlib.util
import json

import pytest

from generator import awsfacts
from generator.deploy import stateful
from generator.deploy.ministack import providers


def schema_pointers(rtype: str) -> list[str]:
    return list((awsfacts.resource_schema(rtype) or {}).get("createOnlyProperties", []))


@pytest.mark.parametrize(
    "rtype",
    [
        "AWS::RDS::DBCluster",
        "AWS::S3::Bucket",
        "AWS::EFS::FileSystem",
        "AWS::SecretsManager::Secret",
        "AWS::ECS::Service",
        "AWS::KMS::Key",
    ],
)
def test_create_only_properties_are_the_schemas(rtype: str) -> None:
    pointers = schema_pointers(rtype)
    assert awsfacts.create_only_properties(rtype) == {p.split("/")[2] for p in pointers}
    assert awsfacts.create_only_paths(rtype) == tuple(tuple(p.split("/")[2:]) for p in pointers)


def test_conditional_create_only_properties_are_the_schemas() -> None:
    """Engine of a DB cluster may replace it (an in-place upgrade is possible): the schema's
    conditionalCreateOnlyProperties, read beside the create-only ones."""
    pointers = (awsfacts.resource_schema("AWS::RDS::DBCluster") or {})["conditionalCreateOnlyProperties"]
    assert awsfacts.conditional_create_only_properties("AWS::RDS::DBCluster") == {p.split("/")[2] for p in pointers}
    assert "Engine" in awsfacts.conditional_create_only_properties("AWS::RDS::DBCluster")
    assert "Engine" not in awsfacts.create_only_properties("AWS::RDS::DBCluster")
    assert awsfacts.conditional_create_only_properties("AWS::Nothing::Such") == set()


def test_known_replacements() -> None:
    assert {"DBClusterIdentifier", "StorageEncrypted", "KmsKeyId"} <= awsfacts.create_only_properties(
        "AWS::RDS::DBCluster"
    )
    assert "BucketName" in awsfacts.create_only_properties("AWS::S3::Bucket")
    assert awsfacts.create_only_properties("AWS::Nothing::Such") == set()
    assert awsfacts.create_only_paths("AWS::Nothing::Such") is None


def test_a_nested_pointer_may_replace_and_a_whole_property_does() -> None:
    """deploy/stateful.py reads the lookup: '/properties/A' always replaces, '/properties/A/B' may."""
    nested = "AWS::Batch::ComputeEnvironment"  # ComputeResources/SpotIamFleetRole, and whole properties
    paths = awsfacts.create_only_paths(nested) or ()
    always, maybe = stateful.replacing_properties(nested) or (frozenset(), frozenset())
    assert any(len(p) > 1 for p in paths) and any(len(p) == 1 for p in paths)
    assert always == {p[0] for p in paths if len(p) == 1}
    assert maybe == {p[0] for p in paths if len(p) > 1} - always
    assert stateful.replacement_for("AWS::RDS::DBCluster", {"StorageEncrypted"}) == "True"
    assert stateful.replacement_for("AWS::RDS::DBCluster", {"BackupRetentionPeriod"}) == "False"
    assert stateful.replacement_for("AWS::Nothing::Such", {"X"}) == "Conditional"


def test_the_emulator_providers_read_the_lookup() -> None:
    assert set(providers.CREATE_ONLY) == set(providers.PROVIDED)
    for rtype, props in providers.CREATE_ONLY.items():
        assert props and set(props) == awsfacts.create_only_properties(rtype), rtype


def test_without_cfn_lint_the_schemas_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ministack's own venv has no cfn-lint: the launcher passes the schema directory."""
    real = awsfacts.schemas_dir()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cfnlint" else find_spec(name, *a)
    )
    for cached in (
        awsfacts.schemas_dir,
        awsfacts.resource_schema,
        awsfacts.create_only_paths,
        awsfacts.conditional_create_only_properties,
    ):
        cached.cache_clear()
    try:
        monkeypatch.delenv(awsfacts.SCHEMAS_ENV, raising=False)
        with pytest.raises(RuntimeError, match="cfn-lint is not installed"):
            awsfacts.schemas_dir()
        monkeypatch.setenv(awsfacts.SCHEMAS_ENV, str(real))
        assert awsfacts.schemas_dir() == real
        index = json.loads((real / "providers" / "us-east-1.json").read_text())
        assert "AWS::S3::Bucket" in index
        assert "BucketName" in awsfacts.create_only_properties("AWS::S3::Bucket")
    finally:
        for cached in (
            awsfacts.schemas_dir,
            awsfacts.resource_schema,
            awsfacts.create_only_paths,
            awsfacts.conditional_create_only_properties,
        ):
            cached.cache_clear()
