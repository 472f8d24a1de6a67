"""AWS rules that ministack 1.5.33 does not enforce, enforced at launch.

Each rule below was checked against ministack first (a stack that breaks it was created,
deleted or updated and the result compared with what AWS documents); only the ones where
ministack differed are here. tests/e2e/test_e2e_strictness.py has the failing and the
passing case of each (rule 7: tests/e2e/test_e2e_listener_stages.py).

1. AlreadyExists. A create whose explicit physical name already exists fails, as
   CloudFormation's does ("Resource of type 'T' with identifier 'N' already exists."),
   including a resource that an earlier delete of the same stack retained. ministack
   overwrote (or silently adopted) log groups, ECR repositories, Secrets Manager secrets
   (also one scheduled for deletion), ECS clusters, IAM roles and KMS aliases. SSM
   parameters, S3 buckets and ECS services already fail there.
2. Deletion protection. A DBCluster or DBInstance with DeletionProtection on, or a load
   balancer with ``deletion_protection.enabled``, cannot be deleted: the delete fails
   (DELETE_FAILED), with RDS's and ELB's own error text. ministack deleted them.
3. Snapshot on replace. ``UpdateReplacePolicy: Snapshot`` takes a final snapshot of the
   resource a replacement supersedes (top-level and nested stacks), as the DeletionPolicy
   does on a delete. ministack deleted it without one.
4. Container secrets. ``Secrets`` (and every other nested member of a container
   definition: HealthCheck, LinuxParameters, DependsOn, ...) reach the ECS task definition
   in the API's camelCase; ministack only converted a few members, so
   ``describe-task-definition`` showed ``secrets: [{}]``.
5. A service whose target group no listener forwards to fails to create: "The target group
   with targetGroupArn ... does not have an associated load balancer." (ECS
   InvalidParameterException). ministack accepted it.
6. Ref of an AWS::SecretsManager::Secret is its ARN, as CloudFormation documents; ministack
   returned the name, so a task definition's ``valueFrom: !Ref Secret`` (or ``${Arn}:key::``)
   held a name, which ECS and IAM read as an SSM parameter. The secret's physical id is now
   its ARN; its update and delete handlers get the name back from the ARN.
7. DuplicateListener. A listener on a port its load balancer already listens on fails to
   create: "A listener already exists on this port for this load balancer '<arn>'" (ELB
   CreateListener's DuplicateListener error; the terraform report hashicorp/terraform#26407
   quotes it). This is what breaks a stack update that swaps one listener resource for
   another on the same port: CloudFormation creates the new one before it deletes the old
   one (aws/aws-cdk#13901). ministack accepted a second listener on the port. (ELB returns
   the existing listener when every setting is identical; CloudFormation would then delete
   it with the old resource, so no template may rely on that, and the rule refuses it too.)
8. A schedule's ECS network configuration. CloudFormation's ``AWS::Scheduler::Schedule``
   writes ``Target.EcsParameters.NetworkConfiguration.AwsvpcConfiguration``; the Scheduler
   API (CreateSchedule, GetSchedule) names it ``awsvpcConfiguration``, as CloudFormation
   passes it on. ministack stored the template's spelling, so ``get-schedule`` had no
   ``awsvpcConfiguration`` and a scheduled task looked as if it had no subnets.

Runs inside ministack's process: ministack is imported only by install().
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# Type -> the property holding its explicit physical name (rule 1).
NAMED_TYPES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Alias": "AliasName",
}
# Container-definition members whose keys are the user's, not the API's (rule 4).
_USER_KEYED = ("options", "dockerLabels", "systemControls")

_ms: dict[str, Any] = {}


def _exists(rtype: str, name: str) -> bool:
    ms = _ms
    if rtype == "AWS::Logs::LogGroup":
        return name in ms["logs"]._log_groups
    if rtype == "AWS::ECR::Repository":
        return name in ms["ecr"]._repositories
    if rtype == "AWS::SecretsManager::Secret":  # a secret pending deletion blocks it too
        return name in ms["sm"]._secrets
    if rtype == "AWS::ECS::Cluster":
        return (ms["ecs"]._clusters.get(name) or {}).get("status") == "ACTIVE"
    if rtype == "AWS::IAM::Role":
        return name in ms["iam"]._roles
    if rtype == "AWS::KMS::Alias":
        return ms["kms"]._alias_arn(name) in ms["kms"]._aliases
    raise KeyError(rtype)


def _refuse_existing(rtype: str, create):
    prop = NAMED_TYPES[rtype]

    def checked(logical_id, props, stack_name):
        name = props.get(prop)
        if name and _exists(rtype, str(name)):
            raise ValueError(f"Resource of type '{rtype}' with identifier '{name}' already exists.")
        return create(logical_id, props, stack_name)

    return checked


def _protected(rtype: str, physical_id: str) -> str | None:
    """The error a delete of this resource gets on AWS while deletion protection is on."""
    ms = _ms
    if rtype == "AWS::RDS::DBCluster":
        if (ms["rds"]._clusters.get(physical_id) or {}).get("DeletionProtection"):
            return (
                "Cannot delete protected Cluster, please disable deletion protection "
                "and try again. (Service: Rds, Status Code: 400, "
                "InvalidParameterCombination)"
            )
    elif rtype == "AWS::RDS::DBInstance":
        if (ms["rds"]._instances.get(physical_id) or {}).get("DeletionProtection"):
            return (
                "Cannot delete protected DB Instance, please disable deletion protection "
                "and try again. (Service: Rds, Status Code: 400, "
                "InvalidParameterCombination)"
            )
    elif rtype == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        attrs = ms["alb"]._lb_attrs.get(physical_id) or []
        if any(a.get("Key") == "deletion_protection.enabled" and str(a.get("Value")).lower() == "true" for a in attrs):
            return (
                f"Load balancer '{physical_id}' cannot be deleted because deletion "
                "protection is enabled (Service: ElasticLoadBalancingV2, "
                "OperationNotPermitted)"
            )
    return None


def _refuse_protected(rtype: str, delete):
    def checked(physical_id, props, *rest):
        reason = _protected(rtype, physical_id)
        if reason:
            raise ValueError(reason)
        return delete(physical_id, props, *rest)

    return checked


def _camel(value, user_keyed: bool = False):
    if isinstance(value, dict):
        return {
            (k if user_keyed else k[:1].lower() + k[1:]): _camel(v, (k[:1].lower() + k[1:]) in _USER_KEYED)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _normalize_container_defs(original):
    def normalize(cdefs):
        return [_camel(c) for c in original(cdefs)]

    return normalize


def _forwards_to(tg_arn: str) -> bool:
    """Whether a listener (its default actions or a rule) forwards to the target group."""
    alb = _ms["alb"]
    listeners = dict(alb._listeners.items())
    for listener in listeners.values():
        if tg_arn in json.dumps(listener.get("DefaultActions", [])):
            return True
    return any(
        rule.get("ListenerArn") in listeners and tg_arn in json.dumps(rule.get("Actions"))
        for rule in alb._rules.values()
    )


def _refuse_unattached_target_group(create):
    def checked(logical_id, props, stack_name):
        for lb in props.get("LoadBalancers") or []:
            arn = lb.get("TargetGroupArn")
            if arn and not _forwards_to(arn):
                raise ValueError(
                    f"Invalid request provided: CreateService error: The target group with "
                    f"targetGroupArn {arn} does not have an associated load balancer. "
                    "(Service: Ecs, Status Code: 400, InvalidParameterException)"
                )
        return create(logical_id, props, stack_name)

    return checked


def _refuse_duplicate_listener(create):
    """Rule 7: one listener per (load balancer, port)."""

    def checked(logical_id, props, stack_name):
        lb_arn = props.get("LoadBalancerArn", "")
        port = int(props.get("Port", 80) or 80)
        if any(
            x.get("LoadBalancerArn") == lb_arn and int(x.get("Port") or 0) == port
            for x in list(_ms["alb"]._listeners.values())
        ):
            raise ValueError(
                f"A listener already exists on this port for this load balancer '{lb_arn}' "
                "(Service: ElasticLoadBalancingV2, Status Code: 400, DuplicateListener)"
            )
        return create(logical_id, props, stack_name)

    return checked


def _snapshot_on_replace(update, lookup_policy):
    """Wrap an ``_update_resource``: when the update replaces a resource whose
    UpdateReplacePolicy is Snapshot, snapshot the old one first (it still exists)."""
    prov = _ms["prov"]

    def wrapped(resource_type, physical_id, old_props, new_props, stack_name, logical_id=None, old_attrs=None):
        if (
            logical_id
            and old_props != new_props
            and resource_type in ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance")
            and prov._replacing_change(resource_type, old_props, new_props)
            and lookup_policy(stack_name, logical_id) == "Snapshot"
        ):
            prov._snapshot_resource(resource_type, physical_id, old_props)
        return update(resource_type, physical_id, old_props, new_props, stack_name, logical_id, old_attrs)

    return wrapped


def _policy_lookup(stack_name: str, logical_id: str) -> str | None:
    from ministack.services import cloudformation
    from ministack.services.cloudformation.stacks import _resource_policy

    stack = cloudformation._stacks.get(stack_name) or {}
    template = stack.get("_template") or {}
    res_def = (template.get("Resources") or {}).get(logical_id)
    if not res_def:
        return None
    return _resource_policy(
        res_def,
        "UpdateReplacePolicy",
        stack.get("_resources", {}),
        stack.get("_resolved_params", {}),
        stack.get("_conditions", {}),
        template.get("Mappings", {}),
        stack_name,
        stack.get("StackId", ""),
    )


def _secret_by_arn(handlers: dict) -> None:
    """Rule 6: the secret's physical id (its Ref) is the ARN."""
    sm = _ms["sm"]
    create, update, delete = handlers["create"], handlers["update"], handlers["delete"]

    def name(physical_id: str) -> str:
        key, _ = sm._resolve(physical_id)
        return key or physical_id

    def created(logical_id, props, stack_name):
        _, attrs = create(logical_id, props, stack_name)
        return attrs["Arn"], attrs

    def updated(physical_id, old_props, new_props, stack_name, logical_id=None):
        new_id, attrs = update(name(physical_id), old_props, new_props, stack_name, logical_id)
        return attrs.get("Arn") or new_id, attrs

    def deleted(physical_id, props, *rest):
        return delete(name(physical_id), props, *rest)

    handlers.update(create=created, update=updated, delete=deleted)


