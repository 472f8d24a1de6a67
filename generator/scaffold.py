"""A platform's starting files: ``stackgen init NAME`` and ``stackgen params SPEC``.

``init`` writes ``platforms/NAME.yaml`` (a commented spec: one public web service behind an
ALB) and ``parameters/NAME/<env>.json`` for each environment of that spec. ``params``
regenerates those parameter files from a spec, or checks them (``--check``).

A parameters file is what deploy.sh reads (``generator.deploy.params``): a JSON list of
``"Key=Value"`` strings for the parent template's Parameters. What goes in it:

- ``Environment=<env>``, always: the parameter's Default is the spec's default environment,
  so a prod file without it would deploy with dev's settings;
- the values the file already has for parameters of the template (regeneration keeps them);
- never a NoEcho parameter: a secret comes from ``STACKGEN_PARAM_<Name>`` or deploy.sh's
  prompt, so the commands list the secrets on the terminal instead;
- not a deploy-filled parameter (``generator.deploy.filled.DEPLOY_FILLED``, e.g.
  ``S3PrefixListId``, different in every region): deploy.sh looks it up in the region it
  deploys to, so a file need not hold it (a value a file sets is kept: it pins it).

Every other parameter takes its template Default; a required one (no Default) that a file
lacks is reported, to be filled in by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator import render
from generator.contract import ContractError
from generator.deploy.filled import DEPLOY_FILLED
from generator.deploy.params import ENV_PREFIX, ParamError, read_params_file, resolve
from generator.deployability import rootset
from generator.spec import SLUG, Platform, SpecError, load_spec, parse_spec

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
ENVIRONMENT = "Environment"
NAME_TOKEN = "__NAME__"

# The starting spec of `stackgen init`. The first line lets YAML-aware editors validate it
# against the committed JSON Schema.
SPEC_TEMPLATE = """\
# yaml-language-server: $schema=../schema/platform.schema.json
#
# The __NAME__ platform: a stackgen spec, written by `stackgen init __NAME__`.
# A spec says what the platform is; stackgen decides how the CloudFormation is written.
# Change it, then:
#   .venv/bin/stackgen validate platforms/__NAME__.yaml   # errors name the file and the field
#   make templates PLATFORM=platforms/__NAME__.yaml       # templates/__NAME__/, linted, preflighted
#   make deploy-local PLATFORM=platforms/__NAME__.yaml    # deploy to the local emulator
# Deploy-time values per environment live in parameters/__NAME__/<env>.json;
# `.venv/bin/stackgen params platforms/__NAME__.yaml` updates them after a spec change.
# Keys starting with x- are ignored (use them for YAML anchors).

name: __NAME__                   # the Name parameter's default, used in physical resource names
description: One public web service behind an Application Load Balancer
environments: [dev, test, prod]  # the Environment parameter's allowed values
default_environment: dev

network:
  vpc_cidr: 10.0.0.0/16          # the VpcCidr parameter's default
  availability_zones: 2
  tiers:                         # one subnet per AZ, carved from VpcCidr with Fn::Cidr
    - {name: private, newbits: 8, offset: 0}                # 10.0.0.0/24, 10.0.1.0/24
    - {name: public, public: true, newbits: 8, offset: 100} # 10.0.100.0/24, 10.0.101.0/24
  # How tasks in private subnets reach ECR, CloudWatch Logs and AWS APIs:
  # nat-per-az | single-nat | vpc-endpoints | public-ip.
  # `.venv/bin/stackgen cost platforms/__NAME__.yaml` prices the choices.
  egress: single-nat

clusters:
  - name: main

load_balancers:
  - name: web                    # an internet-facing ALB in the public subnets
    listeners:
      # Without a domain, port 80 forwards plain HTTP to the target group. To serve HTTPS,
      # add `domain: {base_domain: example.com}` at the top level and a listener
      # `{port: 443, mode: https, target_group: web}`: port 80 then redirects to 443.
      - {port: 80, mode: redirect, target_group: web}

services:
  - name: web
    # The image URI becomes the WebImageUri parameter; this is its default.
    # nginx-unprivileged runs as uid 101 and listens on port 8080.
    image: {default: "public.ecr.aws/nginx/nginx-unprivileged:1.27"}
    cpu: 256                     # Fargate task size: 0.25 vCPU ...
    memory: 512                  # ... and 512 MiB
    ports: [{name: http, port: 8080}]
    health_check: {command: "curl -fsS http://localhost:8080/ || exit 1", start_period: 30}
    user: "101:101"              # never root (or say why in root_user_reason)
    readonly_root_filesystem: true
    scratch_paths: [/tmp]        # writable task storage: nginx's pid and temp files
    target_groups:
      - {name: web, load_balancer: web, container_port: 8080, health_check: {path: /}}
    scaling: {min: 2, max: 4, cpu: 70, memory: 80}   # 2-4 tasks, target tracking on CPU and memory
"""


class UsageError(Exception):
    """A user's mistake: one line naming the file or argument; exit 2."""


