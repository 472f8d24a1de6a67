"""What a StackSets deploy is asked to do, checked before anything is created (no AWS calls).

``deploy.sh --stack-set`` / ``delete.sh --stack-set`` options become a :class:`Targets`
(regions in order, accounts or organizational units, permission model, operation
preferences); the per-region parameter files ``parameters/<platform>/<env>.<region>.json``
are found and checked; the parameters of the stack set and the per-instance overrides are
computed from the environment's file, the region files and the values deploy.sh fills in
per region (:mod:`generator.deploy.filled`); the packaged parent's nested ``TemplateURL``s
are rewritten to the artifact bucket of the region the instance runs in; and the bucket
policy statement that lets the target accounts read the stack set's templates is built.

A user's mistake is a :class:`InputError` whose message is one line naming the option or
the file; :mod:`generator.deploy.stacksets` prints it and exits 2.

Sources of the AWS facts used here:

- region names: cfn-lint's bundled region list (``cfnlint.helpers.REGIONS``);
- OperationPreferences (a count or a percentage, never both; ``MaxConcurrentCount`` at most
  one more than ``FailureToleranceCount`` in ``STRICT_FAILURE_TOLERANCE`` mode):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html
- account IDs (12 digits) and OU IDs (``ou-<root>-<8..32>`` or a root ``r-...``): the
  ``Accounts`` and ``DeploymentTargets.OrganizationalUnitIds`` patterns of
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.helpers import REGIONS

from generator.deploy.params import ParamError, read_params_file

ACCOUNT = re.compile(r"^\d{12}$")
OU = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
COUNT_OR_PERCENT = re.compile(r"^(\d+)(%?)$")
PERMISSION_MODELS = {"self-managed": "SELF_MANAGED", "service-managed": "SERVICE_MANAGED"}
REGION_CONCURRENCY = {"sequential": "SEQUENTIAL", "parallel": "PARALLEL"}
CONCURRENCY_MODES = {"strict": "STRICT_FAILURE_TOLERANCE", "soft": "SOFT_FAILURE_TOLERANCE"}
CALL_AS = ("SELF", "DELEGATED_ADMIN")
STACK_TYPE = "AWS::CloudFormation::Stack"


class InputError(Exception):
    """A user's mistake in the options or a parameters file: one line, exit 2."""


@dataclass
class Targets:
    regions: list[str]
    accounts: list[str] = field(default_factory=list)  # self-managed
    ous: list[str] = field(default_factory=list)  # service-managed
    permission_model: str = "SELF_MANAGED"
    preferences: dict[str, Any] = field(default_factory=dict)  # OperationPreferences
    call_as: str = "SELF"

    def instance_targets(self) -> dict[str, Any]:
        """The Accounts or DeploymentTargets member of Create/UpdateStackInstances."""
        if self.ous:
            return {"DeploymentTargets": {"OrganizationalUnitIds": list(self.ous)}}
        return {"Accounts": list(self.accounts)}

    def call(self) -> dict[str, Any]:
        """CallAs, passed only for a delegated administrator (SELF is the API's default)."""
        return {"CallAs": self.call_as} if self.call_as != "SELF" else {}

    def preferences_for(self, regions: list[str]) -> dict[str, Any]:
        prefs = dict(self.preferences)
        if regions:
            prefs["RegionOrder"] = list(regions)
        return prefs


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def count_or_percent(option: str, value: str, key: str, minimum: int) -> dict[str, int]:
    """``N`` -> {key}Count, ``N%`` -> {key}Percentage (0..100)."""
    match = COUNT_OR_PERCENT.match(value.strip())
    if not match:
        raise InputError(f"invalid {option}: {value} (expected N or N%, e.g. 1 or 25%)")
    number, percent = int(match.group(1)), match.group(2) == "%"
    if number < minimum or (percent and number > 100):
        bound = f"{minimum}..100%" if percent else f"at least {minimum}"
        raise InputError(f"invalid {option}: {value} (must be {bound})")
    return {f"{key}Percentage" if percent else f"{key}Count": number}


