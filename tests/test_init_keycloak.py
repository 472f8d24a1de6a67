"""scripts/init-keycloak.sh: shellcheck, usage, and two runs against a stand-in Keycloak
admin API on 127.0.0.1 with a stand-in ``aws`` for the stack's outputs and secrets: the
first run configures the realm, the second changes nothing, and no secret is printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "init-keycloak.sh"
ADMIN_PASSWORD = "master-Admin-pw-0123"
WEB_SECRET = "web-Client-secret-0123456789"
M2M_SECRET = "m2m-Client-secret-0123456789"
TOKEN = "stand-in-token"


class Keycloak:
    """The part of Keycloak's admin REST API the script uses, in memory."""

    def __init__(self) -> None:
        self.realms: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def realm(self, name: str) -> dict[str, Any]:
        return self.realms[name]

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:  # noqa: C901, PLR0911, PLR0912
        self.calls.append((method, path))
        parts = path.strip("/").split("/")[2:]  # after admin/realms
        if not parts:
            if body["realm"] in self.realms:
                return 409, {}
            self.realms[body["realm"]] = {"settings": body, "clients": {}, "groups": {}, "scopes": {}, "users": {}}
            return 201, None
        if parts[0] not in self.realms:
            return 404, {"error": "Realm not found."}
        r = self.realms[parts[0]]
        rest = parts[1:]
        if not rest:
            return 200, r["settings"]
        kind = rest[0]
        if kind == "clients":
            if len(rest) == 1 and method == "GET":
                return 200, [c for c in r["clients"].values() if c["clientId"] == query.get("clientId")]
            if len(rest) == 1:
                cid = str(uuid.uuid4())
                r["clients"][cid] = {**body, "id": cid, "mappers": [], "default_scopes": set()}
                if body.get("serviceAccountsEnabled"):
                    uid = str(uuid.uuid4())
                    r["users"][uid] = {"id": uid, "username": f"service-account-{body['clientId']}", "groups": set()}
                    r["clients"][cid]["sa"] = uid
                return 201, None
            c = r["clients"][rest[1]]
            if len(rest) == 2:
                c.update(body)
                return 204, None
            if rest[2] == "protocol-mappers" and method == "GET":
                return 200, c["mappers"]
            if rest[2] == "protocol-mappers":
                c["mappers"].append(body)
                return 201, None
            if rest[2] == "default-client-scopes":
                c["default_scopes"].add(rest[3])
                return 204, None
            if rest[2] == "service-account-user":
                return 200, {"id": c["sa"]}
        if kind == "groups" and method == "GET":
            return 200, [g for g in r["groups"].values() if query.get("search", "") in g["name"]]
        if kind == "groups":
            if any(g["name"] == body["name"] for g in r["groups"].values()):
                return 409, {}
            gid = str(uuid.uuid4())
            r["groups"][gid] = {**body, "id": gid}
            return 201, None
        if kind == "client-scopes" and method == "GET":
            return 200, list(r["scopes"].values())
        if kind == "client-scopes":
            sid = str(uuid.uuid4())
            r["scopes"][sid] = {**body, "id": sid}
            return 201, None
        if kind == "users" and len(rest) == 1 and method == "GET":
            return 200, [u for u in r["users"].values() if u["username"] == query.get("username")]
        if kind == "users" and len(rest) == 1:
            uid = str(uuid.uuid4())
            r["users"][uid] = {**body, "id": uid, "groups": set()}
            return 201, None
        if kind == "users" and rest[2] == "groups":
            r["users"][rest[1]]["groups"].add(rest[3])
            return 204, None
        if kind == "users" and rest[2] == "reset-password":
            r["users"][rest[1]]["password"] = body["value"]
            return 204, None
        return 400, {"error": f"stand-in does not know {method} {path}"}


