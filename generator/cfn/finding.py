"""The one finding type every checker reports: the reachability preflight, the live
diagnostics, the template invariants and the security gate's scanners."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem.

    ``problem`` is the line a reader sees.  ``where`` says what it is about: a task name
    (preflight, diagnose; '' when platform-wide) or a template file (invariants, the
    gate), with ``resource`` the logical id and ``line`` the 1-based line when known.
    ``fix`` is what to change ('' when the problem says it).  ``rule`` is the check that
    found it (``route``, ``E9101``, ``CKV_AWS_18``, an invariant's name) and ``source``
    the checker (``preflight``, ``diagnose``, ``invariants``, ``cfn-lint``, ...).
    ``suppressed`` holds the reason of the suppression that accepts it (the gate).
    ``path`` is where inside the resource, when a checker knows it
    (``ContainerDefinitions[0].Environment[PORT]``).
    """

    problem: str
    where: str = ""
    fix: str = ""
    severity: str = ERROR
    rule: str = ""
    source: str = ""
    resource: str = ""
    line: int | None = None
    suppressed: str | None = None
    path: str = ""

    def __str__(self) -> str:
        return self.problem

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
