"""The tasks of a template set and their containers' start-time facts.

A task is the task definition an ``AWS::ECS::Service``, an ``AWS::Events::Rule`` ECS
target or an ``AWS::Scheduler::Schedule`` runs, with the subnets, security groups and
public-IP setting it runs with.  :func:`containers` reads the facts
:func:`generator.reach.needs.task_needs` derives the needs from.
"""

from __future__ import annotations

import re
from typing import Any

from generator.cfn.finding import WARNING, Finding
from generator.cfn.refs import sub_parts
from generator.cfn.templateset import Origin, TemplateSet
from generator.cfn.values import MATCH_PSEUDO, SHOW_PSEUDO, Renderer
from generator.reach.iam import as_list
from generator.reach.model import Task
from generator.reach.needs import ECR_URI, Account, Container, Exec, Logs, Secret, Value, task_needs

TEMPLATE_ACCOUNT = Account(
    MATCH_PSEUDO["AWS::Region"],
    MATCH_PSEUDO["AWS::AccountId"],
    SHOW_PSEUDO["AWS::Region"],
    SHOW_PSEUDO["AWS::AccountId"],
)
AWS_MANAGED_SECRET_KEYS = ("aws/secretsmanager", "alias/aws/secretsmanager")
FIRST_SUB_VARIABLE = re.compile(r"^\$\{([^}!.]+)\}")

Key = tuple[str, str]


