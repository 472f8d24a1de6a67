"""Predict the changes inside a nested stack from its old and new templates.

CloudFormation returns a change set per nested stack when a change set is created with
IncludeNestedStacks. An endpoint that does not (the local emulator) only reports
"nested stack Modify"; this module then diffs the nested stack's deployed template and
parameters against the local new template and the parameters the parent will pass, so
that a replaced database two levels down is still visible in the review.

The diff substitutes parameter values into each resource's properties and leaves every
other intrinsic function symbolic, so a property differs exactly when its template text
or a parameter it uses differs. Replacement follows the type's create-only properties
(:mod:`generator.deploy.stateful`); a replaced resource cascades to the resources that
reference it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.cfn.conditions import Conditions
from generator.cfn.load import load_file, load_text
from generator.cfn.refs import SUB_VARIABLE, references
from generator.deploy.stateful import default_deletion_policy, replacement_for

_LIST_TYPES = ("CommaDelimitedList",)


class Unresolvable(Exception):
    """A value that cannot be evaluated without deploying."""


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _is_fn(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
            return key, value[key]
    return None


# --- symbolic substitution (inside one template) -------------------------------------------


def condition_value(name: str, template: dict, params: dict[str, str]) -> bool | None:
    """A condition of ``template`` under parameter values (None: it cannot be decided)."""

    def value(node: Any) -> str | None:
        v = substitute(node, template, params)
        return v if isinstance(v, str) else None

    return Conditions(template.get("Conditions"), value).decide(name)


def substitute(value: Any, template: dict, params: dict[str, str]) -> Any:
    """``value`` with parameter references replaced by their values; other functions kept."""
    fn = _is_fn(value)
    if fn:
        key, arg = fn
        if key == "Ref":
            return params.get(arg, {"Ref": arg})
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            variables = substitute(variables, template, params)

            def repl(match: re.Match) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return match.group(0)
                if isinstance(variables, dict) and isinstance(variables.get(name), str):
                    return variables[name]
                if name in params and not (isinstance(variables, dict) and name in variables):
                    return str(params[name])
                return match.group(0)

            return {"Fn::Sub": [SUB_VARIABLE.sub(repl, text), variables]}
        if key == "Fn::If":
            chosen = condition_value(arg[0], template, params)
            if chosen is not None:
                return substitute(arg[1] if chosen else arg[2], template, params)
            return {"Fn::If": [arg[0], substitute(arg[1], template, params), substitute(arg[2], template, params)]}
        return {key: substitute(arg, template, params)}
    if isinstance(value, dict):
        return {k: substitute(v, template, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, template, params) for v in value]
    return _scalar(value)


def _params_with_defaults(template: dict, given: dict[str, str]) -> dict[str, str]:
    out = {
        name: str(_scalar(spec.get("Default")))
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    out.update(given)
    return out


def _active(template: dict, res: dict, params: dict[str, str]) -> bool:
    cond = res.get("Condition")
    return cond is None or condition_value(cond, template, params) is not False


def diff_templates(old_tpl: dict, new_tpl: dict, old_params: dict[str, str], new_params: dict[str, str]) -> list[dict]:
    """ResourceChange-like dicts for the difference between two deployed states."""
    old_params = _params_with_defaults(old_tpl, old_params)
    new_params = _params_with_defaults(new_tpl, new_params)
    old_res = {k: v for k, v in (old_tpl.get("Resources") or {}).items() if _active(old_tpl, v, old_params)}
    new_res = {k: v for k, v in (new_tpl.get("Resources") or {}).items() if _active(new_tpl, v, new_params)}
    changes: list[dict] = []
    common = sorted(old_res.keys() & new_res.keys())
    changed: dict[str, set[str]] = {}
    for key in common:
        old_props = substitute(old_res[key].get("Properties") or {}, old_tpl, old_params)
        new_props = substitute(new_res[key].get("Properties") or {}, new_tpl, new_params)
        changed[key] = {n for n in set(old_props) | set(new_props) if old_props.get(n) != new_props.get(n)}
    type_changed = {k: old_res[k].get("Type") != new_res[k].get("Type") for k in common}
    # Cascade: a property that references a replaced resource changes too.
    while True:
        replaced = {k for k in common if type_changed[k] or replacement_for(new_res[k]["Type"], changed[k]) == "True"}
        replaced |= set(old_res) - set(new_res)
        grew = False
        for key in common:
            for name, val in (new_res[key].get("Properties") or {}).items():
                if name not in changed[key] and references(val) & (replaced - {key}):
                    changed[key].add(name)
                    grew = True
        if not grew:
            break
    for key in sorted(old_res.keys() | new_res.keys()):
        if key not in old_res:
            changes.append({"Action": "Add", "LogicalResourceId": key, "ResourceType": new_res[key].get("Type", "")})
        elif key not in new_res:
            res = old_res[key]
            policy = res.get("DeletionPolicy") or default_deletion_policy(res.get("Type", ""), res.get("Properties"))
            changes.append(
                {
                    "Action": "Remove",
                    "LogicalResourceId": key,
                    "ResourceType": res.get("Type", ""),
                    "PolicyAction": policy,
                }
            )
        else:
            attrs = [
                a
                for a in ("DeletionPolicy", "UpdateReplacePolicy", "Metadata")
                if old_res[key].get(a) != new_res[key].get(a)
            ]
            if not changed[key] and not attrs and not type_changed[key]:
                continue
            rtype = new_res[key].get("Type", "")
            replacement = "True" if type_changed[key] else replacement_for(rtype, changed[key])
            change = {
                "Action": "Modify",
                "LogicalResourceId": key,
                "ResourceType": rtype,
                "Replacement": replacement,
                "ChangedProperties": sorted(changed[key]),
            }
            if replacement == "True":
                policy = new_res[key].get("UpdateReplacePolicy", "Delete")
                change["PolicyAction"] = f"ReplaceAnd{policy}"
            changes.append(change)
    return changes


# --- evaluation of the values a parent passes to a nested stack -----------------------------


def evaluate(value: Any, params: dict[str, Any], get_att: Callable[[str, str], str]) -> Any:
    """Evaluate a parameter expression to a concrete value, or raise Unresolvable."""
    fn = _is_fn(value)
    if not fn:
        if isinstance(value, (dict, list)):
            raise Unresolvable(json.dumps(value)[:80])
        return _scalar(value)
    key, arg = fn
    if key == "Ref":
        if arg in params:
            return params[arg]
        raise Unresolvable(f"Ref {arg}")
    if key == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
        if len(parts) == 2 and str(parts[1]).startswith("Outputs."):
            return get_att(parts[0], parts[1][len("Outputs.") :])
        raise Unresolvable(f"GetAtt {parts}")
    if key == "Fn::Join":
        items = evaluate_list(arg[1], params, get_att)
        return str(arg[0]).join(str(i) for i in items)
    if key == "Fn::Select":
        return evaluate_list(arg[1], params, get_att)[int(evaluate(arg[0], params, get_att))]
    if key == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: evaluate(v, params, get_att) for k, v in (variables or {}).items()}

        def repl(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return match.group(0)
            if name in local:
                return str(local[name])
            if name in params:
                value = params[name]
                return ",".join(value) if isinstance(value, list) else str(value)
            if ".Outputs." in name:
                res, out = name.split(".Outputs.", 1)
                return get_att(res, out)
            raise Unresolvable(f"Sub ${{{name}}}")

        return SUB_VARIABLE.sub(repl, text)
    raise Unresolvable(key)


def evaluate_list(value: Any, params: dict[str, Any], get_att) -> list:
    if isinstance(value, list):
        out: list = []
        for item in value:
            got = evaluate(item, params, get_att)
            out.extend(got if isinstance(got, list) else [got])
        return out
    got = evaluate(value, params, get_att)
    if isinstance(got, list):
        return got
    if isinstance(got, str):
        return got.split(",") if got else []
    raise Unresolvable("list")


def typed_params(template: dict, values: dict[str, str]) -> dict[str, Any]:
    """Parameter values, with list-typed ones split (as Ref returns them)."""
    specs = template.get("Parameters") or {}
    out: dict[str, Any] = {}
    for name, value in values.items():
        ptype = str((specs.get(name) or {}).get("Type", "String"))
        out[name] = (
            value.split(",")
            if (ptype in _LIST_TYPES or ptype.startswith("List<")) and isinstance(value, str)
            else value
        )
    return out


# --- prediction against a live stack ---------------------------------------------------------


def _body(cfn, stack_id: str) -> dict:
    body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else load_text(body, stack_id)


def predict(
    cfn,
    *,
    parent_template_path: Path,
    parent_template: dict,
    parent_params: dict[str, str],
    parent_stack_id: str,
    logical_id: str,
    nested_stack_id: str,
    depth: int = 0,
    dynamic: frozenset = frozenset(),
) -> tuple[list[dict], list[str]]:
    """Predicted changes inside the nested stack ``logical_id`` (with nested ones below it,
    their LogicalResourceId prefixed with their path) and notes about what was assumed.
    Outputs of the siblings in ``dynamic`` count as changed (unknown new values)."""
    notes: list[str] = []
    res = (parent_template.get("Resources") or {}).get(logical_id) or {}
    url = str((res.get("Properties") or {}).get("TemplateURL", ""))
    if not url or "://" in url or depth > 5:
        return [], [f"{logical_id}: no local template to compare ({url or 'none'})"]
    child_path = (parent_template_path.parent / url).resolve()
    new_tpl = load_file(child_path)
    old_tpl = _body(cfn, nested_stack_id)
    nested = cfn.describe_stacks(StackName=nested_stack_id)["Stacks"][0]
    old_params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in nested.get("Parameters", [])}
    outputs_cache: dict[str, dict[str, str]] = {}

    def get_att(resource: str, output: str) -> str:
        if resource in dynamic:
            return f"<new {resource}.Outputs.{output}>"
        if resource not in outputs_cache:
            try:
                phys = cfn.describe_stack_resource(StackName=parent_stack_id, LogicalResourceId=resource)
                sid = phys["StackResourceDetail"]["PhysicalResourceId"]
                stack = cfn.describe_stacks(StackName=sid)["Stacks"][0]
            except Exception as exc:  # a sibling not created yet, or gone
                raise Unresolvable(f"{resource}.Outputs.{output}") from exc
            outputs_cache[resource] = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        if output not in outputs_cache[resource]:
            raise Unresolvable(f"{resource}.Outputs.{output}")
        return outputs_cache[resource][output]

    typed = typed_params(parent_template, parent_params)
    new_params: dict[str, str] = {}
    for name, expr in ((res.get("Properties") or {}).get("Parameters") or {}).items():
        try:
            value = evaluate(expr, typed, get_att)
            new_params[name] = ",".join(value) if isinstance(value, list) else str(value)
        except (Unresolvable, IndexError, ValueError, TypeError) as exc:
            if name in old_params:
                new_params[name] = old_params[name]
                notes.append(f"{logical_id}: parameter {name} not evaluated ({exc}); assumed unchanged")
    # NoEcho values are masked (or missing) on one side or the other: not compared.
    for name, spec in (new_tpl.get("Parameters") or {}).items():
        if str((spec or {}).get("NoEcho", "false")).lower() == "true" and name in old_params:
            new_params[name] = old_params[name]
    changes = diff_templates(old_tpl, new_tpl, old_params, new_params)
    out: list[dict] = []
    for change in changes:
        out.append(change)
        if change["ResourceType"] != "AWS::CloudFormation::Stack" or change["Action"] != "Modify":
            continue
        try:
            detail = cfn.describe_stack_resource(
                StackName=nested_stack_id, LogicalResourceId=change["LogicalResourceId"]
            )
            sub_id = detail["StackResourceDetail"]["PhysicalResourceId"]
        except Exception:  # noqa: BLE001 - report and carry on
            notes.append(f"{logical_id}/{change['LogicalResourceId']}: not found")
            continue
        merged = _params_with_defaults(new_tpl, new_params)
        sub_changes, sub_notes = predict(
            cfn,
            parent_template_path=child_path,
            parent_template=new_tpl,
            parent_params=merged,
            parent_stack_id=nested_stack_id,
            logical_id=change["LogicalResourceId"],
            nested_stack_id=sub_id,
            depth=depth + 1,
        )
        for sub in sub_changes:
            sub = dict(sub, LogicalResourceId=f"{change['LogicalResourceId']}/{sub['LogicalResourceId']}")
            out.append(sub)
        notes += [f"{logical_id}/{n}" for n in sub_notes]
    return out, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator.deploy.nested",
        description="Diff two versions of a template offline: print the predicted "
        "resource changes as JSON (the same logic the change-set summary uses "
        "when the endpoint returns no nested change sets).",
    )
    parser.add_argument("old", help="old template")
    parser.add_argument("new", help="new template")
    parser.add_argument("--old-param", action="append", default=[], metavar="K=V")
    parser.add_argument("--new-param", action="append", default=[], metavar="K=V")
    args = parser.parse_args(argv)

    def kv(items: list[str]) -> dict[str, str]:
        return dict(item.split("=", 1) for item in items)

    changes = diff_templates(load_file(args.old), load_file(args.new), kv(args.old_param), kv(args.new_param))
    print(json.dumps(changes, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
