"""iam: per-service task execution and task roles, and the RDS Proxy role.

Execution roles get ECR pull (``ecr:GetAuthorizationToken`` is the only
``Resource: "*"``), writes to the service's own log group, and reads of exactly
the secrets and SSM parameters the service's containers reference.  Task roles
get ECS Exec channels (with ``kms:Decrypt`` on the platform key for ECS Exec sessions
of their own cluster only) plus the spec's extra statements, each followed by the KMS
actions its encrypted stores need (``generator.kms_actions``).

One instance per service group (``generator.contract.Part``): ``iam`` holds the first
group's roles and the RDS Proxy role, ``iam-<group>`` the roles of that group's services."""

from __future__ import annotations

import re

import awacs.ecs as aecs
import awacs.iam as aiam
import awacs.logs as alogs
from awacs.aws import Action, ArnEquals, ArnLike, Condition, Statement, StringEquals, StringLike
from troposphere import GetAtt, Sub, Template, iam

from generator import kms_actions, naming, policies
from generator.contract import Interface, Part, StackInterface, whole
from generator.spec import PLACEHOLDER, PermissionSpec, Platform, Service
from generator.stacks._base import Stack, remembered
from generator.stacks.secrets import DB_SECRET

NAME = "iam"
PROXY_ROLE = "DatabaseProxyRoleArn"
_BUCKET = re.compile(r"\$\{bucket:([a-z0-9-]+)\}")
_SECRET = re.compile(r"\$\{secret:([a-z0-9-]+)\}")
# Sid suffix of the KMS statement derived from a task permission, per kind of store.
KMS_SID = {"bucket": "BucketKey", "secret": "SecretKey"}


def applies(spec: Platform, part: Part | None = None) -> bool:
    part = part or whole(spec)
    return bool(part.services) or (part.shared and bool(spec.database and spec.database.proxy))


def secret_inputs(spec: Platform, s: Service) -> list[str]:
    """The secrets the containers of ``s`` (its own and its sidecars) read, as stack inputs."""
    names = {naming.secret_output(r.secret) for r in s.all_secrets if r.secret}
    if any(r.database for r in s.all_secrets):
        names.add(naming.secret_output(DB_SECRET))
    return sorted(names)


def ssm_names(s: Service) -> list[str]:
    return sorted({r.ssm for r in s.all_secrets if r.ssm})


# A private ECR image URI: <account>.dkr.ecr.<region>.<suffix>/<repository>[:tag|@digest].
_ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.[a-z0-9.]+/([a-z0-9._/-]+?)(?::[^/@]+)?(?:@.+)?$")


def sidecar_repositories(s: Service) -> list[object]:
    """The ECR repositories the sidecars' images (URIs written into the template) are pulled
    from: the repository ARN of each private ECR URI; public registries need no permission."""
    out = []
    for c in s.sidecars:
        m = _ECR_URI.match(c.image.default)
        if m:
            acct, region, repo = m.groups()
            out.append(policies.arn(f"ecr:{region}:{acct}:repository/{repo}"))
    return out


def _bucket_inputs(s: Service) -> list[str]:
    return sorted(
        {naming.bucket_output(b, "Arn") for p in s.task_permissions for r in p.resources for b in _BUCKET.findall(r)}
    )


def _secret_refs(s: Service) -> list[str]:
    """Secret ARNs the task permissions name (${secret:NAME})."""
    return sorted(
        {naming.secret_output(x) for p in s.task_permissions for r in p.resources for x in _SECRET.findall(r)}
    )


def _parameter_inputs(spec: Platform, s: Service) -> list[str]:
    """Parent parameters of the spec its task permissions name (``${OrderQueueArn}``): the
    statement's Fn::Sub resolves them against the stack parameter of that name."""
    declared = {p.name for p in spec.parameters}
    return sorted(
        {ph for p in s.task_permissions for r in p.resources for ph in PLACEHOLDER.findall(r) if ph in declared}
    )


@remembered
def interface(spec: Platform, part: Part | None = None) -> StackInterface:
    part = part or whole(spec)
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    if part.members(spec):  # the tasks' policies name their log groups and parameters by it
        i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("KmsKeyArn")
    for s in part.members(spec):
        for n in _parameter_inputs(spec, s):
            i.takes(n, description=f"Parameter {n} (named in the task permissions of {s.name})")
        for n in sorted(set(secret_inputs(spec, s) + _secret_refs(s) + _bucket_inputs(s))):
            i.takes(n)
        if s.execute_command:
            i.takes(
                naming.cluster_output(spec.cluster_of(s), "Name"),
                description=f"Name of cluster {spec.cluster_of(s)} (the target of ECS Exec sessions)",
            )
        if s.image.repository:
            i.takes(naming.repo_output(s.image.repository, "Arn"))
        i.gives(naming.role_output(s.name, "Execution"), f"Task execution role of {s.name}")
        i.gives(naming.role_output(s.name, "Task"), f"Task role of {s.name}", public=True)
        if s.schedule:
            i.takes(naming.cluster_output(spec.cluster_of(s), "Arn"))
            i.gives(naming.role_output(s.name, "Scheduler"), f"Role EventBridge Scheduler uses to run {s.name}")
    if part.shared and spec.database and spec.database.proxy:
        i.takes(naming.secret_output(DB_SECRET))
        i.gives(PROXY_ROLE, "Role the RDS Proxy assumes to read the database secret")
    return i.freeze()


