"""HTTP(S) probes through the load balancers, from the machine that runs the acceptance.

  probe        each listener of an internet-facing load balancer: ``GET /`` with the host
               name users reach it by (an output URL, else the listener certificate's name,
               else the load balancer's DNS name). What answers ``/`` decides the verdict:
               a redirect must answer 301/302 with a ``Location`` on ``https://``; a forward
               must get an answer below 500 from a target (502/503/504 mean no healthy
               target); a fixed response its own status. TCP and TLS listeners must accept a
               connection (TLS: a verified handshake).
  health path  each target group's health-check path, sent through a public listener
               whose rules (evaluated like the load balancer does, by priority: host header,
               path pattern, method) route it to that target group; the status must match
               the target group's matcher (``200``, ``200-399``, ``200,302``).

HTTPS is verified against the system's CA store, with SNI and ``Host`` set to the chosen
host name while the connection goes to the load balancer's own DNS name (so a Route 53
record that has not propagated yet does not fail the probe; ``curl --resolve`` does the
same). Probes that fail are retried for ``window`` seconds: a new load balancer's DNS name
can take a minute to resolve.

On the emulator no probe applies: its load balancers' DNS names are not network endpoints.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from generator.acceptance.report import FAILED, NOT_APPLICABLE, PASSED, Check
from generator.acceptance.stack import Deployed, Listener, TargetGroup, forwards

REDIRECTS = (301, 302, 303, 307, 308)
EMULATED = (
    "the emulator's load balancers are not network endpoints (their DNS names resolve nowhere): probed only on AWS"
)
USER_AGENT = "stackgen-acceptance"


@dataclass(frozen=True)
class Request:
    address: str  # where the connection goes (the load balancer's DNS name)
    port: int
    protocol: str  # HTTP | HTTPS | TCP | TLS
    host: str  # Host header and TLS server name
    path: str = "/"

    @property
    def url(self) -> str:
        scheme = self.protocol.lower()
        default = {"http": 80, "https": 443}.get(scheme)
        port = "" if self.port == default else f":{self.port}"
        via = "" if self.host == self.address else f" via {self.address}"
        return f"{scheme}://{self.host}{port}{self.path}{via}"


@dataclass(frozen=True)
class Response:
    status: int
    location: str = ""


Fetch = Callable[[Request, float], Response]


# --------------------------------------------------------------------------- matching


def wildcard(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """An ALB condition value: ``*`` matches any run of characters, ``?`` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if ignore_case else 0) is not None


def _values(condition: dict[str, Any], key: str) -> list[str]:
    return list((condition.get(key) or {}).get("Values") or condition.get("Values") or [])


def rule_matches(rule: dict[str, Any], host: str, path: str, method: str = "GET") -> bool:
    """Whether a listener rule matches the probe's request. The probe sends no extra headers
    or query string and its source address is unknown, so a rule that needs one of those
    does not match it."""
    for cond in rule.get("Conditions", []):
        field = cond.get("Field", "")
        if field == "host-header":
            if not any(wildcard(v, host, ignore_case=True) for v in _values(cond, "HostHeaderConfig")):
                return False
        elif field == "path-pattern":
            if not any(wildcard(v, path) for v in _values(cond, "PathPatternConfig")):
                return False
        elif field == "http-request-method":
            if method not in _values(cond, "HttpRequestMethodConfig"):
                return False
        else:  # http-header, query-string, source-ip
            return False
    return True


def route(listener: Listener, host: str, path: str) -> list[dict[str, Any]]:
    """The actions the listener takes for ``GET path`` with ``Host: host``."""
    for rule in listener.rules:
        if rule_matches(rule, host, path):
            return rule.get("Actions", [])
    return listener.default_actions


