"""alb: Application Load Balancers in the public subnets, their target groups (IP
targets with explicit health checks) and listeners.  With a domain, listeners are
HTTPS with a TLS 1.3 policy and port 80 redirects; without one (BaseDomain empty)
they are plain HTTP so the first stage of a two-stage deploy works.

One listener resource per (load balancer, port), present in both stages: its Protocol,
SslPolicy, Certificates and DefaultActions are ``Fn::If [HasDomain, ...]``, so setting
BaseDomain updates it in place (Listener's only create-only property is LoadBalancerArn, per
cfn-lint's resource schema).  Two resources for one port, swapped by the stage's condition,
would fail the change: CloudFormation creates the new listener before it deletes the old one,
and ELB refuses a second listener on a port (DuplicateListener, "A listener already exists on
this port for this load balancer"; https://github.com/aws/aws-cdk/issues/13901).

Listener rules (a target group's ``routes``, generator.spec.routing) are built by
generator.stacks._rules, one per route and listener, and follow their listener's stage.

A declared load balancer past an ALB quota is several ALBs, its shards (generator.lb_placement):
shard 1 is the declared one; an overflow shard ``<name>-<n>`` has the same listeners, whose
default action answers a fixed 404 (no listener default target group can be on it: those stay
on shard 1), the rules of the target groups placed on it, and its own certificate when it
serves record names of the domain (else the declared one's).

Past one template's quotas the ALB resources are several stacks (generator.alb_stacks): ``alb``
first, overflow shards that no longer fit it in ``alb-2``, and the target groups that no longer
fit it (with their rules) in ``alb-<group>``, the stack of their service's group; ``build`` and
``interface`` take the ``AlbStack`` to build."""

from __future__ import annotations

from collections.abc import Mapping

from troposphere import (
    Equals,
    FindInMap,
    GetAtt,
    If,
    Not,
    NoValue,
    Or,
    Ref,
    Sub,
    Template,
    s3,
)
from troposphere import (
    elasticloadbalancingv2 as elb,
)

from generator import naming
from generator.alb_stacks import (
    ACCESS_LOG_BUCKET,
    AlbStack,
    capable,
    cert_input,
    listener_output,
    place,
    public_subnets,
)
from generator.contract import Interface, StackInterface
from generator.lb_placement import Shard, layout
from generator.spec import Listener, LoadBalancer, Platform, TargetGroupSpec
from generator.spec.routing import rules_of
from generator.stacks._base import DEV_ONLY, TLS_POLICY, Stack, log_bucket, suppress
from generator.stacks._rules import listener_rule, to_https
from generator.stacks.security_groups import lb_key

NAME = "alb"
CERT_ELSEWHERE = (
    "The ACM certificate is created in the certificates stack and passed in as {param}; "
    "CT.ELASTICLOADBALANCING.PR.2 only follows same-template certificates."
)
LOGS_ELSEWHERE = (
    "Access logging is on: the bucket is the alb stack's AccessLogBucket (with its log-delivery policy), "
    "passed in as AlbAccessLogBucketName because this ALB did not fit the alb stack; "
    "CT.ELASTICLOADBALANCING.PR.6 follows only a bucket of the same template."
)
NO_DOMAIN_YET = (
    "Plain HTTP only while BaseDomain is empty (Fn::If on condition HasDomain): stage one of the "
    "two-stage deploy, before a certificate can exist. Setting BaseDomain turns this listener into "
    "{stage_two} in place."
)
NO_DOMAIN_IN_SPEC = (
    "The platform spec declares no domain, so no certificate can exist and the load balancer "
    "serves plain HTTP; add a domain section to the spec to get HTTPS and redirects."
)


def applies(spec: Platform) -> bool:
    return bool(spec.load_balancers)


def instances(spec: Platform, group_of: Mapping[str, str]) -> list[AlbStack]:
    """The alb stacks of the platform, ``alb`` first (generator.alb_stacks); ``group_of``:
    service -> its service group."""
    return place(spec, group_of)


def _public(spec: Platform) -> str:
    return public_subnets(spec)


def domain_capable(spec: Platform, lb: LoadBalancer) -> bool:
    return capable(spec, lb)