_SSM = re.compile(r"\$\{ssm:([a-z0-9-]+)\}")


def _resource(s: Service, r: str) -> object:
    """A task-permission resource with its placeholders resolved: ${bucket:NAME} (bucket ARN),
    ${secret:NAME} (secret ARN), ${ssm:NAME} (parameter ARN), ${log_group} (own log group ARN)."""
    if "${" not in r:
        return r
    r = _BUCKET.sub(lambda m: "${" + naming.bucket_output(m.group(1), "Arn") + "}", r)
    r = _SECRET.sub(lambda m: "${" + naming.secret_output(m.group(1)) + "}", r)
    r = _SSM.sub(lambda m: naming.ssm_arn(m.group(1)).data["Fn::Sub"], r)
    r = r.replace("${log_group}", naming.log_group_pattern(s.container))
    return Sub(r)


def _exec_session_key(st: Stack, spec: Platform, s: Service) -> Statement:
    """kms:Decrypt on the platform key for ECS Exec sessions into this service's cluster only: the
    session's encryption context names the target, so no data path (S3, Secrets Manager) matches."""
    cluster = naming.cluster_output(spec.cluster_of(s), "Name")
    target = Sub(f"{kms_actions.EXEC_TARGET_PREFIX}${{{cluster}}}_*")
    return policies.stmt(
        "EcsExecSessionKey",
        [Action(*a.split(":", 1)) for a in kms_actions.EXEC_ACTIONS],
        [st.ref("KmsKeyArn")],
        Condition(StringLike({f"kms:EncryptionContext:{kms_actions.EXEC_CONTEXT_KEY}": target})),
    )


def _data_keys(st: Stack, p: PermissionSpec) -> list[Statement]:
    """The KMS statements a task permission needs for the encrypted stores it names: the actions
    of ``kms_actions.STORES``, through that store's service, for exactly those stores."""
    named = {
        "bucket": sorted({b for r in p.resources for b in _BUCKET.findall(r)}),
        "secret": sorted({x for r in p.resources for x in _SECRET.findall(r)}),
    }
    out = []
    for kind, names in named.items():
        store = kms_actions.STORES[kind]
        needed = kms_actions.kms_actions(kind, p.actions)
        if not names or not needed:
            continue
        assert store.via and store.context_key
        via = StringEquals({"kms:ViaService": Sub(f"{store.via}.${{AWS::Region}}.amazonaws.com")})
        context = f"kms:EncryptionContext:{store.context_key}"
        if kind == "bucket":
            arns = [naming.bucket_output(b, "Arn") for b in names]
            # The bucket ARN with an S3 Bucket Key (generator.stacks.storage), the object ARN without.
            which: ArnLike | StringEquals = ArnLike(
                {context: [x for a in arns for x in (st.ref(a), Sub(f"${{{a}}}/*"))]}
            )
        else:
            which = StringEquals({context: [st.ref(naming.secret_output(x)) for x in names]})
        out.append(
            policies.stmt(
                p.sid + KMS_SID[kind],
                [Action(*a.split(":", 1)) for a in needed],
                [st.ref("KmsKeyArn")],
                Condition([via, which]),
            )
        )
    return out


