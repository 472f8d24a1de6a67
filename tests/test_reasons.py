"""One reason rule (issue 11, generator defects): every `*_reason` field of the spec accepts
exactly the reasons the gate's reasons audit accepts, because both use generator.reasons.

Before, the spec took any non-empty string for root_user_reason, writable_root_reason and
mutable_tags_reason, while the audit refused placeholders and reasons under 12 characters: a
spec that validated then failed the gate. The bad-spec fixtures 45-48 show each field's message.
"""

from __future__ import annotations

import copy
import typing
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from generator import reasons
from generator.gate import suppressions
from generator.spec import Platform, SpecError, parse_spec
from generator.spec.base import Reason
from tests.helpers import ROOT

WEB = yaml.safe_load((ROOT / "tests" / "fixtures" / "good_specs" / "web.yaml").read_text())


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields."""
    seen: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for f in tp.model_fields.values():
                visit(f.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return seen


def reason_fields() -> list[tuple[str, str]]:
    return sorted((m.__name__, name) for m in models(Platform) for name in m.model_fields if name.endswith("_reason"))


def test_every_reason_field_uses_the_one_rule() -> None:
    fields = reason_fields()
    assert {f for _, f in fields} >= {
        "root_user_reason",
        "writable_root_reason",
        "mutable_tags_reason",
        "public_ip_reason",
    }
    for model_name, name in fields:
        model = next(m for m in models(Platform) if m.__name__ == model_name)
        assert model.model_fields[name].annotation in (Reason, Reason | None), (model_name, name)


def test_the_gate_audits_with_the_same_function() -> None:
    assert suppressions.reason_problem is reasons.reason_error


SETTERS = {
    "root_user_reason": lambda d, r: (d["services"][0].pop("user"), d["services"][0].update(root_user_reason=r)),
    "writable_root_reason": lambda d, r: d["services"][0].update(writable_root_reason=r),
    "mutable_tags_reason": lambda d, r: d.update(
        repositories=[{"name": "web", "immutable_tags": False, "mutable_tags_reason": r}]
    ),
    "public_ip_reason": lambda d, r: d["network"].update(egress="public-ip", public_ip_reason=r),
}


def with_reason(field: str, reason: str) -> dict[str, Any]:
    data = copy.deepcopy(WEB)
    SETTERS[field](data, reason)
    return data


def test_every_reason_field_is_exercised() -> None:
    assert {f for _, f in reason_fields()} == set(SETTERS)


@pytest.mark.parametrize("field", sorted(SETTERS))
@given(
    reason=st.one_of(
        st.sampled_from(sorted(reasons.NOT_A_REASON)),
        st.text(max_size=20),
        st.sampled_from(["pid file", "nginx writes its pid file", "  TODO.  ", "N/A"]),
    )
)
def test_the_spec_accepts_exactly_what_the_audit_accepts(field: str, reason: str) -> None:
    problem = suppressions.reason_problem(reason)
    try:
        parse_spec(with_reason(field, reason), "spec.yaml")
    except SpecError as exc:
        assert problem is not None, exc.lines
        assert any(line.endswith(f"{field}: {problem}") for line in exc.lines), exc.lines
    else:
        assert problem is None, f"{field}={reason!r} validates, but the gate's audit says: {problem}"
