"""Several root stacks end to end: a small spec forced into two roots (the test-only budget
of generator.roots) is deployed by deploy.sh, base root first, the service-set root reading
the base root's outputs, deployed again without changes, and deleted by delete.sh,
service-set root first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from e2e_support import stack_outputs, stack_status

from generator import roots
from tests.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-roots")]  # ordered lifecycle

STACK = "two-roots-dev"
QUEUE = {
    "OrderQueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
    "OrderQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/orders",
}
# Base root: the reservation of the stacks that are not per group and of the open group
# ``default``; a second group does not fit beside them and opens the root main-services-2.yaml.
ENV = {roots.BUDGET_ENV: str(2 * roots.GROUP_RESERVE)}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two-roots")
    data = yaml.safe_load((ROOT / "examples" / "queue-worker.yaml").read_text(encoding="utf-8"))
    data["name"] = "two-roots"
    later = dict(data["services"][0], name="consumer-b", group="later")
    data["services"].append(later)
    path = d / "two-roots.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    params = d / "dev.json"
    params.write_text(json.dumps([f"{k}={v}" for k, v in QUEUE.items()]), encoding="utf-8")
    return path, params


def _args(spec: tuple[Path, Path]) -> list[str]:
    return ["--platform", str(spec[0]), "--env", "dev", "--params-file", str(spec[1])]


class TestTwoRoots:
    def test_deploy_creates_the_base_root_then_the_service_set_root(self, scripts, aws, spec) -> None:
        run = scripts.deploy(*_args(spec), env=ENV, timeout=600)
        assert run.code == 0, run
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) == "CREATE_COMPLETE"
        assert stack_status(cfn, f"{STACK}-services-2") == "CREATE_COMPLETE"
        assert run.out.index("Executing") < run.out.index(f"Root stack {STACK}-services-2 (main-services-2.yaml)")
        base = stack_outputs(cfn, STACK)
        second = cfn.describe_stacks(StackName=f"{STACK}-services-2")["Stacks"][0]
        given = {p["ParameterKey"]: p.get("ParameterValue", "") for p in second["Parameters"]}
        # The service-set root got the base root's values: its StackUid, the subnets, the cluster.
        assert given["StackUid"] == base["StackUid"] and len(base["StackUid"]) == 8
        assert given["PrivateSubnetIds"] == base["PrivateSubnetIds"]
        assert given["OrderQueueArn"] == QUEUE["OrderQueueArn"]
        ecs = aws("ecs")
        cluster = base["MainClusterName"]
        names = {a.rsplit("/", 1)[1] for a in ecs.list_services(cluster=cluster)["serviceArns"]}
        assert len(names) == 2, names

    def test_a_second_deploy_changes_nothing_in_either_root(self, scripts, spec) -> None:
        run = scripts.deploy(*_args(spec), env=ENV, timeout=600)
        assert run.code == 0, run
        assert f"No changes: {STACK} is up to date." in run.out
        assert f"No changes: {STACK}-services-2 is up to date." in run.out

    def test_delete_removes_the_service_set_root_first(self, scripts, aws, spec) -> None:
        run = scripts.delete("--platform", str(spec[0]), "--env", "dev", "--yes", "--purge-retained", timeout=600)
        assert run.code == 0, run
        cfn = aws("cloudformation")
        assert stack_status(cfn, STACK) is None and stack_status(cfn, f"{STACK}-services-2") is None
        assert run.out.index(f"Deleted {STACK}-services-2.") < run.out.index(f"Deleted {STACK}.")
