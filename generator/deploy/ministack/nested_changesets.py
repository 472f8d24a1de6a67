"""Nested change sets (CreateChangeSet with IncludeNestedStacks), taught to ministack 1.5.33.

ministack computes a change set for the stack it is asked about only: a nested stack is one
``Modify AWS::CloudFormation::Stack`` row with no ``ChangeSetId``, so a review cannot see
what changes inside it. With this module, CreateChangeSet with ``IncludeNestedStacks=true``
creates, for every nested stack the root change set modifies, a child change set against
that nested stack (recursively), as CloudFormation does:

- the child's template is the new ``TemplateURL``; its parameters are the nested stack
  resource's ``Parameters`` evaluated against the parent's new parameters and deployed
  resources (ministack's own resolver);
- a parameter fed by an output of a sibling nested stack whose change set adds, removes or
  (maybe) replaces what that output references cannot be known before execution: the child keeps the deployed
  value, and every resource that references the parameter (and, in turn, their referrers)
  gets a ``Dynamic`` ParameterReference detail, so its Replacement is ``Conditional`` where
  the property is create-only (CloudFormation's "may be replaced");
- the child's diff, Replacement and Details are ministack's own (``_diff_resources``);
- the root row of each modified nested stack carries the child's ``ChangeSetId``; the
  child carries ``ParentChangeSetId`` and ``RootChangeSetId``, the root
  ``IncludeNestedStacks``;
- DeleteChangeSet of the root deletes its nested change sets; ExecuteChangeSet of the root
  marks them executed (the root's execution updates the nested stacks, as before).

- Replacement is classified from the resource schemas cfn-lint ships (createOnlyProperties:
  a top-level one "Always", a nested member "Conditionally", anything else "Never") for the
  types ministack has no table for (VPC, SecurityGroup, ECS Service and TaskDefinition,
  Listener, ...); ministack answered "Conditionally" for every property of those, so every
  change of them read "may be replaced". generator.deploy.emulator passes the schemas'
  directory in STACKGEN_CFN_SCHEMAS. Only the change set's classification changes; how an
  update is executed does not.

Not modelled: a nested stack that the root change set adds has no child change set (its
resources are all adds; the review lists them from the local template).

Runs inside ministack's process: ministack is imported only by install().
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

STACK = "AWS::CloudFormation::Stack"
_ms: dict[str, Any] = {}


@functools.cache
def schema_recreation(rtype: str) -> dict[str, str] | None:
    """{property: "Always" | "Conditionally"} from the type's createOnlyProperties in the
    cfn-lint schemas at STACKGEN_CFN_SCHEMAS (the same reading as
    generator.deploy.stateful.replacing_properties); None when unknown."""
    base = Path(os.environ.get("STACKGEN_CFN_SCHEMAS", "/nonexistent"))
    try:
        digest = json.loads((base / "providers" / "us-east-1.json").read_text()).get(rtype)
        schema = json.loads((base / "resources" / f"{digest}.json").read_text())
    except (OSError, ValueError):
        return None
    found: dict[str, str] = {}
    for pointer in schema.get("createOnlyProperties", []):
        parts = pointer.split("/")[2:]
        if parts and found.get(parts[0]) != "Always":
            found[parts[0]] = "Always" if len(parts) == 1 else "Conditionally"
    return found


def _wrap_recreation(original, known: dict):
    def recreation(resource_type: str, name: str) -> str:
        if resource_type not in known:
            table = schema_recreation(resource_type)
            if table is not None:
                return table.get(name, "Never")
        return original(resource_type, name)

    return recreation


def _p(params: dict, key: str, default: str = "") -> str:
    value = params.get(key, [default])
    return (value[0] if value else default) if isinstance(value, list) else value


def _child_params(name: str, cs_name: str, url: str, values: dict[str, str], caps: list[str]) -> dict:
    params = {
        "StackName": [name],
        "ChangeSetName": [cs_name],
        "TemplateURL": [url],
        "ChangeSetType": ["UPDATE"],
        "IncludeNestedStacks": ["true"],
    }
    for i, (key, value) in enumerate(values.items(), 1):
        params[f"Parameters.member.{i}.ParameterKey"] = [key]
        params[f"Parameters.member.{i}.ParameterValue"] = [value]
    for i, cap in enumerate(caps, 1):
        params[f"Capabilities.member.{i}"] = [cap]
    return params


def _outputs_that_may_change(cs: dict, old_template: dict) -> set[str]:
    """Outputs of a child stack that may change: changed definitions, and outputs that
    reference a resource its change set adds, removes or (maybe) replaces; an update in
    place keeps the resource's id and attributes."""
    engine = _ms["engine"]
    changed = {
        c["ResourceChange"]["LogicalResourceId"]
        for c in cs.get("Changes", [])
        if c["ResourceChange"].get("Action") != "Modify" or c["ResourceChange"].get("Replacement", "False") != "False"
    }
    outputs = (cs.get("_template") or {}).get("Outputs") or {}
    old_outputs = old_template.get("Outputs") or {}
    return {
        name
        for name, out in outputs.items()
        if out != old_outputs.get(name) or {ref for ref, _ in engine._intrinsic_references(out.get("Value"))} & changed
    }


