"""stackgen command line: ``python -m generator <command> --help``."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from generator import __version__

if TYPE_CHECKING:
    from generator import synth

# The generator's heavy imports (render -> troposphere, spec -> pydantic, lint -> cfn-lint's
# data, the other commands' modules) are made in the commands that need them, so `templates`
# on an unchanged spec answers from the cache without paying them and `synth` pays only its
# own (tests/test_imports.py).

EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _load(path: str):  # noqa: ANN202
    from generator.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def internal_error(command: str, exc: BaseException) -> int:
    """A failure the spec did not cause: one line that says it is a bug, exit 1."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    print(
        f"stackgen {command}: internal error (a bug in stackgen, please report): {type(exc).__name__}: {exc}{at}",
        file=sys.stderr,
    )
    return EXIT_FINDINGS


def _synthesize(args: argparse.Namespace) -> synth.Synthesis:
    """The checked synthesis both synth and validate run: spec errors exit 2."""
    from generator import synth
    from generator.spec import SpecError

    try:
        result = synth.synthesize_checked(args.spec)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for line in result.warnings:
        print(line, file=sys.stderr)
    return result


def cmd_synth(args: argparse.Namespace) -> int:
    from generator.gcpause import paused

    # No cyclic GC from the imports to the last file written (generator.gcpause): the modules,
    # models and templates all live until the command returns, and each full collection would
    # walk them all.
    with paused():
        return _synth(args)


