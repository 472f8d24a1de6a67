"""network: VPC, subnet tiers across AZs (carved from VpcCidr with Fn::Cidr), IGW,
NAT gateways per the egress mode, route tables, VPC endpoints (S3 gateway plus
interface endpoints) with their security group, and encrypted VPC flow logs."""

from __future__ import annotations

import ipaddress

import awacs.logs as alogs
import awacs.s3 as as3
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import Cidr, GetAtt, GetAZs, If, Join, NoValue, Ref, Select, Sub, Template, ec2
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


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("VpcCidr", description="CIDR block of the VPC")
    i.takes("KmsKeyArn", description="CMK for the flow-log group")
    i.gives("VpcId", "VPC ID", public=True)
    for t in spec.network.tiers:
        i.gives(naming.subnets_output(t.name), f"Comma-separated subnet IDs of tier {t.name}", public=True)
    i.gives("PrivateRouteTableIds", "Comma-separated private route table IDs", public=True)
    if spec.network.public_tier:
        i.gives("PublicRouteTableIds", "Comma-separated public route table IDs", public=True)
    if spec.network.nat_count and not spec.network.egress_by_environment:
        i.gives("NatPublicIps", "Comma-separated NAT gateway public IPs", public=True)
    i.gives("EndpointSecurityGroupId", "Security group of the interface VPC endpoints")
    return i.freeze()


def build(spec: Platform) -> Template:  # noqa: PLR0915 - one linear VPC layout
    net = spec.network
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
    for k in azs:
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
            if not tier.public:
                st.add(
                    ec2.SubnetRouteTableAssociation(
                        naming.logical(tier.name, "Subnet", f"Az{k + 1}", "RouteTableAssociation"),
                        SubnetId=Ref(subnets[tier.name][k]),
                        RouteTableId=Ref(rt),
                    )
                )
    st.output("PrivateRouteTableIds", Join(",", [Ref(r) for r in private_rts]))

    # VPC endpoints: S3 gateway on the private route tables; interface endpoints in
    # the default private tier with private DNS, behind their own security group.
    endpoint_sg = st.add(
        ec2.SecurityGroup(
            "EndpointSecurityGroup",
            GroupDescription="Interface VPC endpoints: HTTPS from task security groups only",
            VpcId=Ref(vpc),
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
    st.add(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=Ref(vpc),
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            VpcEndpointType="Gateway",
            RouteTableIds=[Ref(r) for r in private_rts],
            **s3_kw,
        )
    )
    private_subnets = subnets[net.default_private_tier]
    for svc in interface_endpoints(spec):
        cond = env_condition(st, spec, [e for e in spec.environments if svc in spec.endpoint_services(net.mode(e))])
        st.add(
            _when(
                ec2.VPCEndpoint(
                    naming.logical(svc.replace(".", "-"), "Endpoint"),
                    VpcId=Ref(vpc),
                    ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{svc}"),
                    VpcEndpointType="Interface",
                    PrivateDnsEnabled=True,
                    SubnetIds=[Ref(s) for s in private_subnets],
                    SecurityGroupIds=[GetAtt(endpoint_sg, "GroupId")],
                ),
                cond,
            )
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
