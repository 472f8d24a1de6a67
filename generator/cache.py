"""A content-addressed result cache under ``.cache/`` (git-ignored).

A result is stored under a key that is the SHA-256 of everything that can change
it: the bytes of the inputs, the source of the code that computes it and the
versions of the tools involved.  Nothing is ever looked up by file name or time
stamp, so a stale entry cannot be hit: a changed input is a different key.
Entries are JSON files written atomically; an unreadable entry is a miss.

``STACKGEN_CACHE_DIR`` moves the cache (tests use a temporary directory);
``STACKGEN_NO_CACHE=1`` turns every lookup into a miss (as ``--no-cache`` does).
This module imports nothing from the generator, so every layer may use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEFAULT_DIR = ".cache"
# Bump when the layout or meaning of entries changes: old entries become misses.
FORMAT = "stackgen-cache-1"
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".guard", ".txt")
GENERATOR = Path(__file__).resolve().parent


# The distributions whose version can change what synthesis writes (its cache keys).
SYNTH_LIBRARIES = ("troposphere", "awacs", "pydantic", "pydantic-core", "PyYAML", "cfn-lint")


def digest(*parts: bytes | str) -> str:
    """SHA-256 of the parts, each length-prefixed (so ("ab", "c") != ("a", "bc"))."""
    h = hashlib.sha256(FORMAT.encode())
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """Digest of a file's bytes; a missing file has its own digest."""
    try:
        return digest(b"file", Path(path).read_bytes())
    except FileNotFoundError:
        return digest(b"missing")
    except IsADirectoryError:
        return tree_digest(path)


def tree_digest(root: str | os.PathLike[str], suffixes: Iterable[str] = SOURCE_SUFFIXES) -> str:
    """Digest of every file under ``root`` with one of ``suffixes`` (relative names and bytes),
    skipping __pycache__; a file counts as a tree of itself."""
    base = Path(root)
    if base.is_file():
        return digest(b"tree", base.name, base.read_bytes())
    if not base.is_dir():
        return digest(b"missing")
    wanted = tuple(suffixes)
    parts: list[bytes | str] = [b"tree"]
    for p in sorted(base.rglob("*")):
        if "__pycache__" in p.parts or not p.is_file() or not p.name.endswith(wanted):
            continue
        parts += [p.relative_to(base).as_posix(), p.read_bytes()]
    return digest(*parts)


def generator_digest() -> str:
    """The source of the whole ``generator`` package: any edit to it (a stack, the
    preflight, the renderer) changes every key that includes this."""
    return tree_digest(GENERATOR, (".py", ".sh"))


def _dist_info(name: str) -> Path | None:
    """The ``*.dist-info`` directory of an installed distribution, found on sys.path
    (importlib.metadata would cost more than the lint cache saves on a no-op run)."""
    want = _normal(name)
    for entry in sys.path:
        try:
            names = _listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info") and _normal(n.split("-", 1)[0]) == want:
                return Path(entry or ".") / n
    return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


_LISTINGS: dict[str, list[str]] = {}


def _listdir(path: str) -> list[str]:
    if path not in _LISTINGS:
        _LISTINGS[path] = sorted(os.listdir(path))
    return _LISTINGS[path]


def requirements(name: str) -> list[str]:
    """Names of what an installed distribution requires outside its extras."""
    info = _dist_info(name)
    text = (info / "METADATA").read_text(encoding="utf-8", errors="replace") if info else ""
    out = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            out.append(re.split(r"[\s;<>=!~\[(]", line.removeprefix("Requires-Dist:").strip(), maxsplit=1)[0])
    return out


def dist_digest(*names: str) -> str:
    """Directory name (with the version) and installed-file RECORD of each distribution, so
    an upgrade or an edited install changes it, plus the interpreter version."""
    parts: list[bytes | str] = [b"dists", sys.version]
    for name in names:
        info = _dist_info(name)
        if info is None:
            parts += [name, "absent"]
            continue
        parts += [name, info.name, file_digest(info / "RECORD")]
    return digest(*parts)


def enabled() -> bool:
    return os.environ.get("STACKGEN_NO_CACHE", "") in ("", "0")


def root() -> Path:
    return Path(os.environ.get("STACKGEN_CACHE_DIR") or DEFAULT_DIR)


class Store:
    """One namespace of the cache (``.cache/<namespace>/``): key -> JSON value."""

    def __init__(self, namespace: str, base: Path | None = None, *, use: bool = True) -> None:
        self.dir = (base or root()) / namespace
        self.use = use and enabled()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        if not self.use:
            self.misses += 1
            return None
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            self.misses += 1
            return None
        self.hits += 1
        return entry.get("value")

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serializable) atomically; a full disk is not an error."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"key": key, "value": value}, f, sort_keys=True)
            os.replace(tmp, path)
        except OSError:
            return