def cert_of(shard: Shard) -> str:
    """The parameter of the certificate a shard's listeners present: its own when it serves
    record names of the domain (generator.stacks.certificates), else the declared load balancer's."""
    return cert_input(shard)


# An overflow shard's listeners answer what no rule matches as a load balancer without a route
# for it would: 404 (FixedResponseConfig: StatusCode 2XX/4XX/5XX, ContentType text/plain, per
# cfn-lint's AWS::ElasticLoadBalancingV2::Listener schema).
NOT_FOUND = elb.FixedResponseConfig(StatusCode="404", ContentType="text/plain", MessageBody="Not Found")


def _part(spec: Platform, part: AlbStack | None) -> AlbStack:
    """The alb stack to build; None: the alb stack of a platform of one service group."""
    return part if part is not None else place(spec, {})[0]


def interface(spec: Platform, part: AlbStack | None = None) -> StackInterface:
    part = _part(spec, part)
    i = Interface()
    for name in ("Name", "Environment", "VpcId"):
        if name in part.inputs:
            i.takes(name)
    if _public(spec) in part.inputs:
        i.takes(_public(spec), "CommaDelimitedList")
    if "BaseDomain" in part.inputs:
        i.takes("BaseDomain")
    held = set(part.shards)
    for shard in layout(spec).shards:
        lb = shard.balancer
        if naming.sg_output(lb_key(lb.name)) in part.inputs:
            i.takes(naming.sg_output(lb_key(lb.name)))
        if shard.name in held and domain_capable(spec, lb):
            i.takes(cert_of(shard), description="ACM certificate ARN ('' without a domain)")
        for x in sorted(lb.listeners, key=lambda x: x.port):
            arn = listener_output(shard.name, x.port)
            if arn in part.inputs:
                i.takes(arn, description=f"ARN of the {shard.name} load balancer's listener {x.port}")
            if arn in part.listener_outputs:
                i.gives(arn, f"ARN of the {shard.name} load balancer's listener {x.port}")
        if shard.name not in held:
            continue
        for attr, desc in (
            ("DnsName", "DNS name"),
            ("CanonicalHostedZoneId", "hosted zone"),
            ("FullName", "full name (CloudWatch dimension)"),
        ):
            i.gives(naming.lb_output(shard.name, attr), f"{shard.name} load balancer {desc}")
        if shard.primary:
            i.gives(naming.lb_output(lb.name, "Url"), f"Base URL of the {lb.name} load balancer", public=True)
            i.gives(naming.lb_output(lb.name, "Host"), f"Host name clients use for {lb.name}", public=True)
    for tg_name in part.target_groups:
        i.gives(naming.tg_output(tg_name), f"Target group {tg_name}")
    if ACCESS_LOG_BUCKET in part.inputs:
        i.takes(ACCESS_LOG_BUCKET, description="The ALB access-log bucket (in the alb stack)")
    if ACCESS_LOG_BUCKET in part.listener_outputs:
        i.gives(ACCESS_LOG_BUCKET, "ALB access-log bucket, for the shards of later alb stacks")
    return i.freeze()


