"""The security gate (issue 5): cfn-lint, checkov and cfn-guard over templates/**.

`python -m generator.gate run DIR...` runs all three scanners once over the
templates found under the given directories, audits every suppression for a
reason, prints one summary table per tool, writes SARIF to reports/ and exits
0 (clean), 1 (findings or a scanner failure) or 2 (usage).

Suppression mechanisms, each of which must carry a reason (README.md#security-posture):

- checkov:  ``Metadata.checkov.skip: [{id: CKV_..., comment: <reason>}]``
- cfn-lint: ``Metadata.cfn-lint.config.ignore_checks: [ID]`` plus
            ``Metadata.stackgen.suppressions: {ID: <reason>}`` on the same resource
- cfn-guard (the rules themselves have no inline hook; this wrapper applies an
            allow-list): ``guard/allowlist.yaml`` entries ``rule@LogicalId: <reason>``,
            or on the resource ``Metadata.stackgen.guard_allowlist: {rule: <reason>}``.
            Rules in NEVER_ALLOW (suppressions.py) and project rules cannot be allowed.
- ECS writable root filesystem, per container:
            ``Metadata.stackgen.writable_root: [{container: NAME, reason: <reason>}]``
            (accepted by cfn-lint E9104 and, for the same containers, by the
            Control Tower read-only-root rule).
"""
