"""KMS on the data path: which actions a task role needs on the platform key to use an
encrypted store of the platform, derived from the IAM actions the spec grants on it.

A task permission (``services[].task_permissions``) whose resources name a store of the
platform (``${bucket:NAME}``, ``${secret:NAME}``, ``${ssm:NAME}``, ``${log_group}``) gets
exactly the KMS actions of this table on the platform CMK, conditioned on the service that
makes the call on the task's behalf (``kms:ViaService``) and on the store it reads or
writes (the encryption context the service sends).  ECS Exec's session key is a separate,
narrower grant (``EXEC_*``): it can never cover a data path.

The facts (IAM action -> KMS actions, the calling service, the encryption context and the
AWS documents) are the one table ``generator.cfn.facts.KMS_DATA_PATHS``, which the read side
(``generator.reach.datapaths``) proves the roles against.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from generator.cfn.facts import KMS_DATA_PATHS, KmsUse

# The spec's store kinds (``${bucket:NAME}``...) and the resource type each is created as;
# the facts are the one table, ``generator.cfn.facts.KMS_DATA_PATHS``.
KIND_TYPES = {
    "bucket": "AWS::S3::Bucket",  # generator.stacks.storage: SSE-KMS with the platform CMK, Bucket Keys
    "secret": "AWS::SecretsManager::Secret",  # generator.stacks.secrets: KmsKeyId is the platform CMK
    "ssm": "AWS::SSM::Parameter",  # the spec's SSM parameters are plain String parameters
    "log_group": "AWS::Logs::LogGroup",
}
STORES: dict[str, KmsUse] = {kind: KMS_DATA_PATHS[t] for kind, t in KIND_TYPES.items()}

# ECS Exec with the cluster's KMS key: "add the kms:Decrypt permission to your task IAM
# role. This permission is used by your container to decrypt the data" (the caller of
# execute-command needs kms:GenerateDataKey, not the task). The SSM agent in the task
# calls KMS Decrypt itself (no kms:ViaService) with the encryption context
# {aws:ssm:SessionId, aws:ssm:TargetId} (amazon-ssm-agent agent/session/crypto/blockcipher.go),
# and an ECS target is "ecs:<cluster name>_<task id>_<container id>"
# (common/identity/availableidentities/ecs/ecs_identity.go).
EXEC_ACTIONS = ("kms:Decrypt",)
EXEC_CONTEXT_KEY = "aws:ssm:TargetId"
EXEC_TARGET_PREFIX = "ecs:"
EXEC_SOURCES = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html",
    "https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/session/crypto/blockcipher.go",
    "https://github.com/aws/amazon-ssm-agent/blob/mainline/common/identity/availableidentities/ecs/ecs_identity.go",
)


def kms_actions(store: str, iam_actions: Iterable[str]) -> tuple[str, ...]:
    """The KMS actions a caller granted ``iam_actions`` (IAM wildcards allowed) on a store of
    kind ``store`` needs on its key, sorted; () when none."""
    table = STORES[store].actions
    out: set[str] = set()
    for granted in iam_actions:
        for action, needed in table.items():
            if fnmatch.fnmatchcase(action.lower(), granted.lower()):
                out.update(needed)
    return tuple(sorted(out))