def build(spec: Platform, part: AlbStack | None = None) -> Template:
    part = _part(spec, part)
    what = "load balancers, target groups and listeners"
    st = Stack(part.name, what if part.first else f"{what} past the alb stack's quotas", interface(spec, part))
    if part.shards:
        st.t.add_condition("IsDev", Equals(st.ref("Environment"), "dev"))
    if "BaseDomain" in part.inputs:
        st.t.add_condition("HasDomain", Not(Equals(st.ref("BaseDomain"), "")))
    mine = set(part.target_groups)
    tgs: dict[str, elb.TargetGroup] = {}
    for s in spec.services:
        for tg in s.target_groups:
            if tg.name not in mine:
                continue
            hc = tg.health_check
            attrs = [
                elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value=str(tg.deregistration_delay))
            ]
            if tg.stickiness_seconds:
                attrs += [
                    elb.TargetGroupAttribute(Key="stickiness.enabled", Value="true"),
                    elb.TargetGroupAttribute(Key="stickiness.type", Value="lb_cookie"),
                    elb.TargetGroupAttribute(
                        Key="stickiness.lb_cookie.duration_seconds", Value=str(tg.stickiness_seconds)
                    ),
                ]
            tgs[tg.name] = st.add(
                elb.TargetGroup(
                    naming.logical(tg.name, "TargetGroup"),
                    TargetType="ip",
                    Protocol="HTTP",
                    Port=tg.container_port,
                    VpcId=st.ref("VpcId"),
                    HealthCheckEnabled=True,
                    HealthCheckProtocol="HTTP",
                    HealthCheckPath=hc.path,
                    HealthCheckPort=str(hc.port) if hc.port else "traffic-port",
                    HealthCheckIntervalSeconds=hc.interval,
                    HealthCheckTimeoutSeconds=hc.timeout,
                    HealthyThresholdCount=hc.healthy_threshold,
                    UnhealthyThresholdCount=hc.unhealthy_threshold,
                    Matcher=elb.Matcher(GrpcCode=hc.matcher)
                    if tg.protocol_version == "GRPC"
                    else elb.Matcher(HttpCode=hc.matcher),
                    TargetGroupAttributes=attrs,
                    Tags=naming.tags(f"tg-{tg.name}"),
                    **({"ProtocolVersion": tg.protocol_version} if tg.protocol_version != "HTTP1" else {}),
                )
            )
            st.output(naming.tg_output(tg.name), Ref(tgs[tg.name]))

    logs_bucket = Ref(_access_log_bucket(st)) if part.first else None
    if logs_bucket is not None and ACCESS_LOG_BUCKET in part.listener_outputs:
        st.output(ACCESS_LOG_BUCKET, logs_bucket)
    routed = [tg for s in spec.services for tg in s.target_groups if tg.name in mine]
    held = set(part.shards)
    for shard in layout(spec).shards:
        here = [tg for tg in routed if tg.name in shard.target_groups]
        if shard.name in held:
            _shard(st, spec, shard, part, logs_bucket or st.ref(ACCESS_LOG_BUCKET), tgs, here)
        elif here:
            arns = {
                x.port: st.ref(listener_output(shard.name, x.port))
                for x in shard.balancer.listeners
                if listener_output(shard.name, x.port) in part.inputs
            }
            _rules(st, spec, shard, arns, tgs, here)
    return st.t


def _rules(  # noqa: PLR0913
    st: Stack,
    spec: Platform,
    shard: Shard,
    listeners: dict[int, object],
    tgs: dict[str, elb.TargetGroup],
    mine: list[TargetGroupSpec],
) -> None:
    """The listener rules of the target groups ``mine`` on ``shard``'s listeners (their ARNs: ``listeners``)."""
    lb = shard.balancer
    capable_ = domain_capable(spec, lb)
    modes = {x.port: x for x in lb.listeners}
    for rule_port, route, target in rules_of(lb, mine):
        st.add(
            listener_rule(shard.name, modes[rule_port], listeners[rule_port], route, Ref(tgs[target.name]), capable_)
        )


