"""Shared building blocks of the spec model: the error type, the frozen base model,
name patterns, the reason type of every ``*_reason`` field, the Fargate size table and the
secret-word heuristics."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from generator import awsfacts
from generator.reasons import reason_error

SLUG = r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$"
PASCAL = r"^[A-Z][A-Za-z0-9]{0,62}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"

# The Name parameter's AllowedPattern (generator.parent.root_parameters); the spec's name is its default.
NAME_PARAMETER = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"

Slug = Annotated[str, Field(pattern=SLUG)]
PascalName = Annotated[str, Field(pattern=PASCAL)]
PortNumber = Annotated[int, Field(ge=1, le=65535, description="TCP port, 1-65535")]


def _reason(value: str) -> str:
    err = reason_error(value)
    if err:
        raise ValueError(err)
    return value


# Every `*_reason` field of the spec: it becomes the reason of a generated suppression, so it
# must be one the gate's reasons audit accepts (the one rule, generator.reasons.reason_error).
Reason = Annotated[str, AfterValidator(_reason)]

# CloudWatch Logs' allowed retention periods, from cfn-lint's AWS::Logs::LogGroup schema.
RetentionDays = Literal[awsfacts.log_retention_days()]  # type: ignore[valid-type]

# Fargate task size table (CPU units -> allowed memory MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
SECRET_WORDS = ("password", "secret", "token", "credential", "apikey", "privatekey")


def new_list() -> list[Any]:
    """A new empty list: the spec's ``Field(default_factory=new_list)``. It is ``list`` but for
    its signature, which pydantic reads when it builds a validator: the builtin's is text that
    ``inspect`` tokenizes and parses on every read, about 6 ms of the spec's first validation
    over its 30-odd list and dict defaults (tests/test_imports.py)."""
    return []


def new_dict() -> dict[Any, Any]:
    """A new empty dict, as ``new_list``."""
    return {}


class SpecError(Exception):
    """A spec failed validation. ``lines`` are ``file: field: message`` strings."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


class Model(BaseModel):
    # A field's docstring is its description in the JSON Schema: generator.spec.descriptions
    # gives them to pydantic when a schema is written, not at every import
    # (use_attribute_docstrings would re-read each model's source). defer_build: a model's
    # validator is built when it is first used, not at import; a spec is validated through
    # Platform, whose validator holds every nested model, so the nested models' own were
    # built at every import for nothing (tests/test_imports.py).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def fargate_size_ok(cpu: int, memory: int) -> bool:
    return memory in FARGATE_SIZES.get(cpu, ())


def looks_secret(name: str) -> bool:
    """True when a parameter name implies a secret value (word-wise, so 'Keycloak' is
    not 'key'); names of references to secrets ('...SecretArn', '...PasswordName') are not."""
    words = [w.lower() for w in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)]
    if words and words[-1] in ("arn", "arns", "name", "id", "ids", "uri", "url", "length", "path"):
        return False
    joined = "".join(words)
    if any(w in ("password", "secret", "token", "credential", "credentials") for w in words):
        return True
    return any(k in joined for k in ("apikey", "privatekey", "accesskey"))


def description_implies_secret(description: str) -> bool:
    """A description that speaks of a secret value (not of a reference to one)."""
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", description)}
    if words & {"arn", "name", "id", "uri", "url"}:
        return False
    return (
        bool(words & {"password", "secret", "token", "credential", "credentials"}) or "api key" in description.lower()
    )


DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.I)


def dns_name_error(name: str) -> str | None:
    """Why ``name`` is not a DNS name (RFC 1035 as Route 53 takes it: labels of 1-63
    letters, digits and hyphens, 253 characters in all), or None."""
    if len(name) > 253:
        return f"{len(name)} characters; a DNS name has at most 253"
    for label in name.rstrip(".").split("."):
        if not DNS_LABEL.fullmatch(label):
            return f"label {label!r} is not 1-63 letters, digits or inner hyphens"
    return None
