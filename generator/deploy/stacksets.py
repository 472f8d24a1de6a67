"""Many regions and accounts through CloudFormation StackSets (``deploy.sh --stack-set``,
``delete.sh --stack-set``; docs/deploy.md, "StackSets").

Subcommands:
  check   the StackSets options alone (no AWS call): one line and exit 2 for a mistake
  deploy  from the parent template deploy.sh packaged once: one artifact bucket per target
          region (``<name>-<region>``, the nested templates copied there under the same
          content-addressed keys; the parent's nested TemplateURLs name
          ``<name>-${AWS::Region}``), readable by the target accounts (self-managed) or the
          organization (service-managed) through a bucket policy statement; create or update
          the stack set (in the region of ``--region``), then create or update its instances
          region by region in ``--regions`` order, each region with its own parameter
          overrides: ``parameters/<platform>/<env>.<region>.json``, ``S3PrefixListId`` looked
          up in that region, ``<Service>ImageReady`` decided for that region; per-instance
          status is streamed until each operation ends (bounded by ``--operation-timeout``)
  delete  list what the instances will leave behind, delete the instances (wait), then the
          stack set and its bucket policy statements

Why one operation per region: CreateStackInstances/UpdateStackInstances apply one set of
ParameterOverrides to every instance of the call, and the overrides differ per region (the S3
prefix list ID does), so each region is its own operation, in the order of ``--regions``; a
region whose operation fails stops the later ones, as CloudFormation does within one
operation. An UpdateStackSet (a new template) is one operation over every region, with
``--region-concurrency`` and the region order; CloudFormation keeps the instances' overrides.

Exit status: 0 done; 1 an operation failed, timed out or was not confirmed; 2 a user's
mistake (nothing was created).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from generator.cfn.load import load_file
from generator.deploy import artifacts, exposure, images, regional
from generator.deploy import stackset_inputs as inputs
from generator.deploy._aws import EXIT_FAIL, EXIT_USAGE, add_aws_args, client, guard, prog, shown_path
from generator.deploy.changeset import CAPABILITIES
from generator.deploy.params import ParamError, read_params_file, resolve, rule_problems
from generator.deploy.stackset_delete import delete
from generator.deploy.stackset_status import (
    caller_account,
    describe_stack_set,
    list_instances,
    ordered_regions,
    print_instances,
    put_read_statement,
    region_args,
    watch_operation,
)
from generator.deployability import rootset


def _error(message: str) -> int:
    print(f"{prog()}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def targets_of(args: argparse.Namespace, need_regions: bool = True) -> inputs.Targets:
    return inputs.parse_targets(
        regions=args.regions,
        accounts=args.accounts,
        ous=args.organizational_units,
        permission_model=args.permission_model,
        failure_tolerance=args.failure_tolerance,
        max_concurrent=args.max_concurrent,
        region_concurrency=args.region_concurrency,
        concurrency_mode=args.concurrency_mode,
        call_as=args.call_as,
        need_regions=need_regions,
    )


# --- per-region values ------------------------------------------------------------------------


def image_values(
    args: argparse.Namespace,
    template: dict,
    region: str,
    given: dict[str, str],
    current: dict[str, str] | None,
    own_stack_id: str | None,
) -> tuple[dict[str, str], list[str]]:
    """``<Service>ImageReady`` for the instances of one region: a value in the files is kept;
    a region new to the stack set gets "false" (its repositories are created empty by that
    instance); an instance in the caller's account is asked (its stack's outputs name the
    repository, ECR says whether the tag is there); an instance in another account keeps the
    override it has (set the value in the region's file once the image is pushed there)."""
    values: dict[str, str] = {}
    notes: list[str] = []
    entries = images.entries(template)
    if not entries:
        return values, notes
    stack = None
    if own_stack_id:
        cfn = client("cloudformation", args, region=region)
        try:
            stack = cfn.describe_stacks(StackName=own_stack_id)["Stacks"][0]
        except ClientError:  # gone since (or not readable): decided as for another account
            own_stack_id = None
    found = {i.entry["parameter"]: i for i in images.look(region_args(args, region), template, given, stack)}
    for entry in entries:
        name = entry["parameter"]
        if name in given:
            continue
        if current is None:
            values[name] = "false"
            notes.append(
                f"{region}: {name}=false (new instance: its repository is created empty; push, then deploy again)"
            )
        elif own_stack_id and found[name].uri:
            values[name] = "true" if found[name].present else "false"
            if not found[name].present:
                notes.append(f"{region}: {name}=false: {found[name].image} is not pushed (the service stays at 0)")
        elif name in current:
            values[name] = current[name]
    return values, notes


def plan_overrides(
    args: argparse.Namespace,
    template: dict,
    env_values: dict[str, str],
    region_values: dict[str, dict[str, str]],
    current: dict[str, dict[str, str] | None],
    own_stacks: dict[str, str],
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The ParameterOverrides of every target region (its file's values, the S3 prefix list
    of that region, its image decisions) and what was decided, for the terminal."""
    specs = template.get("Parameters") or {}
    out: dict[str, dict[str, str]] = {}
    said: list[str] = []
    for region, values in region_values.items():
        overrides = dict(values)
        if "S3PrefixListId" in specs and "S3PrefixListId" not in env_values and "S3PrefixListId" not in values:
            try:
                overrides["S3PrefixListId"] = regional.s3_prefix_list_id(region, args)
            except regional.RegionalError as exc:
                raise inputs.InputError(f"S3PrefixListId: {exc}") from None
            said.append(
                f"{region}: S3PrefixListId={overrides['S3PrefixListId']} "
                f"({regional.s3_prefix_list_name(region)}, looked up in {region})"
            )
        ready, notes = image_values(
            args, template, region, {**env_values, **values}, current.get(region), own_stacks.get(region)
        )
        said += notes
        overrides.update(ready)
        out[region] = overrides
    return out, said


def secrets_and_checks(
    template: dict,
    env_values: dict[str, str],
    overrides: dict[str, dict[str, str]],
    shown: dict[str, str],
    previous: set[str],
) -> list[dict[str, Any]]:
    """Every region's values checked against the template (one line per problem, the file
    named); the NoEcho values (STACKGEN_PARAM_<Name>, a hidden prompt on a terminal, or the
    stack set's previous value) as API parameters of the stack set."""
    problems: list[str] = []
    secrets: list[dict[str, Any]] = []
    for region, values in overrides.items():
        merged = {**env_values, **values}
        where = shown.get(region) or shown["env"]
        result = resolve(template, merged, previous=previous, interactive=sys.stdin.isatty(), params_path=where)
        problems += [p if p.startswith(where) else f"{where}: {p}" for p in result.problems]
        problems += rule_problems(template, merged, where)
        for name in result.need_prompt:
            os.environ[f"STACKGEN_PARAM_{name}"] = getpass.getpass(f"Value for NoEcho parameter {name} (not echoed): ")
        if not secrets:
            again = resolve(template, merged, previous=previous, params_path=where)
            secrets = [p for p in again.api_parameters() if p["ParameterKey"] not in merged]
            problems += [
                q for q in (p if p.startswith(where) else f"{where}: {p}" for p in again.problems) if q not in problems
            ]
    problems += inputs.missing_overrides(template, env_values, overrides)
    problems = list(dict.fromkeys(problems))  # a mistake in the environment's file, once
    if problems:
        raise inputs.InputError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return secrets


# --- artifact buckets ---------------------------------------------------------------------------


def prepare_buckets(
    args: argparse.Namespace,
    targets: inputs.Targets,
    prefix: str,
    keys: list[str],
    own: str,
) -> None:
    """Each target region's bucket exists (encrypted, private, versioned, TLS only), holds the
    nested templates and lets the target accounts read the stack set's prefix."""
    admin_bucket = args.bucket
    org_id = None
    paths: list[str] = []
    if targets.permission_model == "SERVICE_MANAGED":
        org_id = client("organizations", args).describe_organization()["Organization"]["Id"]
        paths = [org_path(args, org_id, ou) for ou in targets.ous]
    others = [a for a in targets.accounts if a != own]
    for region in sorted(set(targets.regions) | {args.region}):
        bucket = f"{prefix}{region}"
        rargs = region_args(args, region)
        if region != args.region:
            with contextlib.redirect_stdout(sys.stderr):
                artifacts.ensure(argparse.Namespace(**{**vars(rargs), "bucket": bucket}))
            s3 = client("s3", rargs)
            for key in keys:
                try:
                    s3.head_object(Bucket=bucket, Key=key)
                except ClientError:
                    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": admin_bucket, "Key": key})
        statement = inputs.read_statement(
            args.stack_set_name, bucket, args.stack_set_name, region, others, org_id, paths
        )
        if statement is not None:
            put_read_statement(rargs, bucket, args.stack_set_name, statement)
    print(f"nested templates in s3://{prefix}<region>/{args.stack_set_name}/ for {', '.join(targets.regions)}")


def org_path(args: argparse.Namespace, org_id: str, ou: str) -> str:
    """``o-.../r-.../ou-.../`` of an OU (or a root), as aws:PrincipalOrgPaths spells it."""
    chain = [ou]
    org = client("organizations", args)
    while not chain[0].startswith("r-"):
        chain.insert(0, org.list_parents(ChildId=chain[0])["Parents"][0]["Id"])
    return "/".join([org_id, *chain]) + "/"


def upload_parent(args: argparse.Namespace, body: str) -> str:
    key = f"{args.stack_set_name}/{hashlib.md5(body.encode()).hexdigest()}.template"
    client("s3", args).put_object(Bucket=args.bucket, Key=key, Body=body.encode())
    return artifacts.object_url(args, args.bucket, key)


# --- deploy -------------------------------------------------------------------------------------


def confirm(args: argparse.Namespace, question: str, refusal: str) -> bool:
    if args.yes:
        return True
    if sys.stdin.isatty():
        return input(f"{question} Type 'yes' to continue: ").strip() == "yes"
    print(f"{prog()}: error: {refusal}", file=sys.stderr)
    return False


def deploy(args: argparse.Namespace, targets: inputs.Targets) -> int:
    try:
        template = load_file(args.template)
        roots = rootset.root_files({rootset.BASE: template})
        if len(roots) > 1:
            # A stack set deploys one template; the later roots of a split platform would be lost.
            raise inputs.InputError(
                f"{shown_path(Path(args.template))}: the platform is split into {len(roots)} root stacks "
                f"({', '.join(roots)}) to stay within one stack operation's 2,500 resources; a stack set "
                "deploys one root, so deploy it per region without --stack-set (docs/deploy.md, Several root stacks)"
            )
        packaged = load_file(args.packaged)
        env_values = read_params_file(args.params_file)
        files = inputs.region_files(Path(args.params_dir) / f"{args.env}.json", args.env)
        region_values = inputs.read_region_values(files, targets.regions)
        prefix = inputs.bucket_prefix(args.bucket, args.region)
        body, keys = inputs.regionalize(packaged, args.bucket, prefix, args.endpoint_url)
    except (inputs.InputError, ParamError) as exc:
        return _error(str(exc))
    for region in sorted(set(files) - set(targets.regions)):
        print(f"note: {shown_path(files[region])} is not used: {region} is not in --regions", file=sys.stderr)
    cfn = client("cloudformation", args)
    call = targets.call()
    own = caller_account(args)
    if targets.permission_model == "SELF_MANAGED" and not targets.accounts:
        targets.accounts = [own]
    existing = describe_stack_set(cfn, args.stack_set_name, call)
    instances = list_instances(cfn, args.stack_set_name, call) if existing else []
    current: dict[str, dict[str, str] | None] = {}
    own_stacks: dict[str, str] = {}
    for inst in instances:
        if inst["Region"] in targets.regions and (not targets.accounts or inst["Account"] in targets.accounts):
            current[inst["Region"]] = inputs.from_api(inst.get("ParameterOverrides"))
            if inst["Account"] == own and inst.get("StackId") and targets.accounts == [own]:
                own_stacks[inst["Region"]] = inst["StackId"]
    shown = {"env": shown_path(Path(args.shown_as or args.params_file))}
    shown.update({r: shown_path(p) for r, p in files.items()})
    try:
        overrides, said = plan_overrides(args, template, env_values, region_values, current, own_stacks)
        previous = {p["ParameterKey"] for p in (existing or {}).get("Parameters", [])}
        secrets = secrets_and_checks(template, env_values, overrides, shown, previous)
    except inputs.InputError as exc:
        return _error(str(exc))
    for line in said:
        print(line, file=sys.stderr)
    exposed = exposure.warning(args.platform, args.env, exposure.public_ip_tasks(Path(args.template).parent, args.env))
    if exposed:  # as deploy.sh step 4: outside dev, public task IPs are confirmed
        print(exposed, file=sys.stderr)
        if args.env != "dev" and not confirm(
            args,
            f"Deploy {args.platform} ({args.env}) with public task IPs?",
            f"not deployed: tasks of {args.env} would get public IPs; confirmation is required and stdin is not a "
            "terminal; re-run with --yes",
        ):
            return EXIT_FAIL
    set_values = inputs.set_parameters(template, env_values, overrides)
    parameters = inputs.as_api(set_values) + secrets
    # --- from here on, things are created -----------------------------------------------------
    prepare_buckets(args, targets, prefix, keys, own)
    text = json.dumps(body, indent=1, sort_keys=False)
    url = upload_parent(args, text)
    common: dict[str, Any] = {"Capabilities": CAPABILITIES, **call}
    ok = True
    if existing is None:
        create: dict[str, Any] = {
            "StackSetName": args.stack_set_name,
            "TemplateURL": url,
            "Parameters": parameters,
            "PermissionModel": targets.permission_model,
            "Tags": [
                {"Key": "stackgen:platform", "Value": args.platform},
                {"Key": "stackgen:environment", "Value": args.env},
            ],
            **common,
        }
        if targets.permission_model == "SERVICE_MANAGED":
            create["AutoDeployment"] = {"Enabled": False}
            if args.execution_role_template:
                create["ExecutionRoleTemplateUrl"] = upload_parent(
                    args, Path(args.execution_role_template).read_text(encoding="utf-8")
                )
        else:
            if args.administration_role_arn:
                create["AdministrationRoleARN"] = args.administration_role_arn
            if args.execution_role_name:
                create["ExecutionRoleName"] = args.execution_role_name
        cfn.create_stack_set(**create)
        print(f"==> Created stack set {args.stack_set_name} ({targets.permission_model}, {args.region})")
    else:
        secret_keys = {s["ParameterKey"] for s in secrets}
        before = {k: v for k, v in inputs.from_api(existing.get("Parameters")).items() if k not in secret_keys}
        changed = existing.get("TemplateBody") != text or before != set_values
        if changed or any("ParameterValue" in s for s in secrets):
            regions = ordered_regions(targets.regions, instances)
            if instances and not confirm(
                args,
                f"Update the {len(instances)} instance(s) of {args.stack_set_name} in {', '.join(regions)}?",
                "not updated: a stack set update has no change set to review (stateful replacements cannot be "
                "shown); confirmation is required and stdin is not a terminal; re-run with --yes",
            ):
                return EXIT_FAIL
            op = cfn.update_stack_set(
                StackSetName=args.stack_set_name,
                TemplateURL=url,
                Parameters=parameters,
                OperationPreferences=targets.preferences_for(regions),
                **common,
            )["OperationId"]
            print(f"==> Updating stack set {args.stack_set_name} (operation {op})")
            ok = watch_operation(cfn, args.stack_set_name, op, args.interval, args.operation_timeout, call)
    ok = ok and instance_operations(args, cfn, targets, instances, current, overrides)
    for region in sorted({i["Region"] for i in instances} - set(targets.regions)):
        print(
            f"note: the instances in {region} stay as they are (not in --regions); "
            f"remove them with ./delete.sh --stack-set --regions {region} ..."
        )
    print_instances(list_instances(cfn, args.stack_set_name, call))
    return 0 if ok else EXIT_FAIL


def instance_operations(
    args: argparse.Namespace,
    cfn,
    targets: inputs.Targets,
    instances: list[dict],
    current: dict[str, dict[str, str] | None],
    overrides: dict[str, dict[str, str]],
) -> bool:
    """Create the missing instances and update changed overrides, region by region."""
    call = targets.call()
    for index, region in enumerate(targets.regions):
        here = [i for i in instances if i["Region"] == region]
        request: dict[str, Any] = {
            "StackSetName": args.stack_set_name,
            "Regions": [region],
            "ParameterOverrides": inputs.as_api(overrides[region]),
            "OperationPreferences": targets.preferences_for([region]),
            **call,
        }
        ops = []
        if targets.ous:
            if not here:
                ops.append(("create_stack_instances", "Creating", targets.instance_targets()))
            elif any(inputs.from_api(i.get("ParameterOverrides")) != overrides[region] for i in here):
                ops.append(("update_stack_instances", "Updating the overrides of", targets.instance_targets()))
        else:
            have = {i["Account"]: i for i in here}
            missing = [a for a in targets.accounts if a not in have]
            stale = [
                a
                for a in targets.accounts
                if a in have and inputs.from_api(have[a].get("ParameterOverrides")) != overrides[region]
            ]
            if missing:
                ops.append(("create_stack_instances", "Creating", {"Accounts": missing}))
            if stale:
                ops.append(("update_stack_instances", "Updating the overrides of", {"Accounts": stale}))
        for method, verb, where in ops:
            op = getattr(cfn, method)(**request, **where)["OperationId"]
            who = ", ".join(where.get("Accounts") or where.get("DeploymentTargets", {}).get("OrganizationalUnitIds"))
            print(f"==> {verb} the instances in {region} ({who}; operation {op})")
            if not watch_operation(cfn, args.stack_set_name, op, args.interval, args.operation_timeout, call):
                later = targets.regions[index + 1 :]
                if later:
                    print(
                        f"{prog()}: error: stopped after {region}; not attempted: {', '.join(later)}", file=sys.stderr
                    )
                return False
    return True


# --- command line -------------------------------------------------------------------------------


def add_target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--regions", help="r1,r2,...: the regions of the instances, in the order deployed")
    parser.add_argument("--accounts", help="12-digit account IDs (self-managed; default: the caller's account)")
    parser.add_argument("--organizational-units", help="OU IDs (service-managed)")
    parser.add_argument("--permission-model", help="self-managed (default) or service-managed")
    parser.add_argument("--failure-tolerance", help="N or N%%: failed accounts per region before a region stops")
    parser.add_argument("--max-concurrent", help="N or N%%: accounts per region at a time")
    parser.add_argument("--region-concurrency", help="sequential (default) or parallel (UpdateStackSet)")
    parser.add_argument("--concurrency-mode", help="strict (default) or soft failure tolerance")
    parser.add_argument("--call-as", help="SELF (default) or DELEGATED_ADMIN (service-managed)")
    parser.add_argument("--operation-timeout", type=float, default=3 * 3600.0, help="seconds per operation")
    parser.add_argument("--interval", type=float, default=5.0, help="status polling interval, seconds")
    parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.add_argument("--administration-role-arn", help="self-managed: the administration role")
    parser.add_argument("--execution-role-name", help="self-managed: the execution role name in the targets")
    parser.add_argument("--execution-role-template", help="service-managed: a custom execution role template file")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploy.stacksets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check the StackSets options (no AWS call)")
    add_target_args(check)
    check.add_argument("--delete", action="store_true", help="the options of delete.sh (--regions optional)")
    dep = sub.add_parser("deploy", help="create or update the stack set and its instances")
    add_target_args(dep)
    dep.add_argument("--stack-set-name", required=True)
    dep.add_argument("--template", required=True, help="the parent template (main.yaml)")
    dep.add_argument("--packaged", required=True, help="the parent `aws cloudformation package` wrote")
    dep.add_argument("--params-file", required=True, help="the environment's parameters file")
    dep.add_argument("--shown-as", help="the parameters file's name in messages")
    dep.add_argument("--params-dir", required=True, help="where <env>.<region>.json files are looked for")
    dep.add_argument("--env", required=True)
    dep.add_argument("--platform", required=True)
    dep.add_argument("--bucket", required=True, help="the admin region's artifact bucket (<name>-<region>)")
    add_aws_args(dep)
    rm = sub.add_parser("delete", help="delete the instances, then the stack set")
    add_target_args(rm)
    rm.add_argument("--stack-set-name", required=True)
    rm.add_argument(
        "--bucket", help="the admin region's artifact bucket (default stackgen-artifacts-<account>-<region>)"
    )
    add_aws_args(rm)
    args = parser.parse_args(argv)
    deploying = args.command == "deploy" or (args.command == "check" and not args.delete)
    try:
        targets = targets_of(args, need_regions=deploying)
        if deploying and targets.permission_model == "SERVICE_MANAGED" and not args.execution_role_template:
            raise inputs.InputError(
                "--permission-model service-managed needs --execution-role-template FILE: the default execution "
                "role of service-managed stack sets cannot provision nested stacks (docs/deploy.md, StackSets)"
            )
        if args.execution_role_template and not Path(args.execution_role_template).is_file():
            raise inputs.InputError(f"--execution-role-template: file not found: {args.execution_role_template}")
    except inputs.InputError as exc:
        return _error(str(exc))
    if args.command == "check":
        return 0
    return deploy(args, targets) if args.command == "deploy" else delete(args, targets)


if __name__ == "__main__":
    sys.exit(guard(main))
