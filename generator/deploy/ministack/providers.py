"""The resource types ministack 1.5.33 lacks, provided at launch through its own back ends.

ministack 1.5.33 (the newest on PyPI) has no CloudFormation provisioner for the ten types
in PROVIDED below, so CreateChangeSet rejects them ("Unrecognized resource types").
Each provider here creates, updates and deletes its resource by calling ministack's own
service API handlers in process (:func:`call` serializes the request with botocore, as a
client would, and parses the answer), so what a stack creates is what
``aws ec2 describe-security-group-rules``, ``describe-nat-gateways``, ``describe-addresses``,
``describe-flow-logs``, ``aws rds describe-db-proxies``/``describe-db-proxy-targets`` and
``aws ecs describe-clusters`` show.

ministack serves no Application Auto Scaling API at all: application_autoscaling.py adds
the minimal state and handlers for it and the two types' providers, which this module
registers with the others.

Ref and GetAtt return what the CloudFormation reference documents for each type. A change
to a create-only property (CREATE_ONLY) replaces the resource (the engine creates the new
one, then deletes the old); any other change updates it in place. Rules AWS enforces and
ministack's handlers do not are enforced here: a duplicate security-group rule, a NAT
gateway whose EIP does not exist, a scalable target for an ECS service that does not
exist, a scaling policy without a registered target.

Runs inside ministack's process (its venv): ministack is imported only by install().
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from generator import awsfacts
from generator.deploy.ministack import application_autoscaling as aas
from generator.deploy.ministack.service_call import ServiceError, call, ignore_missing

# The types provided here. Their createOnlyProperties come from the one create-only
# lookup, generator.awsfacts (cfn-lint's resource schemas; the launcher passes their
# directory in STACKGEN_CFN_SCHEMAS, since ministack's venv has no cfn-lint).
PROVIDED = (
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::EIP",
    "AWS::EC2::NatGateway",
    "AWS::EC2::FlowLog",
    "AWS::RDS::DBProxy",
    "AWS::RDS::DBProxyTargetGroup",
    "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
)
CREATE_ONLY: dict[str, tuple[str, ...]] = {
    rtype: tuple(sorted(awsfacts.create_only_properties(rtype))) for rtype in PROVIDED
}
TYPES = tuple(sorted(CREATE_ONLY))

_ms: dict[str, Any] = {}  # ministack modules, filled by install()


def _tag_specs(resource_type: str, props: dict) -> list | None:
    tags = props.get("Tags")
    return [{"ResourceType": resource_type, "Tags": tags}] if tags else None


def _retag_ec2(resource_id: str, old: dict, new: dict) -> None:
    old_tags = {t["Key"]: t.get("Value", "") for t in old.get("Tags") or []}
    new_tags = {t["Key"]: t.get("Value", "") for t in new.get("Tags") or []}
    gone = [{"Key": k} for k in old_tags if k not in new_tags]
    if gone:
        call("ec2", "DeleteTags", Resources=[resource_id], Tags=gone)
    if new_tags and new_tags != old_tags:
        call("ec2", "CreateTags", Resources=[resource_id], Tags=[{"Key": k, "Value": v} for k, v in new_tags.items()])


# --- EC2::SecurityGroupIngress / SecurityGroupEgress ----------------------------------------

_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}


def _permission(props: dict, egress: bool) -> dict:
    """The one rule a SecurityGroupIngress/Egress declares, as an IpPermission."""
    prefix = "Destination" if egress else "Source"
    protocol = _PROTOCOLS.get(str(props.get("IpProtocol", "")).lower(), str(props.get("IpProtocol", "")).lower())
    described = {"Description": props["Description"]} if props.get("Description") else {}
    sources = {
        "IpRanges": [{"CidrIp": props["CidrIp"], **described}] if props.get("CidrIp") else [],
        "Ipv6Ranges": ([{"CidrIpv6": props["CidrIpv6"], **described}] if props.get("CidrIpv6") else []),
        "PrefixListIds": (
            [{"PrefixListId": props[f"{prefix}PrefixListId"], **described}]
            if props.get(f"{prefix}PrefixListId")
            else []
        ),
        "UserIdGroupPairs": [],
    }
    group = props.get(f"{prefix}SecurityGroupId") or props.get("SourceSecurityGroupName")
    if group:
        pair = (
            {"GroupId": props[f"{prefix}SecurityGroupId"]}
            if props.get(f"{prefix}SecurityGroupId")
            else {"GroupName": props["SourceSecurityGroupName"]}
        )
        if props.get("SourceSecurityGroupOwnerId"):
            pair["UserId"] = str(props["SourceSecurityGroupOwnerId"])
        sources["UserIdGroupPairs"].append({**pair, **described})
    given = sum(len(v) for v in sources.values())
    if given != 1:
        kind = "Egress" if egress else "Ingress"
        raise ServiceError(
            "ValidationError",
            (
                f"AWS::EC2::SecurityGroup{kind} needs exactly one of CidrIp, CidrIpv6, "
                f"{prefix}PrefixListId or {prefix}SecurityGroupId; got {given}"
            ),
        )
    perm: dict[str, Any] = {"IpProtocol": protocol, **{k: v for k, v in sources.items() if v}}
    if protocol != "-1":
        for port in ("FromPort", "ToPort"):
            if port in props:
                perm[port] = int(props[port])
    return perm


def _same_rule(stored: dict, perm: dict) -> bool:
    """Whether a stored IpPermission already holds the rule ``perm`` declares."""

    def norm(p):
        proto = _PROTOCOLS.get(str(p.get("IpProtocol", "")).lower(), str(p.get("IpProtocol", "")).lower())
        ports = () if proto == "-1" else (p.get("FromPort"), p.get("ToPort"))
        return proto, ports

    if norm(stored) != norm(perm):
        return False
    for key in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"):
        for entry in perm.get(key, []):
            bare = {k: v for k, v in entry.items() if k != "Description"}
            if any(
                {k: v for k, v in e.items() if k != "Description"} == bare
                for e in stored.get(key, [])
                if isinstance(e, dict)
            ):
                return True
    return False


def _rule_provider(egress: bool) -> dict:
    kind = "Egress" if egress else "Ingress"
    store = "IpPermissionsEgress" if egress else "IpPermissions"

    def group_id(props):
        gid = props.get("GroupId")
        if not gid and props.get("GroupName") and not egress:
            gid = next(
                (g["GroupId"] for g in _ms["ec2"]._security_groups.values() if g["GroupName"] == props["GroupName"]), ""
            )
        if not gid or gid not in _ms["ec2"]._security_groups:
            raise ServiceError(
                "InvalidGroup.NotFound", f"The security group '{gid or props.get('GroupName')}' does not exist"
            )
        return gid

    def create(logical_id, props, stack_name):
        gid = group_id(props)
        perm = _permission(props, egress)
        if any(_same_rule(p, perm) for p in _ms["ec2"]._security_groups[gid][store]):
            raise ServiceError(
                "InvalidPermission.Duplicate",
                f"the specified rule {json.dumps(perm, sort_keys=True)} already exists in {gid}",
            )
        answer = call("ec2", f"AuthorizeSecurityGroup{kind}", GroupId=gid, IpPermissions=[perm])
        rule_id = answer["SecurityGroupRules"][0]["SecurityGroupRuleId"]
        return rule_id, {"Id": rule_id, "GroupId": gid}

    def find(rule_id, props):
        group = _ms["ec2"]._security_groups.get(props.get("GroupId", ""))
        for perm in (group or {}).get(store, []):
            if _ms["ec2"]._sg_rule_id(group["GroupId"], egress, perm) == rule_id:
                return perm
        return None

    def update(rule_id, old_props, new_props, stack_name, logical_id=None):
        # Only Description is not create-only: set it on the stored rule.
        perm = find(rule_id, old_props)
        if perm is None:
            raise ServiceError(
                "InvalidSecurityGroupRuleId.NotFound", f"The security group rule '{rule_id}' does not exist"
            )
        for key in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"):
            for entry in perm.get(key, []):
                if new_props.get("Description"):
                    entry["Description"] = new_props["Description"]
                else:
                    entry.pop("Description", None)
        return rule_id, {"Id": rule_id, "GroupId": new_props.get("GroupId", "")}

    def delete(rule_id, props):
        if props.get("GroupId") in _ms["ec2"]._security_groups and find(rule_id, props):
            call("ec2", f"RevokeSecurityGroup{kind}", GroupId=props["GroupId"], SecurityGroupRuleIds=[rule_id])

    return {"create": create, "update": update, "update_with_logical_id": True, "delete": delete}


# --- EC2::EIP, EC2::NatGateway, EC2::FlowLog ------------------------------------------------


def _address(public_ip: str) -> dict | None:
    return next((a for a in _ms["ec2"]._addresses.values() if a["PublicIp"] == public_ip), None)


def _eip_create(logical_id, props, stack_name):
    answer = call(
        "ec2", "AllocateAddress", Domain=props.get("Domain", "vpc"), TagSpecifications=_tag_specs("elastic-ip", props)
    )
    if props.get("InstanceId"):
        call("ec2", "AssociateAddress", AllocationId=answer["AllocationId"], InstanceId=props["InstanceId"])
    # Ref is the public IP; AllocationId and PublicIp are the GetAtt attributes.
    return answer["PublicIp"], {"AllocationId": answer["AllocationId"], "PublicIp": answer["PublicIp"]}


def _eip_update(public_ip, old_props, new_props, stack_name, logical_id=None):
    address = _address(public_ip)
    if address is None:
        raise ServiceError("InvalidAddress.NotFound", f"Address '{public_ip}' not found")
    _retag_ec2(address["AllocationId"], old_props, new_props)
    if old_props.get("InstanceId") != new_props.get("InstanceId"):
        if address.get("AssociationId"):
            call("ec2", "DisassociateAddress", AssociationId=address["AssociationId"])
        if new_props.get("InstanceId"):
            call("ec2", "AssociateAddress", AllocationId=address["AllocationId"], InstanceId=new_props["InstanceId"])
    return public_ip, {"AllocationId": address["AllocationId"], "PublicIp": public_ip}


def _eip_delete(public_ip, props):
    address = _address(public_ip)
    if address is None:
        return
    if address.get("AssociationId"):
        raise ServiceError("InvalidIPAddress.InUse", f"Address {public_ip} is in use ({address['AssociationId']})")
    call("ec2", "ReleaseAddress", AllocationId=address["AllocationId"])


def _nat_create(logical_id, props, stack_name):
    ec2 = _ms["ec2"]
    if props.get("SubnetId") not in ec2._subnets:
        raise ServiceError("InvalidSubnetID.NotFound", f"The subnet ID '{props.get('SubnetId')}' does not exist")
    connectivity = props.get("ConnectivityType", "public")
    allocation = props.get("AllocationId")
    if connectivity == "public":
        address = ec2._addresses.get(allocation or "")
        if address is None:
            raise ServiceError("InvalidAllocationID.NotFound", f"The allocation ID '{allocation}' does not exist")
        if address.get("AssociationId"):
            raise ServiceError("Resource.AlreadyAssociated", f"Elastic IP address [{allocation}] is already associated")
    answer = call(
        "ec2",
        "CreateNatGateway",
        SubnetId=props["SubnetId"],
        AllocationId=allocation,
        ConnectivityType=connectivity,
        PrivateIpAddress=props.get("PrivateIpAddress"),
        TagSpecifications=_tag_specs("natgateway", props),
    )
    nat_id = answer["NatGateway"]["NatGatewayId"]
    if allocation:
        ec2._addresses[allocation]["AssociationId"] = f"eipassoc-{uuid.uuid4().hex[:17]}"
        ec2._nat_gateways[nat_id]["Addresses"] = [
            {"AllocationId": allocation, "PublicIp": ec2._addresses[allocation]["PublicIp"]}
        ]
    return nat_id, {"NatGatewayId": nat_id}


def _nat_update(nat_id, old_props, new_props, stack_name, logical_id=None):
    _retag_ec2(nat_id, old_props, new_props)
    return nat_id, {"NatGatewayId": nat_id}


def _nat_delete(nat_id, props):
    ec2 = _ms["ec2"]
    nat = ec2._nat_gateways.get(nat_id)
    if nat is None or nat["State"] == "deleted":
        return
    call("ec2", "DeleteNatGateway", NatGatewayId=nat_id)
    for entry in nat.get("Addresses", []):  # the EIP is free again
        address = ec2._addresses.get(entry["AllocationId"])
        if address:
            address["AssociationId"] = None


def _flow_log_create(logical_id, props, stack_name):
    ec2 = _ms["ec2"]
    rtype, rid = props.get("ResourceType", ""), props.get("ResourceId", "")
    known = {"VPC": ec2._vpcs, "Subnet": ec2._subnets, "NetworkInterface": ec2._network_interfaces}
    if rtype in known and rid not in known[rtype]:
        raise ServiceError(f"Invalid{rtype}ID.NotFound", f"The {rtype} ID '{rid}' does not exist")
    answer = call(
        "ec2",
        "CreateFlowLogs",
        ResourceIds=[rid],
        ResourceType=rtype,
        TrafficType=props.get("TrafficType"),
        LogGroupName=props.get("LogGroupName"),
        LogDestination=props.get("LogDestination"),
        LogDestinationType=props.get("LogDestinationType"),
        DeliverLogsPermissionArn=props.get("DeliverLogsPermissionArn"),
        LogFormat=props.get("LogFormat"),
        MaxAggregationInterval=props.get("MaxAggregationInterval"),
        TagSpecifications=_tag_specs("vpc-flow-log", props),
    )
    if answer.get("Unsuccessful"):
        raise ServiceError("FlowLogCreateFailed", json.dumps(answer["Unsuccessful"]))
    fl_id = answer["FlowLogIds"][0]
    return fl_id, {"Id": fl_id}


def _flow_log_update(fl_id, old_props, new_props, stack_name, logical_id=None):
    _retag_ec2(fl_id, old_props, new_props)
    return fl_id, {"Id": fl_id}


def _flow_log_delete(fl_id, props):
    if fl_id in _ms["ec2"]._flow_logs:
        call("ec2", "DeleteFlowLogs", FlowLogIds=[fl_id])


# --- RDS::DBProxy, RDS::DBProxyTargetGroup --------------------------------------------------


def _proxy_attrs(name: str) -> dict:
    proxy = call("rds", "DescribeDBProxies", DBProxyName=name)["DBProxies"][0]
    return {"DBProxyArn": proxy["DBProxyArn"], "Endpoint": proxy["Endpoint"], "VpcId": proxy["VpcId"]}


def _proxy_create(logical_id, props, stack_name):
    name = props.get("DBProxyName")
    call(
        "rds",
        "CreateDBProxy",
        **{
            k: props.get(k)
            for k in (
                "DBProxyName",
                "EngineFamily",
                "Auth",
                "RoleArn",
                "VpcSubnetIds",
                "VpcSecurityGroupIds",
                "RequireTLS",
                "IdleClientTimeout",
                "DebugLogging",
                "DefaultAuthScheme",
                "EndpointNetworkType",
                "TargetConnectionNetworkType",
                "Tags",
            )
        },
    )
    return name, _proxy_attrs(name)


def _proxy_update(name, old_props, new_props, stack_name, logical_id=None):
    call(
        "rds",
        "ModifyDBProxy",
        DBProxyName=name,
        Auth=new_props.get("Auth"),
        RequireTLS=new_props.get("RequireTLS", False),
        IdleClientTimeout=new_props.get("IdleClientTimeout", 1800),
        DebugLogging=new_props.get("DebugLogging", False),
        RoleArn=new_props.get("RoleArn"),
        SecurityGroups=new_props.get("VpcSecurityGroupIds"),
        DefaultAuthScheme=new_props.get("DefaultAuthScheme"),
    )
    attrs = _proxy_attrs(name)
    old_tags = {t["Key"]: t.get("Value", "") for t in old_props.get("Tags") or []}
    new_tags = {t["Key"]: t.get("Value", "") for t in new_props.get("Tags") or []}
    if old_tags.keys() - new_tags.keys():
        call(
            "rds",
            "RemoveTagsFromResource",
            ResourceName=attrs["DBProxyArn"],
            TagKeys=sorted(old_tags.keys() - new_tags.keys()),
        )
    if new_tags != old_tags and new_tags:
        call(
            "rds",
            "AddTagsToResource",
            ResourceName=attrs["DBProxyArn"],
            Tags=[{"Key": k, "Value": v} for k, v in new_tags.items()],
        )
    return name, attrs


def _proxy_delete(name, props):
    ignore_missing(call, "rds", "DeleteDBProxy", DBProxyName=name)


def _targets(props: dict) -> dict:
    return {
        "DBClusterIdentifiers": props.get("DBClusterIdentifiers") or None,
        "DBInstanceIdentifiers": props.get("DBInstanceIdentifiers") or None,
    }


def _proxy_tg_create(logical_id, props, stack_name):
    name, group = props.get("DBProxyName"), props.get("TargetGroupName")
    if group != "default":  # an RDS proxy has one target group, "default"
        raise ServiceError("DBProxyTargetGroupNotFoundFault", f"The specified target group {group} doesn't exist")
    if props.get("ConnectionPoolConfigurationInfo"):
        call(
            "rds",
            "ModifyDBProxyTargetGroup",
            DBProxyName=name,
            TargetGroupName=group,
            ConnectionPoolConfig=props["ConnectionPoolConfigurationInfo"],
        )
    if any(_targets(props).values()):
        call("rds", "RegisterDBProxyTargets", DBProxyName=name, TargetGroupName=group, **_targets(props))
    arn = call("rds", "DescribeDBProxyTargetGroups", DBProxyName=name, TargetGroupName=group)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    return arn, {"TargetGroupArn": arn}


def _proxy_tg_update(arn, old_props, new_props, stack_name, logical_id=None):
    name, group = new_props["DBProxyName"], new_props["TargetGroupName"]
    if new_props.get("ConnectionPoolConfigurationInfo") != old_props.get("ConnectionPoolConfigurationInfo"):
        call(
            "rds",
            "ModifyDBProxyTargetGroup",
            DBProxyName=name,
            TargetGroupName=group,
            ConnectionPoolConfig=new_props.get("ConnectionPoolConfigurationInfo") or {},
        )
    old, new = _targets(old_props), _targets(new_props)
    gone = {k: sorted(set(old[k] or []) - set(new[k] or [])) or None for k in old}
    added = {k: sorted(set(new[k] or []) - set(old[k] or [])) or None for k in new}
    if any(gone.values()):
        call("rds", "DeregisterDBProxyTargets", DBProxyName=name, TargetGroupName=group, **gone)
    if any(added.values()):
        call("rds", "RegisterDBProxyTargets", DBProxyName=name, TargetGroupName=group, **added)
    return arn, {"TargetGroupArn": arn}


def _proxy_tg_delete(arn, props):
    if any(_targets(props).values()):
        ignore_missing(
            call,
            "rds",
            "DeregisterDBProxyTargets",
            DBProxyName=props.get("DBProxyName"),
            TargetGroupName=props.get("TargetGroupName"),
            **_targets(props),
        )


# --- ECS::ClusterCapacityProviderAssociations -----------------------------------------------


def _strategy(props: dict) -> list:
    return [
        {"capacityProvider": s.get("CapacityProvider"), "weight": s.get("Weight", 0), "base": s.get("Base", 0)}
        for s in props.get("DefaultCapacityProviderStrategy") or []
    ]


def _ccpa_create(logical_id, props, stack_name):
    call(
        "ecs",
        "PutClusterCapacityProviders",
        cluster=props.get("Cluster"),
        capacityProviders=props.get("CapacityProviders") or [],
        defaultCapacityProviderStrategy=_strategy(props),
    )
    return props.get("Cluster"), {}


def _ccpa_update(cluster, old_props, new_props, stack_name, logical_id=None):
    return _ccpa_create(logical_id, new_props, stack_name)


def _ccpa_delete(cluster, props):
    ignore_missing(
        call,
        "ecs",
        "PutClusterCapacityProviders",
        cluster=cluster,
        capacityProviders=[],
        defaultCapacityProviderStrategy=[],
    )


# --- registration ------------------------------------------------------------------------------

HANDLERS = {
    "AWS::EC2::SecurityGroupIngress": _rule_provider(egress=False),
    "AWS::EC2::SecurityGroupEgress": _rule_provider(egress=True),
    "AWS::EC2::EIP": {"create": _eip_create, "update": _eip_update, "delete": _eip_delete},
    "AWS::EC2::NatGateway": {"create": _nat_create, "update": _nat_update, "delete": _nat_delete},
    "AWS::EC2::FlowLog": {"create": _flow_log_create, "update": _flow_log_update, "delete": _flow_log_delete},
    "AWS::RDS::DBProxy": {"create": _proxy_create, "update": _proxy_update, "delete": _proxy_delete},
    "AWS::RDS::DBProxyTargetGroup": {
        "create": _proxy_tg_create,
        "update": _proxy_tg_update,
        "delete": _proxy_tg_delete,
    },
    "AWS::ECS::ClusterCapacityProviderAssociations": {
        "create": _ccpa_create,
        "update": _ccpa_update,
        "delete": _ccpa_delete,
    },
    **aas.HANDLERS,
}


def install() -> None:
    """Register the providers and the Application Auto Scaling API in ministack."""
    from ministack.services import ec2, ecs, rds
    from ministack.services.cloudformation import provisioners as prov

    from generator.deploy.ministack import service_call

    _ms.update(ec2=ec2, ecs=ecs, rds=rds)
    service_call.register(ec2=ec2, ecs=ecs, rds=rds)
    aas.install(ecs)
    for rtype, handler in HANDLERS.items():
        assert rtype not in prov._RESOURCE_HANDLERS, f"ministack now provides {rtype}"
        handler = dict(handler)
        if "update_with_logical_id" not in handler:
            handler["update_with_logical_id"] = True
        prov._RESOURCE_HANDLERS[rtype] = handler
        prov._REPLACING_PROPERTIES[rtype] = CREATE_ONLY[rtype]