def _shard(  # noqa: PLR0913
    st: Stack,
    spec: Platform,
    shard: Shard,
    part: AlbStack,
    logs_bucket: Ref,
    tgs: dict[str, elb.TargetGroup],
    mine: list[TargetGroupSpec],
) -> None:
    """One ALB of a declared load balancer (generator.lb_placement), its listeners and the rules of
    ``mine``, the target groups placed on it that this stack holds."""
    lb = shard.balancer
    # ALB checks it may write before it enables logging: in a later alb stack the bucket policy is
    # complete before the stack starts (it reads the bucket's name from the alb stack).
    after = {"DependsOn": ["AccessLogBucketPolicy"]} if part.first else {}
    alb = st.add(
        suppress(
            elb.LoadBalancer(
                naming.logical(shard.name, "LoadBalancer"),
                **after,
                Type="application",
                Scheme="internet-facing",
                Subnets=st.ref(_public(spec)),
                SecurityGroups=[st.ref(naming.sg_output(lb_key(lb.name)))],
                LoadBalancerAttributes=[
                    elb.LoadBalancerAttributes(Key="routing.http.drop_invalid_header_fields.enabled", Value="true"),
                    elb.LoadBalancerAttributes(Key="routing.http.desync_mitigation_mode", Value="defensive"),
                    elb.LoadBalancerAttributes(Key="idle_timeout.timeout_seconds", Value=str(lb.idle_timeout)),
                    elb.LoadBalancerAttributes(Key="deletion_protection.enabled", Value=If("IsDev", "false", "true")),
                    elb.LoadBalancerAttributes(Key="access_logs.s3.enabled", Value="true"),
                    elb.LoadBalancerAttributes(Key="access_logs.s3.bucket", Value=logs_bucket),
                    elb.LoadBalancerAttributes(Key="access_logs.s3.prefix", Value=shard.name),
                ],
                Tags=naming.tags(f"alb-{shard.name}"),
            ),
            guard={
                "elbv2_deletion_protection_enabled_check": DEV_ONLY,
                **({} if part.first else {"elbv2_logging_enabled_check": LOGS_ELSEWHERE}),
            },
        )
    )
    capable_ = domain_capable(spec, lb)
    listeners = {}
    for x in sorted(lb.listeners, key=lambda x: x.port):
        default = (
            [elb.Action(Type="forward", TargetGroupArn=Ref(tgs[x.target_group]))]
            if shard.primary
            else [elb.Action(Type="fixed-response", FixedResponseConfig=NOT_FOUND)]
        )
        listeners[x.port] = st.add(_listener(st, shard, x, alb, default, capable_))
    _rules(st, spec, shard, {p: Ref(x) for p, x in listeners.items()}, tgs, mine)
    dns = GetAtt(alb, "DNSName")
    if shard.primary:
        _urls(st, lb, capable_, dns)
    st.output(naming.lb_output(shard.name, "DnsName"), dns)
    st.output(naming.lb_output(shard.name, "CanonicalHostedZoneId"), GetAtt(alb, "CanonicalHostedZoneID"))
    st.output(naming.lb_output(shard.name, "FullName"), GetAtt(alb, "LoadBalancerFullName"))
    for x in sorted(lb.listeners, key=lambda x: x.port):
        if listener_output(shard.name, x.port) in part.listener_outputs:
            # An https listener exists only with a domain, and so do its rules (generator.stacks._rules):
            # without one the output is '' and nothing reads it.
            arn = Ref(listeners[x.port])
            st.output(
                listener_output(shard.name, x.port), If("HasDomain", arn, "") if capable_ and x.mode == "https" else arn
            )


def _urls(st: Stack, lb: LoadBalancer, capable: bool, dns: GetAtt) -> None:
    """The declared load balancer's Url and Host (``${lb:NAME:url}``, ``:host``): shard 1's."""
    plain = sorted(x.port for x in lb.listeners if x.mode != "https")
    port = "" if not plain or plain[0] == 80 else f":{plain[0]}"
    http_url = Sub(f"http://${{Dns}}{port}", Dns=dns)
    if capable:
        assert lb.dns_record
        st.output(
            naming.lb_output(lb.name, "Url"),
            If("HasDomain", Sub(f"https://{lb.dns_record}.${{AWS::Region}}.${{BaseDomain}}"), http_url),
        )
        st.output(naming.lb_output(lb.name, "Host"), If("HasDomain", naming.domain_name(lb.dns_record), dns))
    else:
        st.output(naming.lb_output(lb.name, "Url"), http_url)
        st.output(naming.lb_output(lb.name, "Host"), dns)


