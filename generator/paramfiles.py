"""Where a spec's per-environment parameters files live: ``parameters/<spec stem>/<env>.json``
beside the spec's folder (``platforms/x.yaml`` -> ``parameters/x/``).  One rule, read by
synthesis (the deployability check reads each file's values) and by ``make templates``'s
cache key (a changed parameters file must re-run the check).  Standard library only, so
the cached path stays fast."""

from __future__ import annotations

from pathlib import Path


def folder(source: str | Path) -> Path:
    return Path(source).resolve().parent.parent / "parameters" / Path(source).stem


def files(source: str | Path) -> list[Path]:
    """The parameters files of a spec, sorted by name (none when the folder is missing)."""
    d = folder(source)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def label(source: str | Path, path: Path) -> str:
    """How a parameters file is named in messages: ``parameters/<stem>/<file>``."""
    return f"parameters/{Path(source).stem}/{path.name}"


def key_parts(source: str | Path) -> list[bytes]:
    """Names and bytes of the spec's parameters files, for the cache keys of synthesis
    (``make templates`` and deploy.sh's freshness check)."""
    found = files(source)
    return [str(len(found)).encode(), *(x for p in found for x in (p.name.encode(), p.read_bytes()))]
