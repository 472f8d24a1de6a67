"""Emulator rule 8 (generator/deploy/ministack/strictness.py): a schedule's ECS network
configuration is stored as the Scheduler API names it, so get-schedule shows its subnets."""

from __future__ import annotations

from typing import Any

from generator.deploy.ministack.strictness import scheduler_target


def test_the_network_configuration_takes_the_api_spelling() -> None:
    net = {"Subnets": ["subnet-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}
    target: dict[str, Any] = {
        "Arn": "arn:aws:ecs:::cluster/c",
        "RoleArn": "r",
        "EcsParameters": {"TaskDefinitionArn": "td", "NetworkConfiguration": {"AwsvpcConfiguration": net}},
    }
    out = scheduler_target(target)
    assert out["EcsParameters"]["NetworkConfiguration"] == {"awsvpcConfiguration": net}
    assert target["EcsParameters"]["NetworkConfiguration"] == {"AwsvpcConfiguration": net}  # not mutated
    assert out["Arn"] == target["Arn"] and out["EcsParameters"]["TaskDefinitionArn"] == "td"


def test_other_targets_are_unchanged() -> None:
    lam = {"Arn": "arn:aws:lambda:::function:f", "RoleArn": "r"}
    assert scheduler_target(lam) == lam
    api = {"Arn": "a", "EcsParameters": {"NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": []}}}}
    assert scheduler_target(api) == api
