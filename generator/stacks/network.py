"""network: VPC, subnet tiers across AZs (carved from VpcCidr with Fn::Cidr), IGW,
NAT gateways per the egress mode, route tables, VPC endpoints (S3 gateway plus
interface endpoints) with their security group, and encrypted VPC flow logs."""

from __future__ import annotations

import ipaddress

import awacs.logs as alogs
import awacs.s3 as as3
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import Cidr, GetAtt, GetAZs, If, Join, NoValue, Parameter, Ref, Select, Sub, Template, ec2
from troposphere import iam as tiam
from troposphere import logs as tlogs

from generator import naming, policies
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import Stack, env_condition, keep, log_group_suppressions
from generator.stacks._base import when as _when

NAME = "network"


def applies(spec: Platform) -> bool:
    return True


LAYER_BUCKET = "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"


def interface_endpoints(spec: Platform) -> list[str]:
    """Every interface endpoint any environment's egress mode needs."""
    return sorted({e for env in spec.environments for e in spec.endpoint_services(spec.network.mode(env))})


def route_table_input(spec: Platform) -> str | None:
    """The existing VPC's route tables the S3 gateway endpoint joins: only with vpc-endpoints egress,
    where S3 (ECR image layers) is reachable through nothing else."""
    return "PrivateRouteTableIds" if spec.network.existing and "vpc-endpoints" in spec.network.modes else None


def used_tiers(spec: Platform) -> set[str]:
    """The tiers some stack places something in: the endpoints', the tasks', the data stores' and
    the load balancers' (an existing VPC's parameters are these tiers' subnets only)."""
    net = spec.network
    used = {net.endpoint_tier, *(spec.subnets_of(s) for s in spec.services)}
    if spec.database is not None:
        used.add(spec.database.subnets or net.default_private_tier)
    if spec.efs is not None:
        used.add(net.default_private_tier)
    if spec.load_balancers and net.public_tier:
        used.add(net.public_tier)
    return used


def parameters(spec: Platform) -> list[Parameter]:
    """The parent parameters of an existing VPC (none when the platform creates its VPC)."""
    net = spec.network
    if not net.existing:
        return []
    out = [Parameter("VpcId", Type="AWS::EC2::VPC::Id", Description=f"ID of the existing VPC (CIDR {net.vpc_cidr})")]
    for t in (t for t in net.tiers if t.name in used_tiers(spec)):
        kind = "public" if t.public else "private"
        out.append(
            Parameter(
                naming.subnets_output(t.name),
                Type="List<AWS::EC2::Subnet::Id>",
                Description=f"Exactly {net.availability_zones} {kind} subnet IDs of tier {t.name} in the existing "
                "VPC, one per Availability Zone, in the same AZ order in every tier",
            )
        )
    rt = route_table_input(spec)
    if rt:
        out.append(
            Parameter(
                rt,
                Type="CommaDelimitedList",
                Description="Route tables of the existing VPC's task subnets: the S3 gateway endpoint is added "
                "to them (they must not have one for S3 already)",
            )
        )
    return out


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    if spec.network.existing:
        # The VPC and its subnets are parent parameters that every stack takes directly.
        i.takes("VpcId", description="ID of the existing VPC")
        i.takes(naming.subnets_output(spec.network.endpoint_tier), "CommaDelimitedList")
        rt = route_table_input(spec)
        if rt:
            i.takes(rt, "CommaDelimitedList", "Route tables of the task subnets (S3 gateway endpoint)")
        i.gives("EndpointSecurityGroupId", "Security group of the interface VPC endpoints")
        return i.freeze()
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("VpcCidr", description="CIDR block of the VPC")
    i.takes("KmsKeyArn", description="CMK for the flow-log group")
    i.gives("VpcId", "VPC ID", public=True)
    for t in spec.network.tiers:
        i.gives(naming.subnets_output(t.name), f"Comma-separated subnet IDs of tier {t.name}", public=True)
    if spec.network.has_private_tier:
        i.gives("PrivateRouteTableIds", "Comma-separated private route table IDs", public=True)
    if spec.network.public_tier:
        i.gives("PublicRouteTableIds", "Comma-separated public route table IDs", public=True)
    if spec.network.nat_count and not spec.network.egress_by_environment:
        i.gives("NatPublicIps", "Comma-separated NAT gateway public IPs", public=True)
    if spec.network.nat_tiers:
        i.gives("NatTierPublicIp", "Public IP of the NAT gateway of the nat tiers", public=True)
    i.gives("EndpointSecurityGroupId", "Security group of the interface VPC endpoints")
    return i.freeze()


