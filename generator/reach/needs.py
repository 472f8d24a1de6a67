"""What a task needs to start: the one derivation.

From the facts of a task's containers (image, awslogs log group, private registry
credentials, secrets and SSM parameters and the customer key that encrypts them) and
of ECS Exec, :func:`task_needs` derives the destinations it must reach (ECR API,
registry and S3 layers or a public registry; CloudWatch Logs; Secrets Manager; SSM;
ssmmessages and KMS for ECS Exec) and the role permissions it needs.  The preflight
reads the facts from templates, the live diagnostics from the deployed task
definition; the cost estimate and the invariants use :func:`image_source` and the
same facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator.cfn.finding import ERROR, WARNING
from generator.reach.model import ORDER, Need, Perm

ECR_URI = re.compile(
    r"^(?P<acct>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[^:@]+)"
)
EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


@dataclass(frozen=True)
class Image:
    """Where an image comes from: an ECR repository (account, region, repository) or a public registry host."""

    text: str
    host: str  # 'ecr' for a private ECR repository, else the registry host (docker.io, public.ecr.aws, ...)
    account: str = ""
    region: str = ""
    repository: str = ""

    @property
    def public(self) -> bool:
        return self.host != "ecr"


def image_source(uri: str) -> Image:
    """Classify an image URI: ``<12 digits>.dkr.ecr.<region>.amazonaws.com/<repo>`` is ECR;
    anything else comes from the registry its first path part names (docker.io if none)."""
    m = ECR_URI.match(uri)
    if m:
        return Image(uri, "ecr", m.group("acct"), m.group("region"), m.group("repo"))
    first = uri.split("/", 1)[0]
    host = first if "/" in uri and ("." in first or ":" in first or first == "localhost") else "docker.io"
    return Image(uri, host)


def secret_arn(value_from: str | None) -> str | None:
    """A Secrets Manager ValueFrom (ARN[:json-key:version-stage:version-id]) -> the secret ARN."""
    if value_from is None or ":secretsmanager:" not in value_from:
        return value_from
    return ":".join(value_from.split(":")[:7])


@dataclass(frozen=True)
class Value:
    """A value as the checks use it: its text for matching policies, its text for messages,
    and the resource it names in the template set (None live, or when it names none)."""

    match: str | None
    shown: str | None
    origin: tuple[str, str] | None = None

    @classmethod
    def live(cls, text: str | None) -> Value:
        return cls(text, text)


@dataclass(frozen=True)
class Account:
    """Region and account to write ARNs with, for matching and for messages."""

    region: str
    account: str
    shown_region: str
    shown_account: str


@dataclass(frozen=True)
class Secret:
    name: str
    value_from: Value
    store: str  # 'secretsmanager' | 'ssm'
    key: Value | None = None  # the customer managed key that encrypts it, when known


@dataclass(frozen=True)
class Logs:
    group: Value
    stream_prefix: str | None
    create_group: bool = False


@dataclass(frozen=True)
class Container:
    """One container's start-time dependencies, however they were read."""

    name: str
    image: Value
    image_repository: tuple[str, str] | None = None  # the ECR repository resource of the set, if it is one
    logs: Logs | None = None
    credentials: Value | None = None
    secrets: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class Exec:
    """ECS Exec on the task; ``key`` is the cluster's session-encryption key, if any."""

    key: Value | None = None


def task_needs(containers: list[Container], where: Account, exec_: Exec | None = None) -> tuple[list[Need], list[Perm]]:
    """The destinations (in message order) and the permissions a task needs to start."""
    needs: dict[str, Need] = {}
    perms: list[Perm] = []

    def need(n: Need) -> None:
        if n.dest not in needs or (needs[n.dest].severity == WARNING and n.severity == ERROR):
            needs[n.dest] = n

    for c in containers:
        _image(c, where, need, perms)
        if c.credentials is not None:
            need(Need("secretsmanager", "secretsmanager"))
            perms.append(
                Perm(
                    ("secretsmanager:GetSecretValue",),
                    secret_arn(c.credentials.match),
                    secret_arn(c.credentials.shown) or "<unresolved>",
                    c.credentials.origin,
                    "the private registry credentials",
                )
            )
        if c.logs is not None:
            _logs(c, where, need, perms)
        for s in c.secrets:
            _secret(s, where, need, perms)
    if exec_ is not None:
        need(Need("ssmmessages", "ssmmessages (ECS Exec)", severity=WARNING))
        perms.append(Perm(EXEC_ACTIONS, "*", "*", None, "ECS Exec", role="task", severity=WARNING))
        if exec_.key is not None:
            need(Need("kms", "kms (ECS Exec session key)", severity=WARNING))
            perms.append(
                Perm(
                    ("kms:Decrypt",),
                    exec_.key.match,
                    exec_.key.shown or "<key>",
                    exec_.key.origin,
                    "ECS Exec session encryption",
                    role="task",
                    severity=WARNING,
                )
            )
    ordered = sorted(needs.values(), key=lambda n: (ORDER.index(n.dest) if n.dest in ORDER else -1, n.dest))
    return ordered, perms


