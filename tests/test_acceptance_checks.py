"""The acceptance run's checks on fake API answers (tests/acceptance_fakes.py): the stack read
back, services created and steady, target groups attached and healthy, the bounded wait, and
the probes (routing, matchers, redirects) against a local HTTP server."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from generator.acceptance import probes, services
from generator.acceptance.report import FAILED, NOT_APPLICABLE, PASSED
from generator.acceptance.stack import Listener, discover, template_desired_count
from tests.acceptance_fakes import LB, LISTENER, Clock, Fake, fake_aws, world


def test_discover_reads_the_stack_back():
    d = discover(fake_aws(world()), "web-dev")
    assert [s.path for s in d.services] == ["ServicesStack/WebService"]
    assert d.services[0].template_desired == 2  # Ref to the nested stack's parameter
    assert [t.path for t in d.target_groups] == ["WebTargetGroup"]
    assert [ls.title for ls in d.listeners] == ["Lb HTTP:80"]


@pytest.mark.parametrize(
    ("props", "params", "want"),
    [
        ({"DesiredCount": 3}, {}, 3),
        ({"DesiredCount": {"Ref": "N"}}, {"N": "4"}, 4),
        ({}, {}, 1),
        ({"DesiredCount": {"Fn::If": ["C", 1, 2]}}, {}, None),
    ],
)
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


@pytest.mark.parametrize(
    ("live", "state"),
    [
        (
            {
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 2,
                "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}],
            },
            services.READY,
        ),
        (
            {
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 1,
                "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}],
            },
            services.WAITING,
        ),
        (
            {
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 2,
                "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}, {"status": "ACTIVE"}],
            },
            services.WAITING,
        ),
        (
            {
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 0,
                "deployments": [
                    {"status": "PRIMARY", "rolloutState": "FAILED", "rolloutStateReason": "circuit breaker"}
                ],
            },
            services.BROKEN,
        ),
        ({"status": "DRAINING", "desiredCount": 0, "runningCount": 0}, services.BROKEN),
        ({}, services.BROKEN),
    ],
)
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


def test_wait_passes_once_steady_and_healthy():
    clients = world()
    answers = iter([1, 1, 2])  # the second task starts on the third poll

    def describe_services(cluster: str, services: list[str]) -> dict:
        return {"services": [{**live, "runningCount": next(answers, 2)}]}

    live = clients["ecs"].describe_services(cluster="", services=[])["services"][0]
    clients["ecs"].methods["describe_services"] = describe_services
    d = discover(fake_aws(world()), "web-dev")
    clock = Clock()
    checks = services.wait_ready(
        fake_aws(clients), d, timeout=600, interval=10, clock=clock, sleep=clock.sleep, say=lambda _: None
    )
    assert [(c.group, c.status) for c in checks] == [("service steady", PASSED), ("target group healthy", PASSED)]
    assert checks[0].seconds == 20.0


def test_wait_is_bounded_and_says_why():
    clients = world(running=1, rollout="IN_PROGRESS", health=("healthy", "unhealthy"))
    d = discover(fake_aws(clients), "web-dev")
    clock = Clock()
    checks = services.wait_ready(
        fake_aws(clients), d, timeout=300, interval=10, clock=clock, sleep=clock.sleep, say=lambda _: None
    )
    assert clock.now == 300
    assert [c.status for c in checks] == [FAILED, FAILED]
    assert "timed out after 300 s" in checks[0].message and "running 1 of 2" in checks[0].message
    assert "has started 1 tasks" in checks[0].message
    assert "Target.ResponseCodeMismatch" in checks[1].message


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize(
    ("status", "matcher", "ok"),
    [
        (200, "200", True),
        (204, "200", False),
        (302, "200-399", True),
        (404, "200-399", False),
        (302, "200,302", True),
        (301, "200,302", False),
    ],
)
def test_status_matches(status: int, matcher: str, ok: bool):
    assert probes.status_matches(status, matcher) is ok


def listener(rules: list[dict], default: dict) -> Listener:
    return Listener("Lb", LB, "lb.example", "internet-facing", "application", LISTENER, 443, "HTTPS", [default], rules)


def test_rules_route_like_the_load_balancer():
    api = {"Type": "forward", "TargetGroupArn": "api"}
    rules = [
        {
            "Priority": "5",
            "Conditions": [
                {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]}}
            ],
            "Actions": [{"Type": "forward", "TargetGroupArn": "c"}],
        },
        {
            "Priority": "10",
            "Conditions": [
                {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.api.example"]}},
                {"Field": "path-pattern", "Values": ["/v?/*"]},
            ],
            "Actions": [api],
        },
    ]
    ls = listener(rules, {"Type": "forward", "TargetGroupArn": "web"})
    assert probes.route(ls, "eu.API.example", "/v1/health") == [api]
    assert probes.route(ls, "eu.api.example", "/v12/health")[0]["TargetGroupArn"] == "web"
    assert probes.route(ls, "www.example", "/v1/health")[0]["TargetGroupArn"] == "web"


@pytest.mark.parametrize(
    ("response", "wrong"),
    [
        (probes.Response(301, "https://web.example/"), None),
        (probes.Response(301, "http://web.example/"), "not to HTTPS"),
        (probes.Response(200), "not a redirect"),
    ],
)
def test_a_redirect_must_go_to_https(response: probes.Response, wrong: str | None):
    _, verdict = probes.expectation({"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS"}})
    result = verdict(response)
    assert (result is None) if wrong is None else (wrong in (result or ""))


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict]] = {}
    hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hosts.append(self.headers.get("Host", ""))
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


@pytest.mark.parametrize(
    ("routes", "action", "statuses"),
    [
        ({"/": (200, {}), "/health": (200, {})}, None, [PASSED, PASSED]),
        ({"/": (503, {}), "/health": (503, {})}, None, [FAILED, FAILED]),
        ({"/": (301, {"Location": "https://web.example/"})}, {"Type": "redirect"}, [PASSED, NOT_APPLICABLE]),
        ({"/": (301, {"Location": "http://web.example/"})}, {"Type": "redirect"}, [FAILED, NOT_APPLICABLE]),
    ],
)
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
        (NOT_APPLICABLE, "the stack has no load balancer listener")
    ]


@pytest.mark.parametrize(
    ("state", "task_status", "status"),
    [("ENABLED", "ACTIVE", PASSED), ("DISABLED", "ACTIVE", FAILED), ("ENABLED", "INACTIVE", FAILED)],
)
def test_a_schedule_on_an_event_bus(state: str, task_status: str, status: str):
    clients = world()
    clients["cloudformation"].methods["list_stack_resources"] = lambda StackName: {
        "StackResourceSummaries": [
            {"LogicalResourceId": "Nightly", "ResourceType": "AWS::Events::Rule", "PhysicalResourceId": "ops|nightly"}
        ]
    }
    seen: dict[str, Any] = {}

    def describe_rule(Name: str, EventBusName: str = "default") -> dict:  # noqa: N803 - boto3's names
        seen["bus"] = EventBusName
        return {"Name": Name, "State": state}

    clients["events"] = Fake(
        describe_rule=describe_rule,
        list_targets_by_rule=lambda Rule, EventBusName: {
            "Targets": [
                {
                    "Arn": "arn:aws:ecs:us-east-1:1:cluster/main",
                    "EcsParameters": {"TaskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/job:1"},
                }
            ]
        },
    )
    clients["ecs"].methods["describe_clusters"] = lambda clusters: {"clusters": [{"status": "ACTIVE"}]}
    clients["ecs"].methods["describe_task_definition"] = lambda taskDefinition: {
        "taskDefinition": {"status": task_status}
    }
    d = discover(fake_aws(clients), "web-dev")
    assert seen["bus"] == "ops" and [(s.kind, s.name) for s in d.schedules] == [("rule", "nightly")]
    assert services.schedule_enabled(fake_aws(clients), d.schedules[0]).status == status


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    from cryptography import x509  # noqa: PLC0415 - moto's dependency, only this test needs it
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An HTTPS server on 127.0.0.1 with a certificate for web.example, which the probes trust."""
    cert, key = self_signed(tmp_path, "web.example")
    monkeypatch.setattr(probes, "tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(("cert_name", "status"), [("web.example", PASSED), ("other.example", FAILED)])
def test_https_probes_send_the_users_host_name(tls_server: int, cert_name: str, status: str):
    """SNI and Host are the output URL's host (covered by the listener's certificate) while the
    connection goes to the load balancer's address; a certificate for another name fails."""
    Handler.routes = {"/": (200, {}), "/health": (200, {})}
    Handler.hosts = []
    clients = world(
        lb_dns="127.0.0.1",
        port=tls_server,
        protocol="HTTPS",
        url="https://web.example",
        certificates=("arn:aws:acm:us-east-1:1:certificate/1",),
    )
    acm = Fake(
        describe_certificate=lambda CertificateArn: {
            "Certificate": {  # noqa: N803 - boto3's name
                "DomainName": cert_name,
                "SubjectAlternativeNames": [cert_name],
            }
        }
    )
    checks = probes.run(discover(fake_aws(clients), "web-dev"), acm, window=0)
    assert [c.status for c in checks] == [status, status], [c.message for c in checks]
    if status == PASSED:
        assert Handler.hosts == ["web.example", "web.example"]
        assert checks[0].message.startswith(f"https://web.example:{tls_server}/ via 127.0.0.1")
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in checks[0].message or "doesn't match" in checks[0].message


@pytest.mark.parametrize(
    ("ready", "deployed", "status"),
    [("false", "DISABLED", NOT_APPLICABLE), ("true", "ENABLED", PASSED), ("true", "DISABLED", FAILED)],
)
def test_a_schedule_held_back_until_its_image_is_pushed(ready: str, deployed: str, status: str):
    """A first deploy keeps a schedule whose image is in the platform's own repository DISABLED
    (<Service>ImageReady=false): not applicable, with what to do; once ready, DISABLED fails."""
    from generator.acceptance.stack import Schedule, template_state

    template: dict[str, Any] = {
        "Conditions": {"WriterImageIsReady": {"Fn::Equals": [{"Ref": "WriterImageReady"}, "true"]}},
        "Resources": {
            "WriterSchedule": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {"State": {"Fn::If": ["WriterImageIsReady", "ENABLED", "DISABLED"]}},
            }
        },
    }
    params = {"WriterImageReady": ready}
    state = template_state(template["Resources"]["WriterSchedule"], template, params)
    assert state == ("ENABLED" if ready == "true" else "DISABLED")
    clients = world()
    clients["ecs"].methods["describe_clusters"] = lambda clusters: {"clusters": [{"status": "ACTIVE"}]}
    clients["ecs"].methods["describe_task_definition"] = lambda taskDefinition: {"taskDefinition": {"status": "ACTIVE"}}
    sched = Schedule(
        "ServicesStack/WriterSchedule",
        "schedule",
        "writer",
        deployed,
        "arn:aws:ecs:::cluster/main",
        "arn:aws:ecs:::task-definition/writer:1",
        state,
        "WriterImageReady=false" if ready == "false" else "",
    )
    check = services.schedule_enabled(fake_aws(clients), sched)
    assert check.status == status
    if status == NOT_APPLICABLE:
        assert "WriterImageReady=false" in check.message and "push the image" in check.message
