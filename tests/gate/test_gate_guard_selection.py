"""cfn-guard evaluates only the rule files that can apply to a template (guard_runner.plan):
a rule file naming resource types runs on the templates holding one of them; a file naming
none, or matching types by a pattern, runs everywhere.  The selected run must give every
template the verdicts the whole rule set gives it (the skipped evaluations were all SKIPs)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.gate.guard_runner import GuardRun, plan, rule_files, template_types
from generator.gate.model import relpath
from generator.gate.templates import Template, load
from tests.gate.conftest import CT_RULES, FIXTURES, ROOT

# Every gate fixture (each project rule's pass and fail cases, the clean platform) and a
# generated platform's templates: ECS, ALB, VPC, RDS, EFS, S3, KMS, Logs, Lambda, Events.
TEMPLATES = sorted(FIXTURES.rglob("*.yaml")) + sorted((ROOT / "templates" / "scheduled-file-writer").glob("*.yaml"))


def verdicts(reports: list) -> dict[str, tuple[list[str], list[str]]]:
    """template -> (compliant rules, not-compliant rule trees), order-free."""
    return {
        str(Path(r["name"]).resolve()): (
            sorted(r.get("compliant", [])),
            sorted(json.dumps(item, sort_keys=True) for item in r.get("not_compliant", [])),
        )
        for r in reports
    }


def test_the_selected_rules_give_every_verdict_of_the_whole_rule_set(cfn_guard: Path) -> None:
    rules = [CT_RULES, ROOT / "guard"]
    loaded = {p: load(p) for p in TEMPLATES}
    types = {p: template_types(t) for p, t in loaded.items()}
    whole = GuardRun(cfn_guard, rules, TEMPLATES)
    selected = GuardRun(cfn_guard, rules, TEMPLATES, types)
    whole_reports, errors = whole.reports()
    assert not errors, errors
    selected_reports, errors = selected.reports()
    assert not errors, errors
    expected = verdicts(whole_reports)
    assert len(expected) == len(TEMPLATES)
    assert any(failing for _, failing in expected.values()), "no template fails a rule: the comparison shows little"
    assert verdicts(selected_reports) == expected
    # ... and the selection did leave most rule files out.
    evaluated = sum(cmd.count("-r") * cmd.count("-d") for cmd in selected.cmds)
    assert evaluated < len(rule_files(rules)) * len(TEMPLATES) / 4, evaluated
    assert [relpath(r["name"]) for r in selected_reports] == [relpath(t) for t in TEMPLATES]  # the templates' order


def test_a_rule_file_runs_where_its_types_are_or_where_it_cannot_tell(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "s3").mkdir(parents=True)
    (rules / "s3" / "bucket.guard").write_text("rule b when Resources.*[ Type == 'AWS::S3::Bucket' ] not empty { }\n")
    (rules / "any.guard").write_text("rule p { Parameters not empty }\n")  # names no type
    (rules / "pattern.guard").write_text(
        "# Reports on: AWS::SQS::Queue\nrule q when Resources.*[ Type == /AWS::SNS::/ ] not empty { }\n"
    )
    (rules / "notes.yaml").write_text("not: a rule file\n")
    bucket, queue, broken = (tmp_path / f"{n}.yaml" for n in ("bucket", "queue", "broken"))
    types = {
        bucket: template_types(Template(bucket, {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}})),
        queue: template_types(Template(queue, {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})),
        broken: template_types(Template(broken, None, "cannot parse")),
    }
    assert types[broken] is None
    chosen = {
        t: sorted(r.relative_to(rules).as_posix() for r in rs)
        for rs, ts in plan([rules], list(types), types)
        for t in ts
    }
    assert chosen == {
        bucket: ["any.guard", "pattern.guard", "s3/bucket.guard"],
        queue: ["any.guard", "pattern.guard"],
        broken: ["any.guard", "pattern.guard", "s3/bucket.guard"],
    }


def test_a_template_no_rule_applies_to_gets_an_empty_report(tmp_path: Path, cfn_guard: Path) -> None:
    rule = tmp_path / "bucket.guard"
    rule.write_text("rule b when Resources.*[ Type == 'AWS::S3::Bucket' ] not empty { }\n")
    queue = tmp_path / "queue.yaml"
    queue.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    run = GuardRun(cfn_guard, [rule], [queue], {queue: frozenset({"AWS::SQS::Queue"})})
    assert run.cmds == []
    assert run.reports() == ([{"name": str(queue), "compliant": [], "not_compliant": []}], [])