def parse_targets(
    *,
    regions: str | None,
    accounts: str | None,
    ous: str | None,
    permission_model: str | None,
    failure_tolerance: str | None,
    max_concurrent: str | None,
    region_concurrency: str | None,
    concurrency_mode: str | None,
    call_as: str | None = None,
    need_regions: bool = True,
) -> Targets:
    """Check the StackSets options; raise InputError with one line for the first mistake."""
    region_list = _split(regions)
    if need_regions and not region_list:
        raise InputError("--stack-set needs --regions r1[,r2...] (the regions of the stack instances)")
    for region in region_list:
        if region not in REGIONS:
            raise InputError(f"--regions: unknown region {region} (cfn-lint's region list has no such region)")
    if len(set(region_list)) != len(region_list):
        raise InputError(f"--regions: a region is given twice: {regions}")
    if accounts is not None and ous is not None:
        raise InputError(
            "--accounts and --organizational-units exclude each other "
            "(accounts: self-managed permissions; organizational units: service-managed)"
        )
    model_name = permission_model or ("service-managed" if ous is not None else "self-managed")
    if model_name not in PERMISSION_MODELS:
        raise InputError(f"invalid --permission-model: {model_name} (expected one of: {', '.join(PERMISSION_MODELS)})")
    model = PERMISSION_MODELS[model_name]
    account_list, ou_list = _split(accounts), _split(ous)
    if accounts is not None and not account_list:
        raise InputError("--accounts needs at least one 12-digit account ID")
    for account in account_list:
        if not ACCOUNT.match(account):
            raise InputError(f"--accounts: {account} is not a 12-digit AWS account ID")
    for ou in ou_list:
        if not OU.match(ou):
            raise InputError(f"--organizational-units: {ou} is not an OU ID (ou-xxxx-xxxxxxxx) or a root ID (r-xxxx)")
    if model == "SERVICE_MANAGED" and account_list:
        raise InputError("--permission-model service-managed deploys to --organizational-units, not --accounts")
    if model == "SERVICE_MANAGED" and need_regions and not ou_list:
        raise InputError("--permission-model service-managed needs --organizational-units ou-...[,ou-...]")
    if model == "SELF_MANAGED" and ou_list:
        raise InputError("--organizational-units needs --permission-model service-managed (AWS Organizations)")
    prefs: dict[str, Any] = {}
    if failure_tolerance is not None:
        prefs.update(count_or_percent("--failure-tolerance", failure_tolerance, "FailureTolerance", 0))
    if max_concurrent is not None:
        prefs.update(count_or_percent("--max-concurrent", max_concurrent, "MaxConcurrent", 1))
    mode = CONCURRENCY_MODES.get(concurrency_mode or "strict")
    if mode is None:
        raise InputError(
            f"invalid --concurrency-mode: {concurrency_mode} (expected one of: {', '.join(CONCURRENCY_MODES)})"
        )
    if concurrency_mode is not None:
        prefs["ConcurrencyMode"] = mode
    if (
        mode == "STRICT_FAILURE_TOLERANCE"
        and "MaxConcurrentCount" in prefs
        and prefs["MaxConcurrentCount"] > prefs.get("FailureToleranceCount", 0) + 1
    ):
        raise InputError(
            f"--max-concurrent {prefs['MaxConcurrentCount']} is more than one above --failure-tolerance "
            f"{prefs.get('FailureToleranceCount', 0)}: CloudFormation refuses that in strict mode "
            "(raise --failure-tolerance, or --concurrency-mode soft)"
        )
    if region_concurrency is not None:
        if region_concurrency not in REGION_CONCURRENCY:
            raise InputError(
                f"invalid --region-concurrency: {region_concurrency} (expected one of: {', '.join(REGION_CONCURRENCY)})"
            )
        prefs["RegionConcurrencyType"] = REGION_CONCURRENCY[region_concurrency]
    if call_as is not None and call_as not in CALL_AS:
        raise InputError(f"invalid --call-as: {call_as} (expected one of: {', '.join(CALL_AS)})")
    if call_as == "DELEGATED_ADMIN" and model != "SERVICE_MANAGED":
        raise InputError("--call-as DELEGATED_ADMIN goes with --permission-model service-managed")
    return Targets(region_list, account_list, ou_list, model, prefs, call_as or "SELF")