def build(spec: Platform, part: Part | None = None) -> Template:
    part = part or whole(spec)
    st = Stack(part.stack(NAME), "IAM roles for tasks and the RDS Proxy", interface(spec, part))
    for s in part.members(spec):
        if s.image.repository:
            repos: list[object] = [st.ref(naming.repo_output(s.image.repository, "Arn"))]
        else:
            # The image is a deploy-time parameter and may name any repository of the account.
            repos = [policies.arn("ecr:${AWS::Region}:${AWS::AccountId}:repository/*")]
        repos += sidecar_repositories(s)
        stmts = [
            policies.ecr_auth(),
            policies.ecr_pull(repos),
            policies.logs_write([Sub(naming.log_group_pattern(s.container) + ":log-stream:*")]),
        ]
        secret_arns = [st.ref(n) for n in secret_inputs(spec, s)]
        if secret_arns:
            stmts.append(policies.secrets_read(secret_arns))
        if ssm_names(s):
            stmts.append(policies.ssm_read([naming.ssm_arn(n) for n in ssm_names(s)]))
        if secret_arns or ssm_names(s):
            stmts.append(policies.kms_decrypt_via(st.ref("KmsKeyArn"), ["secretsmanager", "ssm"]))
        execution = st.add(
            iam.Role(
                naming.logical(s.name, "ExecutionRole"),
                Description=f"ECS task execution role of {s.name}",
                AssumeRolePolicyDocument=policies.trust("ecs-tasks.amazonaws.com"),
                Policies=[iam.Policy(PolicyName="task-execution", PolicyDocument=policies.doc(stmts))],
                Tags=naming.tags(f"{s.name}-execution-role"),
            )
        )
        task_stmts = []
        if s.execute_command:
            task_stmts += [
                policies.exec_channels(),
                policies.stmt(
                    "EcsExecLogs",
                    [alogs.CreateLogStream, alogs.PutLogEvents, alogs.DescribeLogStreams],
                    [naming.exec_log_group_arn(spec.cluster_of(s))],
                ),
                policies.stmt(
                    "EcsExecLogGroups",
                    [alogs.DescribeLogGroups],
                    [policies.arn("logs:${AWS::Region}:${AWS::AccountId}:log-group:*")],
                ),
                _exec_session_key(st, spec, s),
            ]
        for p in s.task_permissions:
            task_stmts.append(
                policies.stmt(
                    p.sid, [Action(*a.split(":", 1)) for a in p.actions], [_resource(s, r) for r in p.resources]
                )
            )
            task_stmts += _data_keys(st, p)
        kw: dict[str, object] = {}
        if task_stmts:
            kw["Policies"] = [iam.Policy(PolicyName="task", PolicyDocument=policies.doc(task_stmts))]
        task = st.add(
            iam.Role(
                naming.logical(s.name, "TaskRole"),
                Description=f"ECS task role of {s.name}",
                AssumeRolePolicyDocument=policies.trust("ecs-tasks.amazonaws.com"),
                Tags=naming.tags(f"{s.name}-task-role"),
                **kw,
            )
        )
        st.output(naming.role_output(s.name, "Execution"), GetAtt(execution, "Arn"))
        st.output(naming.role_output(s.name, "Task"), GetAtt(task, "Arn"))
        if s.schedule:
            cluster = st.ref(naming.cluster_output(spec.cluster_of(s), "Arn"))
            family = Sub(
                f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task-definition/"
                f"${{Name}}-${{Environment}}-{s.name}:*"
            )
            run = st.add(
                iam.Role(
                    naming.logical(s.name, "SchedulerRole"),
                    Description=f"EventBridge Scheduler runs the {s.name} task",
                    AssumeRolePolicyDocument=policies.trust("scheduler.amazonaws.com"),
                    Policies=[
                        iam.Policy(
                            PolicyName="run-task",
                            PolicyDocument=policies.doc(
                                [
                                    policies.stmt(
                                        "RunTask",
                                        [aecs.RunTask],
                                        [family],
                                        Condition(ArnEquals({"ecs:cluster": cluster})),
                                    ),
                                    policies.stmt(
                                        "PassTaskRoles",
                                        [aiam.PassRole],
                                        [GetAtt(execution, "Arn"), GetAtt(task, "Arn")],
                                        Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
                                    ),
                                    policies.stmt(
                                        "TagTasks",
                                        [aecs.TagResource],
                                        [Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/*")],
                                        Condition(StringEquals({"ecs:CreateAction": "RunTask"})),
                                    ),
                                ]
                            ),
                        )
                    ],
                    Tags=naming.tags(f"{s.name}-scheduler-role"),
                )
            )
            st.output(naming.role_output(s.name, "Scheduler"), GetAtt(run, "Arn"))
    if part.shared and spec.database and spec.database.proxy:
        secret = st.ref(naming.secret_output(DB_SECRET))
        proxy = st.add(
            iam.Role(
                "DatabaseProxyRole",
                Description="RDS Proxy reads the database credentials",
                AssumeRolePolicyDocument=policies.trust("rds.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="read-database-secret",
                        PolicyDocument=policies.doc(
                            [
                                policies.secrets_read([secret]),
                                policies.kms_decrypt_via(st.ref("KmsKeyArn"), ["secretsmanager"]),
                            ]
                        ),
                    )
                ],
                Tags=naming.tags("database-proxy-role"),
            )
        )
        st.output(PROXY_ROLE, GetAtt(proxy, "Arn"))
    return st.t
