"""A resource a stack leaves behind, through its own service API: does it still exist,
what does it hold, and how it is purged.

One table, ``KINDS``, per resource type: ``exists`` (True/False), ``detail`` (a few words:
retention, image count, size) and ``purge`` (delete it; one line saying what was done).
The purge of each type is what AWS needs to really remove it:

- log group: DeleteLogGroup;
- ECR repository: DeleteRepository with force (its images go with it);
- KMS key: ScheduleKeyDeletion with the shortest window AWS allows, 7 days (cancellable);
- secret: DeleteSecret with ForceDeleteWithoutRecovery (only ever when purging);
- bucket: every object version and delete marker, then DeleteBucket;
- EFS file system: its mount targets and access points, then DeleteFileSystem;
- database cluster (retained, not snapshot-deleted): its instances, then DeleteDBCluster
  with a final snapshot, unless the purge includes snapshots;
- final snapshot of a database cluster (``SNAPSHOT``): DeleteDBClusterSnapshot, only when
  the purge says snapshots go too;
- DynamoDB table: DeleteTable.
Anything else is reported as not purged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from generator.deploy._aws import client

# A pseudo type for the final snapshot a Snapshot DeletionPolicy leaves of a DB cluster.
SNAPSHOT = "AWS::RDS::DBClusterSnapshot"
KMS_WINDOW_DAYS = 7  # the shortest PendingWindowInDays AWS allows (ScheduleKeyDeletion)
_GONE = ("NotFound", "NoSuch", "404", "FileSystemNotFound", "RepositoryNotFoundException")


class PurgeError(Exception):
    """A resource that could not be purged; the message is one line."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _gone(exc: ClientError) -> bool:
    code = _code(exc)
    return any(part in code for part in _GONE)


# --- per type -----------------------------------------------------------------------------


def _log_group(args, name: str) -> dict | None:
    groups = client("logs", args).describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((g for g in groups if g["logGroupName"] == name), None)


def _log_exists(args, pid: str) -> bool:
    return _log_group(args, pid) is not None


def _log_detail(args, pid: str) -> str:
    group = _log_group(args, pid)
    if not group:
        return ""
    days = group.get("retentionInDays")
    return f"retention {days} days" if days else "retention: never expires"


def _log_purge(args, pid: str, _snapshots: bool) -> str:
    client("logs", args).delete_log_group(logGroupName=pid)
    return f"deleted log group {pid}"


def _ecr_exists(args, pid: str) -> bool:
    client("ecr", args).describe_repositories(repositoryNames=[pid])
    return True


def _ecr_images(args, pid: str) -> int:
    pages = client("ecr", args).get_paginator("list_images").paginate(repositoryName=pid)
    return sum(len(page.get("imageIds", [])) for page in pages)


def _ecr_detail(args, pid: str) -> str:
    return f"{_ecr_images(args, pid)} image(s)"


def _ecr_purge(args, pid: str, _snapshots: bool) -> str:
    count = _ecr_images(args, pid)
    client("ecr", args).delete_repository(repositoryName=pid, force=True)
    return f"deleted repository {pid} and its {count} image(s)"


def _key(args, pid: str) -> dict:
    return client("kms", args).describe_key(KeyId=pid)["KeyMetadata"]


def _kms_exists(args, pid: str) -> bool:
    return _key(args, pid).get("KeyState") not in ("PendingDeletion", "PendingReplicaDeletion")


def _kms_detail(args, pid: str) -> str:
    key = _key(args, pid)
    when = key.get("DeletionDate")
    return f"pending deletion until {when:%Y-%m-%d}" if when else f"key state {key.get('KeyState')}"


def _kms_purge(args, pid: str, _snapshots: bool) -> str:
    key = _key(args, pid)
    if key.get("KeyState") == "PendingDeletion":
        return f"key {pid} was already pending deletion (until {key.get('DeletionDate'):%Y-%m-%d})"
    answer = client("kms", args).schedule_key_deletion(KeyId=pid, PendingWindowInDays=KMS_WINDOW_DAYS)
    when = answer.get("DeletionDate")
    day = f"{when:%Y-%m-%d}" if isinstance(when, dt.datetime) else f"in {KMS_WINDOW_DAYS} days"
    return (
        f"scheduled key {pid} for deletion on {day} ({KMS_WINDOW_DAYS}-day window, the shortest AWS "
        "allows; aws kms cancel-key-deletion undoes it until then)"
    )