class TaskReader:
    """Reads tasks and their facts from a template set (``match``/``show``: see cfn.values)."""

    def __init__(self, ts: TemplateSet, match: Renderer | None = None, show: Renderer | None = None):
        self.ts = ts
        self.match = match or Renderer(ts, MATCH_PSEUDO)
        self.show = show or Renderer(ts, SHOW_PSEUDO)
        self.findings: list[Finding] = []  # task definitions that are not in the set

    # ---- tasks

    def tasks(self) -> list[Task]:
        """Every task, with its needs and permissions derived."""
        out: list[Task] = []
        ts, match = self.ts, self.match
        for f, lid, r in ts.present_resources("AWS::ECS::Service"):
            p = r.get("Properties", {})
            name = match(f, p.get("ServiceName")) or lid
            net = (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
            t = self._task(f"service {name}", name, f, ts.origin(f, p.get("TaskDefinition")), net)
            if t is not None:
                t.exec_enabled = match(f, p.get("EnableExecuteCommand", False)) == "true"
                t.cluster = ts.origin(f, p.get("Cluster")) if "Cluster" in p else None
                out.append(t)
        for f, lid, r in ts.present_resources("AWS::Events::Rule"):
            p = r.get("Properties", {})
            name = match(f, p.get("Name")) or lid
            for tgt in as_list(ts.effective(f, p.get("Targets"))):
                ep = (tgt or {}).get("EcsParameters")
                if not ep:
                    continue
                net = (ep.get("NetworkConfiguration") or {}).get("AwsVpcConfiguration") or {}
                t = self._task(f"scheduled task {name}", name, f, ts.origin(f, ep.get("TaskDefinitionArn")), net)
                if t is not None:
                    t.exec_enabled = match(f, ep.get("EnableExecuteCommand", False)) == "true"
                    out.append(t)
        for f, lid, r in ts.present_resources("AWS::Scheduler::Schedule"):
            p = r.get("Properties", {})
            name = match(f, p.get("Name")) or lid
            ep = (p.get("Target") or {}).get("EcsParameters")
            if not ep:
                continue
            net = (ep.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
            t = self._task(f"schedule {name}", name, f, ts.origin(f, ep.get("TaskDefinitionArn")), net)
            if t is not None:
                t.exec_enabled = match(f, ep.get("EnableExecuteCommand", False)) == "true"
                out.append(t)
        for t in out:
            t.needs, t.perms = task_needs(self.containers(t.td_file, t.td_lid), TEMPLATE_ACCOUNT, self._exec(t))
        return out

    def _task(self, label: str, name: str, file: str, td: Origin, net: dict[str, Any]) -> Task | None:
        if self.ts.typed(td, "AWS::ECS::TaskDefinition") is None:
            self.findings.append(
                Finding(
                    f"{label}: its task definition ({td}) is not in the template set; nothing can be checked",
                    name,
                    severity=WARNING,
                )
            )
            return None
        public_ip = self.match(file, net.get("AssignPublicIp", "DISABLED")) == "ENABLED"
        return Task(
            label,
            name,
            file,
            td.file,
            td.name,
            self.ts.items(file, net.get("Subnets")),
            self.ts.items(file, net.get("SecurityGroups")),
            public_ip,
        )

    def _exec(self, t: Task) -> Exec | None:
        if not t.exec_enabled:
            return None
        cl = self.ts.typed(t.cluster, "AWS::ECS::Cluster") if t.cluster else None
        key = (
            ((cl or {}).get("Properties", {}).get("Configuration") or {}).get("ExecuteCommandConfiguration") or {}
        ).get("KmsKeyId")
        if key is None or t.cluster is None:
            return Exec()
        f = t.cluster.file
        return Exec(Value(self.match(f, key), self.show(f, key), self.ts.origin(f, key).key))

    # ---- containers

    def containers(self, file: str, lid: str) -> list[Container]:
        """The start-time facts of each container of a task definition."""
        p = (self.ts.resource(file, lid) or {}).get("Properties", {})
        out = []
        for c in as_list(self.ts.effective(file, p.get("ContainerDefinitions"))):
            c = self.ts.effective(file, c)
            if isinstance(c, dict):
                out.append(self._container(file, c))
        return out

    def _container(self, f: str, c: dict[str, Any]) -> Container:
        image = c.get("Image")
        creds = (c.get("RepositoryCredentials") or {}).get("CredentialsParameter")
        logs = None
        lc = self.ts.effective(f, c.get("LogConfiguration")) or {}
        if self.match(f, lc.get("LogDriver")) == "awslogs":
            opts = lc.get("Options") or {}
            group = opts.get("awslogs-group")
            go = self.ts.origin(f, group).key if isinstance(self.ts.branch(f, group), dict) else None
            logs = Logs(
                Value(self.match(f, group), self.show(f, group), go),
                self.match(f, opts.get("awslogs-stream-prefix")),
                self.match(f, opts.get("awslogs-create-group")) == "true",
            )
        secrets = []
        for s in as_list(self.ts.effective(f, c.get("Secrets"))):
            s = self.ts.effective(f, s)
            if isinstance(s, dict):
                secrets.append(self._secret(f, s))
        return Container(
            str(c.get("Name", "c")),
            Value(self.match(f, image), self.show(f, image)),
            self._repository(f, image),
            logs,
            self.value(f, creds) if creds is not None else None,
            tuple(secrets),
        )

    def value(self, f: str, node: Any) -> Value:
        """A value's match and shown text and the resource it names: a Ref/GetAtt's target, or
        the first variable of a Sub that starts with one (``${Arn}:key::``)."""
        return Value(self.match(f, node), self.show(f, node), self.named(f, node))

    def named(self, f: str, node: Any) -> Key | None:
        n = self.ts.branch(f, node)
        if isinstance(n, dict) and ("Ref" in n or "Fn::GetAtt" in n):
            return self.ts.origin(f, n).key
        if isinstance(n, dict) and "Fn::Sub" in n:
            text, variables = sub_parts(n)
            m = FIRST_SUB_VARIABLE.match(text)
            if m:
                return self.ts.origin(f, variables.get(m.group(1), {"Ref": m.group(1)})).key
        return None

    def _secret(self, f: str, s: dict[str, Any]) -> Secret:
        vf = s.get("ValueFrom")
        text = self.match(f, vf) or ""
        o = self.ts.origin(f, vf) if isinstance(self.ts.branch(f, vf), dict) else None
        otype = (self.ts.resource(o.file, o.name) or {}).get("Type") if o and o.kind == "resource" else None
        if ":secretsmanager:" in text or otype == "AWS::SecretsManager::Secret":
            return Secret(str(s.get("Name")), self.value(f, vf), "secretsmanager", self._secret_key(f, vf))
        return Secret(str(s.get("Name")), self.value(f, vf), "ssm")

    def _secret_key(self, f: str, vf: Any) -> Value | None:
        """The customer managed key of a Secrets Manager secret defined in the set."""
        n = self.ts.branch(f, vf)
        if isinstance(n, dict) and "Fn::Sub" in n:
            text, variables = sub_parts(n)
            m = FIRST_SUB_VARIABLE.match(text)
            n = variables.get(m.group(1), {"Ref": m.group(1)}) if m else None
        if not isinstance(n, dict):
            return None
        o = self.ts.origin(f, n)
        sec = self.ts.typed(o, "AWS::SecretsManager::Secret")
        key = (sec or {}).get("Properties", {}).get("KmsKeyId")
        if key is None or self.match(o.file, key) in AWS_MANAGED_SECRET_KEYS:
            return None
        ko = self.ts.origin(o.file, key)
        if self.ts.typed(ko, "AWS::KMS::Key") is not None:
            ko = Origin("resource", ko.file, ko.name, "Arn")  # a key id and its ARN name the same key
            return Value(self.match.origin_value(ko), self.show.origin_value(ko), ko.key)
        return Value(self.match(o.file, key), self.show(o.file, key), ko.key)

    def _repository(self, f: str, node: Any) -> Key | None:
        """The ECR repository resource an image URI ``${Repo...}...`` names, if it is one of the set."""
        text = self.match(f, node)
        n = self.ts.branch(f, node)
        if not text or not ECR_URI.match(text) or not (isinstance(n, dict) and "Fn::Sub" in n):
            return None
        s, variables = sub_parts(n)
        mm = FIRST_SUB_VARIABLE.match(s)
        if mm:
            o = self.ts.origin(f, variables.get(mm.group(1), {"Ref": mm.group(1)}))
            if self.ts.typed(o, "AWS::ECR::Repository"):
                return o.key
        return None