def build(spec: Platform) -> Template:  # noqa: C901, PLR0912, PLR0915 - one linear VPC layout
    net = spec.network
    if net.existing:
        st = Stack(NAME, "VPC endpoints in an existing VPC", interface(spec))
        rt = route_table_input(spec)
        _endpoints(
            st,
            spec,
            st.ref("VpcId"),
            st.ref(naming.subnets_output(net.endpoint_tier)),
            st.ref(rt) if rt else None,
        )
        return st.t
    st = Stack(NAME, "VPC, subnets, NAT, routes, VPC endpoints and flow logs", interface(spec))
    vpc = st.add(
        ec2.VPC(
            "Vpc", CidrBlock=st.ref("VpcCidr"), EnableDnsSupport=True, EnableDnsHostnames=True, Tags=naming.tags("vpc")
        )
    )
    azs = range(net.availability_zones)
    vpc_prefix = ipaddress.ip_network(net.vpc_cidr).prefixlen

    subnets: dict[str, list[ec2.Subnet]] = {}
    for tier in net.tiers:
        assert tier.newbits is not None and tier.offset is not None  # a VPC the platform creates (spec.network)
        prefix = vpc_prefix + tier.newbits
        blocks = Cidr(st.ref("VpcCidr"), tier.offset + net.availability_zones, 32 - prefix)
        subnets[tier.name] = [
            st.add(
                ec2.Subnet(
                    naming.logical(tier.name, "Subnet", f"Az{k + 1}"),
                    VpcId=Ref(vpc),
                    CidrBlock=Select(tier.offset + k, blocks),
                    AvailabilityZone=Select(k, GetAZs("")),
                    MapPublicIpOnLaunch=False,
                    Tags=naming.tags(f"{tier.name}-az{k + 1}"),
                )
            )
            for k in azs
        ]

    public_rts: list[ec2.RouteTable] = []
    nats: list[ec2.NatGateway] = []
    if net.public_tier:
        igw = st.add(ec2.InternetGateway("InternetGateway", Tags=naming.tags("igw")))
        attach = st.add(
            ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
        )
        rt = st.add(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=naming.tags("public-rt")))
        public_rts.append(rt)
        st.add(
            ec2.Route(
                "PublicDefaultRoute",
                RouteTableId=Ref(rt),
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=Ref(igw),
                DependsOn=[attach.title],
            )
        )
        for tier in net.tiers:
            if tier.public:
                for k, sn in enumerate(subnets[tier.name]):
                    st.add(
                        ec2.SubnetRouteTableAssociation(
                            naming.logical(tier.name, "Subnet", f"Az{k + 1}", "RouteTableAssociation"),
                            SubnetId=Ref(sn),
                            RouteTableId=Ref(rt),
                        )
                    )
        first_public = subnets[net.public_tier]
        for k in range(net.nat_count):
            cond = env_condition(st, spec, [e for e in spec.environments if net.nats_for(net.mode(e)) > k])
            eip = st.add(
                _when(
                    ec2.EIP(
                        f"NatEipAz{k + 1}",
                        Domain="vpc",
                        DependsOn=[attach.title],
                        Tags=naming.tags(f"nat-eip-az{k + 1}"),
                    ),
                    cond,
                )
            )
            nats.append(
                st.add(
                    _when(
                        ec2.NatGateway(
                            f"NatGatewayAz{k + 1}",
                            AllocationId=GetAtt(eip, "AllocationId"),
                            SubnetId=Ref(first_public[k]),
                            Tags=naming.tags(f"nat-az{k + 1}"),
                        ),
                        cond,
                    )
                )
            )
        if nats and not net.egress_by_environment:
            st.output("NatPublicIps", Join(",", [Ref(f"NatEipAz{k + 1}") for k in range(len(nats))]))
        st.output("PublicRouteTableIds", Join(",", [Ref(r) for r in public_rts]))

    has_nat = env_condition(st, spec, [e for e in spec.environments if net.nats_for(net.mode(e))]) if nats else None
    private_rts = []
    for k in azs if net.has_private_tier else ():
        rt = st.add(
            ec2.RouteTable(f"PrivateRouteTableAz{k + 1}", VpcId=Ref(vpc), Tags=naming.tags(f"private-rt-az{k + 1}"))
        )
        private_rts.append(rt)
        if nats:
            own_envs = [e for e in spec.environments if net.nats_for(net.mode(e)) > k]
            shared_envs = [e for e in spec.environments if 0 < net.nats_for(net.mode(e)) <= k]
            if k == 0 or k >= len(nats):
                target: object = Ref(nats[0])
            elif shared_envs:
                # Some environment with a NAT has none in this AZ (single-nat): it routes to AZ 1's.
                target = If(env_condition(st, spec, own_envs), Ref(nats[k]), Ref(nats[0]))
            else:
                # Every environment this route exists in has a NAT in this AZ: an Fn::If would have a
                # branch no environment takes (cfn-lint W1028).
                target = Ref(nats[k])
            st.add(
                _when(
                    ec2.Route(
                        f"PrivateDefaultRouteAz{k + 1}",
                        RouteTableId=Ref(rt),
                        DestinationCidrBlock="0.0.0.0/0",
                        NatGatewayId=target,
                    ),
                    has_nat,
                )
            )
        for tier in net.tiers:
            if not tier.public and not tier.nat:
                st.add(
                    ec2.SubnetRouteTableAssociation(
                        naming.logical(tier.name, "Subnet", f"Az{k + 1}", "RouteTableAssociation"),
                        SubnetId=Ref(subnets[tier.name][k]),
                        RouteTableId=Ref(rt),
                    )
                )
    if net.has_private_tier:
        st.output("PrivateRouteTableIds", Join(",", [Ref(r) for r in private_rts]))
    nat_rts = _nat_tiers(st, spec, Ref(vpc), subnets)
    # Without a private tier (public-ip egress), the tasks' subnets are public: S3 traffic
    # takes the gateway endpoint on the public route table instead of the internet gateway.
    _endpoints(
        st,
        spec,
        Ref(vpc),
        [Ref(s) for s in subnets[net.endpoint_tier]],
        [Ref(r) for r in (private_rts + nat_rts if net.has_private_tier else public_rts)],
    )

    # Flow logs to a CMK-encrypted log group.
    flow_group = st.add(
        log_group_suppressions(
            keep(
                tlogs.LogGroup(
                    "FlowLogGroup",
                    LogGroupName=naming.flow_log_group_name(),
                    RetentionInDays=net.flow_log_retention_days,
                    KmsKeyId=st.ref("KmsKeyArn"),
                )
            ),
            net.flow_log_retention_days,
        )
    )
    role = st.add(
        tiam.Role(
            "FlowLogRole",
            AssumeRolePolicyDocument=policies.trust("vpc-flow-logs.amazonaws.com"),
            Policies=[
                tiam.Policy(
                    PolicyName="flow-logs-delivery",
                    PolicyDocument=policies.doc(
                        [
                            policies.stmt(
                                "FlowLogsDelivery",
                                [alogs.CreateLogStream, alogs.PutLogEvents, alogs.DescribeLogStreams],
                                [Sub("${Group}:*", Group=GetAtt(flow_group, "Arn"))],
                            )
                        ]
                    ),
                )
            ],
        )
    )
    st.add(
        ec2.FlowLog(
            "VpcFlowLog",
            ResourceId=Ref(vpc),
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="cloud-watch-logs",
            LogGroupName=Ref(flow_group),
            DeliverLogsPermissionArn=GetAtt(role, "Arn"),
        )
    )

    st.output("VpcId", Ref(vpc))
    for tier in net.tiers:
        st.output(naming.subnets_output(tier.name), Join(",", [Ref(s) for s in subnets[tier.name]]))
    return st.t


