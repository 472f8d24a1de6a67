"""IAM evaluation for the reachability checks: does a set of policy statements allow an
action on a resource?

Statements are normalized first (:class:`Statement`), from a template (actions and
resources rendered to text, resources also kept as their identity in the set) or from
a live policy document; :func:`allows` then decides the same way for both.  Principals
are not evaluated; a Deny on a matching action and resource wins; ``NotResource`` never
matches (conservative).

Conditions are evaluated only when the caller knows the request's context (a data path
knows the KMS call S3 makes on its behalf: ``kms:ViaService`` and the encryption
context): the string and ARN operators on the keys of that context; a key the caller
models (:data:`MODELED`) but the request lacks fails unless ``...IfExists``; any other
key or operator counts as satisfied.  Without a context an Allow with a condition counts
as an Allow.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import Renderer

# The AWS managed execution-role policy (policy version v1, unchanged since 2019).
MANAGED = {
    "AmazonECSTaskExecutionRolePolicy": [
        {
            "Effect": "Allow",
            "Action": [
                "ecr:GetAuthorizationToken",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}

Key = tuple[str, str]
Context = dict[str, str]
Condition = tuple[str, str, tuple[str | None, ...]]  # (operator, key, values)

# Condition keys a request context states completely: when the context lacks one, the
# request does not carry it (so a condition on it fails).
MODELED = ("kms:viaservice", "kms:encryptioncontext:")
POSITIVE = {
    "StringEquals": "eq",
    "ArnEquals": "eq",
    "StringEqualsIgnoreCase": "ieq",
    "StringLike": "like",
    "ArnLike": "like",
}
NEGATIVE = {
    "StringNotEquals": "eq",
    "ArnNotEquals": "eq",
    "StringNotEqualsIgnoreCase": "ieq",
    "StringNotLike": "like",
    "ArnNotLike": "like",
}


def condition_holds(op: str, key: str, values: tuple[str | None, ...], context: Context) -> bool:
    """One condition under a request context (see the module doc)."""
    base = op.removeprefix("ForAnyValue:").removeprefix("ForAllValues:")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in POSITIVE and base not in NEGATIVE:
        return True
    ctx = {k.lower(): v for k, v in context.items()}
    if key.lower() not in ctx:
        return if_exists or not key.lower().startswith(MODELED)
    actual = ctx[key.lower()]
    if any(v is None for v in values):
        return True  # a value the templates cannot render: not decided here
    kind = POSITIVE.get(base) or NEGATIVE[base]
    if kind == "eq":
        hit = any(v == actual for v in values)
    elif kind == "ieq":
        hit = any((v or "").lower() == actual.lower() for v in values)
    else:
        hit = any(glob(v or "", actual) for v in values)
    return hit if base in POSITIVE else not hit


def glob(pattern: str, value: str) -> bool:
    """IAM-style wildcard match (``*`` and ``?``; ``[`` is literal)."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


@dataclass(frozen=True)
class Statement:
    """A policy statement reduced to what :func:`allows` reads."""

    effect: str | None
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] | None
    resources: tuple[tuple[str | None, Key | None], ...]  # (text, identity in the template set)
    not_resource: bool = False
    conditions: tuple[Condition, ...] = ()

    def matches(self, action: str, resource: str | None, origin: Key | None, context: Context | None = None) -> bool:
        if context is not None and not all(condition_holds(op, k, v, context) for op, k, v in self.conditions):
            return False
        return self._matches(action, resource, origin)

    def _matches(self, action: str, resource: str | None, origin: Key | None) -> bool:
        if self.not_actions is not None:
            if any(glob(a.lower(), action.lower()) for a in self.not_actions):
                return False
        elif not any(glob(a.lower(), action.lower()) for a in self.actions):
            return False
        if self.not_resource:
            return False
        for text, key in self.resources:
            if text == "*":
                return True
            if origin is not None and key == origin:
                return True
            if text is not None and resource is not None and glob(text, resource):
                return True
        return False


def allows(
    statements: Iterable[Statement],
    action: str,
    resource: str | None,
    origin: Key | None = None,
    context: Context | None = None,
) -> bool:
    """An Allow matches and no Deny does (conditions under ``context``, when given)."""
    allow = False
    for s in statements:
        if not s.matches(action, resource, origin, context):
            continue
        if s.effect == "Deny":
            return False
        allow = True
    return allow


