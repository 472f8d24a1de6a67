"""stackgen project rules for cfn-lint 1.x (loaded through `append_rules` in .cfnlintrc).

These are the project rules that need more than a property comparison:

- E9101  RDS BackupRetentionPeriod >= 7 (Aurora cluster; standalone instances too)
- E9102  DeletionProtection is on outside `dev` (RDS cluster / standalone instance,
         ALB `deletion_protection.enabled`). The value may be a literal `true` or an
         environment condition, e.g. `!If [IsDev, false, true]` with
         `IsDev: !Equals [!Ref Environment, dev]`: every value of the `Environment`
         parameter other than `dev` must resolve to `true`.
- E9103  ECS containers run as a non-root user (User set, not root / 0 / root:* / 0:*),
         unless the task definition exempts that container with a reason
         (``Metadata.stackgen.root_user``, same shape as writable_root below)
- E9104  ECS containers have ReadonlyRootFilesystem: true, unless the task definition
         exempts that container with a reason:

             Metadata:
               stackgen:
                 writable_root:
                   - container: app
                     reason: "why this container needs a writable root filesystem"

The IDs stay clear of E9001-E9099, which cfn-lint gives to `custom_rules` lines.
All four are listed as mandatory_checks in .cfnlintrc, so a resource-level
`Metadata.cfn-lint.config.ignore_checks` cannot switch them off; the only
exception is the reasoned writable_root entry above.

cfn-lint imports each ``[A-Za-z1-9]*.py`` here by path (``cfnlint.helpers.load_plugins``:
``importlib`` with a ``FileFinder`` on this directory, no package) and instantiates every
CloudFormationLintRule subclass it finds; the module runs with the interpreter's normal
``sys.path``.  That does not force an evaluator of its own: the rules decide conditions
with the read kernel's one evaluator, ``generator.cfn.conditions``, which is importable
wherever cfn-lint runs from the project's environment (``.venv``, where the package is
installed editable: ``make``, ``validate.sh``, ``python -m generator.gate``).  A cfn-lint
outside that environment cannot load these rules and fails with the ImportError.
What stays here is cfn-lint-specific: which Environment values to try for one template
and what a value "can be" for a rule (a parameter, AWS::NoValue, a non-literal).
"""

from __future__ import annotations

from typing import Any, Iterable

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.cfn.conditions import Conditions, Other, Value, text_of

ENVIRONMENT_PARAMETER = "Environment"
DEV_ENVIRONMENTS = ("dev",)
MIN_BACKUP_RETENTION_DAYS = 7
SOURCE_URL = "README.md#security-posture"

# Values that cannot be checked statically.
NO_VALUE = object()  # property absent or !Ref AWS::NoValue
OTHER_ENVIRONMENT = "<any non-dev value>"


