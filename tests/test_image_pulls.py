"""Image pulls measured (issue 15 item 5; seeds/001 1.2 and 5.3, seeds/000 task 6), end to end:
recorded ECS task state change events (tests/fixtures/ecs_events/) -> the generated rules'
event patterns -> the pull timer's handler (the real module that the template inlines) or the
failure path's metric filter -> moto CloudWatch -> the generated alarms evaluated on what they
would read -> the figures ``diagnose`` shows. Mutants of the handler, the rule and the role
each fail a check here.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator import naming
from generator.acceptance import pulls as acceptance_pulls
from generator.acceptance.report import FAILED, NOT_APPLICABLE, PASSED
from generator.acceptance.stack import Deployed, Resource, Service
from generator.cfn.load import load_file
from generator.reach.iam import allows, document_statements
from generator.reach.live import Diagnose
from generator.reach.pulls import pull_figures
from generator.spec.load import load_spec, parse_spec, read_yaml
from generator.stacks import _image_pulls as image_pulls
from generator.stacks import monitoring, pull_timer_code
from tests.helpers import PLATFORMS, ROOT

EVENTS = ROOT / "tests" / "fixtures" / "ecs_events"
REGION, ACCOUNT = "us-east-1", "123456789012"
PARAMS = {
    "Name": "writer",
    "Environment": "dev",
    "StackUid": "1a2b3c4d",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "MainClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/writer-dev-1a2b3c4d-main",
}
NAMESPACE = "stackgen/writer-dev-1a2b3c4d"
Template = dict[str, Any]


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def writer_template() -> Template:
    return load_file(ROOT / "templates" / "scheduled-file-writer" / "monitoring.yaml")


# --------------------------------------------------------------------------- tiny evaluators


def resolve(node: Any, params: dict[str, str] = PARAMS) -> Any:
    """Ref (parameters, pseudo parameters) and Fn::Sub as CloudFormation would render them;
    a GetAtt becomes '<Logical.Attr>'."""
    if isinstance(node, list):
        return [resolve(x, params) for x in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return params.get(node["Ref"], f"<{node['Ref']}>")
    if set(node) == {"Fn::GetAtt"}:
        return "<" + ".".join(node["Fn::GetAtt"]) + ">"
    if set(node) == {"Fn::Sub"}:
        text, extra = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        values = {**params, **{k: resolve(v, params) for k, v in extra.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)
    return {k: resolve(v, params) for k, v in node.items()}


def matches(pattern: Any, data: Any) -> bool:
    """EventBridge pattern matching for what the generated rules use: nested fields, value
    lists, ``prefix`` and ``exists``."""
    for key, want in pattern.items():
        present = isinstance(data, dict) and key in data
        if isinstance(want, dict):
            if not present or not matches(want, data[key]):
                return False
            continue
        ok = False
        for w in want:
            if isinstance(w, dict) and "exists" in w:
                ok = ok or (present is bool(w["exists"]))
            elif isinstance(w, dict) and "prefix" in w:
                ok = ok or (present and str(data[key]).startswith(w["prefix"]))
            else:
                ok = ok or (present and data[key] == w)
        if not ok:
            return False
    return True


def metric_filter_value(pattern: str, event: dict[str, Any]) -> bool:
    """The JSON metric filter form the failure path uses: { $.a.b = "X" }."""
    m = re.fullmatch(r'\{ \$\.([\w.]+) = "([^"]*)" \}', pattern)
    assert m, f"filter pattern {pattern!r} is not of the form this evaluator knows"
    node: Any = event
    for part in m.group(1).split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node == m.group(2)


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


class ExactCloudWatch:
    """moto's CloudWatch, read as AWS reads it. moto's GetMetricStatistics without Dimensions
    aggregates every series of the metric; AWS "treats each unique combination of dimensions as a
    separate metric" (GetMetricStatistics, CloudWatch API reference), so the dimensionless query
    the alarms and ``diagnose`` make sees only the dimensionless series. The datapoints come from
    moto's store; the statistics are computed here."""

    def __init__(self) -> None:
        self.client = boto3.client("cloudwatch", region_name=REGION)

    def put_metric_data(self, **kw: Any) -> Any:
        return self.client.put_metric_data(**kw)

    def get_metric_statistics(
        self,
        Namespace: str,
        MetricName: str,
        StartTime: datetime,  # noqa: N803
        EndTime: datetime,
        Period: int,
        Statistics: list[str],  # noqa: N803
        Dimensions: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:  # noqa: N803
        from moto.cloudwatch.models import MetricDatum, cloudwatch_backends  # noqa: PLC0415 - moto's store

        want = sorted((d["Name"], d["Value"]) for d in Dimensions or [])
        buckets: dict[datetime, list[float]] = {}
        for md in cloudwatch_backends[ACCOUNT][REGION].get_all_metrics():
            when = md.timestamp if md.timestamp.tzinfo else md.timestamp.replace(tzinfo=UTC)
            if (
                not isinstance(md, MetricDatum)
                or md.namespace != Namespace
                or md.name != MetricName
                or not StartTime <= when < EndTime
            ):
                continue
            if sorted((d.name, d.value) for d in md.dimensions) != want:
                continue
            start = StartTime + timedelta(seconds=Period * ((when - StartTime).total_seconds() // Period))
            buckets.setdefault(start, []).append(float(md.value))
        stats: dict[str, Callable[[list[float]], float]] = {
            "Sum": sum,
            "SampleCount": lambda v: float(len(v)),
            "Maximum": max,
            "Minimum": min,
            "Average": lambda v: sum(v) / len(v),
        }
        return {
            "Datapoints": [{"Timestamp": t, **{s: stats[s](v) for s in Statistics}} for t, v in sorted(buckets.items())]
        }

    def describe_alarms(self, **kw: Any) -> Any:
        return self.client.describe_alarms(**kw)


class RoleGatedCloudWatch:
    """moto's CloudWatch behind the function role's policy from the template: a PutMetricData
    the role does not allow (action, or the cloudwatch:namespace condition) is AccessDenied."""

    def __init__(self, cw: Any, role: dict[str, Any]):
        self.cw = cw
        self.statements = [s for p in role["Properties"]["Policies"] for s in document_statements(p["PolicyDocument"])]

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> Any:  # noqa: N803 - boto3's names
        if not allows(self.statements, "cloudwatch:PutMetricData", None, context={"cloudwatch:namespace": Namespace}):
            raise PermissionError(f"AccessDenied: cloudwatch:PutMetricData on namespace {Namespace}")
        return self.cw.put_metric_data(Namespace=Namespace, MetricData=MetricData)


class Platform:
    """The monitoring template's image-pull path with CloudWatch in moto."""

    def __init__(self, template: Template, handler: Callable[..., Any] = pull_timer_code.handler):
        self.t = resolve(template)
        self.res = self.t["Resources"]
        self.cw = ExactCloudWatch()
        self.handler = handler
        self.invocations = 0

    def deliver(self, ev: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        """What EventBridge does with one event: each matching rule's target."""
        if matches(self.res["PullTimerRule"]["Properties"]["EventPattern"], ev):
            fn = self.res["PullTimerFunction"]["Properties"]
            for k, v in fn["Environment"]["Variables"].items():
                monkeypatch.setenv(k, v)
            self.invocations += 1
            self.handler(ev, None, client=RoleGatedCloudWatch(self.cw, self.res["PullTimerRole"]))
        if matches(self.res["PullFailureRule"]["Properties"]["EventPattern"], ev):
            f = self.res["PullFailureMetricFilter"]["Properties"]
            if metric_filter_value(f["FilterPattern"], ev):
                for mt in f["MetricTransformations"]:
                    self.cw.put_metric_data(
                        Namespace=mt["MetricNamespace"],
                        MetricData=[
                            {
                                "MetricName": mt["MetricName"],
                                "Value": float(mt["MetricValue"]),
                                "Timestamp": pull_timer_code.stamp(ev["time"]),
                            }
                        ],
                    )

    def alarm(self, lid: str, end: datetime) -> bool:
        """Whether the alarm breaches in its last EvaluationPeriods periods before ``end``."""
        p = self.res[lid]["Properties"]
        period = int(p["Period"])
        points = self.cw.get_metric_statistics(
            Namespace=p["Namespace"],
            MetricName=p["MetricName"],
            Dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
            StartTime=end - timedelta(seconds=period * int(p["EvaluationPeriods"])),
            EndTime=end,
            Period=period,
            Statistics=[p["Statistic"]],
        )["Datapoints"]
        # TreatMissingData notBreaching: no datapoint is not a breach.
        return any(COMPARE[p["ComparisonOperator"]](pt[p["Statistic"]], float(p["Threshold"])) for pt in points)


def at(ev: dict[str, Any]) -> datetime:
    """Just after the event: the alarm's window ends here."""
    return pull_timer_code.stamp(ev["time"]) + timedelta(seconds=60)


@pytest.fixture
def aws(moto_aws: None) -> None:
    """Every AWS call served by moto in process (tests/conftest.py)."""


def slow_pull_is_caught(p: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow pull breaches PullSlowAlarm; the normal start does not."""
    normal, slow = event("normal_start"), event("slow_pull")
    p.deliver(normal, monkeypatch)
    assert not p.alarm("PullSlowAlarm", at(normal)), "a 12 s pull must not breach the slow-pull alarm"
    p.deliver(slow, monkeypatch)
    assert p.alarm("PullSlowAlarm", at(slow)), "a 417 s pull must breach the 300 s slow-pull alarm"


# --------------------------------------------------------------------------- the whole path


def test_normal_start_is_counted_and_does_not_alarm(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Platform(writer_template())
    ev = event("normal_start")
    p.deliver(ev, monkeypatch)
    assert p.invocations == 1
    end = at(ev)
    got = p.cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ImagePullSeconds",
        StartTime=end - timedelta(hours=1),
        EndTime=end,
        Period=3600,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert [(round(x["Maximum"], 3), x["SampleCount"]) for x in got] == [(12.368, 1.0)]
    per_service = p.cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ImagePullSucceeded",
        Dimensions=[{"Name": "ServiceName", "Value": "writer-dev-api"}],
        StartTime=end - timedelta(hours=1),
        EndTime=end,
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [x["Sum"] for x in per_service] == [1.0]
    assert not p.alarm("PullSlowAlarm", end)
    assert not p.alarm("PullFailureAlarm", end)


def test_slow_pull_breaches_the_slow_alarm(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Platform(writer_template())
    slow_pull_is_caught(p, monkeypatch)
    end = at(event("slow_pull"))
    family = p.cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ImagePullSeconds",
        Dimensions=[{"Name": "TaskFamily", "Value": "writer-dev-file-writer"}],
        StartTime=end - timedelta(hours=1),
        EndTime=end,
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [round(x["Maximum"], 2) for x in family] == [417.39]
    assert not p.alarm("PullFailureAlarm", end)


def test_failed_pull_breaches_the_failure_alarm_and_is_not_timed(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Platform(writer_template())
    ev = event("failed_pull")
    p.deliver(ev, monkeypatch)
    assert p.invocations == 0
    assert p.alarm("PullFailureAlarm", at(ev))
    assert not p.alarm("PullSlowAlarm", at(ev))


def test_a_task_that_stops_later_is_not_counted_twice(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stop = event("normal_stop")
    assert stop["detail"].get("pullStoppedAt"), "the fixture must carry the pull times, as STOPPED events do"
    p = Platform(writer_template())
    p.deliver(event("normal_start"), monkeypatch)
    p.deliver(stop, monkeypatch)
    assert p.invocations == 1


def test_figures_diagnose_shows(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Platform(writer_template())
    for name in ("normal_start", "slow_pull", "failed_pull", "normal_stop"):
        p.deliver(event(name), monkeypatch)
    end = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    f = pull_figures(p.cw, NAMESPACE, end, window=timedelta(hours=5), threshold=300)
    assert (f.pulls, f.failures, round(f.max_seconds or 0, 2), round(f.avg_seconds or 0, 3)) == (
        2,
        1,
        417.39,
        round((12.368 + 417.39) / 2, 3),
    )
    assert f.line() == "2 pull(s), 1 failure(s), max 417.4 s, avg 214.9 s (alarm above 300 s)"
    empty = pull_figures(p.cw, NAMESPACE, end + timedelta(days=1))
    assert (empty.pulls, empty.failures, empty.max_seconds, empty.avg_seconds) == (0, 0, None, None)


def test_diagnose_reads_the_stack_alarms_namespace(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Platform(writer_template())
    for name in ("normal_start", "slow_pull", "failed_pull"):
        p.deliver(event(name), monkeypatch)
    for lid in ("PullFailureAlarm", "PullSlowAlarm"):
        a = p.res[lid]["Properties"]
        p.cw.client.put_metric_alarm(
            AlarmName=f"writer-{lid}",
            Namespace=a["Namespace"],
            MetricName=a["MetricName"],
            Statistic=a["Statistic"],
            ComparisonOperator=a["ComparisonOperator"],
            Threshold=float(a["Threshold"]),
            EvaluationPeriods=1,
            Period=300,
        )
    d = Diagnose(boto3.Session(region_name=REGION))
    d.cloudwatch = p.cw
    d.resources = [
        {"LogicalResourceId": lid, "ResourceType": "AWS::CloudWatch::Alarm", "PhysicalResourceId": f"writer-{lid}"}
        for lid in ("PullFailureAlarm", "PullSlowAlarm")
    ]
    f = d.image_pulls(now=datetime(2026, 11, 30, 11, 30, tzinfo=UTC))
    assert f is not None and (f.namespace, f.pulls, f.failures, f.threshold) == (NAMESPACE, 0, 1, 300)
    assert [x.rule for x in d.findings] == ["image-pulls"]  # the failure; the slow pull is 83 min old
    d.findings.clear()
    f = d.image_pulls(now=datetime(2026, 11, 30, 10, 30, tzinfo=UTC))
    assert f is not None and (f.pulls, f.failures) == (1, 0)
    assert [x.problem for x in d.findings] == [
        "the slowest image pull of the last hour took 417.4 s, over the 300 s of alarms.image_pull_seconds"
    ]


def test_diagnose_without_cloudwatch_access_notes_it_and_goes_on(aws: None) -> None:
    class Denied:
        def describe_alarms(self, **kw: Any) -> Any:
            raise PermissionError("AccessDenied: cloudwatch:DescribeAlarms")

    d = Diagnose(boto3.Session(region_name=REGION))
    d.cloudwatch = Denied()
    d.resources = [
        {
            "LogicalResourceId": "PullFailureAlarm",
            "ResourceType": "AWS::CloudWatch::Alarm",
            "PhysicalResourceId": "writer-PullFailureAlarm",
        }
    ]
    assert d.image_pulls() is None and d.findings == []
    assert d.notes == [
        "image pulls: no figures: CloudWatch answered PermissionError: AccessDenied: cloudwatch:DescribeAlarms"
    ]


def deployed_with(p: Platform, desired: int) -> Deployed:
    """A deployed stack with the two pull alarms (created in moto) and one service."""
    res = []
    for lid in ("PullFailureAlarm", "PullSlowAlarm"):
        a = p.res[lid]["Properties"]
        p.cw.client.put_metric_alarm(
            AlarmName=f"writer-{lid}",
            Namespace=a["Namespace"],
            MetricName=a["MetricName"],
            Statistic=a["Statistic"],
            ComparisonOperator=a["ComparisonOperator"],
            Threshold=float(a["Threshold"]),
            EvaluationPeriods=1,
            Period=300,
        )
        res.append(Resource(f"MonitoringStack/{lid}", lid, "AWS::CloudWatch::Alarm", f"writer-{lid}", "monitoring"))
    svc = Service(
        "ServicesStack/Api",
        "arn:aws:ecs:us-east-1:123456789012:service/main/api",
        "main",
        "api",
        desired,
        live={"status": "ACTIVE", "desiredCount": desired},
    )
    return Deployed("writer", "CREATE_COMPLETE", {}, res, [svc], [], [], [], {})


@pytest.mark.parametrize(
    "names, desired, status, message",
    [
        (
            ["normal_start"],
            1,
            PASSED,
            "1 pull(s), 0 failure(s), max 12.4 s, avg 12.4 s (alarm above 300 s); none failed",
        ),
        (["normal_start", "slow_pull"], 1, FAILED, "the slowest pull took 417.4 s, over the 300 s"),
        (["normal_start", "failed_pull"], 1, FAILED, "1 image pull(s) failed"),
        ([], 1, FAILED, "no completed pull recorded within 30 s though 1 service(s) run tasks"),
        ([], 0, NOT_APPLICABLE, "no service runs a task"),
    ],
)
def test_acceptance_image_pulls_check(
    aws: None, monkeypatch: pytest.MonkeyPatch, names: list[str], desired: int, status: str, message: str
) -> None:
    p = Platform(writer_template())
    for name in names:
        p.deliver(event(name), monkeypatch)
    since = datetime(2026, 11, 30, 8, 55, tzinfo=UTC)
    ticks = iter(range(0, 1000, 15))
    sleeps: list[float] = []
    c = acceptance_pulls.check(
        p.cw,
        deployed_with(p, desired),
        since,
        wait=30,
        interval=15,
        now=lambda: datetime(2026, 11, 30, 11, 30, tzinfo=UTC),
        clock=lambda: float(next(ticks)),
        sleep=sleeps.append,
    )
    assert (c.group, c.status) == ("image pulls", status)
    assert c.message.startswith(message)
    assert sleeps == ([15] if desired and not names else [])  # the clock moves 15 s per reading: waits 30 s


def test_acceptance_image_pulls_on_the_emulator_is_never_passed() -> None:
    c = acceptance_pulls.emulated_check()
    assert (c.group, c.status) == ("image pulls", NOT_APPLICABLE) and "emulator" in c.message


def test_acceptance_image_pulls_fails_without_the_alarms(aws: None) -> None:
    p = Platform(writer_template())
    d = deployed_with(p, 1)
    d.resources = [r for r in d.resources if r.logical_id != "PullSlowAlarm"]
    c = acceptance_pulls.check(p.cw, d, datetime(2026, 11, 30, tzinfo=UTC), wait=0)
    assert c.status == FAILED and "does not measure image pulls" in c.message


# --------------------------------------------------------------------------- mutants


def test_mutant_handler_without_the_duration_misses_the_slow_pull(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_duration(ev: dict[str, Any], context: Any, client: Any = None) -> Any:
        data = [d for d in pull_timer_code.metric_data(ev) if d["MetricName"] != "ImagePullSeconds"]
        return client.put_metric_data(Namespace=pull_timer_code.os.environ["METRIC_NAMESPACE"], MetricData=data)

    with pytest.raises(AssertionError, match="417 s pull must breach"):
        slow_pull_is_caught(Platform(writer_template(), handler=no_duration), monkeypatch)


def test_mutant_rule_without_running_matches_stopped_tasks() -> None:
    t = resolve(writer_template())
    pattern = t["Resources"]["PullTimerRule"]["Properties"]["EventPattern"]
    assert not matches(pattern, event("normal_stop")) and matches(pattern, event("normal_start"))
    mutant = copy.deepcopy(pattern)
    del mutant["detail"]["lastStatus"], mutant["detail"]["desiredStatus"]
    assert matches(mutant, event("normal_stop")), "without RUNNING the rule would count the stop as a pull"


def test_mutant_role_without_put_metric_data_fails_the_path(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    t = writer_template()
    policy = t["Resources"]["PullTimerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "PutPullMetrics"]
    with pytest.raises(PermissionError, match="AccessDenied"):
        slow_pull_is_caught(Platform(t), monkeypatch)


def test_mutant_role_for_another_namespace_fails_the_path(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    t = writer_template()
    fn = t["Resources"]["PullTimerFunction"]["Properties"]
    fn["Environment"]["Variables"]["METRIC_NAMESPACE"] = "stackgen/someone-else"
    with pytest.raises(PermissionError, match="someone-else"):
        slow_pull_is_caught(Platform(t), monkeypatch)


# --------------------------------------------------------------------------- the templates


def test_the_template_inlines_the_tested_module() -> None:
    code = (ROOT / "generator" / "stacks" / "pull_timer_code.py").read_text()
    assert len(code) <= image_pulls.ZIPFILE_MAX
    for path in PLATFORMS:
        t = load_file(ROOT / "templates" / path.stem / "monitoring.yaml")
        assert t["Resources"]["PullTimerFunction"]["Properties"]["Code"]["ZipFile"] == code


def test_code_over_the_zipfile_limit_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    big = tmp_path / "pull_timer_code.py"
    big.write_text("#" * (image_pulls.ZIPFILE_MAX + 1))
    monkeypatch.setattr(image_pulls, "CODE", big)
    with pytest.raises(ValueError, match="4096"):
        image_pulls.code()


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.stem)
def test_every_platform_times_its_pulls_on_every_cluster(path: Path) -> None:
    spec = load_spec(path)
    t = resolve(load_file(ROOT / "templates" / path.stem / "monitoring.yaml"), {})
    res = t["Resources"]
    clusters = res["PullTimerRule"]["Properties"]["EventPattern"]["detail"]["clusterArn"]
    assert clusters == [f"<{naming.cluster_output(c.name, 'Arn')}>" for c in spec.clusters]
    assert clusters == res["PullFailureRule"]["Properties"]["EventPattern"]["detail"]["clusterArn"]
    ns = res["PullFailureAlarm"]["Properties"]["Namespace"]
    assert res["PullSlowAlarm"]["Properties"]["Namespace"] == ns
    assert res["PullTimerFunction"]["Properties"]["Environment"]["Variables"]["METRIC_NAMESPACE"] == ns
    put = [
        s
        for s in res["PullTimerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if s["Sid"] == "PutPullMetrics"
    ]
    assert put[0]["Condition"] == {"StringEquals": {"cloudwatch:namespace": ns}}
    assert res["PullSlowAlarm"]["Properties"]["Threshold"] == spec.alarms.image_pull_seconds
    assert res["PullTimerPermission"]["Properties"]["SourceArn"] == "<PullTimerRule.Arn>"
    assert res["PullTimerLogGroup"]["Properties"]["KmsKeyId"] == "<KmsKeyArn>"


def test_spec_threshold_reaches_the_alarm_and_is_validated() -> None:
    data = read_yaml(PLATFORMS[0])
    data.setdefault("alarms", {})["image_pull_seconds"] = 120
    t = monitoring.build(parse_spec(data)).to_dict()
    assert t["Resources"]["PullSlowAlarm"]["Properties"]["Threshold"] == 120
    data["alarms"]["image_pull_seconds"] = 0
    with pytest.raises(Exception, match="image_pull_seconds"):
        parse_spec(data)


def test_handler_ignores_events_without_a_completed_pull() -> None:
    ev = event("normal_start")
    assert len(pull_timer_code.metric_data(ev)) == 4
    del ev["detail"]["pullStoppedAt"]
    assert pull_timer_code.metric_data(ev) == []
    assert pull_timer_code.metric_data(event("failed_pull")) == []
    assert pull_timer_code.stamp("2026-11-30T10:00:00Z") == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert pull_timer_code.stamp("2026-11-30T10:00:00.5Z").microsecond == 500000