def _secret(args, pid: str) -> dict:
    return client("secretsmanager", args).describe_secret(SecretId=pid)


def _secret_exists(args, pid: str) -> bool:
    return not _secret(args, pid).get("DeletedDate")


def _secret_detail(args, pid: str) -> str:
    deleted = _secret(args, pid).get("DeletedDate")
    return f"in its recovery window (deleted {deleted:%Y-%m-%d %H:%M} UTC)" if deleted else "active"


def _secret_purge(args, pid: str, _snapshots: bool) -> str:
    client("secretsmanager", args).delete_secret(SecretId=pid, ForceDeleteWithoutRecovery=True)
    return f"deleted secret {pid} at once (no recovery window)"


def _bucket_exists(args, pid: str) -> bool:
    client("s3", args).head_bucket(Bucket=pid)
    return True


def empty_bucket(args, bucket: str, prefix: str = "") -> int:
    """Delete every object version and delete marker (under ``prefix``); how many."""
    s3 = client("s3", args)
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for i in range(0, len(batch), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[i : i + 1000], "Quiet": True})
            deleted += len(batch[i : i + 1000])
    return deleted


def _bucket_purge(args, pid: str, _snapshots: bool) -> str:
    count = empty_bucket(args, pid)
    client("s3", args).delete_bucket(Bucket=pid)
    return f"emptied bucket {pid} ({count} object version(s) and delete marker(s)) and deleted it"


def _efs_exists(args, pid: str) -> bool:
    return bool(client("efs", args).describe_file_systems(FileSystemId=pid)["FileSystems"])


def _efs_detail(args, pid: str) -> str:
    fs = client("efs", args).describe_file_systems(FileSystemId=pid)["FileSystems"][0]
    return f"{fs.get('SizeInBytes', {}).get('Value', 0)} bytes"


def _efs_purge(args, pid: str, _snapshots: bool, timeout: float = 300.0) -> str:
    efs = client("efs", args)
    for point in efs.describe_access_points(FileSystemId=pid).get("AccessPoints", []):
        efs.delete_access_point(AccessPointId=point["AccessPointId"])
    targets = efs.describe_mount_targets(FileSystemId=pid).get("MountTargets", [])
    for target in targets:
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
    deadline = time.monotonic() + timeout
    while efs.describe_mount_targets(FileSystemId=pid).get("MountTargets"):
        if time.monotonic() > deadline:
            raise PurgeError(f"its mount targets were still being deleted after {timeout:.0f} s; run the purge again")
        time.sleep(2)
    efs.delete_file_system(FileSystemId=pid)
    return f"deleted file system {pid} (and {len(targets)} mount target(s))"


def _cluster(args, pid: str) -> dict:
    return client("rds", args).describe_db_clusters(DBClusterIdentifier=pid)["DBClusters"][0]


def _cluster_exists(args, pid: str) -> bool:
    return _cluster(args, pid).get("Status") != "deleting"


def final_snapshot_name(pid: str) -> str:
    return f"{pid}-final-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"[:255]


def _cluster_purge(args, pid: str, snapshots: bool) -> str:
    cluster = _cluster(args, pid)
    if cluster.get("DeletionProtection"):
        raise PurgeError(
            "deletion protection is on; turn it off (aws rds modify-db-cluster "
            "--no-deletion-protection) and purge again"
        )
    rds = client("rds", args)
    for member in cluster.get("DBClusterMembers", []):
        rds.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    if snapshots:
        rds.delete_db_cluster(DBClusterIdentifier=pid, SkipFinalSnapshot=True)
        return f"deleting database cluster {pid} without a final snapshot"
    name = final_snapshot_name(pid)
    rds.delete_db_cluster(DBClusterIdentifier=pid, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=name)
    return f"deleting database cluster {pid}; its final snapshot {name} is kept"


def _instance_exists(args, pid: str) -> bool:
    client("rds", args).describe_db_instances(DBInstanceIdentifier=pid)
    return True