@dataclass
class Report:
    """What a command did (``lines``) and what is wrong (``problems``, one per line)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_secret(parameter: dict[str, Any]) -> bool:
    return str(parameter.get("NoEcho", "false")).lower() == "true"


def parent_parameters(spec: Platform) -> dict[str, dict[str, Any]]:
    """The Parameters of the spec's synthesized parent template (main.yaml); with several root
    stacks (generator.roots), of all of them but those deploy.sh fills from earlier roots."""
    merged, _ = rootset.merge(render.synthesize(spec))
    return merged["main.yaml"].get("Parameters") or {}


def spec_text(name: str) -> str:
    return SPEC_TEMPLATE.replace(NAME_TOKEN, name)


def render_file(values: dict[str, str]) -> str:
    """A parameters file in the committed format: one "Key=Value" string a line."""
    return json.dumps([f"{k}={v}" for k, v in values.items()], indent=2) + "\n"


def file_values(
    parameters: dict[str, dict[str, Any]], env: str, existing: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The values a file of ``env`` should hold, and notes on what changed from ``existing``."""
    notes: list[str] = []
    values = {ENVIRONMENT: env}
    for key, value in (existing or {}).items():
        if key == ENVIRONMENT:
            if value != env:
                notes.append(f"{ENVIRONMENT}: {value!r} replaced by {env!r}")
        elif key not in parameters:
            notes.append(f"{key}: removed (not a parameter of the template)")
        elif is_secret(parameters[key]):
            notes.append(f"{key}: removed (a NoEcho secret; secrets never go in files)")
        else:
            values[key] = value
    return values, notes


def check_values(parameters: dict[str, dict[str, Any]], env: str, values: dict[str, str], path: str) -> list[str]:
    """Every problem of one file's values, as ``path: Parameter: problem``."""
    problems = []
    lowered = {p.lower(): p for p in parameters}
    for key in values:
        if key not in parameters:
            near = lowered.get(key.lower())
            hint = f" (did you mean {near}?)" if near else ""
            problems.append(f"{path}: {key}: unknown parameter{hint}")
        elif is_secret(parameters[key]):
            problems.append(
                f"{path}: {key}: NoEcho (secret) parameter in a file; remove it and set "
                f"{ENV_PREFIX}{key} when deploying"
            )
    for name, spec in parameters.items():
        if name not in values and not is_secret(spec) and "Default" not in spec and name not in DEPLOY_FILLED:
            problems.append(f"{path}: {name}: missing (required: the template has no Default)")
    if ENVIRONMENT in parameters:
        if ENVIRONMENT not in values:
            problems.append(
                f"{path}: {ENVIRONMENT}: missing (without it the stack deploys as "
                f"{parameters[ENVIRONMENT].get('Default')!r})"
            )
        elif values[ENVIRONMENT] != env:
            problems.append(f"{path}: {ENVIRONMENT}: {values[ENVIRONMENT]!r} in the file of environment {env!r}")
    # Type, AllowedValues, AllowedPattern, lengths and bounds: deploy.sh's own checks, run on
    # the known non-secret keys only (every one has a value, so nothing else is reported).
    known = {k: v for k, v in values.items() if k in parameters and not is_secret(parameters[k])}
    checked = resolve({"Parameters": {k: parameters[k] for k in known}}, known, env={}, interactive=True)
    problems += [f"{path}: {problem}" for problem in checked.problems]
    return problems


def secrets_note(parameters: dict[str, dict[str, Any]]) -> list[str]:
    names = [n for n, p in parameters.items() if is_secret(p)]
    return [
        f"secret {n} (NoEcho): never written to a file; set {ENV_PREFIX}{n} or answer deploy.sh's prompt" for n in names
    ]


def filled_note(parameters: dict[str, dict[str, Any]], written: set[str]) -> list[str]:
    return [
        f"{n}: filled in by deploy.sh ({DEPLOY_FILLED[n]})"
        for n in parameters
        if n in DEPLOY_FILLED and n not in written
    ]


def defaults_note(parameters: dict[str, dict[str, Any]], written: set[str]) -> list[str]:
    rest = [n for n, p in parameters.items() if n not in written and not is_secret(p) and "Default" in p]
    if not rest:
        return []
    return [f'template defaults apply to {", ".join(rest)} (add "Key=Value" to a file to override one)']


