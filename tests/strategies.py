"""Hypothesis strategies that build valid random platform specs through the public
spec model (``generator.spec.parse_spec``).

Varied: 1-40 services (``large_platforms``: 100-150 in the ``ci`` profile, 100-300 in
``deep``, for the service-group property test) with random names, 1-4 ports (or none: a worker),
Fargate sizes, health checks (HTTP
path or command), EFS volumes, secrets, environment variables, reachability (ALB
target group, other services, none) and scaling bounds; with or without a domain,
a database, EFS; the egress mode (``EGRESS_MODES``: the hook for the connectivity
work, public-ip with its reason included), per-environment egress overrides;
per-environment sizing.  The shapes the deployability check judges: listeners whose
existence depends on the domain (a domain with a base domain, a domain whose base
domain is empty until stage two, none; https / redirect / auto mixes on 80, 443 and
extra ports), 1-20 ingress CIDRs for 80/443 and a named ingress source set (1-3 CIDRs, on
the listener or the load balancer) for the other ports, application buckets (encrypted
with the platform key) with services that read and write them through task permissions (and
find their names in their environment), a queue ARN parameter with an allowed_pattern named in
task permissions, per-environment scaling ranges and desired counts, listener rules (path
and host routes of the target groups past a load balancer's fourth, some of them HTTP2 or
gRPC behind the https listener alone) and Service Connect
app_protocol on ports; the network shapes: an existing VPC, public-ip with public subnets
only, a nat tier in a vpc-endpoints platform.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st

from generator.spec import FARGATE_SIZES, Platform, parse_spec

# The egress modes the strategy draws from. The connectivity issue adds modes here.
EGRESS_MODES = ("nat-per-az", "single-nat", "vpc-endpoints", "public-ip")
PUBLIC_IP_REASON = "a throw-away dev platform without NAT or endpoint costs"
# A domain: none; a base domain; declared but empty until stage two of the deploy.
DOMAINS = (None, "example.com", "")

SIZES = [(c, m) for c, ms in FARGATE_SIZES.items() if c <= 4096 for m in ms]
WORDS = [
    "api",
    "web",
    "auth",
    "worker",
    "cache",
    "search",
    "billing",
    "report",
    "agent",
    "gateway",
    "ingest",
    "notify",
    "orders",
    "users",
    "media",
    "admin",
    "feed",
    "mail",
    "queue",
    "store",
]


@st.composite
def service_names(draw: st.DrawFn, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        base = draw(st.sampled_from(WORDS))
        name = f"{base}-{len(names)}" if draw(st.booleans()) else f"{base}{len(names)}"
        names.append(name)
    return names


@st.composite
def sidecars(draw: st.DrawFn, secrets: list[str]) -> list[dict[str, Any]]:
    """One or two sidecars that fit in any task size of SIZES (at most 64 CPU units and 128 MiB
    together), on ports outside the range services draw theirs from."""
    out: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 2))):
        essential = draw(st.booleans())
        c: dict[str, Any] = {
            "name": f"sidecar-{k}",
            "image": {"default": f"registry.example/sidecar-{k}:1.0"},
            "cpu": draw(st.sampled_from([0, 32])),
            "memory": draw(st.sampled_from([32, 64])),
            "essential": essential,
            "user": "1000:1000",
            "readonly_root_filesystem": True,
        }
        if essential or draw(st.booleans()):
            c["health_check"] = {"command": "kill -0 1 || exit 1", "start_period": draw(st.integers(0, 60))}
        if draw(st.booleans()):
            c["ports"] = [{"name": f"side{k}", "port": 65100 + k}]
        with_secret, waits = draw(st.booleans()), draw(st.booleans())
        if secrets and with_secret:
            c["secrets"] = {"SIDE_TOKEN": {"secret": draw(st.sampled_from(secrets))}}
        if out and waits:
            c["depends_on"] = [{"container": out[0]["name"], "condition": "START"}]
        out.append(c)
    return out


@st.composite
def platforms(draw: st.DrawFn, max_services: int = 40, min_services: int = 1) -> dict[str, Any]:
    n = draw(st.integers(min_services, max_services))
    names = draw(service_names(n))
    base_domain = draw(st.sampled_from(DOMAINS))
    with_domain = base_domain is not None
    with_db = draw(st.booleans())
    with_efs = draw(st.booleans())
    egress = draw(st.sampled_from(EGRESS_MODES))
    azs = draw(st.integers(2, 3))
    per_env = draw(st.booleans())
    n_lbs = draw(st.integers(0, 2)) if egress != "vpc-endpoints" or True else 0
    lbs = [f"edge{i}" for i in range(n_lbs)]
    secrets = [f"secret-{i}" for i in range(draw(st.integers(0, 3)))]
    aps = [f"data{i}" for i in range(draw(st.integers(1, 3)))] if with_efs else []
    buckets = [f"files-{i}" for i in range(draw(st.integers(0, 2)))]

    services: list[dict[str, Any]] = []
    tg_by_lb: dict[str, list[str]] = {lb: [] for lb in lbs}
    workers: set[str] = set()  # services with no ports (queue consumers): nothing reaches them
    for i, name in enumerate(names):
        nports = draw(st.integers(1, 4))
        ports = draw(st.lists(st.integers(1024, 65000), min_size=nports, max_size=nports, unique=True))
        ports = [p for p in ports if p != 2049] or [8080]
        port_specs = [{"name": f"p{j}", "port": p} for j, p in enumerate(ports)]
        for spec_port in port_specs:  # Service Connect app_protocol (issue 12)
            proto = draw(st.sampled_from([None, None, "http", "http2", "grpc"]))
            if proto:
                spec_port["app_protocol"] = proto
        if draw(st.integers(0, 5)) == 0:
            workers.add(name)
            port_specs = []
        svc: dict[str, Any] = {
            "name": name,
            "image": {"default": f"registry.example/{name}:1.0"},
            "ports": port_specs,
            "log_retention_days": draw(st.sampled_from([7, 14, 30, 90, 365])),
            "user": "1000:1000",
            "readonly_root_filesystem": draw(st.booleans()),
        }
        if not svc["readonly_root_filesystem"]:
            svc["writable_root_reason"] = "the image writes to its root filesystem"
        if per_env:
            sizes = {
                env: dict(zip(("cpu", "memory"), draw(st.sampled_from(SIZES)), strict=True))
                for env in ("dev", "test", "prod")
            }
            svc["sizing"] = sizes
        else:
            cpu, mem = draw(st.sampled_from(SIZES))
            svc["cpu"], svc["memory"] = cpu, mem
        start = draw(st.integers(0, 120))
        if name in workers:
            cmd = "kill -0 1 || exit 1"
        elif draw(st.booleans()):
            path = draw(st.sampled_from(["/health", "/healthz", "/ping", "/"]))
            cmd = f"curl -f http://localhost:{ports[0]}{path} || exit 1"
        else:
            cmd = f"nc -z localhost {ports[0]} || exit 1"
        svc["health_check"] = {
            "command": cmd,
            "start_period": start,
            "interval": draw(st.sampled_from([10, 30, 60])),
            "retries": draw(st.integers(1, 5)),
        }
        if draw(st.integers(0, 3)) == 0:  # sidecars (a log router, a proxy, an agent)
            svc["sidecars"] = draw(sidecars(secrets))
            first = svc["sidecars"][0]
            if draw(st.booleans()):
                svc["depends_on"] = [
                    {"container": first["name"], "condition": "HEALTHY" if first.get("health_check") else "START"}
                ]
        env_n = draw(st.integers(0, 3))
        svc["environment"] = {
            f"VAR_{k}": draw(st.sampled_from(["x", "${AWS::Region}", "${Name}", "1"])) for k in range(env_n)
        }
        if len(lbs) > 0 and draw(st.booleans()):
            lb = draw(st.sampled_from(lbs))
            svc["environment"]["LB_URL"] = f"${{lb:{lb}:url}}"
        sec: dict[str, Any] = {}
        for s in draw(st.lists(st.sampled_from(secrets), unique=True)) if secrets else []:
            sec[f"S_{s.replace('-', '_').upper()}"] = {"secret": s}
        if with_db and draw(st.booleans()):
            sec["DB_USER"] = {"database": "username"}
            sec["DB_PASS"] = {"database": "password"}
        svc["secrets"] = sec
        if len(aps) > 0 and draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(aps), min_size=1, unique=True))
            svc["volumes"] = [{"access_point": a, "path": f"/mnt/{a}"} for a in chosen]
        if lbs and name not in workers and draw(st.integers(0, 2)) == 0:
            lb = draw(st.sampled_from(lbs))
            tg = f"tg-{name}"
            hc_port = draw(st.sampled_from([None, ports[-1]]))
            svc["target_groups"] = [
                {
                    "name": tg,
                    "load_balancer": lb,
                    "container_port": ports[0],
                    "health_check": {"path": "/health", "port": hc_port},
                }
            ]
            tg_by_lb[lb].append(tg)
        if len(buckets) > 0 and draw(st.booleans()):
            bucket = draw(st.sampled_from(buckets))
            actions = draw(
                st.sampled_from([["s3:GetObject"], ["s3:PutObject"], ["s3:GetObject", "s3:PutObject"], ["s3:Get*"]])
            )
            svc["task_permissions"] = [
                {"sid": "Objects", "actions": actions, "resources": [f"${{bucket:{bucket}}}/*"]},
                {"sid": "List", "actions": ["s3:ListBucket"], "resources": [f"${{bucket:{bucket}}}"]},
            ]
            if draw(st.booleans()):  # the bucket's name in the environment
                svc["environment"]["BUCKET"] = f"${{bucket:{bucket}}}"
        if draw(st.integers(0, 3)) == 0:  # a queue outside the platform, named by a parameter
            svc.setdefault("task_permissions", []).append(
                {"sid": "Queue", "actions": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "resources": ["${QueueArn}"]}
            )
        others = [o for o in names[:i]]
        if others and name not in workers and draw(st.booleans()):
            srcs = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
            svc["allow_from"] = [{"service": s, "ports": [ports[0]]} for s in srcs]
        if draw(st.booleans()):
            lo = draw(st.integers(1, 3))
            svc["scaling"] = {
                "min": lo,
                "max": draw(st.integers(lo, 10)),
                "cpu": draw(st.sampled_from([None, 50, 70])),
                "memory": draw(st.sampled_from([None, 80])),
            }
            if svc["scaling"]["cpu"] is None and svc["scaling"]["memory"] is None:
                svc["scaling"]["cpu"] = 60
            if draw(st.booleans()):  # per-environment ranges and counts
                hi = svc["scaling"]["max"]
                svc["scaling_by_environment"] = {"prod": {"min": hi, "max": hi + 2}, "dev": {"min": 1, "max": hi}}
                svc["desired_count_by_environment"] = {"prod": hi + draw(st.integers(0, 2))}
        if name not in workers and draw(st.integers(0, 3)) == 0:
            svc["discovery"] = {
                "mode": draw(st.sampled_from(["service-connect", "cloud-map"])),
                "name": name,
                "port": "p0",
            }
        services.append(svc)

    load_balancers = []
    tg_specs = {tg["name"]: tg for svc in services for tg in svc.get("target_groups", [])}
    n_cidrs = draw(st.integers(1, 3))
    sources = {
        "name": "ClientCidrBlocks",
        "description": "clients of the other ports",
        "cidrs": [f"192.0.{k}.0/24" for k in range(n_cidrs)],
    }
    for lb in lbs:
        tgs = tg_by_lb[lb]
        if not tgs:
            continue
        listeners = [{"port": 80, "mode": draw(st.sampled_from(["redirect", "auto"])), "target_group": tgs[0]}]
        if with_domain:
            listeners.append({"port": 443, "mode": draw(st.sampled_from(["https", "auto"])), "target_group": tgs[0]})
        for k, tg in enumerate(tgs[1:4]):
            # a target group reached only through https listeners is refused (no listener
            # forwards to it before a domain exists), so a port of its own is auto
            listeners.append({"port": 8000 + k, "mode": "auto", "target_group": tg, "sources": sources["name"]})
        # the others (up to 45 per load balancer: within its 100 rules on two listeners) are
        # reached through routes: a path, sometimes a host too, priority by position (issue 12)
        ports = [80, 443] if with_domain else [80]
        https_only = with_domain and listeners[1]["mode"] == "https"
        for k, tg in enumerate(tgs[4:49]):
            route: dict[str, Any] = {"priority": 10 + k, "paths": [f"/{tg}/*"], "listeners": ports}
            if draw(st.booleans()):
                # with a domain, half of them three record names (tg.<region>.<BaseDomain>, ...):
                # past the 9 beside the dns_record on one certificate, the load balancer grows an
                # overflow ALB (generator.lb_placement) with alias records and a certificate of its own
                record = with_domain and draw(st.booleans())
                route["hosts"] = [tg, f"{tg}-a", f"{tg}-b"] if record else [f"{tg}.example.com"]
            tg_specs[tg]["routes"] = [route]
            if https_only and draw(st.integers(0, 3)) == 0:
                # HTTP2 / gRPC to the targets: served only through the https listener, and
                # attached by its service only once the domain exists (issue 12)
                version = draw(st.sampled_from(["HTTP2", "GRPC"]))
                tg_specs[tg]["protocol_version"] = version
                route["listeners"] = [443]
                if version == "GRPC":
                    tg_specs[tg]["health_check"].update(path="/AWS.ALB/healthcheck", matcher="0-99")
        entry: dict[str, Any] = {"name": lb, "listeners": listeners}
        if len(listeners) > 1 and draw(st.booleans()):  # the load balancer's default set instead
            entry["sources"] = sources["name"]
            for x in listeners:
                x.pop("sources", None)
        if with_domain:
            entry["dns_record"] = lb
        load_balancers.append(entry)
    used_lbs = {x["name"] for x in load_balancers}
    for svc in services:  # drop target groups no listener serves and LB placeholders of unused LBs
        served = {x["target_group"] for lb in load_balancers for x in lb["listeners"]}
        served |= {name for name, tg in tg_specs.items() if tg.get("routes")}
        svc["target_groups"] = [tg for tg in svc.get("target_groups", []) if tg["name"] in served]
        if (
            svc["environment"].get("LB_URL", "").split(":")[1:2]
            and svc["environment"]["LB_URL"].split(":")[1] not in used_lbs
        ):
            del svc["environment"]["LB_URL"]

    network: dict[str, Any] = {
        "availability_zones": azs,
        "tiers": [
            {"name": "private", "newbits": 4, "offset": 0},
            {"name": "public", "public": True, "newbits": 8, "offset": 200},
        ],
        "egress": egress,
    }
    if egress == "public-ip":
        network["public_ip_reason"] = PUBLIC_IP_REASON
    elif draw(st.booleans()):
        modes = [m for m in EGRESS_MODES if m != "public-ip"]
        envs = draw(st.lists(st.sampled_from(["dev", "test", "prod"]), unique=True, max_size=2))
        network["egress_by_environment"] = {e: draw(st.sampled_from(modes)) for e in envs}
    _network_shape(draw, network, services, with_db or bool(aps))
    cidrs = draw(st.lists(st.integers(0, 255), min_size=1, max_size=20, unique=True))
    ingress = [f"198.51.{c}.0/24" for c in cidrs]
    if draw(st.booleans()):
        ingress[0] = "0.0.0.0/0"
    data: dict[str, Any] = {
        "name": "prop-platform",
        "description": "random platform",
        "network": network,
        "ingress_cidrs": ingress,
        "clusters": [{"name": "main"}],
        "services": services,
        "load_balancers": load_balancers,
        "secrets": [{"name": s, "description": f"secret {s}", "generate": {"length": 32}} for s in secrets],
        "namespace": "prop.local",
        "buckets": buckets,
    }
    if any(r == "${QueueArn}" for s in services for p in s.get("task_permissions", []) for r in p["resources"]):
        data["parameters"] = [
            {
                "name": "QueueArn",
                "description": "ARN of the queue the workers read",
                "allowed_pattern": r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$",
                "constraint_description": "an SQS queue ARN",
            }
        ]
    if any("sources" in x or "sources" in lb for lb in load_balancers for x in lb["listeners"]):
        data["ingress_sources"] = [sources]
    if with_domain and load_balancers:
        data["domain"] = {"base_domain": base_domain}
    else:
        for balancer in load_balancers:
            balancer.pop("dns_record", None)
            balancer["listeners"] = [x for x in balancer["listeners"] if x["mode"] != "https"]
    if with_db:
        data["database"] = {
            "engine": draw(st.sampled_from(["aurora-mysql", "aurora-postgresql"])),
            "engine_version": "8.0.mysql_aurora.3.08.2",
            "database_name": "app",
        }
        if data["database"]["engine"] == "aurora-postgresql":
            data["database"]["engine_version"] = "16.9"
    if aps:
        data["efs"] = {"access_points": [{"name": a, "path": f"/{a}"} for a in aps]}
    return data


def _network_shape(draw: st.DrawFn, network: dict[str, Any], services: list[dict[str, Any]], stores: bool) -> None:
    """The network shapes of issue 12, drawn on top of the created VPC: an existing VPC (tiers by
    name only), public-ip with public subnets only (no data stores), or a nat tier in a
    vpc-endpoints platform with some services placed in it."""
    shape = draw(st.sampled_from(("created", "existing", "public-only", "nat-tier")))
    if shape == "existing":
        network["existing"] = True
        network["tiers"] = [{"name": "private"}, {"name": "public", "public": True}]
    elif shape == "public-only" and network["egress"] == "public-ip" and not stores:
        network["tiers"] = [{"name": "public", "public": True, "newbits": 8, "offset": 200}]
    elif shape == "nat-tier" and network["egress"] == "vpc-endpoints" and not network.get("egress_by_environment"):
        network["tiers"].append({"name": "egress", "nat": True, "newbits": 8, "offset": 100})
        for svc in services:
            if draw(st.booleans()):
                svc["subnets"] = "egress"


def valid_platforms(max_services: int = 40, min_services: int = 1) -> st.SearchStrategy[Platform]:
    return platforms(max_services, min_services).map(lambda d: parse_spec(d, "<hypothesis>"))


# Large platforms: the sizes service groups exist for (generator.placement).  ``deep`` draws
# up to 300 services; ``ci`` stays at 150 so that ``make test`` does not grow much.
LARGE = {"deep": 300}.get(os.environ.get("HYPOTHESIS_PROFILE", "dev"), 150)


def large_platforms() -> st.SearchStrategy[Platform]:
    return valid_platforms(LARGE, 100)
