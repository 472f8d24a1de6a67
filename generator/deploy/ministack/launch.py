"""Run ministack patched to behave like CloudFormation and AWS; run by the ministack venv's
python (``generator.deploy.emulator`` does).

Usage: .tools/ministack/bin/python generator/deploy/ministack/launch.py

Before starting ministack it installs the resource types ministack lacks (providers.py), the
AWS rules it does not enforce (strictness.py) and nested change sets (nested_changesets.py),
and applies the nested-stack fixes below.

ministack 1.5.33 handles top-level stacks like CloudFormation, but nested stacks differ.
Each difference below breaks a deploy.sh/delete.sh behaviour the e2e tests check:

1. Update: it calls ``_update_resource`` without the resource's previous attributes. For a
   resource whose properties did not change that returns no attributes, so any
   ``Fn::GetAtt`` on it later in the same nested stack (an output such as
   ``!GetAtt SecurityGroup.GroupId``) fails the update with "Requested attribute ... does
   not exist in schema", and the rollback then fails too (UPDATE_ROLLBACK_FAILED).
   Fix: pass the attributes, as the top-level path does.
2. Delete: it deletes every resource of a nested stack, ignoring DeletionPolicy (Retain,
   Snapshot), and records no events in the nested stack. Fix: delete like the top-level
   path: Retain -> DELETE_SKIPPED, Snapshot -> snapshot then delete, one event per
   resource, DELETE_FAILED (and a failed parent) when a resource cannot be deleted.
3. Failed create: a nested stack that fails while being created keeps what it had
   created so far (CREATE_FAILED), so the parent's rollback leaks it and, when that
   includes a security group, cannot delete the VPC (ROLLBACK_FAILED). Fix: roll the
   nested stack back (ROLLBACK_IN_PROGRESS, deletes, ROLLBACK_COMPLETE), as CloudFormation
   does, before the parent rolls back.

tests/e2e exercise all three. The patches apply only to the version they were written for.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

# The checkout's root, so that the sibling modules import as generator.deploy.ministack.*
# (this file runs as a script, with ministack's venv, which has no stackgen installed).
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

PATCHED_VERSION = "1.5.33"
STACK = "AWS::CloudFormation::Stack"


def _patch() -> None:
    from ministack.services import cloudformation
    from ministack.services.cloudformation import provisioners as prov

    def _events():
        from ministack.services.cloudformation.stacks import _add_event, _resource_policy

        return _add_event, _resource_policy

    # 1. keep the attributes of unchanged resources in a nested update
    original_update = prov._update_resource

    def _update_resource(resource_type, physical_id, old_props, new_props, stack_name, logical_id=None, old_attrs=None):
        if old_attrs is None and logical_id is not None:
            stack = cloudformation._stacks.get(stack_name) or {}
            previous = (stack.get("_resources") or {}).get(logical_id) or {}
            if previous.get("PhysicalResourceId") == physical_id:
                old_attrs = previous.get("Attributes")
        return original_update(resource_type, physical_id, old_props, new_props, stack_name, logical_id, old_attrs)

    prov._update_resource = _update_resource

    def _delete_all(child_name: str, retaining: tuple[str, ...]) -> list[str]:
        """Delete a nested stack's resources, dependents first; the logical ids that failed."""
        from ministack.services.cloudformation.engine import _topological_sort

        add_event, resource_policy = _events()
        child = cloudformation._stacks[child_name]
        stack_id = child["StackId"]
        resources = child.get("_resources", {})
        template = child.get("_template") or {}
        res_defs = template.get("Resources", {})
        conditions = child.get("_conditions", {})
        try:
            ordered = _topological_sort(res_defs, conditions) if res_defs else list(resources)
        except ValueError:
            ordered = list(resources)
        ordered += [lid for lid in resources if lid not in ordered]
        failures = []
        for logical_id in reversed(ordered):
            res = resources.get(logical_id)
            if not res:
                continue
            rtype = res.get("ResourceType", "")
            pid = res.get("PhysicalResourceId", "")
            props = res.get("Properties", {})
            policy = resource_policy(
                res_defs.get(logical_id),
                "DeletionPolicy",
                resources,
                child.get("_resolved_params", {}),
                conditions,
                template.get("Mappings", {}),
                child_name,
                stack_id,
            )
            if policy in retaining:
                add_event(stack_id, child_name, logical_id, rtype, "DELETE_SKIPPED", physical_id=pid)
                resources.pop(logical_id, None)
                continue
            add_event(stack_id, child_name, logical_id, rtype, "DELETE_IN_PROGRESS", physical_id=pid)
            try:
                if policy == "Snapshot":
                    prov._snapshot_resource(rtype, pid, props)
                prov._delete_resource(rtype, pid, props, child_name, logical_id)
            except Exception as exc:  # noqa: BLE001 - recorded as CloudFormation does
                add_event(stack_id, child_name, logical_id, rtype, "DELETE_FAILED", str(exc), pid)
                res["ResourceStatus"] = "DELETE_FAILED"
                failures.append(logical_id)
                continue
            add_event(stack_id, child_name, logical_id, rtype, "DELETE_COMPLETE", physical_id=pid)
            resources.pop(logical_id, None)
        return failures

    # 2. honour DeletionPolicy and record events when a nested stack is deleted
    def _nested_stack_delete(physical_id, props):
        add_event, _ = _events()
        child_name = prov._nested_stack_lookup_name(physical_id)
        child = cloudformation._stacks.get(child_name)
        if not child or child.get("StackStatus") == "DELETE_COMPLETE":
            return
        stack_id = child["StackId"]
        child["StackStatus"] = "DELETE_IN_PROGRESS"
        add_event(stack_id, child_name, child_name, STACK, "DELETE_IN_PROGRESS", physical_id=stack_id)
        failures = _delete_all(child_name, prov._RETAINING_POLICIES)
        if failures:
            reason = f"The following resource(s) failed to delete: [{', '.join(sorted(failures))}]."
            child["StackStatus"] = "DELETE_FAILED"
            child["StackStatusReason"] = reason
            add_event(stack_id, child_name, child_name, STACK, "DELETE_FAILED", reason, stack_id)
            raise RuntimeError(reason)
        for out in child.get("Outputs", []):
            if out.get("ExportName"):
                cloudformation._exports.pop(out["ExportName"], None)
        child["StackStatus"] = "DELETE_COMPLETE"
        child["_resources"] = {}
        add_event(stack_id, child_name, child_name, STACK, "DELETE_COMPLETE", physical_id=stack_id)

    # 3. roll a nested stack back when its creation fails
    original_create = prov._RESOURCE_HANDLERS[STACK]["create"]

    def _nested_stack_create(logical_id, props, stack_name):
        before = set(cloudformation._stacks)
        try:
            return original_create(logical_id, props, stack_name)
        except Exception:
            add_event, _ = _events()
            prefix = f"{stack_name}-{logical_id}-"
            for name in [n for n in list(cloudformation._stacks) if n not in before and n.startswith(prefix)]:
                child = cloudformation._stacks[name]
                stack_id = child["StackId"]
                child["StackStatus"] = "ROLLBACK_IN_PROGRESS"
                add_event(stack_id, name, name, STACK, "ROLLBACK_IN_PROGRESS", "Rollback requested", stack_id)
                # Retain survives the rollback of the create; RetainExceptOnCreate does not.
                failed = _delete_all(name, ("Retain",))
                child["StackStatus"] = "ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE"
                add_event(
                    stack_id, name, name, STACK, child["StackStatus"], "" if failed else "Rollback complete", stack_id
                )
            raise

    prov._cfn_nested_stack_delete = _nested_stack_delete
    prov._RESOURCE_HANDLERS[STACK]["delete"] = _nested_stack_delete
    prov._cfn_nested_stack_create = _nested_stack_create
    prov._RESOURCE_HANDLERS[STACK]["create"] = _nested_stack_create


def main() -> int:
    if version("ministack") != PATCHED_VERSION:
        print(
            f"launch.py: ministack {version('ministack')} is not {PATCHED_VERSION}, the "
            "version these patches were written for; refusing to start",
            file=sys.stderr,
        )
        return 1
    from generator.deploy.ministack import nested_changesets, providers, strictness

    _patch()
    providers.install()
    strictness.install()
    nested_changesets.install()
    from ministack.app import main as ministack_main

    sys.argv = ["ministack"]
    return ministack_main() or 0


if __name__ == "__main__":
    sys.exit(main())
