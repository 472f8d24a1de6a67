"""The acceptance run (generator/acceptance/) without AWS: the verdict, the JUnit XML report and
its shape, the summary, the checks' logic on fake API answers, the probes against a local HTTP
server, the emulator's not-applicable checks, the command line's usage errors and the make
target. The run against the emulator is tests/e2e/test_e2e_acceptance.py."""

from __future__ import annotations

import http.server
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from generator.acceptance import __main__ as cli
from generator.acceptance import costs, probes, report, run, services
from generator.acceptance.report import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, Check, Report
from generator.acceptance.scripts import Run
from generator.acceptance.stack import Listener, discover, template_desired_count
from generator.cost import estimate, load_prices, usage_from
from generator.spec import load_spec

from tests.helpers import ROOT

# --------------------------------------------------------------------------- JUnit shape

# The common JUnit XML shape (the Ant/Jenkins schema most CI readers accept): which children
# and attributes each element may have, and which attributes it must have.
SHAPE = {
    "testsuites": ({"testsuite"}, {"name", "tests", "failures", "errors", "skipped", "time", "disabled"}, set()),
    "testsuite": ({"properties", "testcase", "system-out", "system-err"},
                  {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id",
                   "package", "disabled"}, {"name", "tests"}),
    "properties": ({"property"}, set(), set()),
    "property": (set(), {"name", "value"}, {"name", "value"}),
    "testcase": ({"failure", "error", "skipped", "system-out", "system-err"},
                 {"name", "classname", "time", "assertions", "status"}, {"name", "classname"}),
    "failure": (set(), {"message", "type"}, {"message"}),
    "error": (set(), {"message", "type"}, {"message"}),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
NUMERIC = {"tests", "failures", "errors", "skipped", "disabled", "assertions"}


def assert_junit_shape(root: ET.Element) -> None:
    """Raise AssertionError when ``root`` is not the common JUnit XML shape."""
    assert root.tag in ("testsuites", "testsuite"), root.tag
    for el in root.iter():
        assert el.tag in SHAPE, f"unexpected element <{el.tag}>"
        children, allowed, required = SHAPE[el.tag]
        for child in el:
            assert child.tag in children, f"<{child.tag}> inside <{el.tag}>"
        assert set(el.attrib) <= allowed, f"<{el.tag}> attributes {set(el.attrib) - allowed}"
        assert required <= set(el.attrib), f"<{el.tag}> lacks {required - set(el.attrib)}"
        for name in NUMERIC & set(el.attrib):
            assert el.attrib[name].isdigit(), f"<{el.tag} {name}={el.attrib[name]!r}>"
        if "time" in el.attrib:
            float(el.attrib["time"])
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        cases = suite.findall("testcase")
        outcome = [[c for c in case if c.tag in ("failure", "error", "skipped")] for case in cases]
        assert all(len(o) <= 1 for o in outcome), "a testcase with more than one outcome"
        assert int(suite.get("tests")) == len(cases)
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if suite.get(attr) is not None:
                assert int(suite.get(attr)) == sum(1 for o in outcome if o and o[0].tag == tag), attr


def sample_report() -> Report:
    r = Report("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566", True, seconds=12.5)
    r.add(Check("deploy", "", PASSED, "web-dev CREATE_COMPLETE", "deploy log\x1b[0m with a control character", 8.0),
          Check("service steady", "ServicesStack/Web", NOT_APPLICABLE, "the emulator runs no containers"),
          Check("diagnose", "", FAILED, "1 finding(s): no route", "FAIL [route] no route", 1.0),
          Check("survivors", "", NOT_RUN, "nothing was deployed"))
    return r


def test_junit_report_has_the_common_shape(tmp_path: Path):
    path = tmp_path / "reports" / "acceptance-web-dev.xml"
    report.write_junit(sample_report(), path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written atomically, nothing else left
    root = ET.parse(path).getroot()
    assert_junit_shape(root)
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["deploy"].find("failure") is None and cases["deploy"].find("skipped") is None
    assert cases["diagnose"].find("failure").get("message").startswith("1 finding(s)")
    assert cases["service steady: ServicesStack/Web"].find("skipped").get("message") == \
        "not applicable: the emulator runs no containers"
    assert cases["survivors"].find("skipped").get("message") == "not run: nothing was deployed"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["emulated"] == "true" and props["platform"] == "web"


@pytest.mark.parametrize("broken", [
    '<testsuite name="s" tests="1"><testcase name="a" classname="c"><failure message="x"/><skipped/>'
    '</testcase></testsuite>',                                                 # two outcomes
    '<testsuite name="s" tests="1"><testcase classname="c"/></testsuite>',      # no name
    '<testsuite name="s" tests="2"><testcase name="a" classname="c"/></testsuite>',  # wrong count
    '<testsuite name="s" tests="1" failures="0"><testcase name="a" classname="c"><failure message="x"/>'
    '</testcase></testsuite>',                                                 # failures miscounted
    '<testsuite name="s" tests="1"><testcase name="a" classname="c"><passed/></testcase></testsuite>',
    '<report><testcase name="a" classname="c"/></report>',
])
def test_the_shape_check_catches_broken_reports(broken: str):
    with pytest.raises(AssertionError):
        assert_junit_shape(ET.fromstring(broken))


def test_a_failed_check_fails_the_run():
    checks = [Check("deploy", "", PASSED), Check("delete", "", PASSED)]
    assert report.exit_code(checks) == 0
    checks.append(Check("probe", "x", FAILED, "answered 503"))
    assert report.verdict(checks) == FAILED and report.exit_code(checks) == 1


def test_not_applicable_never_counts_as_passed():
    r = Report("web", "dev", "web-dev", "us-east-1")
    r.add(Check("probe", "a", NOT_APPLICABLE, "emulator"), Check("health path", "b", NOT_APPLICABLE, "emulator"))
    assert r.counts()[PASSED] == 0 and r.counts()[NOT_APPLICABLE] == 2
    assert report.exit_code(r.checks) == 0  # nothing failed
    text = report.summary(r)
    assert "0 passed, 2 not applicable (not counted as passed)" in text and "PASS " not in text
    root = ET.fromstring(report.junit_xml(r))
    assert all(c.find("skipped") is not None for c in root.iter("testcase"))


@pytest.mark.parametrize("status", [FAILED, NOT_APPLICABLE, NOT_RUN])
def test_a_check_that_did_not_pass_needs_a_reason(status: str):
    with pytest.raises(ValueError, match="without a reason"):
        Check("probe", "x", status, "  ")


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown check status"):
        Check("probe", "x", "skipped", "why")


def test_summary_is_one_screen_with_each_reason_once():
    r = sample_report()
    r.add(*(Check("probe", f"Lb{i} HTTP:80", NOT_APPLICABLE, "the emulator runs no containers") for i in range(3)))
    text = report.summary(r, ["Cost: ..."])
    lines = text.splitlines()
    assert len(lines) < 25 and all(len(line) <= 110 for line in lines)
    assert text.count("the emulator runs no containers") == 1  # a shared reason is a numbered note
    assert "  [1] the emulator runs no containers" in text
    assert lines[1].startswith("  PASS  deploy") and "FAIL  diagnose" in text and "N/A   probe: Lb0" in text
    assert "Result: FAILED: 1 failed, 1 passed, 4 not applicable" in text and lines[-1] == "Cost: ..."


# --------------------------------------------------------------------------- fake AWS


class Fake:
    """A boto3 client stand-in: the methods given, and paginators over them (one page)."""

    def __init__(self, **methods: Any):
        self.methods = methods

    def __getattr__(self, name: str) -> Any:
        try:
            return self.methods[name]
        except KeyError:
            raise AttributeError(name) from None

    def get_paginator(self, name: str) -> Any:
        fn = self.methods[name]

        class Pages:
            def paginate(self, **kw: Any) -> list[Any]:
                return [fn(**kw)]
        return Pages()


PARENT = "arn:aws:cloudformation:us-east-1:1:stack/web-dev/1"
NESTED = "arn:aws:cloudformation:us-east-1:1:stack/web-dev-ServicesStack/2"
SERVICE = "arn:aws:ecs:us-east-1:1:service/web-dev-main/web"
LB = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"
TG = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/80"
SERVICES_TEMPLATE = """
Parameters: {Count: {Type: Number}}
Resources:
  WebService: {Type: AWS::ECS::Service, Properties: {DesiredCount: !Ref Count}}
"""


def world(running: int = 2, rollout: str = "COMPLETED", health: tuple[str, ...] = ("healthy", "healthy"),
          desired: int = 2, lb_dns: str = "web-1.us-east-1.elb.amazonaws.com", port: int = 80,
          default_action: dict | None = None) -> dict[str, Fake]:
    """A deployed stack: one service behind one load balancer listener, in a nested stack."""
    live = {"serviceArn": SERVICE, "status": "ACTIVE", "desiredCount": desired, "runningCount": running,
            "pendingCount": 0, "loadBalancers": [{"targetGroupArn": TG}],
            "deployments": [{"status": "PRIMARY", "rolloutState": rollout}],
            "events": [{"message": "(service web) has started 1 tasks"}]}
    resources = {
        PARENT: [{"LogicalResourceId": "ServicesStack", "ResourceType": "AWS::CloudFormation::Stack",
                  "PhysicalResourceId": NESTED},
                 {"LogicalResourceId": "Lb", "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                  "PhysicalResourceId": LB},
                 {"LogicalResourceId": "WebTargetGroup", "ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup",
                  "PhysicalResourceId": TG}],
        NESTED: [{"LogicalResourceId": "WebService", "ResourceType": "AWS::ECS::Service",
                  "PhysicalResourceId": SERVICE}],
    }
    stacks = {"web-dev": {"StackId": PARENT, "StackStatus": "CREATE_COMPLETE",
                          "Outputs": [{"OutputKey": "Url", "OutputValue": f"http://{lb_dns}"}]},
              NESTED: {"StackId": NESTED, "Parameters": [{"ParameterKey": "Count", "ParameterValue": "2"}]}}
    return {
        "cloudformation": Fake(
            describe_stacks=lambda StackName: {"Stacks": [stacks[StackName]]},
            list_stack_resources=lambda StackName: {"StackResourceSummaries": resources[StackName]},
            get_template=lambda StackName, TemplateStage: {"TemplateBody": SERVICES_TEMPLATE}),
        "ecs": Fake(describe_services=lambda cluster, services: {"services": [live]}),
        "elbv2": Fake(
            describe_load_balancers=lambda LoadBalancerArns: {"LoadBalancers": [
                {"LoadBalancerArn": LB, "DNSName": lb_dns, "Scheme": "internet-facing", "Type": "application"}]},
            describe_listeners=lambda LoadBalancerArn: {"Listeners": [
                {"ListenerArn": LISTENER, "Port": port, "Protocol": "HTTP",
                 "DefaultActions": [default_action or {"Type": "forward", "TargetGroupArn": TG}]}]},
            describe_rules=lambda ListenerArn: {"Rules": [{"Priority": "default", "IsDefault": True}]},
            describe_target_groups=lambda TargetGroupArns: {"TargetGroups": [
                {"TargetGroupArn": TG, "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/health",
                 "Matcher": {"HttpCode": "200"}}]},
            describe_target_health=lambda TargetGroupArn: {"TargetHealthDescriptions": [
                {"TargetHealth": {"State": s, **({"Reason": "Target.ResponseCodeMismatch",
                                                  "Description": "Health checks failed with these codes: [404]"}
                                                 if s == "unhealthy" else {})}} for s in health]}),
        "application-autoscaling": Fake(describe_scalable_targets=lambda **kw: {"ScalableTargets": [
            {"ResourceId": "service/web-dev-main/web", "MinCapacity": 2, "MaxCapacity": 4}]}),
    }


def fake_aws(clients: dict[str, Fake]):
    return lambda service: clients[service]


def test_discover_reads_the_stack_back():
    d = discover(fake_aws(world()), "web-dev")
    assert [s.path for s in d.services] == ["ServicesStack/WebService"]
    assert d.services[0].template_desired == 2  # Ref to the nested stack's parameter
    assert [t.path for t in d.target_groups] == ["WebTargetGroup"]
    assert [ls.title for ls in d.listeners] == ["Lb HTTP:80"]


@pytest.mark.parametrize(("props", "params", "want"), [
    ({"DesiredCount": 3}, {}, 3), ({"DesiredCount": {"Ref": "N"}}, {"N": "4"}, 4), ({}, {}, 1),
    ({"DesiredCount": {"Fn::If": ["C", 1, 2]}}, {}, None)])
def test_template_desired_count(props: dict, params: dict, want: int | None):
    assert template_desired_count({"Properties": props}, params)[0] == want


def test_created_checks_compare_with_the_template():
    clients = world(desired=2)
    d = discover(fake_aws(clients), "web-dev")
    assert [c.status for c in services.created_checks(fake_aws(clients), d)] == [PASSED, PASSED]
    d.services[0].live["desiredCount"] = 7  # outside the template's 2 and the autoscaling range 2-4
    check = services.service_created(d.services[0], {"service/web-dev-main/web": (2, 4)})
    assert check.status == FAILED and "template deploys 2" in check.message
    d.services[0].live["desiredCount"] = 3
    assert services.service_created(d.services[0], {"service/web-dev-main/web": (2, 4)}).status == PASSED
    d.services[0].live = {}
    assert services.service_created(d.services[0], {}).status == FAILED


def test_a_target_group_without_listener_or_service_fails():
    d = discover(fake_aws(world()), "web-dev")
    tg = d.target_groups[0]
    assert services.target_group_attached(tg, d.listeners, d.services).status == PASSED
    lonely = services.target_group_attached(tg, [], d.services)
    assert lonely.status == FAILED and "no listener" in lonely.message
    unused = services.target_group_attached(tg, d.listeners, [])
    assert unused.status == FAILED and "no ECS service" in unused.message


@pytest.mark.parametrize(("live", "state"), [
    ({"status": "ACTIVE", "desiredCount": 2, "runningCount": 2, "deployments": [
        {"status": "PRIMARY", "rolloutState": "COMPLETED"}]}, services.READY),
    ({"status": "ACTIVE", "desiredCount": 2, "runningCount": 1, "deployments": [
        {"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]}, services.WAITING),
    ({"status": "ACTIVE", "desiredCount": 2, "runningCount": 2, "deployments": [
        {"status": "PRIMARY", "rolloutState": "COMPLETED"}, {"status": "ACTIVE"}]}, services.WAITING),
    ({"status": "ACTIVE", "desiredCount": 2, "runningCount": 0, "deployments": [
        {"status": "PRIMARY", "rolloutState": "FAILED", "rolloutStateReason": "circuit breaker"}]}, services.BROKEN),
    ({"status": "DRAINING", "desiredCount": 0, "runningCount": 0}, services.BROKEN),
    ({}, services.BROKEN),
])
def test_steady_state(live: dict, state: str):
    assert services.steady_state(live)[0] == state


def test_health_state():
    def th(*states: str) -> list[dict]:
        return [{"TargetHealth": {"State": s}} for s in states]
    assert services.health_state(th(), 2)[0] == services.WAITING
    assert services.health_state(th("healthy", "healthy"), 2)[0] == services.READY
    assert services.health_state(th("healthy", "initial"), 1)[0] == services.WAITING
    assert services.health_state(th("healthy", "draining"), 1)[0] == services.READY
    assert services.health_state(th("healthy"), 0)[0] == services.READY


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_passes_once_steady_and_healthy():
    clients = world()
    answers = iter([1, 1, 2])  # the second task starts on the third poll

    def describe_services(cluster: str, services: list[str]) -> dict:
        return {"services": [{**live, "runningCount": next(answers, 2)}]}
    live = clients["ecs"].describe_services(cluster="", services=[])["services"][0]
    clients["ecs"].methods["describe_services"] = describe_services
    d = discover(fake_aws(world()), "web-dev")
    clock = Clock()
    checks = services.wait_ready(fake_aws(clients), d, timeout=600, interval=10, clock=clock, sleep=clock.sleep,
                                 say=lambda _: None)
    assert [(c.group, c.status) for c in checks] == [("service steady", PASSED), ("target group healthy", PASSED)]
    assert checks[0].seconds == 20.0


def test_wait_is_bounded_and_says_why():
    clients = world(running=1, rollout="IN_PROGRESS", health=("healthy", "unhealthy"))
    d = discover(fake_aws(clients), "web-dev")
    clock = Clock()
    checks = services.wait_ready(fake_aws(clients), d, timeout=300, interval=10, clock=clock, sleep=clock.sleep,
                                 say=lambda _: None)
    assert clock.now == 300
    assert [c.status for c in checks] == [FAILED, FAILED]
    assert "timed out after 300 s" in checks[0].message and "running 1 of 2" in checks[0].message
    assert "has started 1 tasks" in checks[0].message
    assert "Target.ResponseCodeMismatch" in checks[1].message


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize(("status", "matcher", "ok"), [
    (200, "200", True), (204, "200", False), (302, "200-399", True), (404, "200-399", False),
    (302, "200,302", True), (301, "200,302", False)])
def test_status_matches(status: int, matcher: str, ok: bool):
    assert probes.status_matches(status, matcher) is ok


def listener(rules: list[dict], default: dict) -> Listener:
    return Listener("Lb", LB, "lb.example", "internet-facing", "application", LISTENER, 443, "HTTPS",
                    [default], rules)


def test_rules_route_like_the_load_balancer():
    api = {"Type": "forward", "TargetGroupArn": "api"}
    rules = [
        {"Priority": "5", "Conditions": [{"Field": "http-header", "HttpHeaderConfig": {
            "HttpHeaderName": "X-Canary", "Values": ["1"]}}], "Actions": [{"Type": "forward", "TargetGroupArn": "c"}]},
        {"Priority": "10", "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.api.example"]}},
                                          {"Field": "path-pattern", "Values": ["/v?/*"]}], "Actions": [api]},
    ]
    ls = listener(rules, {"Type": "forward", "TargetGroupArn": "web"})
    assert probes.route(ls, "eu.API.example", "/v1/health") == [api]
    assert probes.route(ls, "eu.api.example", "/v12/health")[0]["TargetGroupArn"] == "web"
    assert probes.route(ls, "www.example", "/v1/health")[0]["TargetGroupArn"] == "web"


@pytest.mark.parametrize(("response", "wrong"), [
    (probes.Response(301, "https://web.example/"), None),
    (probes.Response(301, "http://web.example/"), "not to HTTPS"),
    (probes.Response(200), "not a redirect"),
])
def test_a_redirect_must_go_to_https(response: probes.Response, wrong: str | None):
    _, verdict = probes.expectation({"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS"}})
    result = verdict(response)
    assert (result is None) if wrong is None else (wrong in result)


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, headers = self.routes.get(self.path, (404, {}))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(("routes", "action", "statuses"), [
    ({"/": (200, {}), "/health": (200, {})}, None, [PASSED, PASSED]),
    ({"/": (503, {}), "/health": (503, {})}, None, [FAILED, FAILED]),
    ({"/": (301, {"Location": "https://web.example/"})}, {"Type": "redirect"}, [PASSED, NOT_APPLICABLE]),
    ({"/": (301, {"Location": "http://web.example/"})}, {"Type": "redirect"}, [FAILED, NOT_APPLICABLE]),
])
def test_probes_against_a_server(server: int, routes: dict, action: dict | None, statuses: list[str]):
    Handler.routes = routes
    d = discover(fake_aws(world(lb_dns="127.0.0.1", port=server, default_action=action)), "web-dev")
    checks = probes.run(d, acm=None, window=0)
    assert [(c.group, c.status) for c in checks] == list(zip(["probe", "health path"], statuses, strict=True))
    assert all(c.message for c in checks)


def test_a_probe_without_answer_fails(server: int):
    d = discover(fake_aws(world(lb_dns="127.0.0.1", port=1)), "web-dev")  # nothing listens on port 1
    clock = Clock()
    checks = probes.run(d, acm=None, window=15, interval=5, clock=clock, sleep=clock.sleep)
    assert [c.status for c in checks] == [FAILED, FAILED] and "no HTTP answer" in checks[0].message
    assert clock.now == 15  # retried for the window, then given up


def test_emulated_probes_are_not_applicable():
    d = discover(fake_aws(world()), "web-dev")
    checks = probes.emulated_checks(d)
    assert [c.status for c in checks] == [NOT_APPLICABLE, NOT_APPLICABLE]
    assert all("not network endpoints" in c.message for c in checks)
    d.listeners, d.target_groups = [], []
    assert [(c.status, c.message) for c in probes.emulated_checks(d)] == [
        (NOT_APPLICABLE, "the stack has no load balancer listener")]


# --------------------------------------------------------------------------- the run


def test_on_the_emulator_traffic_checks_are_never_passed(monkeypatch: pytest.MonkeyPatch):
    """Even when the emulator claims the service runs its desired count, steady, healthy and the
    probes are not applicable; created and attached are really checked."""
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    opts = run.Options("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566")
    assert opts.emulated
    checks = run._checks_after_deploy(opts, fake_aws(world()), say=lambda _: None)
    by = {c.group: c.status for c in checks}
    assert by == {"service created": PASSED, "target group attached": PASSED, "service steady": NOT_APPLICABLE,
                  "target group healthy": NOT_APPLICABLE, "probe": NOT_APPLICABLE, "health path": NOT_APPLICABLE,
                  "diagnose": PASSED}


def test_on_aws_the_same_checks_are_answered(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    monkeypatch.setattr(run.probes, "run", lambda deployed, acm, window: [Check("probe", "Lb HTTP:80", PASSED)])
    opts = run.Options("web", "dev", "web-dev", "us-east-1", None, wait_timeout=0)
    assert not opts.emulated and not run.Options("w", "dev", "w", "us-east-1", "https://cfn.example").emulated
    clients = {**world(), "acm": Fake()}
    checks = run._checks_after_deploy(opts, fake_aws(clients), say=lambda _: None)
    assert {c.group: c.status for c in checks}["service steady"] == PASSED
    assert NOT_APPLICABLE not in {c.status for c in checks}


def test_deploy_and_survivor_verdicts():
    opts = run.Options("web", "dev", "web-dev", "us-east-1")
    ok = Run([], 0, "web-dev: CREATE_COMPLETE", 3.0)
    assert run.deploy_check(opts, ok, "CREATE_COMPLETE").status == PASSED
    failed = Run([], 1, "Root cause (first failure, in nested stack X):\n  X/Y (T): CREATE_FAILED: boom\n"
                        "deploy.sh: error: deploy failed", 3.0)
    check = run.deploy_check(opts, failed, "ROLLBACK_COMPLETE")
    assert check.status == FAILED and "X/Y (T): CREATE_FAILED: boom" in check.message
    before = Run([], 0, "What survives deleting web-dev:", 1.0)
    listed = [{"type": "AWS::Logs::LogGroup"}, {"type": "AWS::Logs::LogGroup"}, {"type": "AWS::KMS::Key"}]
    good = Run([], 0, "Survivors now:\n  - A (AWS::Logs::LogGroup /a): retained, still exists", 1.0)
    assert run.survivors_check(before, good, listed).message.endswith("2 AWS::Logs::LogGroup, 1 AWS::KMS::Key")
    gone = Run([], 0, "  - A (AWS::Logs::LogGroup /a): GONE: it was deleted although its DeletionPolicy is Retain", 1)
    assert run.survivors_check(before, gone, listed).status == FAILED
    stuck = Run([], 1, "DELETE_FAILED:\n  - B (AWS::S3::Bucket): bucket not empty", 1.0)
    assert run.survivors_check(before, stuck, listed).status == FAILED


def test_run_cost_is_the_cost_commands_estimate():
    c = costs.run_cost(Path("platforms/scheduled-file-writer.yaml"), "dev", "us-east-1", ROOT)
    prices = load_prices("us-east-1")
    e = estimate(load_spec(ROOT / "platforms/scheduled-file-writer.yaml"), prices, "dev", None, usage_from(prices))
    assert (c.monthly_low, c.monthly_high) == e.total
    printed = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "generator", "cost",
                              "platforms/scheduled-file-writer.yaml", "--env", "dev"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert f"{c.monthly_low:,.2f}" in next(line for line in printed.splitlines() if line.startswith("TOTAL"))
    assert c.for_run(1800) == pytest.approx((c.hourly / 2, c.hourly))
    assert c.for_run(3700)[1] == pytest.approx(2 * c.hourly)
    other = costs.run_cost(Path("platforms/scheduled-file-writer.yaml"), "dev", "eu-west-3", ROOT)
    assert "no price file for eu-west-3" in other.prices


# --------------------------------------------------------------------------- command line


def usage(capsys: pytest.CaptureFixture, *argv: str) -> str:
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_usage_errors_name_the_file_and_field(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path):
    monkeypatch.delenv("STACKGEN_PARAM_SmbPassword", raising=False)
    report_file = tmp_path / "r.xml"
    common = ["--report", str(report_file), "--endpoint-url", "http://127.0.0.1:9"]
    assert "platforms/nope.yaml: no such platform" in usage(capsys, "--platform", "nope", "--env", "dev", *common)
    assert "--env: unknown environment 'qa'" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "qa", *common)
    err = usage(capsys, "--platform", "platforms/scheduled-file-writer.yaml", "--env", "dev", *common)
    assert "templates/scheduled-file-writer/main.yaml: NoEcho parameter(s) SmbPassword: set " \
           "STACKGEN_PARAM_SmbPassword" in err
    monkeypatch.setenv("STACKGEN_PARAM_SmbPassword", "x")
    assert "nope.json: parameters file not found" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "dev", "--params-file", "nope.json", *common)
    monkeypatch.setattr(cli, "describe", lambda cfn, stack: {"StackStatus": "CREATE_COMPLETE"})
    monkeypatch.setattr(cli, "process_environment", lambda opts: {})
    assert "stack scheduled-file-writer-dev already exists" in usage(
        capsys, "--platform", "scheduled-file-writer", "--env", "dev", *common)
    assert not report_file.exists()  # nothing half-written


def test_help(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "STACKGEN_PARAM_<Name>" in out and "Exit status: 0 no check failed" in out


def test_make_acceptance_runs_the_module():
    out = subprocess.run(["make", "-n", "acceptance", "PLATFORM=platforms/scheduled-file-writer.yaml",
                          "ENV=test", "ENDPOINT_URL=http://127.0.0.1:4599", "ACCEPTANCE_ARGS=--keep-stack"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = out.replace("\\\n", " ")
    assert "-m generator.acceptance --platform scheduled-file-writer --env test" in command
    assert "--endpoint-url http://127.0.0.1:4599" in command and "--keep-stack" in command


class FakeScripts:
    """deploy.sh / delete.sh / survivors stand-ins that record what ran."""

    calls: list[str] = []
    deploy_code = 0

    def __init__(self, *args: Any, **kw: Any) -> None:
        FakeScripts.calls = []

    def deploy(self) -> Run:
        self.calls.append("deploy")
        return Run([], self.deploy_code, "deploy.sh: error: bad input" if self.deploy_code else "ok", 1.0)

    def delete(self) -> Run:
        self.calls.append("delete")
        return Run([], 0, "Deleted.", 1.0)

    def mark(self) -> str:
        return "0"

    def survivors_before(self, save: Path) -> tuple[Run, list[dict]]:
        return Run([], 0, "What survives deleting web-dev:", 0.1), []

    def survivors_after(self, stack_id: str, load: Path, since: str) -> Run:
        return Run([], 0, "", 0.1)


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch):
    """run.run with fake scripts and a stack that exists until deleted."""
    state = {"deleted": False}
    monkeypatch.setattr(run, "Scripts", FakeScripts)
    monkeypatch.setattr(run, "describe", lambda cfn, stack: None if state["deleted"] else
                        {"StackId": PARENT, "StackStatus": "CREATE_COMPLETE"})
    original_delete = FakeScripts.delete

    def delete(self: FakeScripts) -> Run:
        state["deleted"] = True
        return original_delete(self)
    monkeypatch.setattr(FakeScripts, "delete", delete)
    monkeypatch.setattr(run, "client", lambda service, **kw: world()[service] if service in world() else Fake())
    return run.Options("web", "dev", "web-dev", "us-east-1", "http://127.0.0.1:4566")


def test_a_bug_mid_run_is_reported_and_the_stack_still_deleted(fake_run: run.Options,
                                                              monkeypatch: pytest.MonkeyPatch):
    def broken(aws: Any, stack: str) -> Any:
        raise KeyError("boom")
    monkeypatch.setattr(run, "discover", broken)
    outcome = run.run(fake_run, {}, say=lambda _: None)
    assert FakeScripts.calls == ["deploy", "delete"]
    assert outcome.bug == "KeyError: 'boom'"
    bug = next(c for c in outcome.report.checks if c.group == "internal error")
    assert bug.status == FAILED and "Traceback" in bug.output
    assert {c.group: c.status for c in outcome.report.checks}["delete"] == PASSED


def test_deploy_refusing_its_input_creates_and_deletes_nothing(fake_run: run.Options):
    FakeScripts.deploy_code = 2
    try:
        with pytest.raises(run.DeployRefused, match="bad input"):
            run.run(fake_run, {}, say=lambda _: None)
    finally:
        FakeScripts.deploy_code = 0
    assert FakeScripts.calls == ["deploy"]


def test_keep_stack_leaves_it_and_says_how_to_delete(fake_run: run.Options, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(run, "diagnose_check", lambda opts: Check("diagnose", "", PASSED, "no findings"))
    fake_run.keep_stack = True
    outcome = run.run(fake_run, {}, say=lambda _: None)
    assert FakeScripts.calls == ["deploy"]
    delete = next(c for c in outcome.report.checks if c.group == "delete")
    assert delete.status == NOT_RUN and "./delete.sh --platform web --env dev --stack-name web-dev" in delete.message


def test_an_internal_error_is_one_line_exit_1(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    def broken(args: Any) -> int:
        raise RuntimeError("unexpected")
    monkeypatch.setattr(cli, "accept", broken)
    assert cli.main(["--platform", "web", "--env", "dev"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error (a bug in stackgen" in err and "RuntimeError" in err
