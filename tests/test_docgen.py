"""`stackgen docs`: the page and the diagram generated from the templates."""

from __future__ import annotations

import copy
import itertools
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from generator import docgen, render
from generator.cfn.load import load_dir, load_file
from generator.cli import main
from generator.deployability import rootset
from generator.docgen import diagram, markdown, model
from tests.helpers import PLATFORMS, ROOT
from tests.test_split_roots_tools import write_split

DOCS = ROOT / "docs" / "platforms"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAS_DOT and os.environ.get("STACKGEN_REQUIRE_GRAPHVIZ") != "1",
    reason="graphviz `dot` is not installed (CI installs it and requires it)",
)
SVG = "{http://www.w3.org/2000/svg}"


def templates(name: str) -> dict[str, dict[str, Any]]:
    return load_dir(ROOT / "templates" / name)


def test_bff_architecture_exact() -> None:
    arch = model.read(templates("bff-agentcore"), "bff-agentcore")
    assert [(t.name, t.egress) for t in arch.tiers] == [
        ("public", "internet via internet gateway"),
        ("private-agent", "no route to the internet"),
        ("private-app", "no route to the internet"),
        ("private-data", "no route to the internet"),
    ]
    assert arch.tiers[0].subnets == [("az1", "10.0.1.0/24"), ("az2", "10.0.2.0/24")]
    assert arch.edges == {
        ("lb_PublicLoadBalancer", "task_BffService"): {"3000"},
        ("task_BffService", "task_AgentcoreService"): {"8080"},
        ("task_BffService", "db_DatabaseCluster"): {"5432"},
        ("task_AgentcoreService", "db_DatabaseCluster"): {"5432"},
    }
    assert arch.ingress == {"lb_PublicLoadBalancer": {"80", "443"}}
    nodes = {n.id: n for n in arch.nodes}
    assert nodes["task_BffService"].tier == "private-app" and nodes["db_DatabaseCluster"].tier == "private-data"
    assert "443 from every task" in nodes["endpoints_Interface_private-app"].lines
    lb = nodes["lb_PublicLoadBalancer"].lines
    assert "80 HTTP: redirect to HTTPS 443 (if HasDomain)" in lb and "443 HTTPS: forward to bff (if HasDomain)" in lb


def test_edges_follow_the_security_group_rules() -> None:
    """Break the template: drop the bff -> agentcore ingress rule, open agentcore to the world."""
    t = copy.deepcopy(templates("bff-agentcore"))
    sgs = t["security-groups-database.yaml"]["Resources"]  # bff and agentcore use the database
    del sgs["BffServiceToAgentcoreService8080Ingress"]
    sgs["AgentcoreServiceSecurityGroup"]["Properties"]["SecurityGroupIngress"] = [
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "0.0.0.0/0"}
    ]
    arch = model.read(t, "x")
    assert ("task_BffService", "task_AgentcoreService") not in arch.edges
    assert arch.ingress["task_AgentcoreService"] == {"8080"}


def test_mcp_architecture_has_nat_proxy_and_efs() -> None:
    arch = model.read(templates("mcp-gateway"), "mcp-gateway")
    kinds = {n.id: n.kind for n in arch.nodes}
    assert kinds["nat_public"] == "nat" and kinds["proxy_DatabaseProxy"] == "proxy" and kinds["efs_FileSystem"] == "efs"
    assert arch.edges[("task_KeycloakService", "proxy_DatabaseProxy")] == {"3306"}
    assert arch.edges[("task_McpgwService", "efs_FileSystem")] == {"2049"}
    assert [t.egress for t in arch.tiers] == ["internet via internet gateway", "internet via NAT gateway"]


def test_page_sections() -> None:
    page = markdown.page(templates("mcp-gateway"), "mcp-gateway")
    assert "| `KeycloakAdminPassword` | String | (none: required) |  | yes | Keycloak admin password |" in page
    assert "| `Environment` | String | `dev` | `dev`, `test`, `prod` |  | Deployment environment |" in page
    assert (
        "| `DatabaseStack/DatabaseCluster` | RDS::DBCluster | `DeletionProtection` | `false` | `true` | `true` |"
        in page
    )
    assert "Nested stacks only when `BaseDomain` is set: `CertificatesStack`, `DnsStack`" in page
    assert "| NAT gateways | 3 | 3 | 3 |" in page
    bff = markdown.page(templates("bff-agentcore"), "bff-agentcore")
    assert (
        "| `ServicesDatabaseStack/BffTaskDefinition` | ECS::TaskDefinition | `Cpu` | `512` | `1024` | `2048` |" in bff
    )
    sfw = markdown.page(templates("scheduled-file-writer"), "scheduled-file-writer")
    assert "| VPC endpoints | 1 gateway, 7 interface | 1 gateway, 7 interface | 1 gateway, 7 interface |" in sfw
    assert "Nothing: every environment deploys the same resources with the same properties." in sfw


def _text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """(text, x0, y0, x1, y1) of every line of text, its width estimated from DejaVu Sans (0.6 em a
    character); consecutive pieces on one baseline (bold then plain) are one line."""
    out: list[tuple[str, float, float, float, float]] = []
    for el in ET.fromstring(svg).iter(f"{SVG}text"):
        size = float(el.get("font-size", "14"))
        text = el.text or ""
        width = len(text) * size * 0.6
        x, y = float(el.get("x", "0")), float(el.get("y", "0"))
        x0 = {"middle": x - width / 2, "end": x - width}.get(el.get("text-anchor", "start"), x)
        box = (text, x0, y - size * 0.8, x0 + width, y + size * 0.2)
        if out and abs(out[-1][4] - box[4]) < 0.01 and -size <= box[1] - out[-1][3] <= size:
            last = out.pop()
            box = (last[0] + text, last[1], last[2], box[3], last[4])
        out.append(box)
    return out


