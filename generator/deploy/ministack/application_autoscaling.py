"""Application Auto Scaling on the emulator: the service API ministack 1.5.33 lacks, and the
CloudFormation providers of AWS::ApplicationAutoScaling::ScalableTarget and ScalingPolicy.

The API (served as ``application-autoscaling``, JSON 1.1) keeps scalable targets and
scaling policies per account and region: RegisterScalableTarget, DescribeScalableTargets,
DeregisterScalableTarget (which deletes the target's policies, as AWS does),
PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy, DescribeScalingActivities
(always empty: nothing scales here). As on AWS, a target for an ECS service that does not
exist, and a policy for a target that is not registered, are refused.

The providers call that API through service_call.call, like a client. Ref of a
ScalableTarget (and GetAtt Id) is ``ResourceId|ScalableDimension|ServiceNamespace``; Ref of
a ScalingPolicy (and GetAtt Arn) is its ARN. ``ScheduledActions`` are not emulated (a
create with them fails with that message; no template uses them).

Runs inside ministack's process: ministack is imported only by install().
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from generator.deploy.ministack.service_call import ServiceError, call, ignore_missing, register

AAS = "application-autoscaling"
_ECS: dict[str, Any] = {}


# --- the service API (state + handlers) ----------------------------------------------------

_AAS_STATE: dict[str, Any] = {}  # "targets"/"policies": ministack AccountRegionScopedDicts


def _aas_response(data: dict | None = None, code: str = "", message: str = "") -> tuple:
    from ministack.core.responses import error_response_json, json_response

    content = "application/x-amz-json-1.1"
    if code:
        return error_response_json(code, message, 400, message_key="Message", content_type=content)
    return json_response(data or {}, content_type=content)


def _target_key(data: dict) -> str:
    return "|".join((data.get("ResourceId", ""), data.get("ScalableDimension", ""), data.get("ServiceNamespace", "")))


def _ecs_service_missing(resource_id: str) -> bool:
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service":
        return True
    svc = _ECS["ecs"]._services.get(f"{parts[1]}/{parts[2]}")
    return not svc or svc.get("status") != "ACTIVE"


def _register_scalable_target(data: dict) -> tuple:
    from ministack.core.responses import get_account_id, get_region

    key, targets = _target_key(data), _AAS_STATE["targets"]
    if data.get("ServiceNamespace") == "ecs" and _ecs_service_missing(data.get("ResourceId", "")):
        return _aas_response(code="ValidationException", message=f"ECS service doesn't exist: {data.get('ResourceId')}")
    target = targets.get(key)
    if target is None:
        if "MinCapacity" not in data or "MaxCapacity" not in data:
            return _aas_response(
                code="ValidationException",
                message=("MinCapacity and MaxCapacity are required to register a new scalable target"),
            )
        arn = (
            f"arn:aws:application-autoscaling:{get_region()}:{get_account_id()}:scalable-target/{uuid.uuid4().hex[:36]}"
        )
        role = (
            f"arn:aws:iam::{get_account_id()}:role/aws-service-role/"
            "ecs.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_ECSService"
        )
        target = {k: data[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        target.update(
            RoleARN=data.get("RoleARN") or role,
            CreationTime=time.time(),
            ScalableTargetARN=arn,
            SuspendedState={
                "DynamicScalingInSuspended": False,
                "DynamicScalingOutSuspended": False,
                "ScheduledScalingSuspended": False,
            },
        )
        targets[key] = target
    for field in ("MinCapacity", "MaxCapacity", "SuspendedState", "RoleARN"):
        if field in data:
            target[field] = data[field]
    if target["MinCapacity"] > target["MaxCapacity"]:
        return _aas_response(
            code="ValidationException", message="Minimum capacity cannot be greater than maximum capacity"
        )
    return _aas_response({"ScalableTargetARN": target["ScalableTargetARN"]})


def _describe_scalable_targets(data: dict) -> tuple:
    found = [
        t
        for t in _AAS_STATE["targets"].values()
        if t["ServiceNamespace"] == data.get("ServiceNamespace")
        and (not data.get("ResourceIds") or t["ResourceId"] in data["ResourceIds"])
        and data.get("ScalableDimension", t["ScalableDimension"]) == t["ScalableDimension"]
    ]
    return _aas_response({"ScalableTargets": found})


def _deregister_scalable_target(data: dict) -> tuple:
    key = _target_key(data)
    if _AAS_STATE["targets"].pop(key, None) is None:
        return _aas_response(code="ObjectNotFoundException", message=f"No scalable target registered for {key}")
    for name in [n for n, p in _AAS_STATE["policies"].items() if _target_key(p) == key]:
        _AAS_STATE["policies"].pop(name)  # AWS deletes a target's policies with it
    return _aas_response({})


def _put_scaling_policy(data: dict) -> tuple:
    from ministack.core.responses import get_account_id, get_region

    key = _target_key(data)
    if key not in _AAS_STATE["targets"]:
        return _aas_response(
            code="ObjectNotFoundException",
            message=(
                f"No scalable target registered for service namespace: {data.get('ServiceNamespace')}"
                f", resource ID: {data.get('ResourceId')}, scalable dimension: "
                f"{data.get('ScalableDimension')}"
            ),
        )
    pkey = f"{key}|{data.get('PolicyName')}"
    policy = _AAS_STATE["policies"].get(pkey)
    arn = (
        policy["PolicyARN"]
        if policy
        else (
            f"arn:aws:autoscaling:{get_region()}:{get_account_id()}:scalingPolicy:{uuid.uuid4()}:"
            f"resource/{data['ServiceNamespace']}/{data['ResourceId']}:policyName/{data['PolicyName']}"
        )
    )
    policy = {
        k: v
        for k, v in data.items()
        if k
        in (
            "PolicyName",
            "ServiceNamespace",
            "ResourceId",
            "ScalableDimension",
            "PolicyType",
            "StepScalingPolicyConfiguration",
            "TargetTrackingScalingPolicyConfiguration",
            "PredictiveScalingPolicyConfiguration",
        )
    }
    policy.update(PolicyARN=arn, CreationTime=time.time(), Alarms=[])
    policy.setdefault("PolicyType", "StepScaling")
    _AAS_STATE["policies"][pkey] = policy
    return _aas_response({"PolicyARN": arn, "Alarms": []})


def _describe_scaling_policies(data: dict) -> tuple:
    found = [
        p
        for p in _AAS_STATE["policies"].values()
        if p["ServiceNamespace"] == data.get("ServiceNamespace")
        and (not data.get("PolicyNames") or p["PolicyName"] in data["PolicyNames"])
        and data.get("ResourceId", p["ResourceId"]) == p["ResourceId"]
        and data.get("ScalableDimension", p["ScalableDimension"]) == p["ScalableDimension"]
    ]
    return _aas_response({"ScalingPolicies": found})


def _delete_scaling_policy(data: dict) -> tuple:
    if _AAS_STATE["policies"].pop(f"{_target_key(data)}|{data.get('PolicyName')}", None) is None:
        return _aas_response(
            code="ObjectNotFoundException", message=f"No scaling policy found for {data.get('PolicyName')}"
        )
    return _aas_response({})


_AAS_ACTIONS = {
    "RegisterScalableTarget": _register_scalable_target,
    "DescribeScalableTargets": _describe_scalable_targets,
    "DeregisterScalableTarget": _deregister_scalable_target,
    "PutScalingPolicy": _put_scaling_policy,
    "DescribeScalingPolicies": _describe_scaling_policies,
    "DeleteScalingPolicy": _delete_scaling_policy,
    "DescribeScalingActivities": lambda data: _aas_response({"ScalingActivities": []}),
}


async def _aas_handle_request(method, path, headers, body, query_params):
    target = headers.get("x-amz-target", "") or headers.get("X-Amz-Target", "")
    handler = _AAS_ACTIONS.get(target.split(".")[-1])
    if handler is None:
        return _aas_response(code="UnknownOperationException", message=f"{target} is not emulated")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return _aas_response(code="SerializationException", message="body is not JSON")
    return handler(data)


# --- the CloudFormation providers ------------------------------------------------------------

_TARGET_FIELDS = ("ServiceNamespace", "ResourceId", "ScalableDimension")


def _target_create(logical_id, props, stack_name):
    if props.get("ScheduledActions"):
        raise ServiceError("ValidationError", "ScheduledActions of a ScalableTarget are not emulated")
    call(
        AAS,
        "RegisterScalableTarget",
        **{k: props.get(k) for k in (*_TARGET_FIELDS, "MinCapacity", "MaxCapacity", "RoleARN", "SuspendedState")},
    )
    # Ref (and GetAtt Id) is "ResourceId|ScalableDimension|ServiceNamespace".
    key = _target_key(props)
    return key, {"Id": key}


def _target_update(key, old_props, new_props, stack_name, logical_id=None):
    return _target_create(logical_id, new_props, stack_name)


def _target_delete(key, props):
    ignore_missing(call, AAS, "DeregisterScalableTarget", **{k: props.get(k) for k in _TARGET_FIELDS})


def _policy_target(props: dict) -> dict:
    if props.get("ScalingTargetId"):
        resource_id, dimension, namespace = str(props["ScalingTargetId"]).split("|")
        return {"ResourceId": resource_id, "ScalableDimension": dimension, "ServiceNamespace": namespace}
    return {k: props.get(k) for k in _TARGET_FIELDS}


def _policy_create(logical_id, props, stack_name):
    answer = call(
        AAS,
        "PutScalingPolicy",
        PolicyName=props.get("PolicyName"),
        PolicyType=props.get("PolicyType"),
        **_policy_target(props),
        **{
            k: props.get(k)
            for k in (
                "StepScalingPolicyConfiguration",
                "TargetTrackingScalingPolicyConfiguration",
                "PredictiveScalingPolicyConfiguration",
            )
        },
    )
    return answer["PolicyARN"], {"Arn": answer["PolicyARN"]}


def _policy_update(arn, old_props, new_props, stack_name, logical_id=None):
    return _policy_create(logical_id, new_props, stack_name)


def _policy_delete(arn, props):
    ignore_missing(call, AAS, "DeleteScalingPolicy", PolicyName=props.get("PolicyName"), **_policy_target(props))


HANDLERS = {
    "AWS::ApplicationAutoScaling::ScalableTarget": {
        "create": _target_create,
        "update": _target_update,
        "delete": _target_delete,
    },
    "AWS::ApplicationAutoScaling::ScalingPolicy": {
        "create": _policy_create,
        "update": _policy_update,
        "delete": _policy_delete,
    },
}


class _Api:
    """What service_call.call dispatches to: the operation handlers."""

    _ACTION_MAP = _AAS_ACTIONS


def install(ecs_module) -> None:
    """Create the state, serve the API, and make it callable in process."""
    from ministack import app
    from ministack.core.responses import AccountRegionScopedDict

    _ECS["ecs"] = ecs_module
    _AAS_STATE.update(targets=AccountRegionScopedDict(), policies=AccountRegionScopedDict())
    register(**{AAS: _Api})
    app.SERVICE_HANDLERS[AAS] = _aas_handle_request