# --- per-region parameter files ---------------------------------------------------------


def region_files(params_file: Path, env: str) -> dict[str, Path]:
    """``<env>.<region>.json`` beside the environment's file, by region. A suffix that is
    not a region name is a mistake (a typo would otherwise be ignored silently)."""
    found: dict[str, Path] = {}
    folder = params_file.parent
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob(f"{env}.*.json")):
        region = path.name[len(env) + 1 : -len(".json")]
        if region not in REGIONS:
            raise InputError(
                f"{path}: {region} is not an AWS region (per-region parameter files are named "
                f"{env}.<region>.json, e.g. {env}.eu-west-1.json)"
            )
        found[region] = path
    return found


def read_region_values(files: dict[str, Path], regions: list[str]) -> dict[str, dict[str, str]]:
    """The values of each target region's file (empty for a region without one)."""
    out: dict[str, dict[str, str]] = {}
    for region in regions:
        try:
            out[region] = read_params_file(files[region]) if region in files else {}
        except ParamError as exc:
            raise InputError(str(exc)) from None
    return out


def set_parameters(template: dict, env_values: dict[str, str], overrides: dict[str, dict[str, str]]) -> dict[str, str]:
    """The stack set's own parameter values: the environment's file, plus every overridden
    key without a Default (so the stack set itself has a value for every parameter that needs
    one). Such a key takes the value of the first region that sets it; every instance has its
    own override of it (:func:`missing_overrides`), so no instance runs with another region's
    value. A key with a Default is left to it, so a region file added later changes only the
    instances of its region."""
    specs = template.get("Parameters") or {}
    values = dict(env_values)
    for region_values in overrides.values():
        for key, value in region_values.items():
            if key not in values and "Default" not in (specs.get(key) or {}):
                values[key] = value
    return values


def missing_overrides(template: dict, env_values: dict[str, str], overrides: dict[str, dict[str, str]]) -> list[str]:
    """Keys without a Default and not in the environment's file that some region lacks: that
    instance would run with another region's value."""
    specs = template.get("Parameters") or {}
    problems = []
    keys = {k for values in overrides.values() for k in values}
    for key in sorted(keys):
        if key in env_values or "Default" in (specs.get(key) or {}):
            continue
        lacking = [r for r, values in overrides.items() if key not in values]
        if lacking:
            problems.append(f"{key} has no value for {', '.join(lacking)}")
    return problems