def _add_dynamic(cs: dict, stack: dict, dynamic: set[str]) -> None:
    """Add the changes that parameters unknown before execution may cause."""
    stacks = _ms["stacks"]
    template = cs["_template"]
    resolved = _ms["changesets"]._resolve_props_for_diff(
        template, cs["_resolved_params"], stack["StackName"], stack["StackId"]
    )
    extra = stacks._diff_resources(
        resolved, copy.deepcopy(resolved), stack.get("_resources"), template, changed_params=dynamic
    )
    rows = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in cs["Changes"]}
    for change in extra:
        rc = change["ResourceChange"]
        for detail in rc.get("Details", []):
            detail["Evaluation"] = "Dynamic"  # nothing in this pass is known statically
        row = rows.get(rc["LogicalResourceId"])
        if row is None:
            row = rc
            cs["Changes"].append(change)
        else:
            row["Details"] = row.get("Details", []) + [d for d in rc["Details"] if d not in row.get("Details", [])]
            row["Scope"] = list(dict.fromkeys(row.get("Scope", []) + rc.get("Scope", [])))
        if row is rc or row.get("Replacement") != "True":
            row["Replacement"] = stacks._replacement(row["Details"], False)
        row.pop("PolicyAction", None)
        if row["Replacement"] != "False":
            row.update(
                stacks._policy_action(
                    template["Resources"][rc["LogicalResourceId"]], "UpdateReplacePolicy", "ReplaceAnd"
                )
            )
    if extra and cs["Status"] == "FAILED":
        cs.update(Status="CREATE_COMPLETE", ExecutionStatus="AVAILABLE", StatusReason="")


