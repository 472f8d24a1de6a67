"""Data stores: EFS and its access points, the Aurora database, ECR repositories."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from generator.spec.base import Model, Reason, Slug, new_dict


class AccessPoint(Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    """Access point name; services mount it by this name."""
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$")]
    """Root directory of the access point on the file system."""
    uid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX UID, never 0 (root)")
    gid: int = Field(default=1000, ge=1, le=4294967294, description="POSIX GID, never 0 (root)")
    permissions: Annotated[str, Field(pattern=r"^[0-7]{3,4}$")] = "755"
    """POSIX permissions of the root directory when EFS creates it (octal)."""


class Efs(Model):
    throughput_mode: Literal["bursting", "elastic"] = "bursting"
    """EFS throughput mode: bursting or elastic."""
    access_points: list[AccessPoint] = Field(min_length=1)
    """The access points (one per directory tree a service mounts)."""

    @model_validator(mode="after")
    def _unique(self) -> Efs:
        names = [a.name for a in self.access_points]
        if len(set(names)) != len(names):
            raise ValueError("access_points: names must be unique")
        return self


class Database(Model):
    engine: Literal["aurora-mysql", "aurora-postgresql"] = "aurora-mysql"
    """Aurora engine: aurora-mysql or aurora-postgresql (Serverless v2)."""
    engine_version: str = Field(min_length=1)
    """Engine version, e.g. 8.0.mysql_aurora.3.08.2 or 16.6."""
    database_name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    """Name of the database created in the cluster."""
    username: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")] = "dbadmin"
    """Default of the DatabaseUsername parameter (the master user)."""
    min_acu: float = Field(default=0.5, ge=0, le=256)
    """Default of DatabaseMinAcu: minimum Aurora capacity units."""
    max_acu: float = Field(default=2, ge=1, le=256)
    """Default of DatabaseMaxAcu: maximum Aurora capacity units."""
    backup_retention_days: int = Field(default=7, ge=7, le=35)
    """Days of automated backups (7-35)."""
    backup_window: str = "02:00-04:00"
    """Daily backup window, UTC, hh:mm-hh:mm."""
    maintenance_window: str = "sun:04:00-sun:05:00"
    """Weekly maintenance window, UTC, ddd:hh:mm-ddd:hh:mm."""
    subnets: Slug | None = None
    """Subnet tier of the database (default: the first private tier)."""
    proxy: bool = True
    """Put an RDS Proxy (TLS required) in front of the cluster; services connect to it."""
    cluster_parameters: dict[str, str] = Field(default_factory=new_dict)
    """Cluster parameter group settings (name: value)."""

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
    """Repository name (slug); created as <Name>-<Environment>/<name>."""
    scan_on_push: bool = True
    """Scan images for vulnerabilities when pushed."""
    immutable_tags: bool = True
    """Tags cannot be overwritten (push a new tag per build)."""
    mutable_tags_reason: Reason | None = None
    """Why tags may be overwritten; required when immutable_tags is false."""
    keep_last_tagged: int = Field(default=10, ge=1)
    """Lifecycle: keep this many images tagged with tag_prefix."""
    tag_prefix: str = "sha-"
    """Lifecycle: the tag prefix of the images kept."""
    expire_untagged_days: int = Field(default=7, ge=1)
    """Lifecycle: untagged images expire after this many days."""

    @model_validator(mode="after")
    def _reason(self) -> Repository:
        if not self.immutable_tags and not self.mutable_tags_reason:
            raise ValueError("mutable_tags_reason: required when immutable_tags is false")
        return self