def _image(c: Container, where: Account, need, perms: list[Perm]) -> None:  # noqa: ANN001
    text = c.image.match
    if not text:
        # Unknown before deploy (an image parameter without default): assume private ECR.
        repo = f"arn:aws:ecr:{where.region}:{where.account}:repository/*"
        shown = f"arn:aws:ecr:{where.shown_region}:{where.shown_account}:repository/<any>"
        img: Image | None = None
    else:
        img = image_source(text)
        if img.public:
            need(Need(img.host, f"{img.host} (image {text})", internet_only=True))
            return
        shown_text = (c.image.shown or text).replace("<account>", "000000000000").replace("<region>", "region")
        shown_img = image_source(shown_text)
        shown_repo = shown_img.repository if not shown_img.public else img.repository
        repo = f"arn:aws:ecr:{img.region}:{img.account}:repository/{img.repository}"
        shown = f"arn:aws:ecr:{where.shown_region}:{where.shown_account}:repository/{shown_repo}"
    need(Need("ecr.api", "ecr.api"))
    need(Need("ecr.dkr", "ecr.dkr"))
    need(Need("s3", "s3 (image layers)"))
    perms.append(Perm(("ecr:GetAuthorizationToken",), "*", "*", None, "the image pull"))
    perms.append(
        Perm(
            ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
            repo,
            shown,
            c.image_repository if img is not None else None,
            "the image pull",
        )
    )


def _logs(c: Container, where: Account, need, perms: list[Perm]) -> None:  # noqa: ANN001
    assert c.logs is not None
    need(Need("logs", "logs"))
    group = c.logs.group.match
    stream = f"{c.logs.stream_prefix or 'prefix'}/{c.name or 'c'}/0"
    arn = f"arn:aws:logs:{where.region}:{where.account}:log-group:{group}:log-stream:{stream}" if group else None
    shown = f"arn:aws:logs:{where.shown_region}:{where.shown_account}:log-group:{c.logs.group.shown or '<unresolved>'}"
    perms.append(
        Perm(("logs:CreateLogStream", "logs:PutLogEvents"), arn, shown, c.logs.group.origin, "the awslogs log driver")
    )
    if c.logs.create_group:
        perms.append(Perm(("logs:CreateLogGroup",), arn, shown, c.logs.group.origin, "awslogs-create-group"))


def _secret(s: Secret, where: Account, need, perms: list[Perm]) -> None:  # noqa: ANN001
    v = s.value_from
    if s.store == "secretsmanager":
        need(Need("secretsmanager", "secretsmanager"))
        perms.append(
            Perm(
                ("secretsmanager:GetSecretValue",),
                secret_arn(v.match),
                secret_arn(v.shown) or "<unresolved>",
                v.origin,
                f"secret {s.name}",
            )
        )
        if s.key is not None:
            perms.append(
                Perm(
                    ("kms:Decrypt",),
                    s.key.match,
                    s.key.shown or "<key>",
                    s.key.origin,
                    f"secret {s.name} (encrypted with a customer managed key)",
                )
            )
        return
    need(Need("ssm", "ssm"))
    text = v.match or ""
    if text.startswith("arn:"):
        perms.append(Perm(("ssm:GetParameters",), v.match, v.shown or "<unresolved>", v.origin, f"parameter {s.name}"))
        return
    name = text.lstrip("/")
    perms.append(
        Perm(
            ("ssm:GetParameters",),
            f"arn:aws:ssm:{where.region}:{where.account}:parameter/{name}",
            f"arn:aws:ssm:{where.shown_region}:{where.shown_account}:parameter/{name}",
            None,
            f"parameter {s.name}",
        )
    )
