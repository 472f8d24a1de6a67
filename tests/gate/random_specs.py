"""Render a sample of hypothesis-random platform specs for the security gate.

    python -m tests.gate.random_specs --count 10 --out build/gate-random [--seed N]

writes build/gate-random/<nn>-<name>/*.yaml. `make validate-random`
then runs ./validate.sh over that folder, so the gate sees suppressions the
generator produced for specs nobody hand-checked. The seed (default: from the
environment variable STACKGEN_GATE_SEED, else 0) is printed, so a failure can be
reproduced.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from generator import render
from tests.strategies import valid_platforms


def draw_specs(count: int, rng_seed: int, max_services: int) -> list:
    drawn: list = []

    @seed(rng_seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(valid_platforms(max_services=max_services))
    def collect(spec) -> None:
        drawn.append(spec)

    collect()
    return drawn[:count]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.gate.random_specs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--out", default="build/gate-random")
    p.add_argument("--seed", type=int, default=int(os.environ.get("STACKGEN_GATE_SEED", "0")))
    p.add_argument("--max-services", type=int, default=6)
    args = p.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    specs = draw_specs(args.count, args.seed, args.max_services)
    for i, spec in enumerate(specs):
        render.write(render.render(spec), out / f"{i:02d}-{spec.name}")
    print(f"random specs: wrote {len(specs)} platform(s) to {out}/ (seed {args.seed})")
    return 0 if specs else 1


if __name__ == "__main__":
    sys.exit(main())