def as_api(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def from_api(parameters: list[dict[str, Any]] | None) -> dict[str, str]:
    return {p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in parameters or []}


# --- templates and the artifact buckets ---------------------------------------------------


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def bucket_prefix(bucket: str, admin_region: str) -> str:
    """The artifact buckets are one per region, ``<prefix><region>``; the admin region's
    bucket (deploy.sh's ``--bucket``, default ``stackgen-artifacts-<account>-<region>``) gives
    the prefix."""
    if not bucket.endswith(f"-{admin_region}"):
        raise InputError(
            f"--bucket {bucket}: with --stack-set the artifact buckets are one per region, named "
            f"<name>-<region>; pass a bucket whose name ends in -{admin_region}"
        )
    return bucket[: -len(admin_region)]


def s3_key(url: str, bucket: str) -> str:
    """The object key of a TemplateURL that ``aws cloudformation package`` wrote for
    ``bucket`` (path style ``.../bucket/key`` or virtual-hosted ``bucket.s3...../key``). A
    versioned bucket gets ``?versionId=...`` from the CLI: the key is content-addressed, so the
    regional copy is the same bytes without it."""
    rest = url.split("://", 1)[-1].split("?", 1)[0]
    host, _, path = rest.partition("/")
    if host.startswith(f"{bucket}."):
        return path
    if path.startswith(f"{bucket}/"):
        return path[len(bucket) + 1 :]
    raise InputError(f"TemplateURL {url} is not in the artifact bucket {bucket}")


def regional_url(prefix: str, key: str, endpoint_url: str | None) -> dict[str, str]:
    """A TemplateURL that names the artifact bucket of the region the stack runs in."""
    if endpoint_url:
        return {"Fn::Sub": f"{endpoint_url.rstrip('/')}/{prefix}${{AWS::Region}}/{key}"}
    return {"Fn::Sub": f"https://{prefix}${{AWS::Region}}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{key}"}


def regionalize(packaged: dict, bucket: str, prefix: str, endpoint_url: str | None) -> tuple[dict, list[str]]:
    """The packaged parent with every nested TemplateURL pointing at the regional bucket
    (CloudFormation reads a nested template from a bucket in the stack's region), and the
    keys to copy there."""
    out = dict(packaged)
    resources = {}
    keys: list[str] = []
    for lid, res in (packaged.get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") == STACK_TYPE:
            props = dict(res.get("Properties") or {})
            url = props.get("TemplateURL")
            if not isinstance(url, str):
                raise InputError(f"{lid}: TemplateURL is not a packaged S3 URL (run aws cloudformation package)")
            key = s3_key(url, bucket)
            keys.append(key)
            props["TemplateURL"] = regional_url(prefix, key, endpoint_url)
            res = {**res, "Properties": props}
        resources[lid] = res
    out["Resources"] = resources
    return out, sorted(set(keys))


def read_statement_sid(stack_set: str) -> str:
    """The bucket policy statement of one stack set (Sids are letters and digits)."""
    digest = hashlib.sha256(stack_set.encode()).hexdigest()[:8]
    return "StackgenStackSetRead" + re.sub(r"[^A-Za-z0-9]", "", stack_set)[:60] + digest


def read_statement(
    stack_set: str,
    bucket: str,
    prefix: str,
    region: str,
    accounts: list[str],
    org_id: str | None,
    org_paths: list[str] | None = None,
) -> dict[str, Any] | None:
    """Lets the target accounts (self-managed), or the principals of the target OUs of the
    organization (service-managed: ``aws:PrincipalOrgID``, narrowed by
    ``aws:PrincipalOrgPaths`` ``o-.../r-.../ou-.../*``), read the stack set's templates under
    ``prefix/``; None when every target is the bucket's account."""
    resource = f"arn:{partition(region)}:s3:::{bucket}/{prefix.strip('/')}/*"
    statement: dict[str, Any] = {
        "Sid": read_statement_sid(stack_set),
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": resource,
    }
    if org_id:
        statement["Principal"] = "*"
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": org_id}}
        if org_paths:
            statement["Condition"]["ForAnyValue:StringLike"] = {
                "aws:PrincipalOrgPaths": [f"{p.rstrip('/')}/*" for p in sorted(org_paths)]
            }
        return statement
    if not accounts:
        return None
    statement["Principal"] = {"AWS": [f"arn:{partition(region)}:iam::{a}:root" for a in sorted(accounts)]}
    return statement


def merge_statement(policy: dict[str, Any] | None, sid: str, statement: dict[str, Any] | None) -> dict[str, Any]:
    """The bucket policy with the stack set's statement replaced (or removed when None); the
    other statements (the TLS-only deny, other stack sets) are kept as they are."""
    policy = dict(policy or {"Version": "2012-10-17", "Statement": []})
    kept = [s for s in policy.get("Statement") or [] if s.get("Sid") != sid]
    policy["Statement"] = kept + ([statement] if statement else [])
    return policy