@needs_dot
@pytest.mark.parametrize("spec", PLATFORMS, ids=lambda p: p.stem)
def test_committed_docs_are_fresh_and_readable(spec: Path) -> None:
    files = docgen.generate(templates(spec.stem), spec.stem)
    for name, text in files.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, f"{name} is stale: run `make docs`"
    svg = files[f"{spec.stem}.svg"]
    assert "Generated by graphviz" not in svg
    boxes = _text_boxes(svg)
    texts = " ".join(b[0] for b in boxes)
    for node in model.read(templates(spec.stem), spec.stem).nodes:  # every box is labelled
        assert node.title in texts, node.title
    overlaps = [
        (a[0], b[0])
        for a, b in itertools.combinations(boxes, 2)
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]
    assert overlaps == []


@needs_dot
def test_svg_is_deterministic_and_version_free() -> None:
    t = templates("scheduled-file-writer")
    a = diagram.render_svg(diagram.to_dot(model.read(t, "s")))
    b = diagram.render_svg(diagram.to_dot(model.read(t, "s")))
    assert a == b and not re.search(r"graphviz version", a)


def test_missing_dot_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(diagram.shutil, "which", lambda _name: None)
    assert main(["docs", "--templates", str(ROOT / "templates" / "scheduled-file-writer"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stackgen docs: graphviz's `dot` is not installed: apt-get install graphviz")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["docs"]) == 2
    assert capsys.readouterr().err.strip() == "stackgen docs: give either SPEC or --templates DIR"
    assert main(["docs", "--templates", str(tmp_path)]) == 2
    assert "no main.yaml there" in capsys.readouterr().err


@needs_dot
def test_cli_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = ROOT / "platforms" / "scheduled-file-writer.yaml"
    assert main(["docs", str(spec), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scheduled-file-writer.md", "scheduled-file-writer.svg"]
    assert (tmp_path / "scheduled-file-writer.md").read_text(encoding="utf-8") == (
        DOCS / "scheduled-file-writer.md"
    ).read_text(encoding="utf-8")


# ---- a platform split into several root stacks -------------------------------------------------


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 services in two roots: svc006..svc011 live only in main-services-2.yaml and its stacks."""
    return write_split(tmp_path_factory.mktemp("docs-split") / "two-roots")


def test_the_diagram_reads_every_root(split_dir: Path) -> None:
    arch = model.read(rootset.load_roots(split_dir), "two-roots")
    nodes = {n.id: n for n in arch.nodes}
    # a service of the second root, placed by the subnets it takes from the base root's outputs
    assert nodes["task_Svc006Service"].tier == "private"
    assert "root main-services-2.yaml" in nodes["task_Svc006Service"].lines
    assert "root main.yaml" in nodes["task_Svc000Service"].lines
    # an ingress rule of the second root whose source is a security group of the base root
    assert ("task_Svc000Service", "task_Svc006Service") in arch.edges
    assert ("task_Svc006Service", "efs_FileSystem") in arch.edges


def test_the_page_documents_every_root(split_dir: Path) -> None:
    page = markdown.page(rootset.load_roots(split_dir), "two-roots")
    assert "## Root stacks" in page
    assert (
        "| 2 | `main-services-2.yaml` | `<stack>-services-2` | 5 | 93 | `later` | "
        "svc006, svc007, svc008, svc009, svc010, svc011 |" in page
    )
    assert "| `PrivateSubnetIds` | `main.yaml` |" in page and "| `StackUid` | `main.yaml` |" in page
    assert "| `Svc006ImageUri` | String |" in page
    assert re.search(
        r"^\| `main-services-2.yaml` \| `ServicesLaterStack` \| `services-later.yaml` \|  \| 18 \|", page, re.M
    )
    assert re.search(r"^\| `main.yaml` \| `ServicesStack` \| `services.yaml` \|", page, re.M)
    assert re.search(r"^\| task CPU/memory \| .*Svc006 256/512", page, re.M)  # the environments see it too
    # the seeds have one root: no such section, no root column
    seed = markdown.page(templates("mcp-gateway"), "mcp-gateway")
    assert "## Root stacks" not in seed and "| root |" not in seed


@needs_dot
def test_stackgen_docs_templates_dir_covers_the_second_root(split_dir: Path, tmp_path: Path) -> None:
    assert main(["docs", "--templates", str(split_dir), "--out", str(tmp_path)]) == 0
    page = (tmp_path / "two-roots.md").read_text(encoding="utf-8")
    svg = (tmp_path / "two-roots.svg").read_text(encoding="utf-8")
    assert "svc006" in page and "`services-later.yaml`" in page
    texts = [b[0] for b in _text_boxes(svg)]
    assert "svc006" in texts and "root main-services-2.yaml" in texts


def test_a_split_set_whose_roots_do_not_fit_is_a_usage_error(
    split_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(split_dir, broken)
    base = load_file(broken / "main.yaml")
    del base["Outputs"]["PrivateSubnetIds"]
    (broken / "main.yaml").write_text(render.to_yaml(base), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["docs", "--templates", str(broken), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "stackgen docs: main-services-2.yaml: parameter PrivateSubnetIds is fed from the output "
        "PrivateSubnetIds of main.yaml, which declares no such output\n"
    )
    assert not out.exists()
