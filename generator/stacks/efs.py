"""efs: CMK-encrypted file system, a mount target per AZ in the private tier, and
one access point per spec entry with a non-root POSIX user and creation info."""

from __future__ import annotations

from troposphere import Ref, Select, Template, efs

from generator import naming
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack, keep
from generator.stacks.security_groups import EFS

NAME = "efs"


def applies(spec: Platform) -> bool:
    return spec.efs is not None


def _subnets(spec: Platform) -> str:
    return naming.subnets_output(spec.network.default_private_tier)


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("KmsKeyArn")
    i.takes(_subnets(spec), "CommaDelimitedList")
    i.takes(naming.sg_output(EFS))
    i.gives("FileSystemId", "EFS file system ID", public=True)
    assert spec.efs is not None
    for ap in spec.efs.access_points:
        i.gives(naming.access_point_output(ap.name), f"EFS access point {ap.name}")
    return i.freeze()


def build(spec: Platform) -> Template:
    assert spec.efs is not None
    st = Stack(NAME, "encrypted EFS, mount targets and access points", interface(spec))
    fs = st.add(
        keep(
            efs.FileSystem(
                "FileSystem",
                Encrypted=True,
                KmsKeyId=st.ref("KmsKeyArn"),
                PerformanceMode="generalPurpose",
                ThroughputMode=spec.efs.throughput_mode,
                BackupPolicy=efs.BackupPolicy(Status="ENABLED"),
                FileSystemTags=naming.tags("efs"),
            )
        )
    )
    for k in range(spec.network.availability_zones):
        st.add(
            efs.MountTarget(
                f"MountTargetAz{k + 1}",
                FileSystemId=Ref(fs),
                SubnetId=Select(k, st.ref(_subnets(spec))),
                SecurityGroups=[st.ref(naming.sg_output(EFS))],
            )
        )
    for ap in spec.efs.access_points:
        res = st.add(
            efs.AccessPoint(
                naming.logical(ap.name, "AccessPoint"),
                FileSystemId=Ref(fs),
                PosixUser=efs.PosixUser(Uid=str(ap.uid), Gid=str(ap.gid)),
                RootDirectory=efs.RootDirectory(
                    Path=ap.path,
                    CreationInfo=efs.CreationInfo(
                        OwnerUid=str(ap.uid), OwnerGid=str(ap.gid), Permissions=ap.permissions
                    ),
                ),
                AccessPointTags=naming.tags(f"efs-{ap.name}"),
            )
        )
        st.output(naming.access_point_output(ap.name), Ref(res))
    st.output("FileSystemId", Ref(fs))
    return st.t