@pytest.fixture
def keycloak() -> Iterator[tuple[Keycloak, str]]:
    kc = Keycloak()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body, default=sorted).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if url.path == "/realms/master":
                return self._reply(200, {"realm": "master"})
            if url.path == "/realms/master/protocol/openid-connect/token":
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                ok = form == {
                    "username": "admin",
                    "password": ADMIN_PASSWORD,
                    "grant_type": "password",
                    "client_id": "admin-cli",
                }
                return self._reply(200, {"access_token": TOKEN}) if ok else self._reply(401, {"error": "invalid"})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"error": "unauthorized"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = json.loads(raw) if raw else None
            status, answer = kc.handle(method, url.path, query, body)
            return self._reply(status, answer)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield kc, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fake_aws(tmp_path: Path, keycloak_url: str) -> dict[str, str]:
    """An ``aws`` that answers the stack's outputs, nested resources, secrets and the SSM parameter."""
    secrets = {
        "arn:web": json.dumps({"client_secret": WEB_SECRET}),
        "arn:m2m": json.dumps({"client_secret": M2M_SECRET}),
        "arn:admin": ADMIN_PASSWORD,
    }
    body = f"""
args="$*"
case "$args" in
  *describe-stacks*KeycloakLoadBalancerUrl*) echo "{keycloak_url}" ;;
  *describe-stacks*MainLoadBalancerUrl*) echo "http://registry.example" ;;
  *"--stack-name mcp-gateway-dev --logical-resource-id SecretsStack"*) echo "nested-secrets" ;;
  *KeycloakClientSecretSecret*) echo "arn:web" ;;
  *KeycloakM2mClientSecretSecret*) echo "arn:m2m" ;;
  *KeycloakAdminPasswordSecret*) echo "arn:admin" ;;
  *KeycloakAdminParameter*) echo "/mcp-gateway/dev/1a2b3c4d/keycloak-admin" ;;
  *"ssm get-parameter"*) echo "admin" ;;
  *"get-secret-value --secret-id arn:web"*) printf '%s\\n' '{secrets["arn:web"]}' ;;
  *"get-secret-value --secret-id arn:m2m"*) printf '%s\\n' '{secrets["arn:m2m"]}' ;;
  *"get-secret-value --secret-id arn:admin"*) printf '%s\\n' '{secrets["arn:admin"]}' ;;
  *) echo "stand-in aws: $args" >&2; exit 255 ;;
esac
"""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "aws").write_text(f"#!/usr/bin/env bash\n{body}")
    (d / "aws").chmod(0o755)
    return {"PATH": f"{d}:{os.environ['PATH']}"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYCLOAK_", "INITIAL_"))}
    e.update(env or {})
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_shellcheck_clean() -> None:
    r = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout


def test_usage() -> None:
    r = run("--help")
    assert r.returncode == 0 and "--stack NAME" in r.stdout and "--realm-admin" in r.stdout
    r = run()
    assert r.returncode == 2 and "--stack is required" in r.stderr
    r = run("--stack", "x", "--wait", "soon")
    assert r.returncode == 2 and "--wait takes a number" in r.stderr


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs jq and curl")
def test_configures_the_realm_and_a_second_run_changes_nothing(keycloak: tuple[Keycloak, str], tmp_path: Path) -> None:
    kc, url = keycloak
    env = {**fake_aws(tmp_path, url), "INITIAL_ADMIN_PASSWORD": "realm-Admin-pw-4567"}
    first = run("--stack", "mcp-gateway-dev", "--realm-admin", "--wait", "0", env=env)
    assert first.returncode == 0, first.stderr + first.stdout
    realm = kc.realm("mcp-gateway")
    clients = {c["clientId"]: c for c in realm["clients"].values()}
    assert {k: c["secret"] for k, c in clients.items()} == {
        "mcp-gateway-web": WEB_SECRET,
        "mcp-gateway-m2m": M2M_SECRET,
    }
    assert "http://registry.example:8888/oauth2/callback/keycloak" in clients["mcp-gateway-web"]["redirectUris"]
    assert all([m["name"] for m in c["mappers"]] == ["groups"] for c in clients.values())
    groups = {g["id"]: g["name"] for g in realm["groups"].values()}
    assert len(groups) == 12 and "mcp-servers-unrestricted" in groups.values()
    scopes = {s["id"]: s["name"] for s in realm["scopes"].values()}
    assert {scopes[s] for s in clients["mcp-gateway-m2m"]["default_scopes"]} == {
        "mcp-servers-unrestricted/read",
        "mcp-servers-unrestricted/execute",
        "mcp-servers-restricted/read",
        "mcp-servers-restricted/execute",
    }
    users = {u["username"]: u for u in realm["users"].values()}
    assert {groups[g] for g in users["service-account-mcp-gateway-m2m"]["groups"]} == {
        "mcp-servers-unrestricted",
        "a2a-agent-admin",
    }
    assert users["admin"]["password"] == "realm-Admin-pw-4567"
    assert {groups[g] for g in users["admin"]["groups"]} == {
        "mcp-registry-admin",
        "mcp-servers-unrestricted",
        "registry-admins",
    }
    before, first_calls = json.dumps(realm, sort_keys=True, default=sorted), len(kc.calls)

    second = run("--stack", "mcp-gateway-dev", "--realm-admin", "--wait", "0", env=env)
    assert second.returncode == 0, second.stderr + second.stdout
    assert json.dumps(kc.realm("mcp-gateway"), sort_keys=True, default=sorted) == before
    assert "realm mcp-gateway: exists" in second.stdout and "client mcp-gateway-web: updated" in second.stdout
    assert not [c for c in kc.calls[first_calls:] if c[0] == "POST"], "the second run created something"
    for out in (first.stdout + first.stderr, second.stdout + second.stderr):
        for secret in (ADMIN_PASSWORD, WEB_SECRET, M2M_SECRET, "realm-Admin-pw-4567"):
            assert secret not in out


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs jq and curl")
def test_a_wrong_admin_password_stops_it(keycloak: tuple[Keycloak, str], tmp_path: Path) -> None:
    kc, url = keycloak
    r = run(
        "--stack", "mcp-gateway-dev", "--wait", "0", env={**fake_aws(tmp_path, url), "KEYCLOAK_ADMIN_PASSWORD": "wrong"}
    )
    assert r.returncode == 1 and "could not log in to Keycloak as admin" in r.stderr
    assert kc.realms == {}