def _synth(args: argparse.Namespace) -> int:
    from generator import render

    out = Path(args.out or f"templates/{Path(args.spec).stem}")
    try:
        result = _synthesize(args)
        files = result.aws_files if result.aws_files is not None else render.render(result.spec)
    except Exception as exc:  # noqa: BLE001 - anything the spec did not cause is a bug
        return internal_error("synth", exc)
    if out.exists() and not out.is_dir():
        print(f"--out {out}: is a file, not a directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        written = render.write(files, out)
    except OSError as exc:
        print(f"--out {out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print(f"wrote {len(written)} templates to {out}/")
    return 0


def _templates_in(dirs: list[str]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        p = Path(d)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(p.glob("*.yaml")))
        else:
            print(f"{d}: no such file or directory", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
    if not out:
        print(f"no templates found in {' '.join(dirs)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return out


def cmd_lint(args: argparse.Namespace) -> int:
    from generator import lint, lintd

    daemon = lintd.Client(args.jobs or lint.cores()) if lintd.enabled() else None
    result = lint.lint(_templates_in(args.dirs), use_cache=not args.no_cache, jobs=args.jobs, server=daemon)
    for f in result.findings:
        print(f)
    print(result.summary())
    return EXIT_FINDINGS if result.findings else 0


def cmd_templates(args: argparse.Namespace) -> int:
    from generator import make_templates

    return make_templates.run(args, cmd_synth)


def cmd_schema(args: argparse.Namespace) -> int:
    from generator.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from generator.gcpause import paused

    try:
        with paused():  # as in cmd_synth
            _synthesize(args)
    except Exception as exc:  # noqa: BLE001 - anything the spec did not cause is a bug
        return internal_error("validate", exc)
    print(f"{args.spec}: valid")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from generator import bench

    return bench.cmd(args)


def _lint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true", help="run everything; ignore what .cache/ holds")
    p.add_argument("--jobs", type=int, metavar="N", help="cores to lint on (default: all of them)")


def lint_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("dirs", nargs="+", metavar="DIR")
    _lint_options(p)
    p.set_defaults(func=cmd_lint)
    return p


def templates_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("spec", metavar="SPEC", help="platform spec file (platforms/*.yaml)")
    p.add_argument("--out", metavar="DIR", help="output directory (default templates/<spec name>)")
    _lint_options(p)
    p.set_defaults(func=cmd_templates)
    return p


def synth_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("spec", metavar="SPEC", help="platform spec file (platforms/*.yaml)")
    p.add_argument("--out", metavar="DIR", help="output directory (default templates/<spec name>)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_synth)
    return p


def schema_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_schema)
    return p


def validate_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("spec", metavar="SPEC", help="platform spec file (platforms/*.yaml)")
    p.set_defaults(func=cmd_validate)
    return p


LINT_HELP = "run cfn-lint over generated templates"
LINT_MORE = (
    "Runs cfn-lint in process over every *.yaml in DIR(s). A template whose bytes, nested children, "
    "cfn-lint install, .cfnlintrc and project rules are unchanged answers from .cache/lint; the rest "
    "run on every core, in the project's lint daemon when it is on (see `stackgen lintd --help`)"
)
CHECK_HELP = (
    "static reachability preflight of a spec or a template set (ECR, logs, "
    "secrets: routes, endpoints, security groups, IAM)"
)
CHECK_MORE = "With --templates DIR, unchanged template bytes answer from .cache/check"


def check_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from generator import preflight

    preflight.add_arguments(p)
    p.set_defaults(func=preflight.cmd)
    return p


Command = tuple[str, str, Callable[[argparse.ArgumentParser], argparse.ArgumentParser]]


def _templates_command() -> Command:
    from generator import make_templates

    text = make_templates.HELP
    return text, f"{text}. {make_templates.MORE}".rstrip(". "), templates_arguments


# Commands main() parses without building the full parser (whose other commands import their
# modules): name -> () -> (help, description, arguments).
FAST_COMMANDS: dict[str, Callable[[], Command]] = {
    "synth": lambda: (
        "generate the nested-stack templates of a platform spec",
        "Generate templates/<platform>/main.yaml and its children from SPEC.",
        synth_arguments,
    ),
    "lint": lambda: (LINT_HELP, f"{LINT_HELP}. {LINT_MORE}".rstrip(". "), lint_arguments),
    "templates": _templates_command,
    "check": lambda: (CHECK_HELP, f"{CHECK_HELP}. {CHECK_MORE}".rstrip(". "), check_arguments),
    "schema": lambda: (
        "print the platform spec JSON Schema",
        "Print the JSON Schema of platform specs.",
        schema_arguments,
    ),
    "validate": lambda: (
        "validate a platform spec: the whole synthesis, nothing written",
        "Run the whole synthesis of SPEC in memory (spec model, stack contracts, "
        "parent wiring, template quotas, physical names) and write nothing. "
        "Exit 0 valid, 2 spec error (file: field: message), 1 a bug in stackgen.",
        validate_arguments,
    ),
}


# Commands whose process can end without the interpreter's teardown (freeing every module,
# model and template one by one: about a third of synth's wall time): every file they write is
# closed before they return, and they start no thread or process and register no atexit
# handler. ``run`` ends them with os._exit once stdout and stderr are flushed.
NO_TEARDOWN = frozenset({"synth", "validate", "schema"})


# Subcommands implemented in their own modules: each exposes add_arguments(parser) and cmd(args).
MODULE_COMMANDS = {
    "cost": ("generator.cost", "monthly cost estimate per stack and per egress mode"),
    "diagnose": ("generator.diagnose", "live connectivity diagnostics of a deployed stack (boto3)"),
    "docs": (
        "generator.docgen",
        "write docs/platforms/<name>.md (parameters, outputs, nested stacks, "
        "environments) and <name>.svg (architecture diagram) from the templates",
    ),
    "lintd": ("generator.lintd", "see (status) or stop the lint daemon that keeps cfn-lint warm for make templates"),
    "plan": (
        "generator.plan",
        "offline: what a spec change does to the templates (added, changed, replaced, "
        "removed resources per nested stack). Exit 0 no changes, 1 changes, 2 usage/spec error",
    ),
}


def _module_command(module_name: str):  # noqa: ANN202
    import importlib

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module_name).cmd(args))

    return run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stackgen",
        description="Platform spec -> CloudFormation nested stacks "
        "for ECS Fargate. Exit codes: 0 ok, 1 findings/generation failure, 2 usage or bad spec.",
    )
    p.add_argument("--version", action="version", version=f"stackgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, command in FAST_COMMANDS.items():
        text, description, arguments = command()
        arguments(sub.add_parser(name, help=text, description=description))

    import importlib

    for name, (module_name, text) in MODULE_COMMANDS.items():
        s = sub.add_parser(name, help=text, description=text)
        importlib.import_module(module_name).add_arguments(s)
        s.set_defaults(func=_module_command(module_name))

    from generator import bench, scaffold

    s = sub.add_parser(
        "bench",
        help="time synth, lint, make templates and the preflight against their floors",
        description="Time synth, lint (cold, warm), `make templates` (cold, no-op) and the "
        "preflight per platform and for an N-service spec, as ratios of the "
        "`import troposphere` floor and of `cdk synth` (when `make bench-anchor` "
        "installed it).",
    )
    bench.add_arguments(s)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser(
        "init",
        help="scaffold platforms/NAME.yaml and parameters/NAME/<env>.json",
        description="Write a commented starting spec (one public web service behind an ALB) "
        "and a parameters file per environment. Refuses to overwrite (exit 2) "
        "unless --force.",
    )
    scaffold.add_init_arguments(s)
    s.set_defaults(func=scaffold.cmd_init)

    s = sub.add_parser(
        "params",
        help="regenerate or --check parameters/<spec>/<env>.json against the spec",
        description="Regenerate the parameters files of SPEC from its parent template's "
        "Parameters (keeping their values; secrets are never written), or --check "
        "them: exit 1 listing each problem, exit 0 when none.",
    )
    scaffold.add_params_arguments(s)
    s.set_defaults(func=scaffold.cmd_params)
    return p


def run() -> NoReturn:
    """The process's entry point (``python -m generator`` and the ``stackgen`` script):
    ``main``, and for the commands of ``NO_TEARDOWN`` the end of the process without the
    interpreter's teardown, once stdout and stderr are flushed. Tests call ``main``."""
    # stackgen's spec models are its own: a pydantic plugin installed beside it (found by
    # scanning every installed distribution's entry points when the first model is built) has
    # nothing to observe, and the scan is paid by every command. A value the caller set wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    ends_fast = bool(sys.argv[1:2]) and sys.argv[1] in NO_TEARDOWN
    if ends_fast:
        # No cyclic GC in a process that ends with os._exit: what these commands allocate
        # lives until their last write (generator.gcpause pauses the collector over it), and
        # re-enabling the collector there made its next allocation collect every object made
        # meanwhile (all of them still in the youngest generation): 15-25 ms of synth's wall
        # time on mcp-gateway, spent on objects os._exit discards (tests/test_imports.py).
        gc.disable()
    code = main()
    if ends_fast:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # (a reader gone away: the usual exit reports it)
            pass
        else:
            os._exit(code)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in FAST_COMMANDS:
        # The edit loop's commands parse on their own, so an answer from the cache does not
        # wait for the imports the other commands' parsers make (cost -> spec -> pydantic).
        _, description, arguments = FAST_COMMANDS[argv[0]]()
        args = arguments(argparse.ArgumentParser(prog=f"stackgen {argv[0]}", description=description)).parse_args(
            argv[1:]
        )
    else:
        args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `stackgen ... | head`: the reader went away; stop quietly, as other CLI tools do.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