def _expand(cs: dict, root_id: str, create) -> None:
    """Create the child change sets of the nested stacks ``cs`` modifies."""
    from ministack.services.cloudformation import _change_sets, _stacks

    engine, prov = _ms["engine"], _ms["prov"]
    stack = _stacks[cs["StackName"]]
    template = cs["_template"]
    values = cs["_resolved_params"]
    conditions = engine._evaluate_conditions(template, values)
    resources = template.get("Resources") or {}
    rows = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
        for c in cs["Changes"]
        if c["ResourceChange"].get("ResourceType") == STACK and c["ResourceChange"].get("Action") == "Modify"
    }
    changed_outputs: dict[str, set[str]] = {}
    for lid in engine._topological_sort(resources, conditions):
        if lid not in rows:
            continue
        props = resources[lid].get("Properties") or {}
        child_name = prov._nested_stack_lookup_name(rows[lid].get("PhysicalResourceId", ""))
        child = _stacks.get(child_name)
        if not child:
            continue
        previous = {p["ParameterKey"]: p["ParameterValue"] for p in child.get("Parameters", [])}
        child_values, dynamic = {}, set()
        for key, raw in (props.get("Parameters") or {}).items():
            sources = {(ref, attr) for ref, attr in engine._intrinsic_references(raw)}
            if any(
                attr and attr.startswith("Outputs.") and attr.split(".", 1)[1] in changed_outputs.get(ref, set())
                for ref, attr in sources
            ):
                dynamic.add(key)
                child_values[key] = previous.get(key, "")
                continue
            value = engine._resolve_refs(
                copy.deepcopy(raw),
                stack.get("_resources", {}),
                values,
                conditions,
                template.get("Mappings", {}),
                stack["StackName"],
                stack["StackId"],
            )
            child_values[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        url = engine._resolve_refs(
            copy.deepcopy(props.get("TemplateURL")),
            stack.get("_resources", {}),
            values,
            conditions,
            template.get("Mappings", {}),
            stack["StackName"],
            stack["StackId"],
        )
        name = re.sub(r"[^A-Za-z0-9-]", "-", f"{cs['ChangeSetName']}-{lid}")[:128]
        status, _, body = create(_child_params(child_name, name, str(url), child_values, cs.get("Capabilities", [])))
        if status != 200:
            raise ValueError(f"nested change set for {lid} failed: {body[:300]!r}")
        found = re.search(rb"<Id>([^<]+)</Id>", body)
        if found is None:
            raise ValueError(f"nested change set for {lid}: no Id in the answer: {body[:300]!r}")
        child_id = found.group(1).decode()
        child_cs = _change_sets[child_id]
        if dynamic:
            _add_dynamic(child_cs, child, dynamic)
        secret = {
            k
            for k, v in (child_cs["_template"].get("Parameters") or {}).items()
            if str(v.get("NoEcho", "")).lower() == "true"
        }
        for param in child_cs["Parameters"]:  # as DescribeChangeSet shows NoEcho values
            if param["ParameterKey"] in secret:
                param["ParameterValue"] = "****"
        child_cs.update(ParentChangeSetId=cs["ChangeSetId"], IncludeNestedStacks=True)
        cs.setdefault("_nested", []).append(child_id)
        for nested_id in [child_id, *_descendants(child_id)]:
            _change_sets[nested_id]["RootChangeSetId"] = root_id
        rows[lid]["ChangeSetId"] = child_id
        changed_outputs[lid] = _outputs_that_may_change(child_cs, child.get("_template") or {})


def _wrap_create(original):
    from ministack.services.cloudformation import _change_sets

    def create(params):
        response = original(params)
        if response[0] != 200 or _p(params, "IncludeNestedStacks").lower() != "true":
            return response
        cs_id = re.search(rb"<Id>([^<]+)</Id>", response[2]).group(1).decode()
        cs = _change_sets[cs_id]
        cs["IncludeNestedStacks"] = True
        if cs["Status"] == "CREATE_COMPLETE" and cs.get("ChangeSetType") == "UPDATE" and "ParentChangeSetId" not in cs:
            _expand(cs, cs_id, create)
        return response

    return create


def _descendants(cs_id: str) -> list[str]:
    from ministack.services.cloudformation import _change_sets

    found = []
    for child in (_change_sets.get(cs_id) or {}).get("_nested", []):
        found += [child, *_descendants(child)]
    return found


def _wrap_describe(original):
    from ministack.services.cloudformation import _change_sets

    def describe(params):
        status, headers, body = original(params)
        if status != 200:
            return status, headers, body
        text = body.decode() if isinstance(body, bytes) else body
        cs_id = re.search(r"<ChangeSetId>([^<]+)</ChangeSetId>", text).group(1)
        cs = _change_sets.get(cs_id) or {}
        for change in cs.get("Changes", []):
            rc = change["ResourceChange"]
            if rc.get("ChangeSetId"):
                marker = f"<LogicalResourceId>{rc['LogicalResourceId']}</LogicalResourceId>"
                text = text.replace(marker, f"{marker}<ChangeSetId>{rc['ChangeSetId']}</ChangeSetId>", 1)
        extra = "".join(f"<{key}>{cs[key]}</{key}>" for key in ("ParentChangeSetId", "RootChangeSetId") if cs.get(key))
        if cs.get("IncludeNestedStacks"):
            extra += "<IncludeNestedStacks>true</IncludeNestedStacks>"
        text = text.replace("</DescribeChangeSetResult>", f"{extra}</DescribeChangeSetResult>")
        return status, headers, text.encode() if isinstance(body, bytes) else text

    return describe


def _wrap_delete(original):
    from ministack.services.cloudformation import _change_sets

    def delete(params):
        cs_id, _ = _ms["changesets"]._find_change_set(_p(params, "ChangeSetName"), _p(params, "StackName"))
        nested = _descendants(cs_id) if cs_id else []
        response = original(params)
        if response[0] == 200:
            for child in nested:
                _change_sets.pop(child, None)
        return response

    return delete


def _wrap_execute(original):
    from ministack.services.cloudformation import _change_sets

    def execute(params):
        cs_id, _ = _ms["changesets"]._find_change_set(_p(params, "ChangeSetName"), _p(params, "StackName"))
        response = original(params)
        if response[0] == 200 and cs_id:
            for child in _descendants(cs_id):
                if child in _change_sets:
                    _change_sets[child]["ExecutionStatus"] = "EXECUTE_COMPLETE"
        return response

    return execute


def install() -> None:
    from ministack.services.cloudformation import changesets, engine, handlers, stacks
    from ministack.services.cloudformation import provisioners as prov

    _ms.update(engine=engine, stacks=stacks, changesets=changesets, prov=prov)
    stacks._property_recreation = _wrap_recreation(stacks._property_recreation, prov._REPLACING_PROPERTIES)
    actions = handlers._ACTION_HANDLERS
    actions["CreateChangeSet"] = _wrap_create(actions["CreateChangeSet"])
    actions["DescribeChangeSet"] = _wrap_describe(actions["DescribeChangeSet"])
    actions["DeleteChangeSet"] = _wrap_delete(actions["DeleteChangeSet"])
    actions["ExecuteChangeSet"] = _wrap_execute(actions["ExecuteChangeSet"])