def _endpoints(st: Stack, spec: Platform, vpc_id: object, subnet_ids: object, route_tables: object) -> None:
    """The endpoint security group, the interface endpoints (with private DNS, in ``subnet_ids``) and
    the S3 gateway endpoint on ``route_tables`` (None: no S3 gateway endpoint)."""
    net = spec.network
    # VPC endpoints: S3 gateway on the task route tables; interface endpoints in the first
    # private tier (else the public one) with private DNS, behind their own security group.
    endpoint_sg = st.add(
        ec2.SecurityGroup(
            "EndpointSecurityGroup",
            GroupDescription="Interface VPC endpoints: HTTPS from task security groups only",
            VpcId=vpc_id,
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(IpProtocol="-1", CidrIp="127.0.0.1/32", Description="No outbound traffic")
            ],
            Tags=naming.tags("endpoints-sg"),
        )
    )
    st.output("EndpointSecurityGroupId", GetAtt(endpoint_sg, "GroupId"))
    endpoint_envs = [e for e in spec.environments if net.mode(e) == "vpc-endpoints"]
    s3_kw: dict[str, object] = {}
    if endpoint_envs:
        # With no NAT, S3 is reachable only through this endpoint: allow the ECR layer
        # bucket and this account's own buckets, nothing else.
        policy = policies.doc(
            [
                Statement(
                    Sid="EcrImageLayers",
                    Effect=Allow,
                    Principal=Principal("*"),
                    Action=[as3.GetObject],
                    Resource=[Sub(LAYER_BUCKET)],
                ),
                Statement(
                    Sid="OwnAccountBuckets",
                    Effect=Allow,
                    Principal=Principal("*"),
                    Action=[as3.GetObject, as3.PutObject, as3.ListBucket, as3.GetBucketLocation],
                    Resource=["*"],
                    Condition=Condition(StringEquals({"aws:ResourceAccount": Sub("${AWS::AccountId}")})),
                ),
            ]
        )
        cond = env_condition(st, spec, endpoint_envs)
        s3_kw["PolicyDocument"] = If(cond, policy, NoValue) if cond else policy
    for svc in interface_endpoints(spec):
        cond = env_condition(st, spec, [e for e in spec.environments if svc in spec.endpoint_services(net.mode(e))])
        st.add(
            _when(
                ec2.VPCEndpoint(
                    naming.logical(svc.replace(".", "-"), "Endpoint"),
                    VpcId=vpc_id,
                    ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{svc}"),
                    VpcEndpointType="Interface",
                    PrivateDnsEnabled=True,
                    SubnetIds=subnet_ids,
                    SecurityGroupIds=[GetAtt(endpoint_sg, "GroupId")],
                ),
                cond,
            )
        )

    if route_tables is None:
        return
    st.add(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=vpc_id,
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            VpcEndpointType="Gateway",
            RouteTableIds=route_tables,
            **s3_kw,
        )
    )


