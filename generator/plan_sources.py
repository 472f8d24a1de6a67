"""``stackgen plan``'s other side: the template set a plan compares the spec with
(``--against DIR`` or a git ref, default ``templates/<platform>/``), every root of a split
platform (``generator.roots``) included."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from generator.cfn.load import PARENT, STACK_TYPE, TemplateError, child_file, load_text
from generator.deployability import rootset

Templates = dict[str, dict[str, Any]]


class PlanError(Exception):
    """A usage problem: one line, exit 2."""


def read_git(ref: str, directory: str) -> Templates:
    """``DIR/main.yaml`` and its children as committed at ``ref`` (``git show``)."""

    def show(name: str) -> str:
        path = f"{ref}:./{directory}/{name}"
        try:
            done = subprocess.run(["git", "show", path], capture_output=True, text=True, check=False)
        except OSError as exc:
            raise PlanError(f"--against {ref}: git is not available ({exc.strerror})") from None
        if done.returncode != 0:
            raise PlanError(f"--against {ref}: no {directory}/{name} at that ref")
        return done.stdout

    out = {PARENT: load_text(show(PARENT), f"{ref}:{directory}/{PARENT}")}
    for root in rootset.root_files(out)[1:]:  # the later roots of a split platform
        out[root] = load_text(show(root), f"{ref}:{directory}/{root}")
    for root in list(out):
        for lid, res in (out[root].get("Resources") or {}).items():
            if isinstance(res, dict) and res.get("Type") == STACK_TYPE:
                name = child_file((res.get("Properties") or {}).get("TemplateURL"), f"{ref}:{root}: {lid}")
                out[name] = load_text(show(name), f"{ref}:{directory}/{name}")
    return out


def is_git_ref(ref: str) -> bool:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def read_against(against: str | None, stem: str) -> tuple[Templates, str]:
    """(templates, how to name them) for ``--against`` (default: ``templates/<stem>/``)."""
    directory = f"templates/{stem}"
    target = against or directory
    if Path(target).is_dir():
        try:
            return rootset.load_roots(target), f"{target.rstrip('/')}/"
        except FileNotFoundError:
            raise PlanError(f"--against {target}: no main.yaml there (a directory of generated templates)") from None
        except (TemplateError, OSError) as exc:
            raise PlanError(f"--against {target}: {exc}") from None
    if against is None:
        raise PlanError(
            f"{directory}/: no committed templates of this platform; run `stackgen synth` first, "
            "or give --against DIR|GIT-REF"
        )
    if not is_git_ref(against):
        raise PlanError(f"--against {against}: neither a directory nor a git commit, branch or tag")
    try:
        return read_git(against, directory), f"{directory}/ at {against}"
    except TemplateError as exc:
        raise PlanError(f"--against {against}: {exc}") from None
