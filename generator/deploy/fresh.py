"""Are the templates in a folder what the spec generates now?  deploy.sh's freshness check.

deploy.sh refuses to deploy ``templates/<platform>/`` when it differs from what
``platforms/<platform>.yaml`` generates now (someone edited the spec or the generator and
did not run ``make templates``).  Generating costs the spec models and troposphere, about
1.5 s per deploy; so the verdict "these exact bytes are fresh" is kept in ``.cache/fresh``
(generator.cache) under the spec's bytes, its parameters files, the generator's source and
the versions of the libraries synthesis uses, the inputs of make templates' synth cache.
On a hit (every file of the folder has the bytes found fresh before) nothing is generated;
otherwise the spec is synthesized into a scratch folder (``python -m generator synth``, as
a user runs it) and every file is compared, as ``diff -r -q`` does.  Only a fresh verdict
is stored, so the cache can never let a stale folder through: a changed byte in the folder
misses, and a changed input is another key.

    python -m generator.deploy.fresh --spec SPEC --templates DIR --scratch DIR

Exit 0: fresh.  1: stale (the differences listed on stderr, one per line).  2: the spec
does not generate (its errors on stderr).  ``STACKGEN_NO_CACHE=1`` always generates.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from generator import cache, paramfiles
from generator.deploy._aws import prog

EXIT_STALE = 1
EXIT_NO_SYNTH = 2


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by its path relative to it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def differences(have: Path, want: Path) -> list[str]:
    """``diff -r -q have want`` in its words: the files only in one, and the files that differ."""
    a, b = files_of(have), files_of(want)
    out = [f"Only in {have}: {n}" for n in sorted(a.keys() - b.keys())]
    out += [f"Only in {want}: {n}" for n in sorted(b.keys() - a.keys())]
    out += [f"Files {have / n} and {want / n} differ" for n in sorted(a.keys() & b.keys()) if a[n] != b[n]]
    return out


def key(spec: Path) -> str:
    return cache.digest(
        b"fresh",
        str(spec.resolve()),
        spec.read_bytes(),
        *paramfiles.key_parts(spec),
        cache.generator_digest(),
        cache.dist_digest(*cache.SYNTH_LIBRARIES),
    )


def digests(folder: Path) -> dict[str, str]:
    return {n: cache.digest(b) for n, b in files_of(folder).items()}


def check(spec: Path, templates: Path, scratch: Path, store: cache.Store | None = None) -> int:
    store = store or cache.Store("fresh")
    k = key(spec)
    entry = store.get(k)
    if entry is not None and entry == {"files": digests(templates)}:
        return 0
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "synth", str(spec), "--out", str(scratch), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        return EXIT_NO_SYNTH
    sys.stderr.write(proc.stderr)  # the spec's warnings, as synth printed them
    diff = differences(templates, scratch)
    if diff:
        print("\n".join(diff), file=sys.stderr)
        return EXIT_STALE
    store.put(k, {"files": digests(templates)})
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog(), description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", required=True, type=Path, help="the platform spec")
    p.add_argument("--templates", required=True, type=Path, help="the folder to deploy (templates/<platform>)")
    p.add_argument("--scratch", required=True, type=Path, help="an empty folder to generate into on a cache miss")
    args = p.parse_args(argv)
    try:
        return check(args.spec, args.templates, args.scratch)
    except OSError as exc:
        print(f"{prog()}: {exc}", file=sys.stderr)
        return EXIT_NO_SYNTH


if __name__ == "__main__":
    raise SystemExit(main())