class _Unknown:
    """A value that is not a literal (GetAtt, ImportValue, Sub ...)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"non-literal {self.value!r}"


class _ParamRef:
    """A !Ref to a template parameter other than the environment parameter."""

    def __init__(self, name: str, definition: Any) -> None:
        self.name = name
        self.definition = definition if isinstance(definition, dict) else {}

    def __repr__(self) -> str:
        return f"!Ref {self.name}"


# ---------------------------------------------------------------------------
# Conditions / Fn::If for each value of the Environment parameter (the kernel's
# evaluator). Anything it cannot decide is treated as "either branch".
# ---------------------------------------------------------------------------


def environments(template: dict, parameter: str = ENVIRONMENT_PARAMETER) -> list[str | None]:
    """The environment values to evaluate: the parameter's AllowedValues, or
    (when it has none) `dev` plus a stand-in for every other value. `None` means
    the template has no environment parameter at all."""
    params = template.get("Parameters")
    definition = params.get(parameter) if isinstance(params, dict) else None
    if not isinstance(definition, dict):
        return [None]
    allowed = definition.get("AllowedValues")
    if isinstance(allowed, list) and allowed and all(isinstance(v, (str, int)) for v in allowed):
        return [str(v) for v in allowed]
    return [*DEV_ENVIRONMENTS, OTHER_ENVIRONMENT]


def evaluator(template: dict, env: str | None, parameter: str = ENVIRONMENT_PARAMETER) -> Conditions:
    """The template's conditions with ``parameter`` at ``env`` (the stand-in: any non-dev
    value) and every other parameter unknown."""
    def value(node: Any) -> Value:
        text = text_of(node)
        if text is not None:
            return text
        if isinstance(node, dict) and list(node) == ["Ref"] and node["Ref"] == parameter and env is not None:
            return Other(frozenset(DEV_ENVIRONMENTS)) if env == OTHER_ENVIRONMENT else env
        return None

    conditions = template.get("Conditions")
    return Conditions(conditions if isinstance(conditions, dict) else {}, value)


def condition_value(template: dict, name: Any, env: str | None,
                    parameter: str = ENVIRONMENT_PARAMETER) -> bool | None:
    """True/False if the named condition is decided by the environment value, else None."""
    return evaluator(template, env, parameter).decide(name)


def possible_values(
    template: dict, value: Any, env: str | None, parameter: str = ENVIRONMENT_PARAMETER
) -> list[Any]:
    """The literal values `value` can take for this environment value."""
    return [x for v in evaluator(template, env, parameter).possible(value) for x in _leaf(template, v, env, parameter)]


def _leaf(template: dict, value: Any, env: str | None, parameter: str) -> list[Any]:
    if isinstance(value, dict) and len(value) == 1:
        (fn, args), = value.items()
        if fn == "Ref":
            if args == "AWS::NoValue":
                return [NO_VALUE]
            params = template.get("Parameters")
            if isinstance(params, dict) and args in params:
                if args == parameter and env not in (None, OTHER_ENVIRONMENT):
                    return [env]
                return [_ParamRef(args, params[args])]
        return [_Unknown(value)]
    if isinstance(value, (dict, list)):
        return [_Unknown(value)]
    return [value]


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def resource_exists(template: dict, resource: dict, env: str | None) -> bool:
    """False only when the resource's own Condition is decided False for env."""
    return condition_value(template, resource.get("Condition"), env) is not False


def _resources(cfn: Any, types: Iterable[str]) -> Iterable[tuple[str, dict]]:
    for name, resource in cfn.get_resources(list(types)).items():
        if isinstance(resource, dict):
            yield name, resource


def _props(resource: dict) -> dict:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def _is_aurora_member(props: dict) -> bool:
    return "DBClusterIdentifier" in props


def _env_label(env: str | None) -> str:
    return "any environment" if env is None else f"Environment={env}"


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


