"""KMS on the data path: a task role that reads or writes an encrypted store of the platform
is allowed the KMS actions that access needs on the store's key.

The data paths and the table of KMS actions are the reachability model's
(``generator.reach.datapaths``), evaluated with its IAM evaluation (``generator.reach.iam``)
in the context of the KMS call the store makes for the caller (``kms:ViaService``, the
encryption context), the same that the preflight (``python -m generator check``) runs.
"""

from __future__ import annotations

from generator.cfn.finding import Finding
from generator.cfn.values import MATCH_PSEUDO, SHOW_PSEUDO, Renderer
from generator.deployability.base import Inputs, finding
from generator.reach.datapaths import data_paths, task_role
from generator.reach.iam import TemplatePolicies, allows
from generator.reach.tasks import TaskReader


def check(inp: Inputs) -> list[Finding]:
    ts = inp.ts
    match, show = Renderer(ts, MATCH_PSEUDO), Renderer(ts, SHOW_PSEUDO)
    policies = TemplatePolicies(ts, match)
    tasks = TaskReader(ts, match, show).tasks()
    by_label = {t.label: t for t in tasks}
    out: list[Finding] = []
    for path in data_paths(ts, tasks, policies, match, show):
        role = task_role(ts, by_label[path.task])
        assert role is not None  # data_paths found the path through this role
        stmts, _unknown = policies.role(role)
        missing = [a for a in path.kms_actions if not allows(stmts, a, path.key_match, path.key, dict(path.context))]
        if missing:
            out.append(
                finding(
                    "kms-data-path",
                    role.file,
                    role.name,
                    f"{role.file}:{role.name} (the task role of {path.task}) allows {path.action} on {path.store_what} "
                    f"{path.store[0]}:{path.store[1]}, which is encrypted with {path.key_shown}, but not "
                    f"{', '.join(missing)} on that key: the call is denied at run time",
                    f"{path.action} on a store encrypted with a customer managed key needs "
                    f"{', '.join(path.kms_actions)} "
                    f"on the key, {' and '.join(path.sources)}",
                )
            )
    return out
