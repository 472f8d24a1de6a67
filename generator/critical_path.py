"""The estimated critical path of a platform's first create, from the parent's graph.

CloudFormation creates a nested stack once every stack it depends on (``DependsOn``, or a
``Fn::GetAtt`` of its outputs) is complete, and stacks without such an edge in parallel.
With a typical create time per nested stack, the longest path through that graph is the
time until the last stack is complete, and each ``services*`` stack's finish time is when
its services are stable (CloudFormation waits for an ECS service's steady state).

``TYPICAL_MINUTES`` is the one table of those times.  AWS publishes none; the figures and
their sources are ``../shared/reference/performance-and-limits.md`` section 6, and where it
has none, a labelled estimate (a stack of IAM roles, security groups, log groups or alarms
is created in seconds to a minute).  They are estimates to compare layouts with, not
promises: ``make bench`` prints them per platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.cfn.refs import depends_on, references
from generator.deployability import rootset

# (typical minutes, source) per nested stack module, by the stack's name without its group.
PERF = "../shared/reference/performance-and-limits.md section 6"
ESTIMATE = "estimate: no published figure; resources of this kind are created in seconds to a minute"
TYPICAL_MINUTES: dict[str, tuple[float, str]] = {
    "secrets": (1.0, f"{ESTIMATE} (a KMS key and secrets)"),
    "network": (
        3.5,
        f"{PERF}: NAT gateway 2-5 min (kubernetes/kops PR #944 'up to 10 min'; the SDK "
        "NatGatewayAvailable waiter allows 10 min; hashicorp/terraform #8687 still creating at 3m40s)",
    ),
    "security-groups": (1.0, ESTIMATE),
    "efs": (
        3.0,
        "EFS mount targets: AWS recommends waiting 90 s after creating one before mounting "
        "(docs.aws.amazon.com/efs/latest/ug/mounting-fs-mount-cmd-dns-name.html); creating one can "
        "take over 10 min (hashicorp/terraform-provider-aws #15278); estimate 3 min",
    ),
    "storage": (1.0, ESTIMATE),
    "ecr": (1.0, ESTIMATE),
    "ecs-cluster": (1.0, ESTIMATE),
    "iam": (1.0, f"{ESTIMATE} (IAM roles)"),
    "database": (
        12.5,
        f"{PERF}: Aurora cluster + instance 10-15 min (tungbq/aws-lab-with-terraform #100: "
        "instance operations about 12 min)",
    ),
    "certificates": (
        5.0,
        f"{PERF}: ACM DNS validation 'usually minutes' with an unbounded tail "
        "(terraform-provider-aws #9338); estimate 5 min",
    ),
    "alb": (2.5, f"{PERF}: ALB about 2-3 min"),
    "dns": (1.0, f"{PERF}: alias records, minutes at most; estimate 1 min"),
    "services": (
        4.0,
        f"{PERF}: ECS service steady state 3-5 min (default health checks 5 x 30 s: "
        "nathanpeck.com, 'Speeding up Amazon ECS container deployments')",
    ),
    "autoscaling": (1.0, ESTIMATE),
    "monitoring": (1.0, ESTIMATE),
}


@dataclass(frozen=True)
class Estimate:
    """The critical path (stack names, in order) and its length; every stack's finish time."""

    path: tuple[str, ...]
    minutes: float
    finish: dict[str, float]

    def services_stable(self) -> dict[str, float]:
        """services stack -> minutes until its services are stable."""
        return {s: m for s, m in self.finish.items() if base(s) == "services"}


def base(stack: str) -> str:
    """A stack's module name: 'services-payments-2' -> 'services'."""
    return max((k for k in TYPICAL_MINUTES if stack == k or stack.startswith(f"{k}-")), key=len)


def _stack_deps(resource: dict[str, Any], stacks: dict[str, str]) -> set[str]:
    """The child stacks a stack resource waits for: DependsOn and GetAtt of their outputs."""
    out = {stacks[d] for d in depends_on(resource) if d in stacks}
    out |= {stacks[r] for r in references(resource.get("Properties") or {}) if r in stacks}
    return out


def estimate(templates: dict[str, dict[str, Any]]) -> Estimate:
    """The estimate for a template set (``main.yaml`` the parent).  A platform of several
    root stacks (``generator.roots``) is deployed one root after the other (deploy.sh), so
    every stack of a root starts after the previous root's last stack is complete."""
    finish: dict[str, float] = {}
    before: dict[str, str] = {}
    last = ""
    for root in rootset.root_files(templates) or ["main.yaml"]:
        last = _root(templates[root], last, finish, before)
    path = [last]
    while path[-1] in before:
        path.append(before[path[-1]])
    return Estimate(tuple(reversed(path)), finish[last], finish)


def _root(template: dict[str, Any], after: str, finish: dict[str, float], before: dict[str, str]) -> str:
    """Adds the finish time of every stack of one root (starting once ``after`` is complete,
    '' for the first root) and returns the root's last stack to complete."""
    resources = template.get("Resources") or {}
    stacks = {
        lid: str(r["Properties"]["TemplateURL"]).removesuffix(".yaml")
        for lid, r in resources.items()
        if r.get("Type") == "AWS::CloudFormation::Stack"
    }
    deps = {stacks[lid]: _stack_deps(resources[lid], stacks) for lid in stacks}

    def done(stack: str) -> float:
        if stack not in finish:
            start = finish[after] if after else 0.0
            if after:
                before[stack] = after
            for d in sorted(deps[stack]):
                if done(d) > start:
                    start, before[stack] = finish[d], d
            finish[stack] = start + TYPICAL_MINUTES[base(stack)][0]
        return finish[stack]

    return max(sorted(deps), key=done)


def describe(e: Estimate) -> str:
    """'secrets 1.0 -> network 4.5 -> ... = 23.5 min' (each figure the stack's finish time)."""
    return " -> ".join(f"{s} {e.finish[s]:.1f}" for s in e.path) + f" = {e.minutes:.1f} min"
