"""autoscaling: a scalable target per scaled ECS service with target-tracking
policies on average CPU and/or memory utilisation.  One instance per service group that
scales a service (``generator.contract.Part``): ``autoscaling``, ``autoscaling-<group>``."""

from __future__ import annotations

from troposphere import FindInMap, If, Ref, Sub, Template
from troposphere import applicationautoscaling as aas

from generator import naming
from generator.contract import Interface, Part, StackInterface, whole
from generator.spec import Platform, Service
from generator.stacks._base import Stack, image_ready, remembered, takes_image_ready

NAME = "autoscaling"


def applies(spec: Platform, part: Part | None = None) -> bool:
    return any(s.scaling for s in (part or whole(spec)).members(spec))


@remembered
def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    i = Interface()
    members = (part or whole(spec)).members(spec)
    if any(s.scaling_by_environment for s in members):
        i.takes("Environment")
    for s in members:
        if s.scaling:
            i.takes(naming.cluster_output(spec.cluster_of(s), "Name"))
            i.takes(naming.service_output(s.name, "Name"))
            takes_image_ready(i, s)
    return i.freeze()


def _capacity(st: Stack, spec: Platform, services: list[Service]) -> None:
    """The Capacity Mapping (by Environment) of the services whose scaling range varies by environment."""
    varied = [s for s in services if s.scaling_by_environment]
    if varied:
        # Mapping values are strings or lists (AWS docs, Mappings syntax).
        st.t.add_mapping(
            "Capacity",
            {
                env: {
                    naming.pascal(s.name, k): str(v)
                    for s in varied
                    for k, v in zip(("Min", "Max"), s.scaling_range(env), strict=True)
                }
                for env in spec.environments
            },
        )


def _bound(st: Stack, s: Service, which: str) -> object:
    """MinCapacity or MaxCapacity of a scaled service: its bound, or its entry in the Capacity Mapping."""
    if s.scaling_by_environment:
        return FindInMap("Capacity", st.ref("Environment"), naming.pascal(s.name, which))
    assert s.scaling
    return s.scaling.min if which == "Min" else s.scaling.max


def build(spec: Platform, part: Part | None = None) -> Template:
    part = part or whole(spec)
    st = Stack(part.stack(NAME), "ECS service auto scaling", interface(spec, part))
    _capacity(st, spec, list(part.members(spec)))
    for s in part.members(spec):
        sc = s.scaling
        if sc is None:
            continue
        # Until the image is pushed the service runs no task, and scaling may not raise it: the
        # target stays registered with capacity 0..0 (no resource here is conditional, so this
        # stack is never created empty when every scaled service waits for its image).
        ready = image_ready(st, s)
        target = st.add(
            aas.ScalableTarget(
                naming.logical(s.name, "ScalableTarget"),
                ServiceNamespace="ecs",
                ScalableDimension="ecs:service:DesiredCount",
                ResourceId=Sub(
                    "service/${Cluster}/${Service}",
                    Cluster=st.ref(naming.cluster_output(spec.cluster_of(s), "Name")),
                    Service=st.ref(naming.service_output(s.name, "Name")),
                ),
                MinCapacity=If(ready, _bound(st, s, "Min"), 0) if ready else _bound(st, s, "Min"),
                MaxCapacity=If(ready, _bound(st, s, "Max"), 0) if ready else _bound(st, s, "Max"),
            )
        )
        for metric, value in (("CPU", sc.cpu), ("Memory", sc.memory)):
            if value is None:
                continue
            st.add(
                aas.ScalingPolicy(
                    naming.logical(s.name, metric.lower(), "ScalingPolicy"),
                    PolicyName=Sub(f"${{AWS::StackName}}-{s.name}-{metric.lower()}"),
                    PolicyType="TargetTrackingScaling",
                    ScalingTargetId=Ref(target),
                    TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                        TargetValue=float(value),
                        ScaleInCooldown=sc.scale_in_cooldown,
                        ScaleOutCooldown=sc.scale_out_cooldown,
                        PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                            PredefinedMetricType=f"ECSServiceAverage{metric}Utilization"
                        ),
                    ),
                )
            )
    return st.t
