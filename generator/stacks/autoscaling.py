"""autoscaling: a scalable target per scaled ECS service with target-tracking
policies on average CPU and/or memory utilisation.  One instance per service group that
scales a service (``generator.contract.Part``): ``autoscaling``, ``autoscaling-<group>``."""

from __future__ import annotations

from troposphere import If, Ref, Sub, Template, applicationautoscaling as aas

from generator import naming
from generator.contract import Interface, Part, StackInterface, whole
from generator.spec import Platform
from generator.stacks._base import Stack, image_ready, takes_image_ready

NAME = "autoscaling"


def applies(spec: Platform, part: Part | None = None) -> bool:
    return any(s.scaling for s in (part or whole(spec)).members(spec))


def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    i = Interface()
    for s in (part or whole(spec)).members(spec):
        if s.scaling:
            i.takes(naming.cluster_output(spec.cluster_of(s), "Name"))
            i.takes(naming.service_output(s.name, "Name"))
            takes_image_ready(i, s)
    return i.freeze()


def build(spec: Platform, part: Part | None = None) -> Template:
    part = part or whole(spec)
    st = Stack(part.stack(NAME), "ECS service auto scaling", interface(spec, part))
    for s in part.members(spec):
        sc = s.scaling
        if sc is None:
            continue
        # Until the image is pushed the service runs no task, and scaling may not raise it: the
        # target stays registered with capacity 0..0 (no resource here is conditional, so this
        # stack is never created empty when every scaled service waits for its image).
        ready = image_ready(st, s)
        target = st.add(aas.ScalableTarget(
            naming.logical(s.name, "ScalableTarget"),
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Sub("service/${Cluster}/${Service}",
                           Cluster=st.ref(naming.cluster_output(spec.cluster_of(s), "Name")),
                           Service=st.ref(naming.service_output(s.name, "Name"))),
            MinCapacity=If(ready, sc.min, 0) if ready else sc.min,
            MaxCapacity=If(ready, sc.max, 0) if ready else sc.max,
        ))
        for metric, value in (("CPU", sc.cpu), ("Memory", sc.memory)):
            if value is None:
                continue
            st.add(aas.ScalingPolicy(
                naming.logical(s.name, metric.lower(), "ScalingPolicy"),
                PolicyName=Sub(f"${{AWS::StackName}}-{s.name}-{metric.lower()}"),
                PolicyType="TargetTrackingScaling",
                ScalingTargetId=Ref(target),
                TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                    TargetValue=float(value),
                    ScaleInCooldown=sc.scale_in_cooldown,
                    ScaleOutCooldown=sc.scale_out_cooldown,
                    PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                        PredefinedMetricType=f"ECSServiceAverage{metric}Utilization"),
                ),
            ))
    return st.t