def write_all(files: dict[Path, str]) -> None:
    """Write every file or none: all contents are staged next to their targets first."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            staged.append((Path(tmp_name), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _load(path: str) -> Platform:
    try:
        return load_spec(path)
    except SpecError as exc:
        raise UsageError("\n".join(exc.lines)) from None


def _environments(spec: Platform, only: str | None, source: str) -> list[str]:
    if only is None:
        return list(spec.environments)
    if only not in spec.environments:
        raise UsageError(f"--env {only}: not an environment of {source} ({', '.join(spec.environments)})")
    return [only]


# --------------------------------------------------------------------------- init


def init(name: str, root: Path = Path("."), force: bool = False) -> Report:
    """Write platforms/NAME.yaml and parameters/NAME/<env>.json under ``root``."""
    if not re.fullmatch(SLUG, name):
        raise UsageError(f"stackgen init: NAME {name!r}: must be a lower-case slug matching {SLUG}")
    spec_path = Path("platforms") / f"{name}.yaml"
    text = spec_text(name)
    try:
        spec = parse_spec(yaml.safe_load(text), str(spec_path))
    except SpecError as exc:
        raise UsageError(f"stackgen init: NAME {name!r}: {exc.lines[0].split(': ', 2)[-1]}") from None
    parameters = parent_parameters(spec)
    defaults = {k: str(p["Default"]) for k, p in parameters.items() if "Default" in p}
    bad_defaults = resolve({"Parameters": parameters}, defaults, env={}, interactive=True).problems
    if bad_defaults:
        raise UsageError(f"stackgen init: NAME {name!r}: {bad_defaults[0]}")
    files = {spec_path: text}
    for env in spec.environments:
        values, _ = file_values(parameters, env)
        files[Path("parameters") / name / f"{env}.json"] = render_file(values)
    existing = [p for p in files if (root / p).exists()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]}: exists; stackgen init never overwrites (use --force to replace "
            f"{', '.join(str(p) for p in existing)})"
        )
    report = Report()
    for env in spec.environments:
        path = str(Path("parameters") / name / f"{env}.json")
        report.problems += check_values(parameters, env, file_values(parameters, env)[0], path)
    if report.problems:  # the scaffold itself is wrong: a bug, nothing is written
        return report
    write_all({root / p: t for p, t in files.items()})
    report.lines += [f"wrote {p}" for p in files]
    report.lines += secrets_note(parameters)
    report.lines += filled_note(parameters, {ENVIRONMENT})
    report.lines += defaults_note(parameters, {ENVIRONMENT})
    report.lines += [
        "next:",
        f"  .venv/bin/stackgen validate {spec_path}",
        f"  make templates PLATFORM={spec_path}",
        f"  make deploy-local PLATFORM={spec_path}",
    ]
    return report


# --------------------------------------------------------------------------- params


def params(spec_path: str, *, check: bool = False, env: str | None = None, directory: str | None = None) -> Report:
    """Regenerate (or, with ``check``, check) the parameters files of a spec."""
    spec = _load(spec_path)
    envs = _environments(spec, env, spec_path)
    folder = Path(directory) if directory else Path("parameters") / Path(spec_path).stem
    parameters = parent_parameters(spec)
    report = Report()
    writes: dict[Path, str] = {}
    written_keys: set[str] = {ENVIRONMENT}
    for e in envs:
        path = folder / f"{e}.json"
        current: dict[str, str] | None = None
        if path.exists():
            try:
                current = read_params_file(path)
            except ParamError as exc:
                report.problems.append(str(exc))
                continue
        elif check:
            report.problems.append(f"{path}: missing (run: .venv/bin/stackgen params {spec_path})")
            continue
        if check:
            assert current is not None
            report.problems += check_values(parameters, e, current, str(path))
            continue
        values, notes = file_values(parameters, e, current)
        written_keys |= set(values)
        report.lines += [f"{path}: {note}" for note in notes]
        text = render_file(values)
        if current is None or path.read_text(encoding="utf-8") != text:
            writes[path] = text
            report.lines.append(f"wrote {path}")
        else:
            report.lines.append(f"unchanged {path}")
        report.problems += check_values(parameters, e, values, str(path))
    if env is None and folder.is_dir():
        for stray in sorted(folder.glob("*.json")):
            if stray.stem not in spec.environments:
                report.problems.append(
                    f"{stray}: {stray.stem} is not an environment of {spec_path} "
                    f"({', '.join(spec.environments)}); delete it or add the environment"
                )
    write_all(writes)
    if check and not report.problems:
        report.lines.append(f"{folder}: {', '.join(f'{e}.json' for e in envs)} match {spec_path}")
    if not check:
        report.lines += secrets_note(parameters)
        report.lines += filled_note(parameters, written_keys)
        report.lines += defaults_note(parameters, written_keys)
    return report


# --------------------------------------------------------------------------- command line


def add_init_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "name",
        metavar="NAME",
        help="platform name (lower-case slug): writes platforms/NAME.yaml and parameters/NAME/<env>.json",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that exist")


def add_params_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="platform spec file (platforms/*.yaml)")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list every problem (missing, unknown, wrong type, not in "
        "AllowedValues, not matching AllowedPattern) and exit 1 if there is one",
    )
    p.add_argument("--env", metavar="ENV", help="only this environment's file")
    p.add_argument("--dir", metavar="DIR", help="the parameters folder (default parameters/<spec file name>)")


def _finish(report: Report) -> int:
    for line in report.lines:
        print(line)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    return EXIT_PROBLEMS if report.problems else 0


def cmd_init(args: argparse.Namespace) -> int:
    try:
        report = init(args.name, Path("."), args.force)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if report.problems:
        print("stackgen init: internal error (a bug): the scaffold does not pass its own check", file=sys.stderr)
    return _finish(report)


def cmd_params(args: argparse.Namespace) -> int:
    try:
        report = params(args.spec, check=args.check, env=args.env, directory=args.dir)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except (ContractError, ValueError, TypeError) as exc:  # as `stackgen synth` reports them
        print(f"{args.spec}: generation failed: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return _finish(report)
