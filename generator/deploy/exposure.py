"""Tasks that get public IPs, read from the templates that are about to be deployed.

A platform with ``network.egress: public-ip`` runs its tasks in public subnets with
``AssignPublicIp: ENABLED`` (ECS services, and the ECS targets of EventBridge Scheduler
schedules and EventBridge rules). deploy.sh prints the warning below before deploying
such a platform, and outside dev asks for confirmation (refused without a terminal unless
--yes). The reason is the resource's ``Metadata.stackgen.public_ip.reason`` when the
templates carry one.

    python -m generator.deploy.exposure --template-dir DIR --platform P --env E

prints the warning (one line) when a task gets a public IP in environment E, nothing
otherwise; exit 0. ``Fn::If`` is decided with the one Conditions evaluator
(``generator.cfn.conditions``) for ``Environment`` = E (per-environment egress); a
condition it cannot decide counts both branches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from generator.cfn.conditions import ANY_OTHER, Conditions, text_of
from generator.cfn.load import load_file

WARNING = (
    "WARNING: {platform} ({env}) gives every task a public IP in a public subnet "
    "(network.egress: public-ip){reason}. Tasks are exposed to the internet except as their "
    "security groups allow; prefer vpc-endpoints or a NAT."
)


def _network(rtype: str, props: dict[str, Any]) -> list[Any]:
    """The awsvpc network configurations of a resource's tasks."""
    if rtype == "AWS::ECS::Service":
        return [((props.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {})]
    if rtype == "AWS::Scheduler::Schedule":
        ecs = (props.get("Target") or {}).get("EcsParameters") or {}
        return [((ecs.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {})]
    if rtype == "AWS::Events::Rule":
        return [
            (((t.get("EcsParameters") or {}).get("NetworkConfiguration") or {}).get("AwsVpcConfiguration") or {})
            for t in props.get("Targets") or []
            if isinstance(t, dict)
        ]
    return []


def _conditions(template: dict, env: str | None) -> Conditions:
    """The template's conditions with ``Environment`` known (every other parameter not)."""

    def value(node: Any):
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return env if node["Ref"] == "Environment" and env else ANY_OTHER
        return text_of(node)

    return Conditions(template.get("Conditions"), value)


def public_ip_tasks(template_dir: Path, env: str | None = None) -> list[tuple[str, str | None]]:
    """(file/LogicalId, reason or None) of every resource whose tasks get (or may get) a
    public IP in ``env`` (any environment when None)."""
    found = []
    for path in sorted(template_dir.glob("*.yaml")):
        template = load_file(path)
        conditions = _conditions(template, env)
        for logical, res in (template.get("Resources") or {}).items():
            if not isinstance(res, dict):
                continue
            if "Condition" in res and conditions.decide(res["Condition"]) is False:
                continue
            nets = _network(str(res.get("Type")), res.get("Properties") or {})
            if any(isinstance(n, dict) and "ENABLED" in conditions.possible(n.get("AssignPublicIp")) for n in nets):
                meta = ((res.get("Metadata") or {}).get("stackgen") or {}).get("public_ip") or {}
                reason = meta.get("reason") if isinstance(meta, dict) else None
                found.append((f"{path.name}/{logical}", str(reason) if reason else None))
    return found


def warning(platform: str, env: str, found: list[tuple[str, str | None]]) -> str | None:
    if not found:
        return None
    reasons = list(dict.fromkeys(r for _, r in found if r))
    reason = f": {'; '.join(r.rstrip('.') for r in reasons)}" if reasons else ""
    return WARNING.format(platform=platform, env=env, reason=reason)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.exposure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template-dir", required=True, type=Path)
    parser.add_argument("--platform", required=True)
    parser.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    line = warning(args.platform, args.env, public_ip_tasks(args.template_dir, args.env))
    if line:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
