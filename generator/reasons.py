"""What counts as a reason: the one rule for every suppression reason.

A reason the spec takes (``root_user_reason``, ``writable_root_reason``,
``mutable_tags_reason``, ``network.public_ip_reason``: every ``*_reason`` field, through
``generator.spec.base.Reason``) becomes the reason of a suppression the generator writes
next to a resource, and the gate's reasons audit (``generator.gate.suppressions``) judges
every suppression in a template with this same function. So a spec that validates never
fails the audit for its reasons, and the two cannot drift apart.

This module sits below both the spec and the gate and imports neither: the gate never
imports the spec.
"""

from __future__ import annotations

from typing import Any

# At least this many characters (after stripping): shorter text explains nothing.
REASON_MIN_LENGTH = 12
# Texts that only say "no reason" (compared lower-cased, without a trailing full stop).
NOT_A_REASON = frozenset(
    {
        "",
        "no comment provided",
        "todo",
        "tbd",
        "fixme",
        "n/a",
        "na",
        "none",
        "-",
        "reason",
        "suppressed",
        "ignore",
        "skip",
        "false positive",
        "...",
    }
)


def reason_error(reason: Any) -> str | None:
    """Why ``reason`` is not acceptable as the reason of a suppression, or None if it is."""
    if not isinstance(reason, str):
        return "no reason given"
    text = reason.strip()
    if text.lower().rstrip(".") in NOT_A_REASON:
        return f"{reason!r} is a placeholder, not a reason"
    if len(text) < REASON_MIN_LENGTH:
        return f"{reason!r} is too short to explain anything (at least {REASON_MIN_LENGTH} characters)"
    return None
