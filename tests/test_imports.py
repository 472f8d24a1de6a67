"""``generator synth`` imports only what synthesis needs (issue 13: generation near the
``import troposphere`` floor): not the linter, the AWS SDK, the gate, nor the modules of the
CLI's other commands (generator.cli builds their parsers only when one of them runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent

# Third-party packages and stackgen modules synth has no use for.
NOT_FOR_SYNTH = (
    "cfnlint",
    "boto3",
    "botocore",
    "jsonschema",
    "generator.lint",
    "generator.cache",
    "generator.make_templates",
    "generator.preflight",
    "generator.cost",
    "generator.docgen",
    "generator.plan",
    "generator.bench",
    "generator.scaffold",
    "generator.diagnose",
    "generator.gate",
    "generator.acceptance",
)

IMPORTED = """
import json, os, runpy, sys
sys.argv = ["generator", *json.loads(sys.argv[1])]


def _exit(code):  # generator.__main__ ends synth with os._exit: report the modules first
    raise SystemExit(code)


os._exit = _exit
try:
    runpy.run_module("generator", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported(argv: list[str]) -> tuple[int, set[str]]:
    """(exit code, modules in sys.modules after ``python -m generator ARGV``)."""
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED, json.dumps(argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = json.loads(proc.stdout.splitlines()[-1])
    return out["code"], set(out["modules"])


def unwanted(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_FOR_SYNTH))


def test_synth_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    code, modules = imported(["synth", "platforms/mcp-gateway.yaml", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "main.yaml").is_file()
    assert "troposphere" in modules and "generator.synth" in modules  # it did synthesize
    assert unwanted(modules) == []


def test_validate_imports_nothing_it_does_not_use() -> None:
    code, modules = imported(["validate", "platforms/mcp-gateway.yaml"])
    assert code == 0
    assert unwanted(modules) == []


def test_the_check_sees_an_unwanted_import() -> None:
    """The full parser (any other command) imports the other commands' modules; the check
    above would report them."""
    code, modules = imported(["plan", "--help"])
    assert code == 0
    assert {"generator.cost", "generator.docgen", "generator.plan", "generator.bench"} <= set(unwanted(modules))


BUILT = """
import json
import generator.spec  # every spec model
from pydantic import BaseModel
from pydantic._internal._mock_val_ser import MockValSer


def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)


def built():
    return sorted(
        m.__qualname__
        for m in set(models(BaseModel))
        if m.__module__.startswith("generator.spec") and not isinstance(m.__pydantic_validator__, MockValSer)
    )


after_import = built()
generator.spec.load_spec("platforms/scheduled-file-writer.yaml")
print(json.dumps({"import": after_import, "load": built()}))
"""


def test_spec_models_build_their_validators_when_first_used_not_at_import() -> None:
    """``generator.spec.base.Model`` defers each model's validator (``defer_build``): a spec
    is validated through ``Platform`` alone, whose validator holds every nested model, so
    building each nested model's own at import was work no synth used."""
    proc = subprocess.run(
        [sys.executable, "-c", BUILT], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    out = json.loads(proc.stdout.splitlines()[-1])
    # Service is rebuilt at import to resolve its forward references (generator.spec.services).
    assert "Platform" not in out["import"] and len(out["import"]) <= 1, out["import"]
    assert "Platform" in out["load"]


COLLECTIONS = """
import gc, json, os, runpy, sys
sys.argv = ["generator", *json.loads(sys.argv[1])]
import generator.cli

started, collections = [], []
gc.callbacks.append(lambda phase, info: started and phase == "start" and collections.append(info["generation"]))
main = generator.cli.main


def traced_main(*args):
    started.append(True)
    return main(*args)


def _exit(code):
    raise SystemExit(code)


generator.cli.main = traced_main
os._exit = _exit
try:
    runpy.run_module("generator", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "collections": collections}))
"""


def collections_during(argv: list[str]) -> tuple[int, list[int]]:
    """(exit code, generation of each cyclic GC collection from ``cli.main``'s start to the
    process's end) of ``python -m generator ARGV``."""
    proc = subprocess.run(
        [sys.executable, "-c", COLLECTIONS, json.dumps(argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = json.loads(proc.stdout.splitlines()[-1])
    return out["code"], out["collections"]


def test_synth_runs_no_cyclic_collection(tmp_path: Path) -> None:
    """A command that ends with os._exit (cli.NO_TEARDOWN) runs with the collector off: re-enabled
    after the last write, its first collection walked every object synth had made (15-25 ms on
    mcp-gateway), for nothing: the process ends next."""
    code, collections = collections_during(["synth", "platforms/mcp-gateway.yaml", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "main.yaml").is_file()
    assert collections == []


def test_the_collection_check_sees_a_collection() -> None:
    """A command that ends the usual way keeps the collector: the check above would see it."""
    code, collections = collections_during(["plan", "--help"])
    assert code == 0
    assert collections != []


def spec_models() -> list[type[BaseModel]]:
    from generator.spec import Platform
    from generator.spec.descriptions import models

    return models(Platform)


def builtin_factories(models: list[type[BaseModel]]) -> list[str]:
    """Fields whose default factory is a builtin (``list``, ``dict`` ...): pydantic reads a
    factory's signature when it builds a validator, and a builtin's is text that ``inspect``
    tokenizes and parses on every read (generator.spec.base.new_list)."""
    return [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if isinstance(field.default_factory, types.BuiltinFunctionType)
        or (isinstance(field.default_factory, type) and field.default_factory.__module__ == "builtins")
    ]


def test_no_spec_field_has_a_builtin_default_factory() -> None:
    models = spec_models()
    assert len(models) > 30
    assert builtin_factories(models) == []


def test_the_factory_check_sees_a_builtin() -> None:
    class Listed(BaseModel):
        items: list[str] = Field(default_factory=list)
        names: dict[str, str] = Field(default_factory=dict)
        fine: list[str] = Field(default_factory=lambda: [])

    assert builtin_factories([Listed]) == ["Listed.items", "Listed.names"]


GATE = """
import json, runpy, sys
sys.argv = ["generator.gate", *json.loads(sys.argv[1])]
try:
    runpy.run_module("generator.gate", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "cfnlint": "cfnlint" in sys.modules}))
"""


def gate_imports_cfnlint(tools: str) -> tuple[int, bool]:
    """(exit code, whether cfn-lint was imported) of the gate run with ``--tools TOOLS`` over
    the clean fixture platform."""
    argv = ["run", "--tools", tools, "--reports", "", "tests/gate/fixtures/clean"]
    proc = subprocess.run(
        [sys.executable, "-c", GATE, json.dumps(argv)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    out = json.loads(proc.stdout.splitlines()[-1])
    return out["code"], out["cfnlint"]


def test_the_gate_imports_cfn_lint_only_when_it_runs_it() -> None:
    """validate.sh reruns only the gate's tools whose inputs changed (generator/gatecache.py);
    a run without cfn-lint does not pay its import (about 0.6 s: sympy, networkx)."""
    assert gate_imports_cfnlint("reasons") == (0, False)
    assert gate_imports_cfnlint("cfn-lint") == (0, True)  # (the check can see it)