def scheduler_target(target: Any) -> Any:
    """A schedule's Target as the Scheduler API holds it: the network configuration's
    ``AwsvpcConfiguration`` (CloudFormation's spelling) becomes ``awsvpcConfiguration``."""
    if not isinstance(target, dict) or not isinstance(target.get("EcsParameters"), dict):
        return target
    ecs = dict(target["EcsParameters"])
    net = ecs.get("NetworkConfiguration")
    if isinstance(net, dict) and "AwsvpcConfiguration" in net:
        net = {("awsvpcConfiguration" if k == "AwsvpcConfiguration" else k): v for k, v in net.items()}
        ecs["NetworkConfiguration"] = net
    return {**target, "EcsParameters": ecs}


def _schedule_as_the_api_holds_it(
    create: Callable[..., Any], update: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def with_target(props: Any) -> Any:
        return (
            {**props, "Target": scheduler_target(props["Target"])}
            if isinstance(props, dict) and "Target" in props
            else props
        )

    def create_(logical_id: str, props: Any, stack_name: str) -> Any:
        return create(logical_id, with_target(props), stack_name)

    def update_(physical_id: str, old_props: Any, new_props: Any, *args: Any, **kw: Any) -> Any:
        return update(physical_id, with_target(old_props), with_target(new_props), *args, **kw)

    return create_, update_


def install() -> None:
    from ministack.services import alb, cloudwatch_logs, ecr, ecs, iam, kms, rds, secretsmanager
    from ministack.services.cloudformation import provisioners as prov
    from ministack.services.cloudformation import stacks

    _ms.update(logs=cloudwatch_logs, ecr=ecr, sm=secretsmanager, ecs=ecs, iam=iam, kms=kms, rds=rds, alb=alb, prov=prov)
    handlers = prov._RESOURCE_HANDLERS
    for rtype in NAMED_TYPES:
        handlers[rtype]["create"] = _refuse_existing(rtype, handlers[rtype]["create"])
    for rtype in ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::ElasticLoadBalancingV2::LoadBalancer"):
        handlers[rtype]["delete"] = _refuse_protected(rtype, handlers[rtype]["delete"])
    prov._normalize_container_defs = _normalize_container_defs(prov._normalize_container_defs)
    _secret_by_arn(handlers["AWS::SecretsManager::Secret"])
    service = handlers["AWS::ECS::Service"]
    service["create"] = _refuse_unattached_target_group(service["create"])
    listener = handlers["AWS::ElasticLoadBalancingV2::Listener"]
    listener["create"] = _refuse_duplicate_listener(listener["create"])
    schedule = handlers["AWS::Scheduler::Schedule"]
    schedule["create"], schedule["update"] = _schedule_as_the_api_holds_it(schedule["create"], schedule["update"])
    prov._update_resource = _snapshot_on_replace(prov._update_resource, _policy_lookup)
    stacks._update_resource = _snapshot_on_replace(stacks._update_resource, _policy_lookup)