def final_action(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The action that answers (after authenticate-* actions, which come first by Order)."""
    ordered = sorted(actions, key=lambda a: a.get("Order", 0))
    return next((a for a in ordered if not a.get("Type", "").startswith("authenticate")), {})


def status_matches(status: int, matcher: str) -> bool:
    """An ELB matcher: ``200``, ``200,202``, ``200-299`` (and mixtures)."""
    for part in matcher.replace(" ", "").split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= status <= int(high):
                return True
        elif part and int(part) == status:
            return True
    return False


def _status_verdict(matcher: str) -> Callable[[Response], str | None]:
    """A probe verdict: None when the answer's status matches the health check's matcher."""

    def verdict(r: Response) -> str | None:
        return None if status_matches(r.status, matcher) else f"answered {r.status}, the matcher wants {matcher}"

    return verdict


def expectation(action: dict[str, Any]) -> tuple[str, Callable[[Response], str | None]]:
    """What the answer to a request routed to ``action`` must be: (description, verdict),
    where verdict returns None when the response is right, else what is wrong."""
    kind = action.get("Type", "")
    if kind == "redirect":

        def redirect(r: Response) -> str | None:
            if r.status not in REDIRECTS:
                return f"answered {r.status}, not a redirect"
            if not r.location.lower().startswith("https://"):
                return f"redirects to {r.location or 'nowhere'}, not to HTTPS"
            return None

        return "a redirect to https://", redirect
    if kind == "fixed-response":
        want = int((action.get("FixedResponseConfig") or {}).get("StatusCode", "200"))
        return f"the fixed response {want}", lambda r: None if r.status == want else f"answered {r.status}"
    return (
        "an answer from a target (status < 500)",
        lambda r: None if r.status < 500 else f"answered {r.status}: no healthy target answered",
    )


# --------------------------------------------------------------------------- host names


def _cert_names(acm: Any, arn: str) -> list[str]:
    """The names an ACM certificate covers (its domain name first)."""
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    names = [cert.get("DomainName", ""), *cert.get("SubjectAlternativeNames", [])]
    return [n for n in dict.fromkeys(names) if n]


def lb_names(listeners: list[Listener], cert_names: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """Per load balancer: the names its HTTPS listeners' certificates cover (maybe wildcards)."""
    names: dict[str, list[str]] = {}
    for ls in listeners:
        for arn in ls.certificates:
            names.setdefault(ls.lb_arn, [])
            names[ls.lb_arn] += [n for n in cert_names(arn) if n not in names[ls.lb_arn]]
    return names


def probe_host(ls: Listener, names: list[str], outputs: dict[str, str]) -> str | None:
    """The host name a user reaches this listener by."""
    for value in outputs.values():
        if not value.startswith(("http://", "https://")):
            continue
        host = urlparse(value).hostname or ""
        if host == ls.lb_dns or any(wildcard(n, host, ignore_case=True) for n in names):
            return host
    if ls.protocol in ("HTTPS", "TLS"):
        return next((n for n in names if "*" not in n), None)
    return ls.lb_dns


# --------------------------------------------------------------------------- fetching


def tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's CA store, host names checked."""
    return ssl.create_default_context()


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``address`` with SNI and certificate verification for ``host``."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        self._tls = tls_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def fetch(req: Request, timeout: float) -> Response:
    """One request, no redirects followed, no proxy. Raises OSError (ssl.SSLError included) or
    http.client.HTTPException when there is no HTTP answer."""
    if req.protocol in ("TCP", "TLS"):
        with socket.create_connection((req.address, req.port), timeout) as sock:
            if req.protocol == "TLS":
                tls_context().wrap_socket(sock, server_hostname=req.host).close()
        return Response(0)
    if req.protocol == "HTTPS":
        conn: http.client.HTTPConnection = _PinnedHTTPS(req.host, req.port, req.address, timeout)
    else:
        conn = http.client.HTTPConnection(req.address, req.port, timeout=timeout)
    try:
        conn.request("GET", req.path, headers={"Host": req.host, "User-Agent": USER_AGENT})
        resp = conn.getresponse()
        resp.read(65536)
        return Response(resp.status, resp.getheader("Location", "") or "")
    finally:
        conn.close()


# --------------------------------------------------------------------------- the checks


@dataclass
class Probe:
    group: str
    name: str
    request: Request
    wants: str
    verdict: Callable[[Response], str | None]


def _plan_listener(ls: Listener, names: list[str], outputs: dict[str, str]) -> Probe | str:
    """The listener's probe, or why it has none."""
    if ls.protocol == "UDP" or ls.protocol == "TCP_UDP":
        return f"{ls.protocol} listener: no probe for UDP"
    host = probe_host(ls, names, outputs)
    if host is None:
        return "no host name to send: the certificate is a wildcard and no output URL names a host"
    req = Request(ls.lb_dns, ls.port, ls.protocol, host)
    if ls.protocol in ("TCP", "TLS"):
        return Probe("probe", ls.title, req, "a connection", lambda r: None)
    wants, verdict = expectation(final_action(route(ls, host, "/")))
    return Probe("probe", ls.title, req, wants, verdict)


def _plan_health(
    tg: TargetGroup, listeners: list[Listener], names: dict[str, list[str]], outputs: dict[str, str]
) -> Probe | str:
    live = tg.live
    protocol = live.get("HealthCheckProtocol", "HTTP")
    if protocol not in ("HTTP", "HTTPS"):
        return f"its health check is {protocol}: no HTTP path to probe"
    matcher = (live.get("Matcher") or {}).get("HttpCode")
    if not matcher:
        return "its matcher is not an HTTP code (gRPC): no HTTP status to compare"
    path = live.get("HealthCheckPath") or "/"
    for ls in listeners:
        if not ls.public or ls.protocol not in ("HTTP", "HTTPS"):
            continue
        base = probe_host(ls, names.get(ls.lb_arn, []), outputs)
        hosts = [base] if base else []
        hosts += [
            v
            for rule in ls.rules
            for c in rule.get("Conditions", [])
            if c.get("Field") == "host-header"
            for v in _values(c, "HostHeaderConfig")
            if "*" not in v and "?" not in v
        ]
        for host in dict.fromkeys(hosts):
            if forwards(final_action(route(ls, host, path))) == [tg.arn]:
                req = Request(ls.lb_dns, ls.port, ls.protocol, host, path)
                return Probe("health path", tg.path, req, f"status {matcher}", _status_verdict(matcher))
    return f"no public listener routes {path} to this target group"


def plan(deployed: Deployed, cert_names: Callable[[str], list[str]]) -> list[Probe | Check]:
    """Every probe to send, and a not-applicable check for each listener or target group
    that has none (with the reason)."""
    names = lb_names([ls for ls in deployed.listeners if ls.public], cert_names)
    out: list[Probe | Check] = []
    for ls in deployed.listeners:
        if not ls.public:
            out.append(
                Check("probe", ls.title, NOT_APPLICABLE, "internal load balancer: reachable only from inside its VPC")
            )
            continue
        p = _plan_listener(ls, names.get(ls.lb_arn, []), deployed.outputs)
        out.append(p if isinstance(p, Probe) else Check("probe", ls.title, NOT_APPLICABLE, p))
    for tg in deployed.target_groups:
        p = _plan_health(tg, deployed.listeners, names, deployed.outputs)
        out.append(p if isinstance(p, Probe) else Check("health path", tg.path, NOT_APPLICABLE, p))
    return out


def emulated_checks(deployed: Deployed) -> list[Check]:
    """On the emulator: one not-applicable check per listener and per target group."""
    checks = [Check("probe", ls.title, NOT_APPLICABLE, EMULATED) for ls in deployed.listeners]
    checks += [Check("health path", tg.path, NOT_APPLICABLE, EMULATED) for tg in deployed.target_groups]
    if not checks:
        checks.append(Check("probe", "", NOT_APPLICABLE, "the stack has no load balancer listener"))
    return checks


def run(
    deployed: Deployed,
    acm: Any,
    window: float = 60.0,
    interval: float = 5.0,
    timeout: float = 10.0,
    get: Fetch = fetch,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    """Send every probe (retrying failures for ``window`` seconds); one check each."""
    planned = plan(deployed, lambda arn: _cert_names(acm, arn))
    if not planned:
        return [Check("probe", "", NOT_APPLICABLE, "the stack has no load balancer listener")]
    start = clock()
    results: dict[int, Check] = {i: p for i, p in enumerate(planned) if isinstance(p, Check)}
    todo = {i: p for i, p in enumerate(planned) if isinstance(p, Probe)}
    last: dict[int, str] = {}
    while todo:
        for i, p in list(todo.items()):
            t0 = clock()
            try:
                wrong = p.verdict(get(p.request, timeout))
            except (OSError, http.client.HTTPException) as exc:
                wrong = f"no HTTP answer: {type(exc).__name__}: {exc}"
            if wrong is None:
                results[i] = Check(p.group, p.name, PASSED, f"{p.request.url}: {p.wants}", seconds=clock() - t0)
                del todo[i]
            else:
                last[i] = wrong
        if not todo or clock() - start >= window:
            break
        sleep(interval)
    for i, p in todo.items():
        results[i] = Check(
            p.group,
            p.name,
            FAILED,
            f"{p.request.url}: {last[i]} (wanted {p.wants}; retried for {window:.0f} s)",
            seconds=clock() - start,
        )
    return [results[i] for i in sorted(results)]