def _nat_tiers(st: Stack, spec: Platform, vpc: object, subnets: dict[str, list[ec2.Subnet]]) -> list[ec2.RouteTable]:
    """The nat tiers of a vpc-endpoints platform: one NAT gateway in the first public subnet (one,
    not one per AZ: the few services that call an outside API share it, and an outage of AZ 1
    cuts their egress; docs/connectivity.md) and one route table sending 0.0.0.0/0 to it for every
    subnet of those tiers.  The other private tiers keep their route tables without a default route."""
    net = spec.network
    if not net.nat_tiers:
        return []
    assert net.public_tier
    eip = st.add(
        ec2.EIP("NatTierEip", Domain="vpc", DependsOn=["InternetGatewayAttachment"], Tags=naming.tags("nat-tier-eip"))
    )
    nat = st.add(
        ec2.NatGateway(
            "NatTierGateway",
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(subnets[net.public_tier][0]),
            Tags=naming.tags("nat-tier"),
        )
    )
    rt = st.add(ec2.RouteTable("NatTierRouteTable", VpcId=vpc, Tags=naming.tags("nat-tier-rt")))
    st.add(
        ec2.Route("NatTierDefaultRoute", RouteTableId=Ref(rt), DestinationCidrBlock="0.0.0.0/0", NatGatewayId=Ref(nat))
    )
    for name in net.nat_tiers:
        for k, sn in enumerate(subnets[name]):
            st.add(
                ec2.SubnetRouteTableAssociation(
                    naming.logical(name, "Subnet", f"Az{k + 1}", "RouteTableAssociation"),
                    SubnetId=Ref(sn),
                    RouteTableId=Ref(rt),
                )
            )
    st.output("NatTierPublicIp", Ref(eip))
    return [rt]