def _listener(  # noqa: PLR0913
    st: Stack, shard: Shard, x: Listener, alb: elb.LoadBalancer, forward: list[elb.Action], capable: bool
) -> elb.Listener:
    """The one listener of ``shard`` on port ``x.port``, whose default action is ``forward`` (to the
    listener's target group on shard 1, a fixed 404 on an overflow shard).  Modes with a domain:
    ``https`` is HTTPS and exists only with one (condition HasDomain); ``auto`` is HTTPS with one
    and plain HTTP without; ``redirect`` redirects to HTTPS with one and forwards plain HTTP without."""
    lid = naming.logical(shard.name, "Listener", str(x.port))
    if not capable:
        return suppress(
            elb.Listener(lid, LoadBalancerArn=Ref(alb), Port=x.port, Protocol="HTTP", DefaultActions=forward),
            guard={"alb_http_to_https_redirection_check": NO_DOMAIN_IN_SPEC},
            checkov={"CKV_AWS_2": NO_DOMAIN_IN_SPEC, "CKV_AWS_103": NO_DOMAIN_IN_SPEC},
        )
    cert_elsewhere = CERT_ELSEWHERE.format(param=cert_of(shard))
    cert = [elb.Certificate(CertificateArn=st.ref(cert_of(shard)))]
    if x.mode == "https":
        return suppress(
            elb.Listener(
                lid,
                Condition="HasDomain",
                LoadBalancerArn=Ref(alb),
                Port=x.port,
                Protocol="HTTPS",
                SslPolicy=TLS_POLICY,
                Certificates=cert,
                DefaultActions=forward,
            ),
            guard={"elbv2_acm_certificate_required_check": cert_elsewhere},
        )
    if x.mode == "redirect":
        why = NO_DOMAIN_YET.format(stage_two="a redirect to HTTPS on 443")
        # Control Tower ELB.PR.1 reads a literal HTTP protocol and cannot follow the Fn::If of the
        # default action (checkov can: CKV_AWS_2 passes on the redirect branch).
        return suppress(
            elb.Listener(
                lid,
                LoadBalancerArn=Ref(alb),
                Port=x.port,
                Protocol="HTTP",
                DefaultActions=If("HasDomain", to_https(elb.Action), forward),
            ),
            guard={"alb_http_to_https_redirection_check": why},
        )
    # auto. checkov reads the protocol's plain-HTTP branch (CKV_AWS_2, CKV_AWS_103); the project rule
    # stackgen_https_listener_tls_policy accepts exactly this form and checks the HTTPS branch's policy.
    why = NO_DOMAIN_YET.format(stage_two=f"HTTPS with {TLS_POLICY}")
    return suppress(
        elb.Listener(
            lid,
            LoadBalancerArn=Ref(alb),
            Port=x.port,
            Protocol=If("HasDomain", "HTTPS", "HTTP"),
            SslPolicy=If("HasDomain", TLS_POLICY, NoValue),
            Certificates=If("HasDomain", cert, NoValue),
            DefaultActions=forward,
        ),
        checkov={"CKV_AWS_2": why, "CKV_AWS_103": why},
    )


# Regions opened before August 2022 deliver ALB access logs as a per-region Elastic Load
# Balancing account; newer regions use the log-delivery service principal.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
# All of them are in the `aws` partition.
ELB_LOG_ACCOUNTS = {
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-south-1": "718504428378",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "eu-south-1": "635631232127",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
}


def elb_log_principal(account: str) -> str:
    """The whole principal ARN: a bare 12-digit account ID with a leading 0 is read as a number
    by YAML 1.2 readers (CloudFormation's among them), and `aws cloudformation package`
    re-emits it unquoted even when we quote it; an ARN is text to every reader."""
    return f"arn:aws:iam::{account}:root"


def _access_log_bucket(st: Stack) -> s3.Bucket:
    """The ALB access-log bucket, in this template so CT.ELASTICLOADBALANCING.PR.6 can follow it."""
    st.t.add_mapping(
        "ElbLogDelivery", {r: {"Principal": elb_log_principal(a)} for r, a in sorted(ELB_LOG_ACCOUNTS.items())}
    )
    regions = [Equals(Ref("AWS::Region"), r) for r in sorted(ELB_LOG_ACCOUNTS)]
    groups = [
        Or(*regions[i : i + 10]) if len(regions[i : i + 10]) > 1 else regions[i] for i in range(0, len(regions), 10)
    ]
    st.t.add_condition("ElbLogAccountRegion", Or(*groups) if len(groups) > 1 else groups[0])
    principal = If(
        "ElbLogAccountRegion",
        {"AWS": FindInMap("ElbLogDelivery", Ref("AWS::Region"), "Principal")},
        {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
    )
    return log_bucket(
        st,
        "AccessLogBucket",
        "ALB access logs",
        principal,
        Sub("arn:${AWS::Partition}:s3:::${B}/*/AWSLogs/${AWS::AccountId}/*", B=Ref("AccessLogBucket")),
    )