class RdsBackupRetention(CloudFormationLintRule):
    """RDS backups are kept for at least 7 days."""

    id = "E9101"
    shortdesc = "RDS BackupRetentionPeriod must be at least 7 days"
    description = (
        "Aurora clusters (and standalone DB instances) keep automated backups for at least "
        f"{MIN_BACKUP_RETENTION_DAYS} days in every environment. A parameter is accepted when "
        f"its MinValue is at least {MIN_BACKUP_RETENTION_DAYS}."
    )
    source_url = SOURCE_URL
    tags = ["stackgen", "rds", "backup"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        template = cfn.template
        for name, resource in _resources(cfn, ["AWS::RDS::DBCluster", "AWS::RDS::DBInstance"]):
            props = _props(resource)
            if resource["Type"] == "AWS::RDS::DBInstance" and _is_aurora_member(props):
                continue  # Aurora instances take their backups from the cluster
            path = ["Resources", name, "Properties", "BackupRetentionPeriod"]
            raw = props.get("BackupRetentionPeriod", {"Ref": "AWS::NoValue"})
            bad: list[str] = []
            for env in environments(template):
                if not resource_exists(template, resource, env):
                    continue
                for value in possible_values(template, raw, env):
                    problem = self._problem(value)
                    if problem and problem not in bad:
                        bad.append(problem)
            for problem in bad:
                matches.append(RuleMatch(path if "BackupRetentionPeriod" in props else path[:3],
                                         f"{name}: {problem}"))
        return matches

    @staticmethod
    def _problem(value: Any) -> str | None:
        need = MIN_BACKUP_RETENTION_DAYS
        if value is NO_VALUE:
            return f"BackupRetentionPeriod is not set (the default is 1 day); set it to >= {need}"
        if isinstance(value, _ParamRef):
            minimum = value.definition.get("MinValue")
            try:
                if minimum is not None and int(minimum) >= need:
                    return None
            except (TypeError, ValueError):
                pass
            return (f"BackupRetentionPeriod comes from parameter {value.name}, which needs "
                    f"MinValue >= {need}")
        if isinstance(value, _Unknown) or isinstance(value, bool):
            return f"BackupRetentionPeriod must be a literal >= {need}, not {value!r}"
        try:
            days = int(value)
        except (TypeError, ValueError):
            return f"BackupRetentionPeriod must be a number >= {need}, not {value!r}"
        if days < need:
            return f"BackupRetentionPeriod is {days}; it must be >= {need}"
        return None


class DeletionProtectionOutsideDev(CloudFormationLintRule):
    """Deletion protection is on in every environment except dev."""

    id = "E9102"
    shortdesc = "DeletionProtection must be on outside dev"
    description = (
        "RDS clusters, standalone DB instances and load balancers have deletion protection "
        "on for every value of the Environment parameter except dev: a literal true, or an "
        "Fn::If on a condition that compares Environment with dev."
    )
    source_url = SOURCE_URL
    tags = ["stackgen", "rds", "elb", "deletion-protection"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        template = cfn.template
        types = ["AWS::RDS::DBCluster", "AWS::RDS::DBInstance",
                 "AWS::ElasticLoadBalancingV2::LoadBalancer"]
        for name, resource in _resources(cfn, types):
            props = _props(resource)
            rtype = resource["Type"]
            if rtype == "AWS::RDS::DBInstance" and _is_aurora_member(props):
                continue  # protected through the cluster
            if rtype == "AWS::ElasticLoadBalancingV2::LoadBalancer":
                raw, path = self._alb_setting(name, props)
                label = "LoadBalancerAttributes deletion_protection.enabled"
            else:
                raw = props.get("DeletionProtection", {"Ref": "AWS::NoValue"})
                path = ["Resources", name, "Properties"] + (
                    ["DeletionProtection"] if "DeletionProtection" in props else [])
                label = "DeletionProtection"
            for env in environments(template):
                if env in DEV_ENVIRONMENTS or not resource_exists(template, resource, env):
                    continue
                values = possible_values(template, raw, env)
                wrong = [v for v in values if not is_true(v)]
                if wrong:
                    shown = "not set" if wrong[0] is NO_VALUE else repr(wrong[0])
                    matches.append(RuleMatch(
                        path,
                        f"{name}: {label} must be true outside dev, but for "
                        f"{_env_label(env)} it is {shown}. Use true, or "
                        f"!If [IsDev, false, true] with IsDev: !Equals [!Ref {ENVIRONMENT_PARAMETER}, dev]",
                    ))
                    break
        return matches

    @staticmethod
    def _alb_setting(name: str, props: dict) -> tuple[Any, list]:
        attrs = props.get("LoadBalancerAttributes")
        base = ["Resources", name, "Properties"]
        if isinstance(attrs, list):
            for i, attr in enumerate(attrs):
                if isinstance(attr, dict) and attr.get("Key") == "deletion_protection.enabled":
                    return attr.get("Value", {"Ref": "AWS::NoValue"}), base + [
                        "LoadBalancerAttributes", i, "Value"]
            return {"Ref": "AWS::NoValue"}, base + ["LoadBalancerAttributes"]
        return {"Ref": "AWS::NoValue"}, base


ROOT_USERS = ("root", "0")


def _is_root_user(user: str) -> bool:
    return user in ROOT_USERS or user.split(":", 1)[0] in ROOT_USERS


def _containers(props: dict) -> list[tuple[int, Any]]:
    containers = props.get("ContainerDefinitions")
    return list(enumerate(containers)) if isinstance(containers, list) else []


def container_exemptions(resource: dict, kind: str) -> list[Any]:
    """The raw `Metadata.stackgen.<kind>` entries (writable_root / root_user) of a task definition."""
    metadata = resource.get("Metadata")
    stackgen = metadata.get("stackgen") if isinstance(metadata, dict) else None
    entries = stackgen.get(kind) if isinstance(stackgen, dict) else None
    return entries if isinstance(entries, list) else []


def _read_exemptions(name: str, resource: dict, kind: str,
                     matches: list[RuleMatch]) -> dict[str, str]:
    """container -> reason for the valid entries; a RuleMatch for each invalid one."""
    exempt: dict[str, str] = {}
    meta_path = ["Resources", name, "Metadata", "stackgen", kind]
    for j, entry in enumerate(container_exemptions(resource, kind)):
        cname = entry.get("container") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(cname, str) or not cname:
            matches.append(RuleMatch(meta_path + [j], f"{name}: {kind} entry needs a container name"))
        elif not isinstance(reason, str) or not reason.strip():
            matches.append(RuleMatch(meta_path + [j], f"{name}: {kind} exemption for {cname} "
                                                       "has no reason"))
        else:
            exempt[cname] = reason
    return exempt


def _unknown_exemptions(name: str, kind: str, exempt: dict[str, str], seen: set[str],
                        matches: list[RuleMatch]) -> None:
    for cname in exempt:
        if cname not in seen:
            matches.append(RuleMatch(["Resources", name, "Metadata", "stackgen", kind],
                                     f"{name}: {kind} exemption names unknown container {cname}"))


class EcsNonRootUser(CloudFormationLintRule):
    """ECS containers run as a non-root user unless exempted with a reason."""

    id = "E9103"
    shortdesc = "ECS containers must run as a non-root user"
    description = (
        "Every container in an ECS task definition sets User to a literal that is not "
        "root, 0, root:<group> or 0:<group>, unless the task definition's "
        "Metadata.stackgen.root_user lists it with a non-empty reason. Exemptions that name "
        "no such container, or a container that already runs as non-root, are reported too."
    )
    source_url = SOURCE_URL
    tags = ["stackgen", "ecs", "root"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in _resources(cfn, ["AWS::ECS::TaskDefinition"]):
            exempt = _read_exemptions(name, resource, "root_user", matches)
            seen: set[str] = set()
            for i, container in _containers(_props(resource)):
                if not isinstance(container, dict):
                    continue
                cname = container.get("Name", f"#{i}")
                seen.add(cname)
                path = ["Resources", name, "Properties", "ContainerDefinitions", i]
                user = container.get("User")
                problem = None
                if user is None:
                    problem = f"container {cname} has no User (it would run as root); set a non-root UID"
                elif not isinstance(user, (str, int)) or isinstance(user, bool):
                    problem, path = f"container {cname} User must be a literal", path + ["User"]
                elif _is_root_user(str(user)):
                    problem, path = f"container {cname} runs as root ({user})", path + ["User"]
                if problem and cname not in exempt:
                    matches.append(RuleMatch(path, f"{name}: {problem} (or a root_user exemption "
                                                   "with a reason)"))
                elif not problem and cname in exempt:
                    matches.append(RuleMatch(["Resources", name, "Metadata", "stackgen", "root_user"],
                                             f"{name}: root_user exemption for {cname} is stale: "
                                             f"it runs as {user}"))
            _unknown_exemptions(name, "root_user", exempt, seen, matches)
        return matches


class EcsReadOnlyRootFilesystem(CloudFormationLintRule):
    """ECS containers have a read-only root filesystem unless exempted with a reason."""

    id = "E9104"
    shortdesc = "ECS containers must have a read-only root filesystem"
    description = (
        "Every container sets ReadonlyRootFilesystem: true, unless the task definition's "
        "Metadata.stackgen.writable_root lists it with a non-empty reason. Exemptions that "
        "name no such container, or a container that is already read-only, are reported too."
    )
    source_url = SOURCE_URL
    tags = ["stackgen", "ecs", "filesystem"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in _resources(cfn, ["AWS::ECS::TaskDefinition"]):
            exempt = _read_exemptions(name, resource, "writable_root", matches)
            meta_path = ["Resources", name, "Metadata", "stackgen", "writable_root"]
            seen: set[str] = set()
            for i, container in _containers(_props(resource)):
                if not isinstance(container, dict):
                    continue
                cname = container.get("Name", f"#{i}")
                seen.add(cname)
                path = ["Resources", name, "Properties", "ContainerDefinitions", i]
                readonly = is_true(container.get("ReadonlyRootFilesystem"))
                if readonly and cname in exempt:
                    matches.append(RuleMatch(meta_path, f"{name}: writable_root exemption for "
                                                        f"{cname} is stale: it is read-only"))
                elif not readonly and cname not in exempt:
                    matches.append(RuleMatch(path, f"{name}: container {cname} needs "
                                                   "ReadonlyRootFilesystem: true (or a "
                                                   "writable_root exemption with a reason)"))
            _unknown_exemptions(name, "writable_root", exempt, seen, matches)
        return matches