def _instance_purge(args, pid: str, snapshots: bool) -> str:
    rds = client("rds", args)
    if snapshots:
        rds.delete_db_instance(DBInstanceIdentifier=pid, SkipFinalSnapshot=True)
        return f"deleting database instance {pid} without a final snapshot"
    name = final_snapshot_name(pid)
    rds.delete_db_instance(DBInstanceIdentifier=pid, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=name)
    return f"deleting database instance {pid}; its final snapshot {name} is kept"


def cluster_snapshots(args, cluster_id: str) -> list[str]:
    """The manual snapshots (final snapshots are manual) of a database cluster."""
    found = (
        client("rds", args)
        .describe_db_cluster_snapshots(DBClusterIdentifier=cluster_id, SnapshotType="manual")
        .get("DBClusterSnapshots", [])
    )
    return sorted(s["DBClusterSnapshotIdentifier"] for s in found)


def _snapshot_exists(args, pid: str) -> bool:
    return bool(
        client("rds", args).describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=pid).get("DBClusterSnapshots")
    )


def _snapshot_purge(args, pid: str, _snapshots: bool) -> str:
    client("rds", args).delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=pid)
    return f"deleted database snapshot {pid}"


def _table_exists(args, pid: str) -> bool:
    client("dynamodb", args).describe_table(TableName=pid)
    return True


def _table_purge(args, pid: str, _snapshots: bool) -> str:
    client("dynamodb", args).delete_table(TableName=pid)
    return f"deleted table {pid}"


@dataclass(frozen=True)
class Kind:
    what: str
    exists: Callable[[argparse.Namespace, str], bool]
    purge: Callable[[argparse.Namespace, str, bool], str]
    detail: Callable[[argparse.Namespace, str], str] | None = None


KINDS: dict[str, Kind] = {
    "AWS::Logs::LogGroup": Kind("log group", _log_exists, _log_purge, _log_detail),
    "AWS::ECR::Repository": Kind("repository", _ecr_exists, _ecr_purge, _ecr_detail),
    "AWS::KMS::Key": Kind("KMS key", _kms_exists, _kms_purge, _kms_detail),
    "AWS::SecretsManager::Secret": Kind("secret", _secret_exists, _secret_purge, _secret_detail),
    "AWS::S3::Bucket": Kind("bucket", _bucket_exists, _bucket_purge),
    "AWS::EFS::FileSystem": Kind("file system", _efs_exists, _efs_purge, _efs_detail),
    "AWS::RDS::DBCluster": Kind("database cluster", _cluster_exists, _cluster_purge),
    "AWS::RDS::DBInstance": Kind("database instance", _instance_exists, _instance_purge),
    SNAPSHOT: Kind("final database snapshot", _snapshot_exists, _snapshot_purge),
    "AWS::DynamoDB::Table": Kind("table", _table_exists, _table_purge),
}


# --- the interface -----------------------------------------------------------------------


def exists(args, rtype: str, pid: str) -> bool | None:
    """Whether the resource still exists (None: a type this module does not know)."""
    kind = KINDS.get(rtype)
    if kind is None:
        return None
    try:
        return kind.exists(args, pid)
    except ClientError as exc:
        if _gone(exc) or (rtype == "AWS::SecretsManager::Secret" and "ResourceNotFound" in _code(exc)):
            return False
        raise
    except IndexError:
        return False


def detail(args, rtype: str, pid: str) -> str:
    """A few words on what it holds ("" when not known)."""
    kind = KINDS.get(rtype)
    if kind is None or kind.detail is None:
        return ""
    try:
        return kind.detail(args, pid)
    except (ClientError, KeyError, IndexError):
        return ""


def purge(args, rtype: str, pid: str, snapshots: bool = False) -> str:
    """Delete what is left of one resource; one line saying what was done. Raises
    PurgeError (one line) when it cannot."""
    kind = KINDS.get(rtype)
    if kind is None:
        raise PurgeError(f"stackgen does not purge {rtype}; delete it by hand")
    try:
        return kind.purge(args, pid, snapshots)
    except ClientError as exc:
        if _gone(exc):
            return f"{kind.what} {pid} was already gone"
        raise PurgeError(f"{_code(exc)}: {' '.join(str(exc).split())}") from None
