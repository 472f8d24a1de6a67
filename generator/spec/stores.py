"""Data stores: EFS and its access points, the Aurora database, ECR repositories."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from generator.spec.base import Model, Slug


class AccessPoint(Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$")]
    uid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX UID, never 0 (root)")
    gid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX GID, never 0 (root)")
    permissions: Annotated[str, Field(pattern=r"^[0-7]{3,4}$")] = "755"


class Efs(Model):
    throughput_mode: Literal["bursting", "elastic"] = "bursting"
    access_points: list[AccessPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Efs:
        names = [a.name for a in self.access_points]
        if len(set(names)) != len(names):
            raise ValueError("access_points: names must be unique")
        return self


class Database(Model):
    engine: Literal["aurora-mysql", "aurora-postgresql"] = "aurora-mysql"
    engine_version: str = Field(min_length=1)
    database_name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    username: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")] = "dbadmin"
    min_acu: float = Field(default=0.5, ge=0, le=256)
    max_acu: float = Field(default=2, ge=1, le=256)
    backup_retention_days: int = Field(default=7, ge=7, le=35)
    backup_window: str = "02:00-04:00"
    maintenance_window: str = "sun:04:00-sun:05:00"
    subnets: Slug | None = None
    proxy: bool = True
    cluster_parameters: dict[str, str] = Field(default_factory=dict)

    @property
    def port(self) -> int:
        return 3306 if self.engine == "aurora-mysql" else 5432

    @property
    def family(self) -> str:
        major = self.engine_version.split(".")[0]
        if self.engine == "aurora-mysql":
            return "aurora-mysql8.0" if major.startswith("8") else f"aurora-mysql{major}"
        return f"aurora-postgresql{major}"

    @model_validator(mode="after")
    def _acu(self) -> Database:
        if self.min_acu > self.max_acu:
            raise ValueError("min_acu must not exceed max_acu")
        return self


class Repository(Model):
    name: Slug
    scan_on_push: bool = True
    immutable_tags: bool = True
    mutable_tags_reason: str | None = None
    keep_last_tagged: int = Field(default=10, ge=1)
    tag_prefix: str = "sha-"
    expire_untagged_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _reason(self) -> Repository:
        if not self.immutable_tags and not self.mutable_tags_reason:
            raise ValueError("mutable_tags_reason: required when immutable_tags is false")
        return self
