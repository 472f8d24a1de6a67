"""The platform: the whole spec, and the checks that span its sections."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from generator import naming
from generator.spec.base import NAME_PARAMETER, PLACEHOLDER, Model, Slug, dns_name_error, new_dict, new_list
from generator.spec.edge import (
    Alarms,
    Domain,
    IngressSource,
    LoadBalancer,
    check_cidr_list,
    check_edge,
    parameter_pattern,
    source_ports,
)
from generator.spec.network import Network, check_network
from generator.spec.parameters import ParameterSpec, SecretSpec, SsmParameterSpec
from generator.spec.services import Cluster, Service, TargetGroupSpec
from generator.spec.shapes import (
    PERMISSION_BUILTINS,
    environment_bucket_error,
    per_environment_error,
    resource_parameter_error,
)
from generator.spec.stores import Database, Efs, Repository


class Platform(Model):
    name: Slug
    """Platform name (slug, at most 32 characters): the default of the Name parameter."""
    description: str = Field(min_length=1)
    """What the platform is; the parent stack's description."""
    environments: list[Slug] = Field(default_factory=lambda: ["dev", "test", "prod"])
    """Allowed values of the Environment parameter."""
    default_environment: Slug = "dev"
    """Default of the Environment parameter."""
    network: Network = Field(default_factory=Network)
    """The VPC and how tasks reach the internet."""
    ingress_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1, max_length=20)
    """Default of IngressCidrBlocks: who may reach ports 80 and 443 of the load balancers (the templates have one rule per CIDR and port)."""
    ingress_sources: list[IngressSource] = Field(default_factory=new_list)
    """Named sets of client CIDRs, each a parameter of its own, for listeners that must not admit ingress_cidrs: every port but 80 and 443."""
    domain: Domain | None = None
    """A domain: certificates, HTTPS and DNS records (BaseDomain parameter)."""
    parameters: list[ParameterSpec] = Field(default_factory=new_list)
    """Deploy-time parameters the platform declares."""
    secrets: list[SecretSpec] = Field(default_factory=new_list)
    """Secrets Manager secrets (generated or from a no_echo parameter)."""
    ssm_parameters: list[SsmParameterSpec] = Field(default_factory=new_list)
    """Plain SSM String parameters."""
    efs: Efs | None = None
    """An encrypted EFS file system with access points."""
    database: Database | None = None
    """An Aurora Serverless v2 database."""
    repositories: list[Repository] = Field(default_factory=new_list)
    """ECR repositories."""
    buckets: list[Slug] = Field(default_factory=new_list)
    """S3 bucket names (slugs) the tasks use."""
    clusters: list[Cluster] = Field(min_length=1)
    """ECS clusters; services run in the first unless they name one."""
    namespace: Annotated[str, Field(pattern=r"^[a-z][a-z0-9.-]{0,200}$")] | None = None
    """Private DNS namespace (Cloud Map / Service Connect), e.g. app.local."""
    load_balancers: list[LoadBalancer] = Field(default_factory=new_list)
    """Application load balancers."""
    services: list[Service] = Field(min_length=1)
    """Services and scheduled tasks. Their resources are split into service groups (generator.placement): append new services at the end, so that none already deployed moves to another stack."""
    alarms: Alarms = Field(default_factory=Alarms)
    """CloudWatch alarm thresholds."""
    data_retention: dict[Slug, Literal["retain", "delete"]] = Field(
        default_factory=new_dict,
        description="Per environment, what a stack delete does with the platform's data (log groups, ECR "
        "repositories, the KMS key, secrets, EFS, buckets, database snapshots): 'retain' (the default "
        "in every environment not listed) keeps it; 'delete' has delete.sh purge what the stack "
        "retained, after confirmation. The templates keep DeletionPolicy Retain either way; the "
        "choice is recorded in the parent template's Metadata.stackgen.retain_on_delete. "
        "Example: {dev: delete}",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(NAME_PARAMETER, v):
            raise ValueError(
                f"{v!r} is the default of the Name parameter, which allows at most 32 characters ({NAME_PARAMETER})"
            )
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str | None) -> str | None:
        err = dns_name_error(v) if v else None
        if err:
            raise ValueError(f"{v!r}: {err}")
        return v

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return check_cidr_list(v)

    @model_validator(mode="after")
    def _cross(self) -> Platform:  # noqa: C901, PLR0912 - one pass over the cross references
        def uniq(items: list[str], what: str) -> None:
            dup = sorted({i for i in items if items.count(i) > 1})
            if dup:
                raise ValueError(f"{what}: duplicate name {dup[0]!r}")

        def pascal_uniq(items: list[str], what: str) -> None:
            seen: dict[str, str] = {}
            for i in items:
                p = naming.pascal(i)
                if p in seen and seen[p] != i:
                    raise ValueError(f"{what}: {i!r} and {seen[p]!r} map to the same id {p!r}")
                seen[p] = i

        if self.default_environment not in self.environments:
            raise ValueError("default_environment must be one of environments")
        for env in self.data_retention:
            if env not in self.environments:
                raise ValueError(f"data_retention: unknown environment {env!r} (environments: {self.environments})")
        for env in self.network.egress_by_environment:
            if env not in self.environments:
                raise ValueError(f"network.egress_by_environment: unknown environment {env!r}")
        svc_names = [s.name for s in self.services]
        uniq(svc_names, "services")
        # Logical IDs and output names are PascalCase of these names ('ab-1' and 'ab1' are both 'Ab1').
        for what, names in (
            ("services", svc_names),
            ("load_balancers", [lb.name for lb in self.load_balancers]),
            ("clusters", [c.name for c in self.clusters]),
            ("secrets", [x.name for x in self.secrets]),
            ("ssm_parameters", [x.name for x in self.ssm_parameters]),
            ("repositories", [r.name for r in self.repositories]),
            ("buckets", self.buckets),
            ("network.tiers", [t.name for t in self.network.tiers]),
            ("efs.access_points", [a.name for a in self.efs.access_points] if self.efs else []),
            ("target_groups", [tg.name for x in self.services for tg in x.target_groups]),
            ("services.group", sorted({x.group for x in self.services if x.group})),
        ):
            pascal_uniq(names, what)
        uniq([c.name for c in self.clusters], "clusters")
        uniq([lb.name for lb in self.load_balancers], "load_balancers")
        uniq([s.name for s in self.secrets], "secrets")
        uniq([p.name for p in self.ssm_parameters], "ssm_parameters")
        uniq([r.name for r in self.repositories], "repositories")
        uniq([p.name for p in self.parameters], "parameters")
        uniq(self.buckets, "buckets")
        uniq([s.container for s in self.services], "services.container_name")
        tg_names = [tg.name for s in self.services for tg in s.target_groups]
        uniq(tg_names, "target_groups")
        tiers = {t.name for t in self.network.tiers}
        clusters = {c.name for c in self.clusters}
        lbs = {lb.name: lb for lb in self.load_balancers}
        secrets = {s.name for s in self.secrets}
        ssm = {p.name for p in self.ssm_parameters}
        repos = {r.name for r in self.repositories}
        aps = {a.name for a in self.efs.access_points} if self.efs else set()
        params = {p.name: p for p in self.parameters}
        builtin = set(BUILTIN_PARAMETERS)
        clash = builtin & set(params)
        if clash:
            raise ValueError(f"parameters: {sorted(clash)[0]} is a built-in parameter name")
        generated = {naming.STACK_UID: "the token unique per stack instance that the parent derives"}
        for s in self.services:
            generated[naming.image_param(s.name)] = f"the image URI parameter of service {s.name}"
            generated[naming.image_tag_param(s.name)] = f"the image tag parameter of service {s.name}"
            generated[naming.image_ready_param(s.name)] = f"the image-ready parameter of service {s.name}"
        for p in self.parameters:
            if p.name in generated:
                raise ValueError(f"parameters: {p.name} is the name of {generated[p.name]}; choose another name")
        for sec in self.secrets:
            if sec.from_parameter:
                source = params.get(sec.from_parameter)
                if source is None:
                    raise ValueError(f"secrets[{sec.name}].from_parameter: unknown parameter {sec.from_parameter!r}")
                if not source.no_echo:
                    raise ValueError(f"secrets[{sec.name}].from_parameter: {source.name} must be no_echo")
        if self.database and self.database.subnets and self.database.subnets not in tiers:
            raise ValueError(f"database.subnets: unknown tier {self.database.subnets!r}")
        if self.load_balancers and self.network.public_tier is None:
            raise ValueError("load_balancers: need a public subnet tier")
        if any(lb.dns_record for lb in self.load_balancers) and self.domain is None:
            raise ValueError("load_balancers: dns_record needs a domain section")
        if self.domain is not None:
            for lb in self.load_balancers:
                if lb.dns_record is None:
                    raise ValueError(
                        f"load_balancers[{lb.name}].dns_record: required on a platform with a domain "
                        "(every listener must serve or redirect to HTTPS)"
                    )
        for i, s in enumerate(self.services):
            where = f"services[{i}]"
            if s.cluster and s.cluster not in clusters:
                raise ValueError(f"{where}.cluster: unknown cluster {s.cluster!r}")
            if s.subnets and s.subnets not in tiers:
                raise ValueError(f"{where}.subnets: unknown tier {s.subnets!r}")
            if s.subnets and self.network.tier(s.subnets).public and self.network.egress != "public-ip":
                raise ValueError(f"{where}.subnets: tasks run in private tiers unless egress is public-ip")
            if s.image.repository and s.image.repository not in repos:
                raise ValueError(f"{where}.image.repository: unknown repository {s.image.repository!r}")
            if s.sizing is not None and set(s.sizing) != set(self.environments):
                raise ValueError(f"{where}.sizing: needs exactly the environments {self.environments}")
            for v in s.volumes:
                if v.access_point not in aps:
                    raise ValueError(f"{where}.volumes: unknown EFS access point {v.access_point!r}")
            for field, k, ref in ((f, k, r) for f, refs in s.secrets_by_field for k, r in refs.items()):
                if ref.secret and ref.secret not in secrets:
                    raise ValueError(f"{where}.{field}.{k}: unknown secret {ref.secret!r}")
                if ref.secret and ref.key:
                    target = self.secret(ref.secret)
                    json_key, is_generated = target.json_key, target.generate is not None
                    if is_generated and json_key is None:
                        raise ValueError(
                            f"{where}.{field}.{k}.key: secret {ref.secret!r} is a generated plain "
                            f"string with no JSON key (generate.json_key), so key {ref.key!r} "
                            "cannot be read"
                        )
                    if is_generated and ref.key != json_key:
                        raise ValueError(
                            f"{where}.{field}.{k}.key: secret {ref.secret!r} has only the JSON key "
                            f"{json_key!r} (generate.json_key), not {ref.key!r}"
                        )
                if ref.ssm and ref.ssm not in ssm:
                    raise ValueError(f"{where}.{field}.{k}: unknown ssm parameter {ref.ssm!r}")
                if ref.database and self.database is None:
                    raise ValueError(f"{where}.{field}.{k}: the platform has no database")
            for e in s.egress_cidrs:
                if e.cidr_parameter not in params:
                    raise ValueError(f"{where}.egress_cidrs: unknown parameter {e.cidr_parameter!r}")
            for a in s.allow_from:
                if a.service not in svc_names:
                    raise ValueError(f"{where}.allow_from: unknown service {a.service!r}")
                if a.service == s.name:
                    raise ValueError(f"{where}.allow_from: a service cannot allow itself")
                if s.schedule:
                    raise ValueError(f"{where}.allow_from: nothing can connect to a scheduled task")
            for tg in s.target_groups:
                if tg.load_balancer not in lbs:
                    raise ValueError(f"{where}.target_groups[{tg.name}]: unknown load balancer {tg.load_balancer!r}")
            if s.discovery and s.discovery.mode == "service-connect" and not self.namespace:
                raise ValueError(f"{where}.discovery: needs a platform namespace")
            if s.discovery and s.discovery.mode == "cloud-map" and not self.namespace:
                raise ValueError(f"{where}.discovery: needs a platform namespace")
            for field, k, val in ((f, k, v) for f, env in s.environments_by_field for k, v in env.items()):
                for ph in PLACEHOLDER.findall(val):
                    kind, _, bucket = ph.partition(":")
                    err = (
                        environment_bucket_error(s, bucket, self.buckets)
                        if kind == "bucket"
                        else self._placeholder_error(ph, params)
                    )
                    if err:
                        raise ValueError(f"{where}.{field}.{k}: {err}")
            sids = [p.sid for p in s.task_permissions]
            uniq(sids, f"{where}.task_permissions (sid)")
            for sid in sids:
                if any(sid == other + suffix for other in sids for suffix in ("BucketKey", "SecretKey")):
                    raise ValueError(
                        f"{where}.task_permissions[{sid}]: the sid is the one stackgen gives the KMS "
                        "statement it derives from another permission; choose another"
                    )
            for perm in s.task_permissions:
                for r in perm.resources:
                    for ph in PLACEHOLDER.findall(r):
                        kind, _, name = ph.partition(":")
                        if kind == "bucket" and name in self.buckets:
                            continue
                        if kind == "ssm" and name in ssm:
                            continue
                        if kind == "secret" and name in secrets:
                            continue
                        if ph == "log_group":
                            continue
                        if ph in ("AWS::Partition", "AWS::Region", "AWS::AccountId"):
                            continue
                        if ph in params or ph in PERMISSION_BUILTINS:
                            continue
                        raise ValueError(f"{where}.task_permissions[{perm.sid}]: unknown placeholder ${{{ph}}}")
                    err = resource_parameter_error(r, params)
                    if err:
                        raise ValueError(f"{where}.task_permissions[{perm.sid}]: {err}")
            err = per_environment_error(s, self.environments)
            if err:
                raise ValueError(f"{where}.{err}")
        tg_by_name = {tg.name: (s, tg) for s in self.services for tg in s.target_groups}
        for lb in self.load_balancers:
            for x in lb.listeners:
                owner = tg_by_name.get(x.target_group)
                if owner is None:
                    raise ValueError(f"load_balancers[{lb.name}].listeners[{x.port}]: unknown target group")
                if owner[1].load_balancer != lb.name:
                    raise ValueError(
                        f"load_balancers[{lb.name}].listeners[{x.port}]: target group "
                        f"{x.target_group!r} belongs to load balancer {owner[1].load_balancer!r}"
                    )
                if x.mode in ("https",) and lb.dns_record is None:
                    raise ValueError(f"load_balancers[{lb.name}].listeners[{x.port}]: https needs dns_record")
            for src in lb.allow_from_services:
                if src not in svc_names:
                    raise ValueError(f"load_balancers[{lb.name}].allow_from_services: unknown service {src!r}")
            if lb.allow_from_nat and self.network.egress_by_environment:
                raise ValueError(
                    f"load_balancers[{lb.name}].allow_from_nat: the NAT gateways differ by environment "
                    "(network.egress_by_environment), so their addresses cannot be admitted"
                )
        for src_set in self.ingress_sources:
            if src_set.name in builtin or src_set.name in params:
                raise ValueError(f"ingress_sources[{src_set.name}]: the name is already a parameter")
        for i, s in enumerate(self.services):
            for j, tg in enumerate(s.target_groups):
                lb = lbs[tg.load_balancer]
                if not tg.routes and not any(x.target_group == tg.name for x in lb.listeners):
                    raise ValueError(
                        f"services[{i}].target_groups[{j}]: target group {tg.name!r} is not used by "
                        f"any listener of {lb.name!r}"
                    )
        check_edge(self)
        check_network(self)
        for sp in self.ssm_parameters:
            for ph in PLACEHOLDER.findall(sp.value):
                if ph not in params and ph not in builtin and not ph.startswith("AWS::"):
                    raise ValueError(f"ssm_parameters[{sp.name}].value: unknown placeholder ${{{ph}}}")
        return self

    def _placeholder_error(self, ph: str, params: dict[str, ParameterSpec]) -> str | None:
        if ph in ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"):
            return None
        if ph in params or ph in BUILTIN_PARAMETERS:
            if ph in params and params[ph].no_echo:
                return f"${{{ph}}} is a secret; pass it through secrets, not environment"
            return None
        kind, _, rest = ph.partition(":")
        if kind == "lb":
            name, _, attr = rest.partition(":")
            if name not in {lb.name for lb in self.load_balancers}:
                return f"${{{ph}}}: unknown load balancer {name!r}"
            if attr not in ("url", "host"):
                return f"${{{ph}}}: load balancer attribute must be url or host"
            return None
        if kind == "db":
            if self.database is None:
                return f"${{{ph}}}: the platform has no database"
            if rest not in ("endpoint", "port", "name"):
                return f"${{{ph}}}: database attribute must be endpoint, port or name"
            return None
        if kind == "namespace" and self.namespace:
            return None
        return f"unknown placeholder ${{{ph}}}"

    # ---- helpers used by the stack modules

    def cluster_of(self, svc: Service) -> str:
        return svc.cluster or self.clusters[0].name

    def subnets_of(self, svc: Service) -> str:
        if svc.subnets:
            return svc.subnets
        if self.network.egress == "public-ip" and self.network.public_tier:
            return self.network.public_tier
        return self.network.default_private_tier

    def endpoint_services(self, mode: str) -> list[str]:
        """Interface endpoints a mode needs: the spec's own, plus in vpc-endpoints mode
        what the tasks use (ECR, logs, STS always; secrets, SSM, KMS, ECS Exec on use)."""
        out = set(self.network.interface_endpoints)
        if mode == "vpc-endpoints":
            out |= {"ecr.api", "ecr.dkr", "logs", "sts"}
            refs = [r for s in self.services for r in s.secrets.values()]
            if any(r.secret or r.database for r in refs):
                out |= {"secretsmanager", "kms"}
            if any(r.ssm for r in refs):
                out |= {"ssm", "kms"}
            if any(s.execute_command for s in self.services):
                out |= {"ssmmessages", "kms"}  # ECS Exec sessions are encrypted with the platform key
        return sorted(out)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def load_balancer(self, name: str) -> LoadBalancer:
        return next(lb for lb in self.load_balancers if lb.name == name)

    def target_group(self, name: str) -> tuple[Service, TargetGroupSpec]:
        return next((s, tg) for s in self.services for tg in s.target_groups if tg.name == name)

    def secret(self, name: str) -> SecretSpec:
        return next(s for s in self.secrets if s.name == name)

    def retains_data(self, env: str) -> bool:
        """Whether a delete in ``env`` keeps the platform's data (``data_retention``; default yes)."""
        return self.data_retention.get(env, "retain") == "retain"

    @property
    def uses_ingress_cidrs(self) -> bool:
        """Whether a listener admits ingress_cidrs (the IngressCidrBlocks parameter)."""
        return any(lb.sources_of(x) is None for lb in self.load_balancers for x in lb.listeners)

    @property
    def nat_ingress(self) -> bool:
        """Whether allow_from_nat admits the NAT gateways' addresses (NatPublicIps): only when
        every environment has the same NAT gateways."""
        return bool(self.network.nat_count) and not self.network.egress_by_environment

    def lb_nat_rules(self, lb: LoadBalancer) -> int:
        """Inbound rules that admit the NAT gateways' addresses to a load balancer."""
        return self.network.nat_count * len(lb.listeners) if lb.allow_from_nat and self.nat_ingress else 0

    def ingress_parameters(self) -> list[tuple[str, str, str, str]]:
        """(name, default, AllowedPattern, description) of each ingress_sources parameter."""
        out = []
        for s in self.ingress_sources:
            ports = source_ports(self.load_balancers, s.name)
            out.append((s.name, ",".join(s.cidrs), parameter_pattern(ports), s.parameter_description(ports)))
        return out

    @property
    def has_domain(self) -> bool:
        return self.domain is not None and any(lb.dns_record for lb in self.load_balancers)

    @property
    def sized_per_environment(self) -> bool:
        return any(s.sizing for s in self.services)

    def db_clients(self) -> list[Service]:
        return [s for s in self.services if any(r.database for r in s.secrets.values())]

    def efs_clients(self) -> list[Service]:
        return [s for s in self.services if s.volumes]


# Parent parameters every platform may have, and the placeholders they back.
BUILTIN_PARAMETERS = (
    "Name",
    "Environment",
    "VpcCidr",
    "IngressCidrBlocks",
    "BaseDomain",
    "HostedZoneId",
    "DatabaseUsername",
    "DatabaseMinAcu",
    "DatabaseMaxAcu",
    "AlarmEmail",
)
