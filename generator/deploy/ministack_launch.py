"""Run ministack with two nested-stack bug fixes; run by the ministack venv's python.

Usage: .tools/ministack/bin/python generator/deploy/ministack_launch.py

ministack 1.5.33 handles top-level stacks like CloudFormation, but nested stacks differ:

1. Update: it calls ``_update_resource`` without the resource's previous attributes. For a
   resource whose properties did not change that returns no attributes, so any
   ``Fn::GetAtt`` on it later in the same nested stack (an output such as
   ``!GetAtt SecurityGroup.GroupId``) fails the update with "Requested attribute ... does
   not exist in schema", and the rollback then fails too (UPDATE_ROLLBACK_FAILED).
   The fix passes the attributes, as the top-level path does.
2. Delete: it deletes every resource of a nested stack, ignoring DeletionPolicy (Retain,
   Snapshot), and records no events in the nested stack. The fix deletes like the
   top-level path: Retain -> DELETE_SKIPPED, Snapshot -> snapshot then delete, one event
   per resource, DELETE_FAILED (and a failed parent) when a resource cannot be deleted.

Both are exercised by tests/e2e (the fixture's network stack outputs
``!GetAtt DataSecurityGroup.GroupId`` and is updated; its data stack retains EFS, a log
group and an ECR repository). The patches apply only to the version they were written for.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

PATCHED_VERSION = "1.5.33"


def _patch() -> None:
    from ministack.services import cloudformation
    from ministack.services.cloudformation import provisioners

    original = provisioners._update_resource

    def _update_resource(resource_type, physical_id, old_props, new_props, stack_name,
                         logical_id=None, old_attrs=None):
        if old_attrs is None and logical_id is not None:
            stack = cloudformation._stacks.get(stack_name) or {}
            previous = (stack.get("_resources") or {}).get(logical_id) or {}
            if previous.get("PhysicalResourceId") == physical_id:
                old_attrs = previous.get("Attributes")
        return original(resource_type, physical_id, old_props, new_props, stack_name,
                        logical_id, old_attrs)

    provisioners._update_resource = _update_resource

    def _nested_stack_delete(physical_id, props):
        from ministack.services.cloudformation.engine import _topological_sort
        from ministack.services.cloudformation.stacks import _add_event, _resource_policy

        child_name = provisioners._nested_stack_lookup_name(physical_id)
        child = cloudformation._stacks.get(child_name)
        if not child:
            return
        stack_id = child["StackId"]
        resources = child.get("_resources", {})
        template = child.get("_template") or {}
        res_defs = template.get("Resources", {})
        conditions = child.get("_conditions", {})
        child["StackStatus"] = "DELETE_IN_PROGRESS"
        _add_event(stack_id, child_name, child_name, "AWS::CloudFormation::Stack",
                   "DELETE_IN_PROGRESS", physical_id=stack_id)
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
            res_props = res.get("Properties", {})
            policy = _resource_policy(res_defs.get(logical_id), "DeletionPolicy", resources,
                                      child.get("_resolved_params", {}), conditions,
                                      template.get("Mappings", {}), child_name, stack_id)
            if policy in provisioners._RETAINING_POLICIES:
                _add_event(stack_id, child_name, logical_id, rtype, "DELETE_SKIPPED",
                           physical_id=pid)
                resources.pop(logical_id, None)
                continue
            _add_event(stack_id, child_name, logical_id, rtype, "DELETE_IN_PROGRESS",
                       physical_id=pid)
            try:
                if policy == "Snapshot":
                    provisioners._snapshot_resource(rtype, pid, res_props)
                provisioners._delete_resource(rtype, pid, res_props, child_name, logical_id)
            except Exception as exc:  # noqa: BLE001 - recorded like CloudFormation does
                _add_event(stack_id, child_name, logical_id, rtype, "DELETE_FAILED",
                           str(exc), pid)
                res["ResourceStatus"] = "DELETE_FAILED"
                failures.append(logical_id)
                continue
            _add_event(stack_id, child_name, logical_id, rtype, "DELETE_COMPLETE",
                       physical_id=pid)
            resources.pop(logical_id, None)
        if failures:
            reason = ("The following resource(s) failed to delete: "
                      f"[{', '.join(sorted(failures))}].")
            child["StackStatus"] = "DELETE_FAILED"
            child["StackStatusReason"] = reason
            _add_event(stack_id, child_name, child_name, "AWS::CloudFormation::Stack",
                       "DELETE_FAILED", reason, stack_id)
            raise RuntimeError(reason)
        for out in child.get("Outputs", []):
            if out.get("ExportName"):
                cloudformation._exports.pop(out["ExportName"], None)
        child["StackStatus"] = "DELETE_COMPLETE"
        child["_resources"] = {}
        _add_event(stack_id, child_name, child_name, "AWS::CloudFormation::Stack",
                   "DELETE_COMPLETE", physical_id=stack_id)

    provisioners._cfn_nested_stack_delete = _nested_stack_delete
    provisioners._RESOURCE_HANDLERS["AWS::CloudFormation::Stack"]["delete"] = _nested_stack_delete


def main() -> int:
    if version("ministack") == PATCHED_VERSION:
        _patch()
    else:
        print(f"ministack_launch: ministack {version('ministack')} is not {PATCHED_VERSION}; "
              "running it unpatched (re-check the nested-update attribute bug)", file=sys.stderr)
    from ministack.app import main as ministack_main

    sys.argv = ["ministack"]
    return ministack_main() or 0


if __name__ == "__main__":
    sys.exit(main())