def document_statements(doc: Any) -> list[Statement]:
    """The statements of a live policy document (a dict or its JSON text)."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    out = []
    for s in as_list((doc or {}).get("Statement")):
        if isinstance(s, dict):
            conds = tuple(
                (str(op), str(k), tuple(str(v) for v in as_list(vals)))
                for op, block in (s.get("Condition") or {}).items()
                if isinstance(block, dict)
                for k, vals in block.items()
            )
            out.append(
                Statement(
                    s.get("Effect"),
                    tuple(str(a) for a in as_list(s.get("Action"))),
                    tuple(str(a) for a in as_list(s["NotAction"])) if "NotAction" in s else None,
                    tuple((str(r), None) for r in as_list(s.get("Resource"))),
                    "NotResource" in s,
                    conds,
                )
            )
    return out


class TemplatePolicies:
    """Policy statements of a template set, rendered with ``match`` (see cfn.values)."""

    def __init__(self, ts: TemplateSet, match: Renderer):
        self.ts = ts
        self.match = match
        self.value = ts.effective
        self._roles: dict[Key | None, tuple[list[Statement], list[str]]] = {}

    def statement(self, file: str, s: dict[str, Any]) -> Statement:
        """One statement of a template, rendered (its resources also kept as identities)."""
        effect = self.match(file, s.get("Effect"))
        if "NotAction" in s:
            actions: tuple[str, ...] = ()
            not_actions: tuple[str, ...] | None = tuple(self.match(file, a) or "" for a in as_list(s["NotAction"]))
        else:
            actions = tuple(self.match(file, a) or "" for a in as_list(self.value(file, s.get("Action"))))
            not_actions = None
        resources = tuple(
            (self.match(file, r), self.ts.origin(file, r).key) for r in as_list(self.value(file, s.get("Resource")))
        )
        block = self.value(file, s.get("Condition"))
        conds = tuple(
            (str(op), str(k), tuple(self.match(file, v) for v in as_list(self.value(file, vals))))
            for op, keys in (block.items() if isinstance(block, dict) else ())
            if isinstance(keys, dict)
            for k, vals in keys.items()
        )
        return Statement(effect, actions, not_actions, resources, "NotResource" in s, conds)

    def document(self, file: str, doc: Any) -> list[Statement]:
        """The statements of a policy document in a template."""
        doc = self.ts.branch(file, doc)
        if not isinstance(doc, dict):
            return []
        out = []
        for s in as_list(self.value(file, doc.get("Statement"))):
            s = self.value(file, s)
            if isinstance(s, dict):
                out.append(self.statement(file, s))
        return out

    def role(self, role: Origin) -> tuple[list[Statement], list[str]]:
        """Statements granted to a role (inline, managed, attached policies) and the managed
        policies that could not be read."""
        if role.key not in self._roles:
            self._roles[role.key] = self._role(role)
        return self._roles[role.key]

    def _role(self, role: Origin) -> tuple[list[Statement], list[str]]:
        stmts: list[Statement] = []
        unknown: list[str] = []
        p = (self.ts.resource(role.file, role.name) or {}).get("Properties", {})
        for pol in as_list(self.value(role.file, p.get("Policies"))):
            if isinstance(pol, dict):
                stmts += self.document(role.file, pol.get("PolicyDocument"))
        for m in as_list(self.value(role.file, p.get("ManagedPolicyArns"))):
            o = self.ts.origin(role.file, m)
            managed = self.ts.typed(o, "AWS::IAM::ManagedPolicy")
            if managed is not None:
                stmts += self.document(o.file, managed.get("Properties", {}).get("PolicyDocument"))
                continue
            text = self.match(role.file, m) or str(o)
            name = text.rsplit("/", 1)[-1]
            if text.startswith("arn:aws:iam::aws:policy/") and name in MANAGED:
                stmts += [s for doc in MANAGED[name] for s in document_statements({"Statement": [doc]})]
            else:
                unknown.append(name)
        for t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            for f, _lid, r in self.ts.present_resources(t):
                rp = r.get("Properties", {})
                roles = [o.key for o in self.ts.items(f, rp.get("Roles"))]
                if "RoleName" in rp:
                    roles.append(self.ts.origin(f, rp["RoleName"]).key)
                if role.key in roles:
                    stmts += self.document(f, rp.get("PolicyDocument"))
        return stmts, unknown
